//! The `Snapshot`: everything an export shows, made once from an analysis and a selection.

use serde::Serialize;

use super::layout::{geometry, Geometry, Layout};
use crate::graph::{
    self, AttentionGraph, EdgeWeight, GraphError, Matrix, Pruning, SelectError, Selection,
    WeightError,
};
use crate::markov::{self, MarkovReport};
use crate::model::flow::FlowParts;
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
    /// The tokens (nodes) and the kept edges, query → key: what the app draws and every export writes.
    #[serde(flatten)]
    pub graph: AttentionGraph,
    /// The unpruned matrix, weighted as `edge_weight` says.
    pub matrix: Matrix,
    /// What the edge weights are: `attention`, `norm` (what flows, relative to the largest edge) or `norm_share`.
    pub edge_weight: EdgeWeight,
    /// With `norm` weights, the largest ‖α·f(x)‖ of the matrix, which the weights are relative to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub norm_max: Option<f64>,
    /// The pruning applied to the edges.
    pub pruning: Pruning,
    /// Whether `pruning`'s top-k was added automatically because the text is long (see
    /// [`Pruning::shown`]), rather than chosen by the reader.
    #[serde(skip)]
    pub automatic_top_k: bool,
    /// Statistics of the unpruned attention matrix (always attention: what flows is not a Markov chain).
    pub markov: MarkovReport,
    /// The layout the node positions follow.
    pub layout: Layout,
    /// The picture's size and node positions, computed once: the SVG, the PNG, the JSON's `positions` and the
    /// app's graph all use them.
    #[serde(skip)]
    pub geometry: Geometry,
}

/// Why a snapshot could not be made.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The matrix could not be selected.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// The matrix could not be weighted by what flows.
    #[error(transparent)]
    Weight(#[from] WeightError),
    /// The tokens and edges do not make a graph (an analysis whose attention does not match its tokens).
    #[error(transparent)]
    Graph(#[from] GraphError),
}

impl Snapshot {
    /// What is drawn, for titles: "layer 3 head 5", "rollout — A^3", and what the weights are when they are not
    /// attention: "layer 3 head 5 — what flows ‖α·f(x)‖, relative to the largest edge (1 = 12.3)".
    pub fn title(&self) -> String {
        let drawn = match self.power {
            1 => self.selection.label(),
            k => format!("{} — A^{k}", self.selection.label()),
        };
        match (self.edge_weight, self.norm_max) {
            (EdgeWeight::Attention, _) => drawn,
            (weight, Some(max)) => format!("{drawn} — {} (1 = {max:.3})", weight.describe()),
            (weight, None) => format!("{drawn} — {}", weight.describe()),
        }
    }

    /// The snapshot of one selection of an analysis by the model called `model`: the matrix, its pruned edges,
    /// and the Markov statistics of the unpruned matrix (with teleport α and A^steps). The edges are A's; see
    /// [`Snapshot::with_power_edges`].
    pub fn of(
        model: &str,
        analysis: &Analysis,
        selection: Selection,
        pruning: Pruning,
        layout: Layout,
        teleport: f64,
        steps: usize,
    ) -> Result<Self, SnapshotError> {
        Self::weighted(
            model,
            analysis,
            selection,
            pruning,
            layout,
            teleport,
            steps,
            EdgeWeight::Attention,
            None,
        )
    }

    /// [`Snapshot::of`] with edges weighted by `weight`; `flow` must be the parts of what flows of the
    /// analysed text when the weight is not attention. The Markov statistics stay those of the attention.
    #[allow(clippy::too_many_arguments)]
    pub fn weighted(
        model: &str,
        analysis: &Analysis,
        selection: Selection,
        pruning: Pruning,
        layout: Layout,
        teleport: f64,
        steps: usize,
        weight: EdgeWeight,
        flow: Option<&FlowParts>,
    ) -> Result<Self, SnapshotError> {
        let attention = graph::select(&analysis.attentions, selection)?;
        // Weighed by attention, the edges are the matrix just selected (a rollout or flow is not made twice).
        let (matrix, norm_max) = if weight == EdgeWeight::Attention {
            (attention.clone(), None)
        } else {
            graph::weigh(&analysis.attentions, selection, weight, flow)?
        };
        // Dropping token 0 renormalises rows that are shares (attention, share of flow), not flow relative to
        // the largest edge.
        let shares = weight != EdgeWeight::Norm;
        let graph = AttentionGraph::new(
            graph::token_nodes(analysis),
            &pruning.edges_renormalised(&matrix, shares),
        )?;
        Ok(Self {
            model: model.to_string(),
            text: analysis.text.clone(),
            selection,
            power: 1,
            geometry: geometry(layout, graph.token_count()),
            graph,
            markov: markov::report(&attention, teleport, steps),
            matrix,
            edge_weight: weight,
            norm_max,
            pruning,
            automatic_top_k: false,
            layout,
        })
    }

    /// The same snapshot with the edges of A^k (pruned as A's were); the statistics stay A's, with A^k's
    /// matrix in `markov.k_step`.
    pub fn with_power_edges(mut self, k: usize) -> Result<Self, SnapshotError> {
        // A^k is a Markov chain's k steps; what flows is no chain, so its edges stay its own.
        if self.edge_weight != EdgeWeight::Attention {
            return Ok(self);
        }
        let power = markov::power(&self.matrix, k);
        self.graph = self.graph.with_edges(&self.pruning.edges(&power))?;
        self.power = k;
        self.markov.k_step = power;
        self.markov.steps = k;
        Ok(self)
    }
}
