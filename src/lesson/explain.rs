//! The numbers the lesson teaches with, computed from an analysis (with scores) for one head, as
//! `attngraph explain` prints them: sizes, the score matrix's asymmetry, the Markov facts of the head's matrix,
//! where repeated steps take the mass, and the chain rule's joint probability, perplexity and bits.

use serde::Serialize;

use crate::graph::head_matrix;
use crate::graph::Matrix;
use crate::markov;
use crate::model::{Analysis, HeadSetError};

/// k of A^k for `mass_on_token0`: 1 to this.
pub const MAX_STEPS: usize = 8;

/// Why a text cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The analysis was made without scores.
    #[error("the analysis has no pre-softmax scores: analyse with scores kept")]
    NoScores,
    /// A head the model does not have.
    #[error(transparent)]
    Head(#[from] HeadSetError),
    /// Compressing the text failed (it is compressed in memory, so this is a bug).
    #[error("gzip of the text failed: {0}")]
    Compress(std::io::Error),
    /// Nothing was scored.
    #[error("no token of the text is predicted (one token and no BOS): add text, or prepend BOS (--bos)")]
    NothingScored,
}

/// Quantities that grow as the square of the text's length.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Squares {
    /// One entry per pair of characters.
    pub characters: usize,
    /// One entry per pair of bytes.
    pub bytes: usize,
    /// One entry per pair of tokens: the attention matrix.
    pub tokens: usize,
}

/// What the lesson says about one text and one head.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explanation {
    /// The head: layer.
    pub layer: usize,
    /// The head: head.
    pub head: usize,
    /// Unicode characters of the text.
    pub characters: usize,
    /// UTF-8 bytes of the text.
    pub bytes: usize,
    /// Tokens the model reads (BOS included when prepended).
    pub tokens: usize,
    /// The attention matrix's size had the text been split into characters, bytes or tokens.
    pub attention_entries: Squares,
    /// ‖S − Sᵀ‖_F / ‖S‖_F of the head's pre-softmax scores QKᵀ/√d before the mask: 0 if S were symmetric.
    pub score_asymmetry: f64,
    /// Every row of the head's matrix sums to 1.
    pub row_stochastic: bool,
    /// Without self-loops, the head's graph has no cycle.
    pub dag_without_self_loops: bool,
    /// Tokens that only look at themselves.
    pub absorbing_states: Vec<usize>,
    /// k = 1..8: the mean over rows of (A^k)[i][0], where the chain stands after k steps.
    pub mass_on_token0: Vec<f64>,
    /// Σ ln p(x_t | x_<t) over the scored tokens: ln of the joint probability the chain rule gives.
    pub joint_log_prob: f64,
    /// Tokens scored.
    pub scored_tokens: usize,
    /// exp(−joint / scored tokens).
    pub perplexity: f64,
    /// −joint / ln 2: the bits an ideal coder driven by the model needs for the scored tokens.
    pub bits: f64,
    /// UTF-8 bytes of the scored text: all of it with BOS, else all after the first token.
    pub scored_bytes: usize,
    /// bits / scored bytes; `None` when no byte is scored (a text that is one character split over tokens,
    /// without BOS).
    pub bits_per_byte: Option<f64>,
    /// One head's width (n_embd / n_head for GPT-2): the d_head of S = QKᵀ/√d_head.
    pub head_dim: usize,
    /// S[last][0]: the last token's query against the first token's key.
    pub score_last_first: f64,
    /// S[0][last]: the first token's query against the last token's key (which the causal mask hides).
    pub score_first_last: f64,
    /// Where the last token looks most (the first of equal weights).
    pub last_row_argmax: usize,
    /// Its weight.
    pub last_row_max: f64,
    /// Entropy of the last token's row, in bits.
    pub last_row_entropy_bits: f64,
    /// The token that receives the most attention in all: the heaviest column (the first of equals).
    pub most_attended: usize,
    /// That column's sum over every row.
    pub most_attended_total: f64,
    /// `mass_on_token0` of the uniform causal matrix of the same size (row i: 1/(i + 1) on each token it sees).
    pub uniform_mass_on_token0: Vec<f64>,
    /// The positions t where the pair of token ids (x_{t−1}, x_t) occurred earlier in the text.
    pub repeat_positions: Vec<usize>,
    /// For each of them, the pair's first occurrence t′ (its second token's position).
    pub repeat_first_positions: Vec<usize>,
    /// The text compressed by gzip at its highest level, in bytes (header and trailer included, no file name).
    pub gzip_bytes: usize,
    /// gzip_bytes · 8 / bytes; `None` for an empty text.
    pub gzip_bits_per_byte: Option<f64>,
}

