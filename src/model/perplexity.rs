//! Sliding-window perplexity of long texts, exactly as Hugging Face's guide "Perplexity of fixed-length
//! models" computes it: windows of `max_length` tokens starting at 0, S, 2S, …; each window scores only the
//! tokens no earlier window scored, the rest of it is context. Only the scored positions go through the
//! 50257-wide LM head, and only one window's logits exist at a time.

use rayon::prelude::*;
use serde::Serialize;

use super::engine::{Engine, EngineError};
use super::pool::on_pool;

/// Window settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WindowOptions {
    /// Tokens per window (at most n_positions).
    pub max_length: usize,
    /// Tokens between window starts (1..=max_length).
    pub stride: usize,
    /// Prepend `<|endoftext|>` so the first token is scored too.
    pub bos: bool,
    /// Windows of one shape run through the model together, up to this many (at least 1).
    pub batch: usize,
}

/// One window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Window {
    /// First token (inclusive).
    pub begin: usize,
    /// Last token (exclusive).
    pub end: usize,
    /// Tokens new to this window (`end − previous end`), as the guide's `trg_len`.
    pub trg_len: usize,
    /// Tokens actually scored: `trg_len`, less one in a window whose first token has no context.
    pub n_scored: usize,
    /// Mean negative log-likelihood of the scored tokens (nats): the guide's `outputs.loss`.
    pub mean_nll: f64,
    /// Each scored token's negative log-likelihood (nats), for tokens `end − n_scored .. end` in order: made
    /// only by [`sliding_window`], n_scored of them. Left out of the JSON, which stays one object per window;
    /// `attngraph perplexity --per-token` writes them.
    #[serde(skip)]
    nll: Vec<f64>,
}

impl Window {
    /// The tokens this window scores, each with its position in the text (BOS counted) and its
    /// negative log-likelihood in nats.
    pub fn scored(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        (self.end - self.n_scored..self.end).zip(self.nll.iter().copied())
    }

    /// Whether the token at `position` is scored in this window (not context only).
    pub fn scores(&self, position: usize) -> bool {
        (self.end - self.n_scored..self.end).contains(&position)
    }
}

/// The three aggregations that Hugging Face's guide has used over the years.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Aggregates {
    /// exp(Σ NLL / number of scored tokens): the exact value.
    pub token: f64,
    /// exp(mean of the windows' mean NLL): the 2023–24 guide.
    pub window_mean: f64,
    /// exp(Σ mean_nll·trg_len / last end): the late-2022 guide.
    pub hf_legacy: f64,
}

/// The result of scoring a text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PerplexityReport {
    /// The perplexities.
    pub ppl: Aggregates,
    /// Σ NLL over scored tokens (nats).
    pub nll_sum: f64,
    /// Number of scored tokens.
    pub predicted_tokens: usize,
    /// Tokens in the text (BOS included when prepended).
    pub tokens: usize,
    /// Every window.
    pub windows: Vec<Window>,
}

impl PerplexityReport {
    /// The bytes of the text whose tokens the windows scored: all of them where every token is scored (BOS
    /// first); without BOS, all but the first token's, which is context only; and less the first token of each
    /// window where the stride equals the window. A token's bytes run from the end of the token before it to its
    /// own end (the first token's from the text's start). `spans` are the text's own, from [`Engine::tokenize`]
    /// without BOS, and `text_len` its length in bytes. `None` for spans that do not fit the report or the text.
    pub fn scored_bytes(
        &self,
        text_len: usize,
        spans: &[super::engine::Span],
        bos: bool,
    ) -> Option<usize> {
        let lead = usize::from(bos);
        if spans.len() + lead != self.tokens {
            return None;
        }
        let mut scored = vec![false; spans.len()];
        for (position, _) in self.scored() {
            // Windows score positions 1.. of the tokens (BOS counted), below spans.len() + lead.
            scored[position - lead] = true;
        }
        let mut unscored = 0;
        let mut before = 0;
        for (&(_, end), scored) in spans.iter().zip(scored) {
            if !scored {
                unscored += end.checked_sub(before)?;
            }
            before = end;
        }
        text_len.checked_sub(unscored)
    }

