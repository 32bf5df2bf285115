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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
