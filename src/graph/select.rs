//! Which matrix to look at: one head, an aggregate over heads, attention rollout or attention flow.

use petgraph::graph::{DiGraph, NodeIndex};

use super::matrix::Matrix;
use crate::model::Attentions;

/// Attention flow solves one max-flow problem per (query, key) pair on a graph of n_layer × n nodes;
/// above this many tokens it would take seconds, so it is refused with a message.
pub const FLOW_MAX_TOKENS: usize = 32;

/// A choice of matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Selection {
    /// One head.
    Head {
        /// Layer index.
        layer: usize,
        /// Head index.
        head: usize,
    },
    /// The mean over one layer's heads.
    LayerMean(usize),
    /// The entry-wise maximum over one layer's heads (rows then need not sum to 1).
    LayerMax(usize),
    /// The mean over every head of every layer.
    AllMean,
    /// Attention rollout (Abnar & Zuidema 2020): per layer ½·mean + ½·I, multiplied from the first layer up.
    Rollout,
    /// Attention flow (Abnar & Zuidema 2020): max-flow from each last-layer token to each input token.
    Flow,
}

impl Selection {
    /// This selection for a model of `n_layer` × `n_head` heads and a text of `n_tokens`: layer and head cut to
    /// the last ones, and flow (limited to [`FLOW_MAX_TOKENS`]) replaced by rollout on a longer text.
    pub fn clamp(self, n_layer: usize, n_head: usize, n_tokens: usize) -> Self {
        let (last_layer, last_head) = (n_layer.saturating_sub(1), n_head.saturating_sub(1));
        match self {
            Self::Head { layer, head } => Self::Head {
                layer: layer.min(last_layer),
                head: head.min(last_head),
            },
            Self::LayerMean(layer) => Self::LayerMean(layer.min(last_layer)),
            Self::LayerMax(layer) => Self::LayerMax(layer.min(last_layer)),
            Self::Flow if n_tokens > FLOW_MAX_TOKENS => Self::Rollout,
            other => other,
        }
    }

    /// A short label for titles and file names: "layer 3 head 5", "rollout".
    pub fn label(&self) -> String {
        match self {
            Self::Head { layer, head } => format!("layer {layer} head {head}"),
            Self::LayerMean(l) => format!("layer {l} mean"),
            Self::LayerMax(l) => format!("layer {l} max"),
            Self::AllMean => "all-head mean".into(),
            Self::Rollout => "rollout".into(),
            Self::Flow => "flow".into(),
        }
    }
}

/// Errors choosing a matrix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SelectError {
    /// Layer or head out of range.
    #[error("layer {layer} head {head} does not exist: the model has layers 0–{} and heads 0–{}", .n_layer.saturating_sub(1), .n_head.saturating_sub(1))]
    OutOfRange {
        /// Layer asked for.
        layer: usize,
        /// Head asked for.
        head: usize,
        /// Layers.
        n_layer: usize,
        /// Heads.
        n_head: usize,
    },
    /// A layer out of range, for a layer's aggregate.
    #[error("layer {layer} does not exist: the model has layers 0–{}", .n_layer.saturating_sub(1))]
    LayerOutOfRange {
        /// Layer asked for.
        layer: usize,
        /// Layers.
        n_layer: usize,
    },
    /// Flow on a long text.
    #[error("attention flow on {0} tokens would be slow (it solves one max-flow per token pair); use at most {FLOW_MAX_TOKENS} tokens, or rollout")]
    FlowTooLong(usize),
}

/// The dense matrix of one head.
pub fn head_matrix(att: &Attentions, layer: usize, head: usize) -> Matrix {
    let n = att.n_tokens();
    let mut m = Matrix::zeros(n);
    for q in 0..n {
        for (k, &v) in att.row(layer, head, q).iter().enumerate() {
            m.set(q, k, v as f64);
        }
    }
    m
}

