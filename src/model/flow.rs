//! What a text's heads move, kept small enough for the app and made in the analysis's own pass: every head's
//! ‖f_h(x_j)‖ and, per layer and token, the Gram matrix of its heads' vectors (see [`super::norms`]).

use super::errors::EngineError;
use super::head_set::HeadSet;
use super::lm::CausalLm;
use crate::graph::Matrix;

/// What a text's heads move, kept small enough for the app: every head's ‖f_h(x_j)‖ and, per layer and token,
/// the Gram matrix of its heads' vectors ⟨f_h(x_j), f_g(x_j)⟩. With the attention weights these give every edge's
/// norm, a head's (α_ij ‖f_h(x_j)‖) and a layer's (‖Σ_h α^h_ij f_h(x_j)‖), without keeping the vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct FlowParts {
    n_head: usize,
    /// [layer][head][token].
    value_norms: Vec<Vec<Vec<f64>>>,
    /// [layer][token][h · n_head + g].
    gram: Vec<Vec<Vec<f64>>>,
}

impl FlowParts {
    /// The Gram matrices of the heads' vectors ⟨f_h(x_j), f_g(x_j)⟩ for the rows of the residual stream
    /// `input` (rows, n_embd) entering `layer`: [row][h · n_head + g]. A row's depends on that row alone.
    pub fn gram_rows(
        model: &CausalLm,
        layer: usize,
        input: &candle_core::Tensor,
        ablated: &HeadSet,
    ) -> Result<Vec<Vec<f64>>, EngineError> {
        let f = model.value_outputs(layer, input)?; // (n_head, rows, n_embd)
        let (n_head, rows, _) = f.dims3()?;
        // A knocked-out head moves nothing from any token: zeroed, its values are zero in the forward pass;
        // mean-ablated, it adds the same vector at every position whatever it attends to, which belongs to no
        // edge (as the output projection's bias belongs to none). Its vectors here are zero either way.
        let kept: Vec<f32> = (0..n_head)
            .map(|h| if ablated.contains(layer, h) { 0.0 } else { 1.0 })
            .collect();
        let f = f.broadcast_mul(&candle_core::Tensor::from_vec(
            kept,
            (n_head, 1, 1),
            f.device(),
        )?)?;
        let per_token = f.transpose(0, 1)?.contiguous()?; // (rows, n_head, n_embd)
        Ok(per_token
            .matmul(&per_token.transpose(1, 2)?.contiguous()?)?
            .reshape((rows, n_head * n_head))?
            .to_vec2::<f32>()?
            .into_iter()
            .map(|row| row.into_iter().map(f64::from).collect())
            .collect())
    }

    /// The parts made of every layer's Gram matrices, [layer][token][h · n_head + g], each token's made by
    /// [`FlowParts::gram_rows`] (n_head² entries).
    pub(crate) fn from_grams(n_head: usize, gram: Vec<Vec<Vec<f64>>>) -> Self {
        let value_norms = gram
            .iter()
            .map(|layer| {
                (0..n_head)
                    .map(|h| {
                        layer
                            .iter()
                            // Each token's row holds n_head² entries (gram_rows): h · n_head + h is one.
                            .map(|token| token[h * n_head + h].max(0.0).sqrt())
                            .collect()
                    })
                    .collect()
            })
            .collect();
        Self {
            n_head,
            value_norms,
            gram,
        }
    }

    /// Every layer's Gram matrices of the first `len` tokens: what a longer text with the same start reuses.
    pub fn prefix_grams(&self, len: usize) -> Vec<Vec<Vec<f64>>> {
        self.gram
            .iter()
            .map(|layer| layer.iter().take(len).cloned().collect())
            .collect()
    }

    /// How many tokens.
    pub fn tokens(&self) -> usize {
        self.gram.first().map_or(0, Vec::len)
    }

    /// ‖f_h(x_j)‖ of head `head` of `layer`, per token; `None` past the model.
    pub fn value_norms(&self, layer: usize, head: usize) -> Option<&[f64]> {
        self.value_norms.get(layer)?.get(head).map(Vec::as_slice)
    }

    /// Head (layer, head)'s edge norms α_ij ‖f_h(x_j)‖ from its attention weights `a` (n × n); `None` when the
    /// head or the size is not this text's.
    pub fn head(&self, layer: usize, head: usize, a: &Matrix) -> Option<Matrix> {
        let norms = self.value_norms(layer, head)?;
        if a.n() != norms.len() {
            return None;
        }
        let rows: Vec<Vec<f64>> = a
            .iter_rows()
            .map(|row| row.iter().zip(norms).map(|(a, v)| a * v).collect())
            .collect();
        Matrix::from_rows(&rows)
    }

