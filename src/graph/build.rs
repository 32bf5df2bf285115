//! A matrix and its tokens as a petgraph directed graph.

use petgraph::graph::DiGraph;
use serde::Serialize;

use super::prune::Edge;
use crate::model::Analysis;

/// A node: one token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenNode {
    /// Position in the text.
    pub position: usize,
    /// Vocabulary id.
    pub id: u32,
    /// Display text with visible whitespace.
    pub text: String,
    /// Surprisal in bits (`None` where not scored).
    pub surprisal_bits: Option<f64>,
}

/// The nodes of an analysis, one per token.
pub fn token_nodes(analysis: &Analysis) -> Vec<TokenNode> {
    analysis
        .tokens
        .iter()
        .enumerate()
        .map(|(position, t)| TokenNode {
            position,
            id: t.id,
            text: t.display.clone(),
            surprisal_bits: t.stats.as_ref().map(|s| s.surprisal_bits),
        })
        .collect()
}

/// The attention graph: one node per token (node index = position), one edge per kept entry, query → key.
pub fn attention_graph(nodes: &[TokenNode], edges: &[Edge]) -> DiGraph<TokenNode, f64> {
    let mut graph = DiGraph::with_capacity(nodes.len(), edges.len());
    let idx: Vec<_> = nodes.iter().map(|n| graph.add_node(n.clone())).collect();
    for e in edges {
        if let (Some(&a), Some(&b)) = (idx.get(e.from), idx.get(e.to)) {
            graph.add_edge(a, b, e.weight);
        }
    }
    graph
}
