//! Direct logit attribution: how much each part of the model adds, directly, to the logit of one prediction.
//!
//! The final residual stream x at position P (the input of the final norm) is a sum of parts: the embeddings,
//! each head's output, each attention layer's output-projection bias and each MLP's output. With LayerNorm
//! (GPT-2) the logit of a target token is ((x − mean x) / σ · γ + β) · u, with σ = √(var x + ε) (biased
//! variance over features), the final norm's γ and β, and u the target's row of the LM head. Freezing σ at its
//! value for x makes that linear in x, so each part c gets ((c − mean c) / σ · γ) · u, and β · u is left over.
//! With RMSNorm (Qwen2, Llama) σ = √(mean(x²) + ε), no mean is subtracted and there is no β: each part gets
//! (c / σ · γ) · u. Either way the parts add up to the logit exactly.
//!
//! What it leaves out: a head can matter through the heads and MLPs above it (an indirect effect), which this
//! does not see; and σ is frozen, although removing a part would change it. [`super::ablation`] measures the
//! total effect instead.

use serde::Serialize;

use super::ablation::{checked_ids, token_texts, TokenText};
use super::config::NormKind;
use super::engine::{Engine, EngineError};
use super::head_set::HeadSet;

/// The direct contributions to one logit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Attribution {
    /// The tokens, BOS included when prepended.
    pub tokens: Vec<TokenText>,
    /// The position whose prediction is taken apart: its logits predict the token at `position + 1`.
    pub position: usize,
    /// The token whose logit is attributed.
    pub target: TokenText,
    /// The logit, as the model computes it.
    pub logit: f64,
    /// ln p of the target at this position.
    pub logprob: f64,
    /// Token plus position embedding (GPT-2), or the token embedding alone (rotary families).
    pub embeddings: f64,
    /// [layer][head].
    pub heads: Vec<Vec<f64>>,
    /// Each attention layer's output-projection bias (0 where it has none).
    pub attention_bias: Vec<f64>,
    /// Each MLP's output, its bias included.
    pub mlp: Vec<f64>,
    /// The final LayerNorm's bias β · u (0 for RMSNorm, which has none).
    pub ln_bias: f64,
}

impl Attribution {
    /// The sum of every part: equal to `logit` up to rounding.
    pub fn total(&self) -> f64 {
        self.embeddings
            + self.heads.iter().flatten().sum::<f64>()
            + self.attention_bias.iter().sum::<f64>()
            + self.mlp.iter().sum::<f64>()
            + self.ln_bias
    }
}

/// Attributes the logit that position `position` of `text` (BOS prepended if `bos`) gives `target`; without a
/// target, the token that follows (at the last position, the model's top prediction).
pub fn attribute(
    engine: &Engine,
    text: &str,
    bos: bool,
    position: usize,
    target: Option<u32>,
) -> Result<Attribution, EngineError> {
    let ids = checked_ids(engine, text, bos)?;
    let info = engine.info();
    let last = ids.len() - 1; // checked_ids returns at least two ids
    if position > last {
        return Err(EngineError::Position { position, last });
    }
    if let Some(id) = target.filter(|&id| id as usize >= info.vocab_size) {
        return Err(EngineError::TokenId {
            id,
            last: info.vocab_size - 1,
        });
    }
    let model = engine.model();
    let trace = model.trace(&ids, &HeadSet::default())?;
    let logits: Vec<f32> = model
        .logits(&trace.hidden, position, 1)?
        .flatten_all()?
        .to_vec1()?;
    let target = match (target, ids.get(position + 1)) {
        (Some(id), _) | (None, Some(&id)) => id,
        (None, None) => super::row_scan::top_k_of(&logits, 1)
            .first()
            .map(|&(id, _)| id)
            .ok_or_else(|| candle_core::Error::Msg("the model returned no logits".into()))?,
    };
    // target < vocab_size = logits.len(): checked above, or an id of the text or of the logits themselves.
    let logit = f64::from(logits[target as usize]);
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let lse = f64::from(max)
        + logits
            .iter()
            .map(|&x| f64::from(x - max).exp())
            .sum::<f64>()
            .ln();

    let row = |t: &candle_core::Tensor| -> Result<Vec<f64>, EngineError> {
        Ok(t.narrow(0, position, 1)?
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect())
    };
    let to_f64 = |t: &candle_core::Tensor| -> Result<Vec<f64>, EngineError> {
        Ok(t.flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect())
    };
    let (kind, gamma, beta, eps) = model.final_norm();
    let gamma = to_f64(gamma)?;
    let beta = beta.map(to_f64).transpose()?;
    let u = to_f64(&model.unembedding(target)?)?;
    let x = row(&trace.residual)?;
    let n = x.len() as f64;
    let centred = kind == NormKind::LayerNorm;
    let sigma = if centred {
        let mean = x.iter().sum::<f64>() / n;
        (x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n + eps).sqrt()
    } else {
        (x.iter().map(|v| v * v).sum::<f64>() / n + eps).sqrt()
    };
    // f(c) = Σ (c_i − mean c)/σ · γ_i u_i = Σ c_i w_i − mean(c) Σ w_i with w = γ ⊙ u / σ; RMSNorm drops the mean.
    let w: Vec<f64> = gamma.iter().zip(&u).map(|(g, u)| g * u / sigma).collect();
    let w_sum: f64 = w.iter().sum();
    let direct = |c: &[f64]| -> f64 {
        let dot = c.iter().zip(&w).map(|(c, w)| c * w).sum::<f64>();
        if centred {
            dot - c.iter().sum::<f64>() / c.len() as f64 * w_sum
        } else {
            dot
        }
    };

    let mut heads = Vec::with_capacity(info.n_layer);
    let mut attention_bias = Vec::with_capacity(info.n_layer);
    let mut mlp = Vec::with_capacity(info.n_layer);
    for (layer, traced) in trace.layers.iter().enumerate() {
        let at_position = traced.heads.narrow(1, position, 1)?.squeeze(1)?; // (n_head, head_dim)
        let (per_head, bias) = model.head_contributions(layer, &at_position)?;
        let per_head = to_f64(&per_head)?;
        heads.push(per_head.chunks_exact(info.n_embd).map(direct).collect());
        attention_bias.push(direct(&to_f64(&bias)?));
        mlp.push(direct(&row(&traced.mlp)?));
    }
    Ok(Attribution {
        tokens: token_texts(engine, &ids),
        position,
        target: TokenText {
            id: target,
            text: engine.tokenizer().text(target),
        },
        logit,
        logprob: logit - lse,
        embeddings: direct(&row(&trace.embeddings)?),
        heads,
        attention_bias,
        mlp,
        ln_bias: match &beta {
            Some(beta) => beta.iter().zip(&u).map(|(b, u)| b * u).sum(),
            // RMSNorm has no shift: nothing is left over beside the parts.
            None => 0.0,
        },
    })
}