/// The positions t where the pair (ids[t − 1], ids[t]) occurred earlier, each with the pair's first t′ < t.
pub fn repeated_pairs(ids: &[u32]) -> Vec<(usize, usize)> {
    let mut first = std::collections::HashMap::new();
    let mut out = Vec::new();
    for (t, pair) in ids
        .windows(2)
        .enumerate()
        .map(|(i, w)| (i + 1, (w[0], w[1])))
    {
        match first.get(&pair) {
            Some(&earlier) => out.push((t, earlier)),
            None => {
                first.insert(pair, t);
            }
        }
    }
    out
}

/// Bytes of `text` compressed by gzip at level 9.
pub fn gzip_size(text: &str) -> std::io::Result<usize> {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(text.as_bytes())?;
    Ok(encoder.finish()?.len())
}

/// The uniform causal matrix of side `n`: row i spreads evenly over tokens 0..=i.
fn uniform_causal(n: usize) -> Option<Matrix> {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| if j <= i { 1.0 / (i + 1) as f64 } else { 0.0 })
                .collect()
        })
        .collect();
    Matrix::from_rows(&rows)
}

/// Head `layer`.`head`'s pre-softmax scores S = QKᵀ/√d of the analysis, or `None` where the analysis kept none
/// (or the head is out of range).
pub fn score_matrix(analysis: &Analysis, layer: usize, head: usize) -> Option<Matrix> {
    let rows = analysis.scores.as_ref()?.0.get(layer)?.get(head)?;
    let rows: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| r.iter().map(|&v| f64::from(v)).collect())
        .collect();
    Matrix::from_rows(&rows)
}

/// ‖S − Sᵀ‖_F / ‖S‖_F (0 for a zero matrix).
pub fn asymmetry(s: &Matrix) -> f64 {
    let (mut diff, mut norm) = (0.0f64, 0.0f64);
    for i in 0..s.n() {
        for j in 0..s.n() {
            let v = s.get(i, j);
            diff += (v - s.get(j, i)).powi(2);
            norm += v * v;
        }
    }
    if norm > 0.0 {
        (diff / norm).sqrt()
    } else {
        0.0
    }
}

/// The mean over rows of (A^k)[i][0] for k = 1..=max_steps (nothing for a matrix without rows).
pub fn mass_on_token0(a: &Matrix, max_steps: usize) -> Vec<f64> {
    if a.n() == 0 {
        return Vec::new();
    }
    let n = a.n() as f64;
    let mut power = a.clone();
    let mut out = Vec::with_capacity(max_steps);
    for k in 1..=max_steps {
        if k > 1 {
            power = power.matmul(a);
        }
        out.push((0..a.n()).map(|i| power.get(i, 0)).sum::<f64>() / n);
    }
    out
}

