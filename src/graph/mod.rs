//! Attention matrices as graphs: choosing a matrix (head, aggregate, rollout, flow), pruning edges, building
//! the petgraph graph, and head-type scores. Plain data and petgraph; never candle or egui.

mod build;
pub mod heads;
mod matrix;
pub mod overlay;
mod prune;
mod select;
mod weight;

pub use build::{token_nodes, AttentionGraph, GraphError, TokenNode};
pub use matrix::Matrix;
pub use prune::{Edge, Pruning, AUTO_TOP_K, AUTO_TOP_K_ABOVE};
pub use select::{head_matrix, select, SelectError, Selection, FLOW_MAX_TOKENS};
pub use weight::{weigh, EdgeWeight, WeightError};
