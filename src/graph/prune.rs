//! Which edges to draw: the person's pruning controls applied to a matrix. The analytics always use the
//! unpruned matrix; pruning only decides what is shown and exported as edges.

use serde::{Deserialize, Serialize};

use super::matrix::Matrix;

/// Edge convention, used by every export and the app: an edge goes from query i to key j with weight A[i][j]
/// ("token i looks at token j"). Self-loops are the diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Edge {
    /// The query token (row).
    pub from: usize,
    /// The key token (column).
    pub to: usize,
    /// The attention weight (after renormalisation when token 0 is dropped).
    pub weight: f64,
}

/// Pruning controls. Applied per row in this order: drop token 0, threshold, top-k, cumulative mass.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Pruning {
    /// Keep weights ≥ this.
    pub threshold: f64,
    /// Keep at most this many edges per row (0: no limit).
    pub top_k: usize,
    /// Keep the fewest edges per row whose weights reach this share of the row (1: no limit).
    pub mass: f64,
    /// Remove token 0 (the attention sink) and renormalise each row over the other tokens.
    pub drop_first: bool,
}

impl Default for Pruning {
    fn default() -> Self {
        Self {
            threshold: 0.0,
            top_k: 0,
            mass: 1.0,
            drop_first: false,
        }
    }
}

/// Above this many tokens, a graph with no per-row limit keeps each token's [`AUTO_TOP_K`] strongest edges:
/// a global threshold would leave a hairball of near-equal arcs.
pub const AUTO_TOP_K_ABOVE: usize = 48;

/// Edges per token kept automatically on long texts.
pub const AUTO_TOP_K: usize = 3;

impl Pruning {
    /// The pruning the app's views and exports use on a text of `tokens` tokens: this one, with
    /// [`AUTO_TOP_K`] per row on texts longer than [`AUTO_TOP_K_ABOVE`] tokens unless a top-k or mass limit is
    /// set. The flag says whether that automatic limit was added (a reader who picks top-k 3 gets `false`).
    pub fn shown(mut self, tokens: usize) -> (Self, bool) {
        let automatic = self.top_k == 0 && self.mass >= 1.0 && tokens > AUTO_TOP_K_ABOVE;
        if automatic {
            self.top_k = AUTO_TOP_K;
        }
        (self, automatic)
    }

    /// The edges of `matrix` that survive, row by row, heaviest first within a row.
    pub fn edges(&self, matrix: &Matrix) -> Vec<Edge> {
        self.edges_renormalised(matrix, true)
    }

    /// [`Pruning::edges`]; with `renormalise` false, dropping token 0 leaves the other weights as they are
    /// (for weights that are not shares of a row, such as what flows relative to the largest edge).
    pub fn edges_renormalised(&self, matrix: &Matrix, renormalise: bool) -> Vec<Edge> {
        let first = usize::from(self.drop_first);
        let mut edges = Vec::new();
        for i in first..matrix.n() {
            let row = matrix.row(i);
            let kept: f64 = row.iter().skip(first).sum();
            let norm = if renormalise && self.drop_first && kept > 0.0 {
                kept
            } else {
                1.0
            };
            let mut candidates: Vec<Edge> = row
                .iter()
                .enumerate()
                .skip(first)
                .map(|(j, &w)| Edge {
                    from: i,
                    to: j,
                    weight: w / norm,
                })
                .filter(|e| e.weight > 0.0 && e.weight >= self.threshold)
                .collect();
            candidates.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.to.cmp(&b.to)));
            if self.top_k > 0 {
                candidates.truncate(self.top_k);
            }
            if self.mass < 1.0 {
                let total: f64 = row.iter().skip(first).map(|w| w / norm).sum();
                let mut acc = 0.0;
                let mut keep = 0;
                for e in &candidates {
                    keep += 1;
                    acc += e.weight;
                    if acc >= self.mass * total - 1e-12 {
                        break;
                    }
                }
                candidates.truncate(keep);
            }
            edges.extend(candidates);
        }
        edges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example() -> Matrix {
        // A causal, row-stochastic 3 × 3 matrix, as a head makes.
        Matrix::from_rows(&[
            vec![1.0, 0.0, 0.0],
            vec![0.6, 0.4, 0.0],
            vec![0.5, 0.3, 0.2],
        ])
        .unwrap()
    }

    #[test]
    fn no_pruning_keeps_every_positive_entry() {
        assert_eq!(Pruning::default().edges(&example()).len(), 6);
    }

    #[test]
    fn threshold_top_k_and_mass() {
        let m = example();
        let t = Pruning {
            threshold: 0.35,
            ..Default::default()
        };
        // Kept: 1.0, 0.6, 0.4, 0.5.
        assert_eq!(t.edges(&m).len(), 4);
        let k = Pruning {
            top_k: 1,
            ..Default::default()
        };
        assert_eq!(
            k.edges(&m)
                .iter()
                .map(|e| (e.from, e.to))
                .collect::<Vec<_>>(),
            vec![(0, 0), (1, 0), (2, 0)]
        );
        // Row 2 needs 0.5 + 0.3 to reach 0.8; row 1 needs 0.6 + 0.4.
        let p = Pruning {
            mass: 0.8,
            ..Default::default()
        };
        assert_eq!(p.edges(&m).len(), 1 + 2 + 2);
    }

    #[test]
    fn dropping_token_zero_renormalises() {
        let e = Pruning {
            drop_first: true,
            ..Default::default()
        }
        .edges(&example());
        // Row 1 keeps only itself (0.4 / 0.4); row 2 has 0.3 / 0.5 and 0.2 / 0.5.
        let weights: Vec<(usize, usize, f64)> = e
            .iter()
            .map(|e| (e.from, e.to, (e.weight * 100.0).round() / 100.0))
            .collect();
        assert_eq!(weights, vec![(1, 1, 1.0), (2, 1, 0.6), (2, 2, 0.4)]);
    }

    #[test]
    fn long_texts_get_an_automatic_top_k_and_say_so() {
        let plain = Pruning::default();
        assert_eq!(plain.shown(48), (plain, false));
        let (long, automatic) = plain.shown(49);
        assert!(automatic);
        assert_eq!(long.top_k, 3);
        // A reader who picks top-k 3 on a long text chose it: not automatic.
        let chosen = Pruning {
            top_k: 3,
            ..Default::default()
        };
        assert_eq!(chosen.shown(500), (chosen, false));
        // A mass limit is a limit too.
        let mass = Pruning {
            mass: 0.9,
            ..Default::default()
        };
        assert_eq!(mass.shown(500), (mass, false));
    }
}