/// Explains `analysis` (made with scores kept) for head `layer`.`head`.
pub fn explain(
    analysis: &Analysis,
    layer: usize,
    head: usize,
) -> Result<Explanation, ExplainError> {
    let m = &analysis.model;
    crate::model::HeadSet::one(layer, head).check(m.n_layer, m.n_head)?;
    let s = score_matrix(analysis, layer, head).ok_or(ExplainError::NoScores)?;
    let a = head_matrix(&analysis.attentions, layer, head);
    let report = markov::report(&a, markov::DEFAULT_TELEPORT, 1);
    let (joint, scored) = analysis
        .scored()
        .fold((0.0, 0usize), |(sum, n), s| (sum + s.logprob, n + 1));
    if scored == 0 {
        return Err(ExplainError::NothingScored);
    }
    let text = &analysis.text;
    // Without BOS the first token is context only: its bytes are not scored (as `attngraph perplexity` counts).
    let scored_bytes = match analysis.tokens.first() {
        Some(first) if !analysis.bos => text.len().saturating_sub(first.end),
        _ => text.len(),
    };
    let (characters, bytes, tokens) = (text.chars().count(), text.len(), analysis.tokens.len());
    let bits = -joint / std::f64::consts::LN_2;
    // A scored token exists, so the matrices have a last row (n ≥ 1).
    let last = a.n() - 1;
    let first_max = |values: &mut dyn Iterator<Item = f64>| {
        values
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |best, (j, v)| {
                if v > best.1 {
                    (j, v)
                } else {
                    best
                }
            })
    };
    let (last_row_argmax, last_row_max) = first_max(&mut a.row(last).iter().copied());
    let (most_attended, most_attended_total) =
        first_max(&mut (0..a.n()).map(|j| (0..a.n()).map(|i| a.get(i, j)).sum::<f64>()));
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let (repeat_positions, repeat_first_positions) = repeated_pairs(&ids).into_iter().unzip();
    let gzip_bytes = gzip_size(text).map_err(ExplainError::Compress)?;
    let uniform = uniform_causal(a.n()).ok_or(ExplainError::NothingScored)?;
    Ok(Explanation {
        layer,
        head,
        characters,
        bytes,
        tokens,
        attention_entries: Squares {
            characters: characters * characters,
            bytes: bytes * bytes,
            tokens: tokens * tokens,
        },
        score_asymmetry: asymmetry(&s),
        row_stochastic: report.is_row_stochastic,
        dag_without_self_loops: report.is_dag_without_self_loops,
        absorbing_states: report.absorbing_states,
        mass_on_token0: mass_on_token0(&a, MAX_STEPS),
        joint_log_prob: joint,
        scored_tokens: scored,
        perplexity: (-joint / scored as f64).exp(),
        bits,
        scored_bytes,
        bits_per_byte: (scored_bytes > 0).then(|| bits / scored_bytes as f64),
        head_dim: m.head_dim,
        score_last_first: s.get(last, 0),
        score_first_last: s.get(0, last),
        last_row_argmax,
        last_row_max,
        last_row_entropy_bits: report.row_entropy_bits[last],
        most_attended,
        most_attended_total,
        uniform_mass_on_token0: mass_on_token0(&uniform, MAX_STEPS),
        repeat_positions,
        repeat_first_positions,
        gzip_bytes,
        gzip_bits_per_byte: (bytes > 0).then(|| gzip_bytes as f64 * 8.0 / bytes as f64),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_pairs_are_found_with_their_first_occurrence() {
        // A B C A B C: the pairs (A, B) and (B, C) repeat at 4 and 5; (C, A) at 3 is new.
        assert_eq!(repeated_pairs(&[1, 2, 3, 1, 2, 3]), vec![(4, 1), (5, 2)]);
        // " I" differs from "I": (I', love) is no repeat of (I, love).
        assert_eq!(repeated_pairs(&[10, 2, 3, 11, 2, 3]), vec![(5, 2)]);
        assert!(repeated_pairs(&[7]).is_empty());
    }

    #[test]
    fn asymmetry_by_hand() {
        let m = |rows: &[Vec<f64>]| Matrix::from_rows(rows).unwrap();
        assert_eq!(asymmetry(&m(&[vec![1.0, 2.0], vec![2.0, 1.0]])), 0.0);
        // S = [[0, 1], [0, 0]]: ‖S − Sᵀ‖² = 2, ‖S‖² = 1.
        assert!((asymmetry(&m(&[vec![0.0, 1.0], vec![0.0, 0.0]])) - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn mass_drains_into_token0() {
        // Token 1 looks half at token 0, half at itself: after k steps 1 − 2^−k of it is on token 0.
        let a = Matrix::from_rows(&[vec![1.0, 0.0], vec![0.5, 0.5]]).unwrap();
        let m = mass_on_token0(&a, 3);
        for (k, got) in m.iter().enumerate() {
            let want = (1.0 + 1.0 - 0.5f64.powi(k as i32 + 1)) / 2.0;
            assert!((got - want).abs() < 1e-12);
        }
    }
}
