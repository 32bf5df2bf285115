//! Activation patching: which heads and positions carry the difference between two texts. Run the corrupt
//! text, put back one piece of the clean run — one head's attention-weighted values at every position, or the
//! residual stream entering one block at one position — and see how much of the clean answer returns, measured
//! as logit[answer] − logit[wrong] at the last position (causal tracing, Meng et al. 2022; circuit work, Wang et
//! al. 2022).
//!
//! Nothing below the patched layer changes, so each run starts at that layer from the corrupt run's cached
//! residual stream ([`CausalLm::forward_from_values`], [`CausalLm::forward_from_layer`]), and all heads of a
//! layer (or a block of positions) run together as windows of one batch.

use candle_core::{DType, Tensor};
use serde::Serialize;

use super::ablation::{checked_ids, token_texts, TokenText};
use super::engine::{Engine, EngineError};
use super::head_set::HeadSet;
use super::lm::{CausalLm, Trace};
use super::options::KeepScores;

/// Residual-stream windows run through the model at once: positions × tokens × width floats per batch.
const POSITION_BATCH: usize = 16;

/// What patching found.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Patching {
    /// The clean text's tokens.
    pub clean_tokens: Vec<TokenText>,
    /// The corrupt text's tokens.
    pub corrupt_tokens: Vec<TokenText>,
    /// The token the clean text should lead to.
    pub answer: TokenText,
    /// The token the corrupt text leads to instead.
    pub wrong: TokenText,
    /// logit[answer] − logit[wrong] at the last position of the clean text.
    pub clean_logit_diff: f64,
    /// The same on the corrupt text.
    pub corrupt_logit_diff: f64,
    /// [layer][head]: the metric on the corrupt run with that head's values taken from the clean run.
    pub heads: Vec<Vec<f64>>,
    /// [layer][position]: the metric on the corrupt run with the residual stream entering that block at that
    /// position taken from the clean run (layer 0's input is the embeddings).
    pub residual: Vec<Vec<f64>>,
}

impl Patching {
    /// (x − corrupt) / (clean − corrupt): 0 where patching restores nothing, 1 where it restores the clean
    /// difference; `None` when the two runs give one difference and there is nothing to restore.
    pub fn normalised(&self, x: f64) -> Option<f64> {
        let span = self.clean_logit_diff - self.corrupt_logit_diff;
        (span.abs() > 1e-9).then(|| (x - self.corrupt_logit_diff) / span)
    }

    /// Where clean and corrupt differ by under [`WEAK_GAP`] (but by something): the normalised cells divide by
    /// that small difference, so changes too small to mean much show as large fractions. The gap, if so.
    pub fn weak_gap(&self) -> Option<f64> {
        let gap = (self.clean_logit_diff - self.corrupt_logit_diff).abs();
        (gap > 1e-9 && gap < WEAK_GAP).then_some(gap)
    }
}

/// A logit difference that clean and corrupt must differ by for the normalised cells to mean much: one logit, a
/// factor of e in the odds of the two tokens. Smaller, and the user is told so.
pub const WEAK_GAP: f64 = 1.0;

/// What to say when the two runs differ by only `gap` logits.
pub fn weak_gap_warning(gap: f64) -> String {
    format!(
        "clean and corrupt differ by only {gap:.2} in logit[answer] − logit[wrong] (under {WEAK_GAP}): each cell divides by that, so small changes look large. Choose an answer and a wrong token that the edit moves more, or texts that differ where it matters"
    )
}

