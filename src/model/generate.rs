//! Continuing a text: sample the next tokens from the model (temperature, top-k, top-p, via candle-transformers'
//! `LogitsProcessor`), so the distribution the probability panel describes turns into text.

use candle_transformers::generation::{LogitsProcessor, Sampling};

use super::engine::{Engine, EngineError};
use super::head_set::HeadSet;
use super::options::KeepScores;

/// How to sample.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct SamplingOptions {
    /// Softmax temperature; 0 takes the most likely token every time.
    pub temperature: f64,
    /// Keep only the k most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the fewest tokens whose probabilities reach p (1: all).
    pub top_p: f64,
    /// Tokens to add.
    pub max_new_tokens: usize,
    /// Random seed, so a continuation can be repeated.
    pub seed: u64,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_k: 40,
            top_p: 0.95,
            max_new_tokens: 8,
            seed: 42,
        }
    }
}

impl SamplingOptions {
    fn sampling(&self) -> Sampling {
        let temperature = self.temperature;
        match (temperature <= 0.0, self.top_k > 0, self.top_p < 1.0) {
            (true, _, _) => Sampling::ArgMax,
            (false, true, true) => Sampling::TopKThenTopP {
                k: self.top_k,
                p: self.top_p,
                temperature,
            },
            (false, true, false) => Sampling::TopK {
                k: self.top_k,
                temperature,
            },
            (false, false, true) => Sampling::TopP {
                p: self.top_p,
                temperature,
            },
            (false, false, false) => Sampling::All { temperature },
        }
    }
}

/// Samples up to `max_new_tokens` tokens after `text` and returns the text with them appended. Stops early at
/// `<|endoftext|>` or at the model's context length. The text runs through the model once; each sampled token
/// then runs alone, reusing every earlier position's keys and values.
pub fn continue_text(
    engine: &Engine,
    text: &str,
    bos: bool,
    options: &SamplingOptions,
) -> Result<String, EngineError> {
    if text.is_empty() && !bos {
        return Err(EngineError::EmptyText);
    }
    let (mut ids, _) = engine.tokenize(text, bos)?;
    let limit = engine.info().n_positions;
    let mut processor = LogitsProcessor::from_sampling(options.seed, options.sampling());
    let mut added = Vec::new();
    let model = engine.model();
    let mut past = Vec::new();
    // The positions not yet run through the model: the whole text first, then each sampled token.
    let mut fresh = ids.clone();
    for _ in 0..options.max_new_tokens {
        if ids.len() >= limit {
            break;
        }
        let (hidden, kv) = model.forward_from(
            &fresh,
            &past,
            KeepScores::None,
            &HeadSet::default(),
            &mut |_, _, _| Ok(()),
        )?;
        past = kv;
        // `fresh` is never empty here: the text (checked non-empty, or BOS) or the one token just sampled.
        let logits = model.logits(&hidden, fresh.len() - 1, 1)?.squeeze(0)?;
        let next = processor.sample(&logits)?;
        if engine.is_end_of_text(next) {
            break;
        }
        ids.push(next);
        fresh = vec![next];
        added.extend_from_slice(engine.tokenizer().bytes(next));
    }
    Ok(format!("{text}{}", String::from_utf8_lossy(&added)))
}