    /// Layer `layer`'s edge norms ‖Σ_h α^h_ij f_h(x_j)‖ from every head's attention weights `heads` (n × n
    /// each, in head order); `None` when they are not this text's and layer's.
    pub fn layer(&self, layer: usize, heads: &[Matrix]) -> Option<Matrix> {
        use rayon::prelude::*;
        let gram = self.gram.get(layer)?;
        let (n, n_head) = (gram.len(), self.n_head);
        if n_head == 0
            || heads.len() != n_head
            || heads.iter().any(|m| m.n() != n)
            || gram.iter().any(|g| g.len() != n_head * n_head)
        {
            return None;
        }
        // Row i on its own thread; the heads' weights of one edge in a buffer reused along the row.
        let rows: Vec<Vec<f64>> = (0..n)
            .into_par_iter()
            .map_init(
                || vec![0.0; n_head],
                |a, i| {
                    let mut row = vec![0.0; n];
                    for (j, (out, g)) in row.iter_mut().zip(gram).enumerate().take(i + 1) {
                        for (x, m) in a.iter_mut().zip(heads) {
                            *x = m.get(i, j);
                        }
                        // Σ over h · n_head + g of a_h · a_g · G[h][g], in that order: each token's Gram row
                        // holds n_head² entries (checked above), n_head for each h.
                        let square: f64 = a
                            .iter()
                            .zip(g.chunks_exact(n_head))
                            .flat_map(|(&ah, g_h)| {
                                a.iter().zip(g_h).map(move |(&ag, &x)| ah * ag * x)
                            })
                            .sum();
                        *out = square.max(0.0).sqrt();
                    }
                    row
                },
            )
            .collect();
        Matrix::from_rows(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every edge by the formula, one pair at a time: Σ_hg a_h · a_g · G[hg] over hg = h · n_head + g.
    fn layer_by_pairs(parts: &FlowParts, layer: usize, heads: &[Matrix]) -> Matrix {
        let gram = &parts.gram[layer];
        let (n, n_head) = (gram.len(), parts.n_head);
        let mut out = Matrix::zeros(n);
        for i in 0..n {
            for (j, g) in gram.iter().enumerate().take(i + 1) {
                let a: Vec<f64> = heads.iter().map(|m| m.get(i, j)).collect();
                let square: f64 = (0..n_head * n_head)
                    .map(|hg| a[hg / n_head] * a[hg % n_head] * g[hg])
                    .sum();
                out.set(i, j, square.max(0.0).sqrt());
            }
        }
        out
    }

    #[test]
    fn a_layers_edge_norms_have_the_formulas_bits() {
        let (n, n_head) = (37, 3);
        let values =
            crate::model::test_values::test_values(n * n * n_head + n * n_head * n_head, 5);
        let (weights, grams) = values.split_at(n * n * n_head);
        // Lower-triangular weights; Gram entries of either sign, so some squares are negative and clamp to 0.
        let heads: Vec<Matrix> = weights
            .chunks_exact(n * n)
            .map(|w| {
                let rows: Vec<Vec<f64>> = w
                    .chunks_exact(n)
                    .enumerate()
                    .map(|(i, row)| {
                        row.iter()
                            .enumerate()
                            .map(|(j, &x)| if j <= i { f64::from(x.abs()) } else { 0.0 })
                            .collect()
                    })
                    .collect();
                Matrix::from_rows(&rows).unwrap()
            })
            .collect();
        let gram: Vec<Vec<f64>> = grams
            .chunks_exact(n_head * n_head)
            .map(|g| g.iter().map(|&x| f64::from(x)).collect())
            .collect();
        let parts = FlowParts::from_grams(n_head, vec![gram]);
        let got = parts.layer(0, &heads).unwrap();
        let want = layer_by_pairs(&parts, 0, &heads);
        let bits = |m: &Matrix| {
            m.rows()
                .concat()
                .iter()
                .map(|x| x.to_bits())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&got), bits(&want));
        // Heads or sizes that are not this layer's, or no heads at all, are refused.
        assert!(parts.layer(0, &heads[..2]).is_none());
        assert!(parts.layer(1, &heads).is_none());
        assert!(FlowParts::from_grams(0, parts.prefix_grams(n))
            .layer(0, &[])
            .is_none());
    }
}
