//! One text read by GPT-2, as plain data: tokens with their byte spans, per-token probabilities, the running
//! perplexity, and every head's attention matrix. No candle or egui types leave this module.
//!
//! Conventions. Position 0 is never scored: with `bos` it is `<|endoftext|>`, without it the first token has no
//! context. Token t (t ≥ 1) is scored by the logits at position t − 1. Statistics are computed in f64 from the
//! model's f32 logits. PPL_t = exp(−(1/n) Σ ln p) over the n tokens scored up to t.

use rayon::prelude::*;
use serde::Serialize;

use super::config::Family;

use super::attentions::Attentions;
use super::head_set::HeadSet;

/// The sizes of the model that made an analysis.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The family, as config.json's `model_type` names it: "gpt2", "qwen2" or "llama".
    pub family: Family,
    /// Transformer blocks.
    pub n_layer: usize,
    /// Query heads per block.
    pub n_head: usize,
    /// Key/value heads per block (fewer than `n_head` with grouped-query attention).
    pub n_kv_head: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Learned position embeddings (GPT-2) or rotary positions.
    pub learned_positions: bool,
    /// LayerNorm (GPT-2) or RMSNorm.
    pub layer_norm: bool,
    /// How many parameters the model has.
    pub parameters: usize,
    /// The model's BOS token as text (`<|endoftext|>`, `<s>`), if it has one.
    pub bos_token: Option<String>,
    /// Residual width.
    pub n_embd: usize,
    /// Context length.
    pub n_positions: usize,
    /// Vocabulary size.
    pub vocab_size: usize,
}

/// One alternative the model considered for a position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Alternative {
    /// Vocabulary id.
    pub id: u32,
    /// Its text (`\xNN` for bytes that are not complete UTF-8).
    pub text: String,
    /// Probability.
    pub prob: f64,
}

/// How well the model predicted one token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenStats {
    /// ln p(x_t | x_<t).
    pub logprob: f64,
    /// −log₂ p(x_t | x_<t).
    pub surprisal_bits: f64,
    /// 1 + the number of tokens the model found more likely.
    pub rank: usize,
    /// Entropy of the predicted distribution, in bits.
    pub entropy_bits: f64,
    /// The k most likely tokens, most likely first.
    pub top_k: Vec<Alternative>,
    /// exp of the mean negative log-probability of the scored tokens up to and including this one.
    pub running_perplexity: f64,
}

/// One token of the analysed text. Serialised with its statistics beside its id, as `analyze --format json`
/// gives them: null (and `top_k` empty) where the token is not scored. Flattened, it serialises as a map of
/// unknown length (serde_json takes that; formats that need a length up front do not), and it is not read back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Token {
    /// Vocabulary id.
    pub id: u32,
    /// The piece of text it stands for.
    pub text: String,
    /// The same with whitespace made visible (`␣`, `↵`, `⇥`), for labels.
    pub display: String,
    /// Byte range in the input text (empty for the BOS token).
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
    /// Whether this is the prepended `<|endoftext|>`.
    pub is_bos: bool,
    /// Prediction statistics; `None` for position 0.
    #[serde(flatten, serialize_with = "flat_stats")]
    pub stats: Option<TokenStats>,
}

/// A token's statistics as keys of the token itself, each null (`top_k` empty) where it is not scored.
fn flat_stats<S: serde::Serializer>(
    stats: &Option<TokenStats>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    FlatStats::from(stats.as_ref()).serialize(serializer)
}

/// [`TokenStats`]' keys, every one present whether the token is scored or not.
#[derive(Serialize)]
struct FlatStats<'a> {
    logprob: Option<f64>,
    surprisal_bits: Option<f64>,
    rank: Option<usize>,
    entropy_bits: Option<f64>,
    top_k: &'a [Alternative],
    running_perplexity: Option<f64>,
}

impl<'a> From<Option<&'a TokenStats>> for FlatStats<'a> {
    fn from(stats: Option<&'a TokenStats>) -> Self {
        match stats {
            // Every field named: a new one is a compile error here, not a key missing from unscored tokens.
            Some(TokenStats {
                logprob,
                surprisal_bits,
                rank,
                entropy_bits,
                top_k,
                running_perplexity,
            }) => Self {
                logprob: Some(*logprob),
                surprisal_bits: Some(*surprisal_bits),
                rank: Some(*rank),
                entropy_bits: Some(*entropy_bits),
                top_k,
                running_perplexity: Some(*running_perplexity),
            },
            None => Self {
                logprob: None,
                surprisal_bits: None,
                rank: None,
                entropy_bits: None,
                top_k: &[],
                running_perplexity: None,
            },
        }
    }
}

