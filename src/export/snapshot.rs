//! The `Snapshot`: everything an export shows, made once from an analysis and a selection.

use serde::Serialize;

use super::layout::Layout;
use crate::graph::{self, Edge, Matrix, Pruning, SelectError, Selection, TokenNode};
use crate::markov::{self, MarkovReport};
use crate::model::Analysis;

/// Version of the JSON export's schema; bumped when a field changes meaning.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Everything an export shows.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The model name.
    pub model: String,
    /// The text.
    pub text: String,
    /// Which matrix.
    #[serde(skip)]
    pub selection: Selection,
    /// The edges are those of A^power (1: of A itself); the statistics are always A's.
    #[serde(skip)]
    pub power: usize,
    /// The tokens (nodes).
    pub tokens: Vec<TokenNode>,
    /// The unpruned matrix.
    pub matrix: Matrix,
    /// The pruning applied to the edges.
    pub pruning: Pruning,
    /// The kept edges, query → key.
    pub edges: Vec<Edge>,
    /// Statistics of the unpruned matrix.
    pub markov: MarkovReport,
    /// Node positions.
    pub layout: Layout,
}

impl Snapshot {
    /// What is drawn, for titles: "layer 3 head 5", "rollout — A^3".
    pub fn title(&self) -> String {
        match self.power {
            1 => self.selection.label(),
            k => format!("{} — A^{k}", self.selection.label()),
        }
    }

    /// The snapshot of one selection of an analysis by the model called `model`: the matrix, its pruned edges,
    /// and the Markov statistics of the unpruned matrix (with teleport α and A^steps).
    pub fn of(
        model: &str,
        analysis: &Analysis,
        selection: Selection,
        pruning: Pruning,
        layout: Layout,
        teleport: f64,
        steps: usize,
    ) -> Result<Self, SelectError> {
        let matrix = graph::select(&analysis.attentions, selection)?;
        Ok(Self {
            model: model.to_string(),
            text: analysis.text.clone(),
            selection,
            power: 1,
            tokens: graph::token_nodes(analysis),
            edges: pruning.edges(&matrix),
            markov: markov::report(&matrix, teleport, steps),
            matrix,
            pruning,
            layout,
        })
    }
}