    /// Every scored token of the text, in order, with its position (BOS counted) and negative
    /// log-likelihood in nats. Each token is scored by exactly one window.
    pub fn scored(&self) -> impl Iterator<Item = (usize, f64)> + '_ {
        self.windows.iter().flat_map(Window::scored)
    }

    /// The `k` scored tokens of the highest loss, the highest first (ties by position): (position, nll).
    pub fn most_surprising(&self, k: usize) -> Vec<(usize, f64)> {
        let mut by_loss: Vec<(usize, f64)> = self.scored().collect();
        by_loss.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        by_loss.truncate(k);
        by_loss
    }

    /// The window that scores the token at `position`; `None` for a token no window scores: BOS, the text's
    /// first token without BOS, and each window's first where the stride equals the window.
    pub fn window_scoring(&self, position: usize) -> Option<usize> {
        self.windows.iter().position(|w| w.scores(position))
    }

    /// Σ NLL in bits over `scored_bytes` (from [`Self::scored_bytes`]): comparable across tokenizers, and with gzip.
    pub fn bits_per_byte(&self, scored_bytes: usize) -> f64 {
        self.nll_sum / std::f64::consts::LN_2 / scored_bytes as f64
    }
}

/// Errors of the windowed scoring.
#[derive(Debug, thiserror::Error)]
pub enum PerplexityError {
    /// Bad settings.
    #[error("{0}")]
    Options(String),
    /// Too little text.
    #[error("the text has {0} token(s); perplexity needs at least 2 (or 1 with --bos)")]
    TooShort(usize),
    /// The model failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// The windows the guide's loop visits for a text of `seq_len` tokens: (begin, end, trg_len, n_scored).
pub fn plan_windows(
    seq_len: usize,
    max_length: usize,
    stride: usize,
) -> Vec<(usize, usize, usize, usize)> {
    let mut out = Vec::new();
    let mut prev_end = 0;
    let mut begin = 0;
    while begin < seq_len && stride > 0 {
        let end = (begin + max_length).min(seq_len);
        let trg_len = end - prev_end;
        // The model's labels are shifted by one: the window's first token is never a target.
        let n_scored = trg_len.min(end - begin - 1);
        out.push((begin, end, trg_len, n_scored));
        prev_end = end;
        if end == seq_len {
            break;
        }
        begin += stride;
    }
    out
}

/// Scores `ids` window by window; `progress(tokens scored so far, total to score)` is called after each.
pub fn sliding_window(
    engine: &Engine,
    text_ids: &[u32],
    options: WindowOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PerplexityReport, PerplexityError> {
    let n_positions = engine.info().n_positions;
    // A window of one token predicts nothing (the model's labels are shifted by one), so every window would
    // score nothing and the perplexity would read a perfect 1.
    // Said for both places a person sets them: the command line's flags and the Perplexity tab's fields.
    if options.max_length < 2 || options.max_length > n_positions {
        return Err(PerplexityError::Options(format!(
            "a window (--max-length; the Perplexity tab's \"window\") of {}: give 2 (one token read, one predicted) to the model's context, {n_positions}",
            crate::format::count(options.max_length, "token", "tokens")
        )));
    }
    if options.stride == 0 || options.stride > options.max_length {
        return Err(PerplexityError::Options(format!(
            "a stride (--stride; the Perplexity tab's \"stride\") of {}: give 1 to the window's {}",
            crate::format::count(options.stride, "token", "tokens"),
            options.max_length
        )));
    }
    let mut ids = Vec::with_capacity(text_ids.len() + 1);
    if options.bos {
        ids.push(engine.bos_token().ok_or(EngineError::NoBosToken)?);
    }
    ids.extend_from_slice(text_ids);
    if ids.len() < 2 {
        return Err(PerplexityError::TooShort(text_ids.len()));
    }
    let plan = plan_windows(ids.len(), options.max_length, options.stride);
    let total: usize = plan.iter().map(|w| w.3).sum();
    let vocab = engine.info().vocab_size;
    let (mut nll_sum, mut scored, mut legacy) = (0.0, 0usize, 0.0);
    let mut windows = Vec::with_capacity(plan.len());
    // Consecutive windows of one length scoring from one row go through the model together.
    let batch = options.batch.max(1);
    let mut rest = plan.as_slice();
    while let Some(&(begin, end, _, n_scored)) = rest.first() {
        let shape = (end - begin, n_scored);
        let same = rest
            .iter()
            .take(batch)
            .take_while(|w| (w.1 - w.0, w.3) == shape)
            .count();
        let (group, tail) = rest.split_at(same);
        rest = tail;
        let t = end - begin;
        // Position p predicts token p + 1; the last n_scored positions before the end are scored.
        let first_row = t - 1 - n_scored;
        let inputs: Vec<&[u32]> = group
            .iter()
            // Windows are made by `windows` over 0..ids.len(), so begin ≤ end ≤ ids.len().
            .map(|w| &ids[w.0..w.1])
            .collect();
        // The group's forward pass and its scoring, on one of rayon's threads (see `on_pool`).
        let group_windows = on_pool(|| score_group(engine, group, &inputs, first_row, vocab))?;
        for (window, window_nll) in group_windows {
            nll_sum += window_nll;
            scored += window.n_scored;
            legacy += window.mean_nll * window.trg_len as f64;
            windows.push(window);
        }
        progress(scored, total);
    }
    let last_end = plan.last().map_or(1, |w| w.1);
    let window_mean = windows.iter().map(|w| w.mean_nll).sum::<f64>() / windows.len().max(1) as f64;
    Ok(PerplexityReport {
        ppl: Aggregates {
            token: (nll_sum / scored.max(1) as f64).exp(),
            window_mean: window_mean.exp(),
            hf_legacy: (legacy / last_end as f64).exp(),
        },
        nll_sum,
        predicted_tokens: scored,
        tokens: ids.len(),
        windows,
    })
}

/// The windows of one group, all of length t and scored from `first_row`, through the model together: each
/// window with the sum of its scored tokens' negative log-likelihoods.
fn score_group(
    engine: &Engine,
    group: &[(usize, usize, usize, usize)],
    inputs: &[&[u32]],
    first_row: usize,
    vocab: usize,
) -> Result<Vec<(Window, f64)>, EngineError> {
    let hidden = engine.model().forward_scoring(inputs, first_row)?; // (group · (t − first_row), n_embd)
    let mut out = Vec::with_capacity(group.len());
    for (i, (&(begin, end, trg_len, n_scored), window)) in group.iter().zip(inputs).enumerate() {
        let t = end - begin;
        // Every window of a group has length t, and first_row = t − 1 − n_scored < t.
        let targets = &window[first_row + 1..];
        let mut nll_of_tokens = Vec::with_capacity(n_scored);
        let mut chunk_nll = Vec::with_capacity(LM_HEAD_ROWS);
        // The LM head in chunks of rows: one window's logits never exist all at once.
        for chunk in (0..n_scored).step_by(LM_HEAD_ROWS) {
            let rows = LM_HEAD_ROWS.min(n_scored - chunk);
            let logits = engine
                .model()
                .logits(&hidden, i * (t - first_row) + chunk, rows)?;
            // targets holds n_scored ids, and chunk + rows ≤ n_scored.
            let chunk_targets = &targets[chunk..chunk + rows];
            // Read in place, not copied out first.
            crate::model::softmax::with_values(&logits, |logits| {
                logits
                    .par_chunks_exact(vocab)
                    .zip(chunk_targets.par_iter())
                    .map(|(row, &target)| nll(row, target))
                    .collect_into_vec(&mut chunk_nll)
            })?;
            nll_of_tokens.extend_from_slice(&chunk_nll);
        }
        // Summed in order: the same sum on any number of threads.
        let window_nll: f64 = nll_of_tokens.iter().sum();
        let window = Window {
            begin,
            end,
            trg_len,
            n_scored,
            mean_nll: window_nll / n_scored.max(1) as f64,
            nll: nll_of_tokens,
        };
        out.push((window, window_nll));
    }
    Ok(out)
}

/// Rows of logits made at once: 128 × 50,257 floats = 26 MB for GPT-2.
const LM_HEAD_ROWS: usize = 128;

/// −ln softmax(row)[target], with the log-sum-exp in f64.
fn nll(row: &[f32], target: u32) -> f64 {
    super::vexp::log_sum_exp(row) - row.get(target as usize).map_or(f64::NAN, |&x| f64::from(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_follow_the_guide() {
        // 10 tokens, windows of 4, stride 3: [0,4) scores 3 (first token has no context), [3,7) scores 3 new,
        // [6,10) scores 3 new; the loop stops at the end.
        assert_eq!(
            plan_windows(10, 4, 3),
            vec![(0, 4, 4, 3), (3, 7, 3, 3), (6, 10, 3, 3)]
        );
        // Stride = max length: disjoint windows, each loses its first token.
        assert_eq!(plan_windows(8, 4, 4), vec![(0, 4, 4, 3), (4, 8, 4, 3)]);
        // Shorter than one window.
        assert_eq!(plan_windows(3, 4, 2), vec![(0, 3, 3, 2)]);
    }
}
