//! The Overlay view's lines: which of a layer's query → key weights are drawn, in which order.

use crate::model::attentions::Attentions;

/// One line: query → key in one head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlayLine {
    /// The token that looks (left column).
    pub query: usize,
    /// The token looked at (right column).
    pub key: usize,
    /// The head.
    pub head: usize,
    /// A[query][key] in that head.
    pub weight: f32,
}

/// Whose lines alone are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// A query's row: where it looks.
    Query(usize),
    /// A key's column: which tokens look at it.
    Key(usize),
}

/// The lines of `heads` (indices into `layer`) of weight above 0 and at least `threshold`: the focused token's alone, or
/// every one where there is no focus; drawn in this order, the heaviest last, on top.
///
/// # Panics
/// If the layer, a head or the focused token is past the attentions' shape: that is a bug, never an empty
/// picture.
pub fn overlay_lines(
    att: &Attentions,
    layer: usize,
    heads: &[usize],
    threshold: f32,
    focus: Option<Focus>,
) -> Vec<OverlayLine> {
    let n = att.n_tokens();
    let mut lines = Vec::new();
    for &head in heads {
        // A weight of 0 draws nothing, whatever the threshold (0 keeps every other line).
        let mut keep = |query: usize, key: usize, weight: f32| {
            if weight > 0.0 && weight >= threshold {
                lines.push(OverlayLine {
                    query,
                    key,
                    head,
                    weight,
                });
            }
        };
        match focus {
            Some(Focus::Query(query)) => {
                for (key, &w) in att.row(layer, head, query).iter().enumerate() {
                    keep(query, key, w);
                }
            }
            Some(Focus::Key(key)) => {
                assert!(key < n, "key {key} of {n} tokens");
                // Row q holds keys 0..=q: key is in it from q = key on.
                for query in key..n {
                    keep(query, key, att.row(layer, head, query)[key]);
                }
            }
            None => {
                for query in 0..n {
                    for (key, &w) in att.row(layer, head, query).iter().enumerate() {
                        keep(query, key, w);
                    }
                }
            }
        }
    }
    lines.sort_by(|a, b| a.weight.total_cmp(&b.weight));
    lines
}
