//! Every head of one layer at once, as BertViz's head view draws them: which query → key weights are drawn, in
//! which order, and each head's strongest line for a token. The app's Overlay view and `attngraph overlay` draw
//! from here.

use crate::model::attentions::Attentions;

/// Texts of more tokens than this draw lines only for a token in focus: all of them would be a solid wash.
pub const ALL_LINES_UP_TO: usize = 128;

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

/// The token a focus is on.
pub fn token_of(focus: Focus) -> usize {
    match focus {
        Focus::Query(i) | Focus::Key(i) => i,
    }
}

/// The focused token's strongest line in `head`: for a query, the key it looks at most; for a key, the query that
/// looks at it most; with its weight. The last of equals, as `max_by` picks.
///
/// # Panics
/// If the layer, the head or the token is past the attentions' shape (a bug).
pub fn strongest(att: &Attentions, layer: usize, head: usize, focus: Focus) -> (usize, f32) {
    let pick = |best: (usize, f32), (i, w): (usize, f32)| if w >= best.1 { (i, w) } else { best };
    // A row holds keys 0..=q, its own token's among them, and key k is in rows k..n, its own row first: each
    // search starts from a weight that is there.
    match focus {
        Focus::Query(q) => {
            let row = att.row(layer, head, q);
            row.iter().copied().enumerate().fold((q, row[q]), pick)
        }
        Focus::Key(k) => (k..att.n_tokens())
            .map(|q| (q, att.row(layer, head, q)[k]))
            .fold((k, att.row(layer, head, k)[k]), pick),
    }
}
