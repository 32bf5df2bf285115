//! A matrix and its tokens as a petgraph directed graph: the one graph model that the app's view draws and every
//! export (DOT, GraphML, JSON, CSV, SVG, PNG) is written from.

use petgraph::graph::{DiGraph, NodeIndex};
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

/// Why an attention graph could not be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GraphError {
    /// The tokens are not numbered 0, 1, 2 … in order.
    #[error("token {index} of the graph says it is at position {position}; tokens must come in text order")]
    Position {
        /// Where the token is in the list.
        index: usize,
        /// The position it names.
        position: usize,
    },
    /// An edge names a token past the last.
    #[error("edge {from} → {to} names a token past the last of {tokens}")]
    Edge {
        /// Query.
        from: usize,
        /// Key.
        to: usize,
        /// How many tokens there are.
        tokens: usize,
    },
}

/// The attention graph of one matrix: one node per token, whose node index is its position in the text, and one
/// edge per kept entry of the matrix, from the query to the key, weighted by the attention.
///
/// Its nodes come only from [`AttentionGraph::new`] and its edges from there or [`AttentionGraph::with_edges`], which
/// check both promises, so a reader can index nodes by position.
#[derive(Clone, Debug)]
pub struct AttentionGraph(DiGraph<TokenNode, f64>);

impl AttentionGraph {
    /// The graph of `tokens` (in text order) and `edges`, in the order given.
    pub fn new(tokens: Vec<TokenNode>, edges: &[Edge]) -> Result<Self, GraphError> {
        let mut graph = DiGraph::with_capacity(tokens.len(), edges.len());
        for (index, token) in tokens.into_iter().enumerate() {
            if token.position != index {
                return Err(GraphError::Position {
                    index,
                    position: token.position,
                });
            }
            graph.add_node(token);
        }
        let mut this = Self(graph);
        this.set_edges(edges)?;
        Ok(this)
    }

    /// The same tokens with other edges (those of A^k, say).
    pub fn with_edges(mut self, edges: &[Edge]) -> Result<Self, GraphError> {
        self.0.clear_edges();
        self.set_edges(edges)?;
        Ok(self)
    }

    fn set_edges(&mut self, edges: &[Edge]) -> Result<(), GraphError> {
        let tokens = self.0.node_count();
        self.0.reserve_edges(edges.len());
        for e in edges {
            if e.from >= tokens || e.to >= tokens {
                return Err(GraphError::Edge {
                    from: e.from,
                    to: e.to,
                    tokens,
                });
            }
            self.0
                .add_edge(NodeIndex::new(e.from), NodeIndex::new(e.to), e.weight);
        }
        Ok(())
    }

    /// The petgraph graph itself, for petgraph's algorithms and writers.
    pub fn petgraph(&self) -> &DiGraph<TokenNode, f64> {
        &self.0
    }

    /// How many tokens (nodes).
    pub fn token_count(&self) -> usize {
        self.0.node_count()
    }

    /// How many kept entries (edges).
    pub fn edge_count(&self) -> usize {
        self.0.edge_count()
    }

    /// The tokens in text order.
    pub fn tokens(&self) -> impl ExactSizeIterator<Item = &TokenNode> + Clone {
        self.0.raw_nodes().iter().map(|node| &node.weight)
    }

    /// The token at `position`, if the text has one there.
    pub fn token(&self, position: usize) -> Option<&TokenNode> {
        self.0.node_weight(NodeIndex::new(position))
    }

    /// The edges, query → key, in the order they were given.
    pub fn edges(&self) -> impl ExactSizeIterator<Item = Edge> + '_ {
        self.0.raw_edges().iter().map(|e| Edge {
            from: e.source().index(),
            to: e.target().index(),
            weight: e.weight,
        })
    }
}

/// The JSON export's `tokens` and `edges`.
impl Serialize for AttentionGraph {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Parts<'a> {
            tokens: Vec<&'a TokenNode>,
            edges: Vec<Edge>,
        }
        Parts {
            tokens: self.tokens().collect(),
            edges: self.edges().collect(),
        }
        .serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(position: usize) -> TokenNode {
        TokenNode {
            position,
            id: 7,
            text: format!("t{position}"),
            surprisal_bits: None,
        }
    }

    #[test]
    fn nodes_are_positions_and_edges_keep_their_order() {
        let edges = [
            Edge {
                from: 2,
                to: 0,
                weight: 0.75,
            },
            Edge {
                from: 1,
                to: 1,
                weight: 1.0,
            },
        ];
        let g = AttentionGraph::new((0..3).map(token).collect(), &edges).unwrap();
        assert_eq!(g.token_count(), 3);
        assert_eq!(g.token(2).map(|t| t.text.as_str()), Some("t2"));
        assert_eq!(g.token(3), None);
        assert_eq!(g.edges().collect::<Vec<_>>(), edges);
        let only = g.with_edges(&edges[1..]).unwrap();
        assert_eq!(only.edges().collect::<Vec<_>>(), edges[1..]);
        assert_eq!(only.token_count(), 3);
    }

    #[test]
    fn tokens_out_of_order_or_edges_past_the_end_are_refused() {
        assert_eq!(
            AttentionGraph::new(vec![token(0), token(2)], &[]).unwrap_err(),
            GraphError::Position {
                index: 1,
                position: 2
            }
        );
        let past = Edge {
            from: 2,
            to: 0,
            weight: 0.5,
        };
        assert_eq!(
            AttentionGraph::new(vec![token(0), token(1)], &[past]).unwrap_err(),
            GraphError::Edge {
                from: 2,
                to: 0,
                tokens: 2
            }
        );
    }
}