fn layer_mean(att: &Attentions, layer: usize) -> Matrix {
    let heads = att.n_head().max(1) as f64;
    (0..att.n_head())
        .map(|h| head_matrix(att, layer, h))
        .fold(Matrix::zeros(att.n_tokens()), |acc, m| {
            acc.blend(1.0, &m, 1.0 / heads)
        })
}

/// The matrix `selection` names.
pub fn select(att: &Attentions, selection: Selection) -> Result<Matrix, SelectError> {
    let check = |layer: usize, head: usize| {
        if layer >= att.n_layer() || head >= att.n_head() {
            Err(SelectError::OutOfRange {
                layer,
                head,
                n_layer: att.n_layer(),
                n_head: att.n_head(),
            })
        } else {
            Ok(())
        }
    };
    let check_layer = |layer: usize| {
        if layer >= att.n_layer() {
            Err(SelectError::LayerOutOfRange {
                layer,
                n_layer: att.n_layer(),
            })
        } else {
            Ok(())
        }
    };
    let n = att.n_tokens();
    Ok(match selection {
        Selection::Head { layer, head } => {
            check(layer, head)?;
            head_matrix(att, layer, head)
        }
        Selection::LayerMean(layer) => {
            check_layer(layer)?;
            layer_mean(att, layer)
        }
        Selection::LayerMax(layer) => {
            check_layer(layer)?;
            (0..att.n_head())
                .map(|h| head_matrix(att, layer, h))
                .fold(Matrix::zeros(n), |acc, m| acc.max(&m))
        }
        Selection::AllMean => {
            let layers = att.n_layer().max(1) as f64;
            (0..att.n_layer())
                .map(|l| layer_mean(att, l))
                .fold(Matrix::zeros(n), |acc, m| acc.blend(1.0, &m, 1.0 / layers))
        }
        Selection::Rollout => rollout(att),
        Selection::Flow => {
            if n > FLOW_MAX_TOKENS {
                return Err(SelectError::FlowTooLong(n));
            }
            flow(att)
        }
    })
}

/// ½·(mean over heads) + ½·I of each layer: the residual connection folded into the attention graph.
fn residual_layers(att: &Attentions) -> Vec<Matrix> {
    let id = Matrix::identity(att.n_tokens());
    (0..att.n_layer())
        .map(|l| layer_mean(att, l).blend(0.5, &id, 0.5))
        .collect()
}

/// Rollout: Ã_{L−1} · … · Ã_0, row i is how much output token i draws on each input token.
fn rollout(att: &Attentions) -> Matrix {
    residual_layers(att)
        .iter()
        .fold(Matrix::identity(att.n_tokens()), |acc, layer| {
            layer.matmul(&acc)
        })
}

/// Flow: F[i][j] = max-flow from token i after the last layer to token j at the input, through the layered
/// graph whose edge (l+1, i) → (l, j) has capacity Ã_l[i][j].
fn flow(att: &Attentions) -> Matrix {
    let n = att.n_tokens();
    let layers = residual_layers(att);
    let mut graph: DiGraph<(), f64> = DiGraph::new();
    // Node (level, token) for level 0 (input) ..= n_layer (output).
    let nodes: Vec<Vec<NodeIndex>> = (0..=layers.len())
        .map(|_| (0..n).map(|_| graph.add_node(())).collect())
        .collect();
    for (l, layer) in layers.iter().enumerate() {
        let (Some(upper), Some(lower)) = (nodes.get(l + 1), nodes.get(l)) else {
            continue;
        };
        for (i, &from) in upper.iter().enumerate() {
            for (j, &to) in lower.iter().enumerate() {
                let w = layer.get(i, j);
                if w > 0.0 {
                    graph.add_edge(from, to, w);
                }
            }
        }
    }
    let mut out = Matrix::zeros(n);
    let (Some(top), Some(bottom)) = (nodes.last(), nodes.first()) else {
        return out;
    };
    for (i, &source) in top.iter().enumerate() {
        for (j, &sink) in bottom.iter().enumerate().take(i + 1) {
            let (value, _) = petgraph::algo::dinics(&graph, source, sink);
            out.set(i, j, value);
        }
    }
    out
}