/// Pre-softmax scores QK^T/√d, dense [layer][head][query][key] (the upper triangle is what the mask removes; it is
/// kept to show that the score matrix is not symmetric): one entry a layer, empty for a layer whose scores were
/// not kept ([`super::KeepScores`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scores(pub Vec<Vec<Vec<Vec<f32>>>>);

impl Serialize for Scores {
    /// As nested lists, each value its exact decimal (see [`Exact`](super::attentions::Exact)).
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        super::attentions::Exact(&self.0).serialize(serializer)
    }
}

/// A text read by GPT-2.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Analysis {
    /// The input text.
    pub text: String,
    /// Whether `<|endoftext|>` was prepended as position 0.
    pub bos: bool,
    /// Model sizes.
    pub model: ModelInfo,
    /// The tokens, BOS included when prepended.
    pub tokens: Vec<Token>,
    /// exp of the mean negative log-probability of every scored token; `None` when nothing was scored.
    pub perplexity: Option<f64>,
    /// The k most likely next tokens after the text.
    pub next_top_k: Vec<Alternative>,
    /// Attention probabilities of every layer and head.
    pub attentions: Attentions,
    /// Pre-softmax scores, when asked for: every layer's, or one layer's with the others empty.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scores: Option<Scores>,
    /// The heads knocked out while reading the text (empty: none).
    #[serde(skip_serializing_if = "HeadSet::is_empty")]
    pub ablated: HeadSet,
    /// What their values became.
    #[serde(skip_serializing_if = "super::head_set::Replacement::is_zero")]
    pub replacement: super::head_set::Replacement,
    /// What each head moves from each token (the norms of what flows), when asked for: made in the same pass.
    #[serde(skip)]
    pub flow: Option<std::sync::Arc<super::flow::FlowParts>>,
}

impl Analysis {
    /// The scored tokens' statistics, in order.
    pub fn scored(&self) -> impl Iterator<Item = &TokenStats> {
        self.tokens.iter().filter_map(|t| t.stats.as_ref())
    }
}

/// Statistics of one predicted distribution, before the running perplexity is known.
#[derive(Clone, Debug)]
pub struct RowStats {
    /// ln p of the actual token (when there is one).
    pub logprob: f64,
    /// Rank of the actual token; 0 where there is none (a row nothing is scored on, whose rank is never read).
    pub rank: usize,
    /// Entropy in nats.
    pub entropy_nats: f64,
    /// Top-k (id, probability), most likely first.
    pub top_k: Vec<(u32, f64)>,
}

/// Computes the statistics of each logits row; row r scores `targets[r]` (or nothing, where it is `None`).
/// Rows run in parallel; each is read once for its maximum, the rank and the top-k, then again (from L2) for the
/// log-sum-exp and the entropy.
pub fn row_stats(
    logits: &[f32],
    vocab: usize,
    targets: &[Option<u32>],
    top_k: usize,
) -> Vec<RowStats> {
    logits
        .par_chunks_exact(vocab)
        .zip(targets.par_iter())
        .map(|(row, target)| one_row(row, *target, top_k))
        .collect()
}

fn one_row(row: &[f32], target: Option<u32>, k: usize) -> RowStats {
    let target_logit = target.and_then(|id| row.get(id as usize)).copied();
    // One read for the maximum, the rank and the top-k; the exponentials then read the row again from L2
    // (exponentials in f32 within 2 ulp, sums in f64).
    let scanned = super::row_scan::scan(row, target_logit, k);
    let super::vexp::Moments {
        log_sum_exp: lse,
        entropy_nats,
    } = scanned.moments();
    RowStats {
        logprob: target_logit.map_or(f64::NAN, |t| f64::from(t) - lse),
        // 0 without a target, as `RowStats::rank` says.
        rank: scanned.greater.map_or(0, |greater| 1 + greater),
        entropy_nats,
        top_k: scanned
            .top
            .into_iter()
            .map(|(id, x)| (id, (f64::from(x) - lse).exp()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_statistics_by_hand() {
        // logits ln(1), ln(2), ln(1): probabilities 1/4, 1/2, 1/4.
        let row = [0.0f32, 2f32.ln(), 0.0];
        let stats = one_row(&row, Some(2), 2);
        assert!((stats.logprob - 0.25f64.ln()).abs() < 1e-7);
        assert_eq!(stats.rank, 2);
        // H = 1/4·2 + 1/2·1 + 1/4·2 = 1.5 bits.
        assert!((stats.entropy_nats / std::f64::consts::LN_2 - 1.5).abs() < 1e-7);
        assert_eq!(
            stats.top_k.iter().map(|p| p.0).collect::<Vec<_>>(),
            vec![1, 0]
        );
        assert!((stats.top_k[0].1 - 0.5).abs() < 1e-7);
    }
}