/// Patches `corrupt` with pieces of `clean` (BOS first in both if `bos`) and measures
/// logit[answer] − logit[wrong] at the last position. `progress(done, total)` is called after each batch of
/// runs; returning `false` stops with [`EngineError::Cancelled`].
pub fn patch(
    engine: &Engine,
    clean: &str,
    corrupt: &str,
    bos: bool,
    answer: u32,
    wrong: u32,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Patching, EngineError> {
    let clean_ids = checked_ids(engine, clean, bos)?;
    let corrupt_ids = checked_ids(engine, corrupt, bos)?;
    let written = |ids: &[u32]| {
        token_texts(engine, ids)
            .iter()
            .map(|t| format!("[{}]", crate::format::token(&t.text)))
            .collect::<String>()
    };
    if clean_ids.len() != corrupt_ids.len() {
        return Err(EngineError::Lengths {
            n_clean: clean_ids.len(),
            clean: written(&clean_ids),
            n_corrupt: corrupt_ids.len(),
            corrupt: written(&corrupt_ids),
        });
    }
    let info = engine.info();
    for id in [answer, wrong] {
        if id as usize >= info.vocab_size {
            return Err(EngineError::TokenId {
                id,
                last: info.vocab_size - 1,
            });
        }
    }
    if answer == wrong {
        let text = crate::format::token(&engine.tokenizer().text(answer));
        return Err(EngineError::SameAnswers(format!("[{text}]")));
    }
    let model = engine.model();
    let t = clean_ids.len();
    let n_layer = info.n_layer;
    let clean_trace = model.trace(&clean_ids, &HeadSet::default())?;
    let corrupt_trace = model.trace(&corrupt_ids, &HeadSet::default())?;
    // The corrupt run's keys and values at every layer: a window patched at position p is the corrupt run at
    // every position before p, so those positions are not computed again.
    let (_, corrupt_kv) = model.forward_from(
        &corrupt_ids,
        &[],
        KeepScores::None,
        &HeadSet::default(),
        &mut |_, _, _| Ok(()),
    )?;
    let metric = Metric {
        model,
        answer,
        wrong,
        t,
    };
    let clean_logit_diff = metric.of(&clean_trace.hidden, 1)?[0];
    let corrupt_logit_diff = metric.of(&corrupt_trace.hidden, 1)?[0];

    let total = n_layer * (1 + t.div_ceil(POSITION_BATCH));
    let mut done = 0;
    let mut step = |done: &mut usize| {
        *done += 1;
        if progress(*done, total) {
            Ok(())
        } else {
            Err(EngineError::Cancelled)
        }
    };
    let mut heads = Vec::with_capacity(n_layer);
    for layer in 0..n_layer {
        heads.push(patch_heads(
            model,
            &metric,
            &clean_trace,
            &corrupt_trace,
            layer,
        )?);
        step(&mut done)?;
    }
    let mut residual = Vec::with_capacity(n_layer);
    for layer in 0..n_layer {
        let (clean_in, corrupt_in) = (
            &layer_of(&clean_trace, layer)?.input,
            &layer_of(&corrupt_trace, layer)?.input,
        );
        let mut row = Vec::with_capacity(t);
        let difference = (clean_in - corrupt_in)?; // (t, n_embd)
        for first in (0..t).step_by(POSITION_BATCH) {
            let positions: Vec<usize> = (first..(first + POSITION_BATCH).min(t)).collect();
            // Each window: the rows first..t of the corrupt stream with row p from the clean one.
            let r = t - first;
            let (rows, changed) = (
                corrupt_in.narrow(0, first, r)?,
                difference.narrow(0, first, r)?,
            );
            let windows = positions
                .iter()
                .map(|&p| rows.add(&changed.broadcast_mul(&one_hot(r, p - first, model)?)?))
                .collect::<Result<Vec<_>, _>>()?;
            let windows = Tensor::cat(&windows, 0)?;
            let b = positions.len();
            let (hidden, rows_per_window) = if first == 0 {
                (model.forward_from_layer(layer, windows, b, t)?, t)
            } else {
                (
                    model.forward_rows_after(layer, windows, b, r, &corrupt_kv, first)?,
                    r,
                )
            };
            let metric = Metric {
                t: rows_per_window,
                ..metric
            };
            row.extend(metric.of(&hidden, b)?);
            step(&mut done)?;
        }
        residual.push(row);
    }
    let token = |id: u32| TokenText {
        id,
        text: engine.tokenizer().text(id),
    };
    Ok(Patching {
        clean_tokens: token_texts(engine, &clean_ids),
        corrupt_tokens: token_texts(engine, &corrupt_ids),
        answer: token(answer),
        wrong: token(wrong),
        clean_logit_diff,
        corrupt_logit_diff,
        heads,
        residual,
    })
}

/// logit[answer] − logit[wrong] at the last position of each of `b` windows of `t` rows of final hidden states.
struct Metric<'a> {
    model: &'a CausalLm,
    answer: u32,
    wrong: u32,
    t: usize,
}

impl Metric<'_> {
    /// The metric of each window, from products of the LM head over the windows' last rows together (a product
    /// per window would read the whole head from memory once per window; each row's logits are the bits they have
    /// alone, which `tests/integration/patching.rs` checks).
    fn of(&self, hidden: &Tensor, b: usize) -> Result<Vec<f64>, EngineError> {
        // Window w's last row is w · t + t − 1 < b · t, the rows of `hidden`, which a u32 index holds (a batch
        // of windows is far smaller than 4 billion rows).
        let last: Vec<u32> = (0..b).map(|w| (w * self.t + self.t - 1) as u32).collect();
        let logits = self.model.logits_of_rows(hidden, &last)?;
        let (_, vocab) = logits.dims2()?;
        let logits: Vec<f32> = logits.flatten_all()?.to_vec1()?;
        Ok(logits
            .chunks_exact(vocab)
            // answer and wrong were checked to be below the vocabulary size, each row's length.
            .map(|row| f64::from(row[self.answer as usize]) - f64::from(row[self.wrong as usize]))
            .collect())
    }
}

fn layer_of(trace: &Trace, layer: usize) -> Result<&super::lm::LayerTrace, EngineError> {
    trace.layers.get(layer).ok_or(EngineError::Internal(
        "a trace without one of the model's layers",
    ))
}

/// (t, 1) of zeros with a one at row `p`.
fn one_hot(t: usize, p: usize, model: &CausalLm) -> candle_core::Result<Tensor> {
    let values: Vec<f32> = (0..t).map(|i| if i == p { 1.0 } else { 0.0 }).collect();
    Tensor::from_vec(values, (t, 1), model.device())?.to_dtype(DType::F32)
}

/// The metric with each head of `layer` in turn taking the clean run's values, everything else the corrupt run.
fn patch_heads(
    model: &CausalLm,
    metric: &Metric,
    clean: &Trace,
    corrupt: &Trace,
    layer: usize,
) -> Result<Vec<f64>, EngineError> {
    let (clean_layer, corrupt_layer) = (layer_of(clean, layer)?, layer_of(corrupt, layer)?);
    let (n_head, t, d) = corrupt_layer.heads.dims3()?;
    let difference = (&clean_layer.heads - &corrupt_layer.heads)?; // (n_head, t, d)
    let mut windows = Vec::with_capacity(n_head);
    for h in 0..n_head {
        let mask: Vec<f32> = (0..n_head)
            .map(|i| if i == h { 1.0 } else { 0.0 })
            .collect();
        let mask = Tensor::from_vec(mask, (n_head, 1, 1), model.device())?;
        let values = corrupt_layer.heads.add(&difference.broadcast_mul(&mask)?)?;
        windows.push(values.transpose(0, 1)?.reshape((t, n_head * d))?);
    }
    let input = Tensor::cat(&vec![&corrupt_layer.input; n_head], 0)?;
    let hidden = model.forward_from_values(layer, &input, &Tensor::cat(&windows, 0)?, n_head, t)?;
    metric.of(&hidden, n_head)
}
