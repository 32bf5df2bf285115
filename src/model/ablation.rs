//! Which heads matter to what the model predicts: knock heads out and see how each token's log-probability
//! moves, for a chosen set of heads ([`ablate`]) or for every head alone ([`sweep`]).
//!
//! Ablating a head replaces its attention-weighted values, its share of `c_proj`'s input, with zeros (zero
//! ablation) or with their mean over every position the intact model read (mean ablation, [`Replacement`]);
//! everything else, `c_proj`'s bias included, is unchanged (the hook transformers users write, since recent
//! releases ignore GPT-2's `head_mask`).

use candle_core::Tensor;
use serde::Serialize;

use super::analysis::row_stats;
use super::engine::{Engine, EngineError};
use super::head_set::HeadSet;
pub use super::head_set::{KnockOut, Replacement};
use super::lm::CausalLm;

/// Rows whose logits are computed at once (as in the analysis): 128 × vocabulary floats.
const LOGITS_CHUNK: usize = 128;

/// A token of the text, as the ablation reports show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenText {
    /// Vocabulary id.
    pub id: u32,
    /// The piece of text it stands for.
    pub text: String,
}

/// A text read with and without some heads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Ablation {
    /// The tokens, BOS included when prepended.
    pub tokens: Vec<TokenText>,
    /// The heads knocked out, as [layer, head].
    pub heads: Vec<[usize; 2]>,
    /// What their values were replaced with.
    pub replacement: Replacement,
    /// ln p(x_t | x_<t) of the intact model per position; `None` at position 0, which nothing predicts.
    pub baseline_logprob: Vec<Option<f64>>,
    /// The same with the heads knocked out.
    pub ablated_logprob: Vec<Option<f64>>,
    /// ablated − baseline per position.
    pub delta_logprob: Vec<Option<f64>>,
    /// exp of the mean negative log-probability of the scored tokens, intact.
    pub baseline_perplexity: f64,
    /// The same with the heads knocked out.
    pub ablated_perplexity: f64,
}

/// One head knocked out alone.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SweepCell {
    /// The perplexity without this head.
    pub ablated_perplexity: f64,
    /// ablated − baseline ln p per position (`None` at position 0).
    pub delta_logprob: Vec<Option<f64>>,
}

/// Every head knocked out alone, in turn.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Sweep {
    /// The tokens, BOS included when prepended.
    pub tokens: Vec<TokenText>,
    /// ln p(x_t | x_<t) of the intact model per position.
    pub baseline_logprob: Vec<Option<f64>>,
    /// The intact model's perplexity.
    pub baseline_perplexity: f64,
    /// What each head's values were replaced with.
    pub replacement: Replacement,
    /// [layer][head].
    pub sweep: Vec<Vec<SweepCell>>,
}

impl Sweep {
    /// The head whose removal lowers ln p of the token at `position` the most, with that change; `None` if
    /// the position is not scored or no head's removal lowers it.
    pub fn most_needed_for(&self, position: usize) -> Option<((usize, usize), f64)> {
        self.sweep
            .iter()
            .enumerate()
            .flat_map(|(l, heads)| heads.iter().enumerate().map(move |(h, c)| ((l, h), c)))
            .filter_map(|(lh, cell)| Some((lh, (*cell.delta_logprob.get(position)?)?)))
            .filter(|(_, d)| *d < 0.0)
            .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// The means mean ablation puts in, from the intact run's `trace`; `None` for zero ablation.
fn means_for(
    model: &CausalLm,
    trace: &super::lm::Trace,
    replacement: Replacement,
) -> Result<Option<Vec<Tensor>>, EngineError> {
    Ok(match replacement {
        Replacement::Zero => None,
        Replacement::Mean => Some(model.head_means(trace)?),
    })
}

/// Reads `text` (with BOS prepended if `bos`) with and without the heads in `heads`, their values replaced as
/// `replacement` says.
pub fn ablate(
    engine: &Engine,
    text: &str,
    bos: bool,
    heads: &HeadSet,
    replacement: Replacement,
) -> Result<Ablation, EngineError> {
    let ids = checked_ids(engine, text, bos)?;
    let info = engine.info();
    heads.check(info.n_layer, info.n_head)?;
    let model = engine.model();
    let intact = model.trace(&ids, &HeadSet::default())?;
    let baseline = target_logprobs(model, &intact.hidden, &ids)?;
    let means = means_for(model, &intact, replacement)?;
    drop(intact);
    let hidden = model.trace_replacing(&ids, heads, means.as_deref())?.hidden;
    let ablated = target_logprobs(model, &hidden, &ids)?;
    Ok(Ablation {
        tokens: token_texts(engine, &ids),
        heads: heads.iter().map(|(l, h)| [l, h]).collect(),
        replacement,
        delta_logprob: delta(&baseline, &ablated),
        baseline_perplexity: perplexity(&baseline),
        ablated_perplexity: perplexity(&ablated),
        baseline_logprob: baseline,
        ablated_logprob: ablated,
    })
}

/// Every head knocked out alone over several texts, each read alone ([`sweep`] on each): the perplexity over
/// every token scored in any of them, intact and without each head, and the change of ln p a token. A head
/// that matters to one text by chance matters to many only if the model needs it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PooledSweep {
    /// How many texts.
    pub texts: usize,
    /// Tokens scored over all of them.
    pub scored_tokens: usize,
    /// exp of the mean negative log-probability of those tokens, intact.
    pub baseline_perplexity: f64,
    /// What each head's values were replaced with.
    pub replacement: Replacement,
    /// [layer][head].
    pub sweep: Vec<Vec<PooledCell>>,
}

/// One head knocked out alone, over every text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PooledCell {
    /// The perplexity of all the scored tokens without this head.
    pub ablated_perplexity: f64,
    /// The mean of ablated − baseline ln p over those tokens.
    pub mean_delta_logprob: f64,
}

impl PooledSweep {
    /// Pools the sweeps of several texts, all of one model and one replacement (see [`SweepPool`]). `None` where
    /// there are none.
    ///
    /// # Panics
    ///
    /// As [`SweepPool::add`].
    pub fn of(sweeps: &[Sweep]) -> Option<Self> {
        let mut pool = SweepPool::default();
        sweeps.iter().for_each(|s| pool.add(s));
        pool.finish()
    }
}

/// A set of heads knocked out together over several texts, each read alone ([`ablate`] on each): the
/// perplexity over every token scored in any of them, intact and without the heads.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PooledAblation {
    /// How many texts.
    pub texts: usize,
    /// Tokens scored over all of them.
    pub scored_tokens: usize,
    /// The heads knocked out, as [layer, head].
    pub heads: Vec<[usize; 2]>,
    /// What their values were replaced with.
    pub replacement: Replacement,
    /// exp of the mean negative log-probability of those tokens, intact.
    pub baseline_perplexity: f64,
    /// The same with the heads knocked out.
    pub ablated_perplexity: f64,
}

impl PooledAblation {
    /// Pools the ablations of several texts, of one set of heads and one replacement (see [`AblationPool`]);
    /// `None` where there are none.
    ///
    /// # Panics
    ///
    /// As [`AblationPool::add`].
    pub fn of(ablations: &[Ablation]) -> Option<Self> {
        let mut pool = AblationPool::default();
        ablations.iter().for_each(|a| pool.add(a));
        pool.finish()
    }
}

/// The sums a [`PooledAblation`] is made of, a text's ablation added at a time, so that a file of many texts
/// is pooled without keeping every ablation.
#[derive(Clone, Debug, Default)]
pub struct AblationPool {
    texts: usize,
    scored: usize,
    /// Σ ln p of the scored tokens, intact and without the heads.
    baseline: f64,
    ablated: f64,
    /// The heads and their replacement, from the first ablation.
    first: Option<(Vec<[usize; 2]>, Replacement)>,
}

impl AblationPool {
    /// Adds one text's ablation.
    ///
    /// # Panics
    ///
    /// If it differs from those added before in its heads or replacement, or it is not scored where its
    /// intact text is (the ablations come from [`ablate`] on one model).
    pub fn add(&mut self, a: &Ablation) {
        let first = self
            .first
            .get_or_insert_with(|| (a.heads.clone(), a.replacement));
        assert!(
            first.0 == a.heads && first.1 == a.replacement,
            "ablations of one set of heads and one replacement"
        );
        assert_eq!(
            a.baseline_logprob.len(),
            a.ablated_logprob.len(),
            "an ablated text of as many positions as its intact one"
        );
        for (base, abl) in a.baseline_logprob.iter().zip(&a.ablated_logprob) {
            match (base, abl) {
                (Some(base), Some(abl)) => {
                    self.baseline += base;
                    self.ablated += abl;
                    self.scored += 1;
                }
                (None, None) => {}
                _ => panic!("an ablated text scored where its intact one is"),
            }
        }
        self.texts += 1;
    }

    /// The pooled figures; `None` where no token was scored (no ablation was added: [`ablate`] refuses a text
    /// that scores none).
    pub fn finish(self) -> Option<PooledAblation> {
        let (heads, replacement) = self.first?;
        if self.scored == 0 {
            return None;
        }
        let n = self.scored as f64;
        Some(PooledAblation {
            texts: self.texts,
            scored_tokens: self.scored,
            heads,
            replacement,
            baseline_perplexity: (-self.baseline / n).exp(),
            ablated_perplexity: (-self.ablated / n).exp(),
        })
    }
}

/// The sums a [`PooledSweep`] is made of, a text's sweep added at a time, so that a file of many texts is
/// pooled without keeping every sweep.
#[derive(Clone, Debug, Default)]
pub struct SweepPool {
    texts: usize,
    scored: usize,
    /// Σ ln p of the scored tokens, intact.
    baseline: f64,
    /// Σ of each head's changes, [layer][head]; empty before the first sweep.
    changes: Vec<Vec<f64>>,
    replacement: Option<Replacement>,
}

impl SweepPool {
    /// Adds one text's sweep.
    ///
    /// # Panics
    ///
    /// If it differs from those added before in its heads or its replacement, or a head's changes are not at
    /// the positions its text scores (the sweeps come from [`sweep`] on one model).
    pub fn add(&mut self, s: &Sweep) {
        if self.changes.is_empty() {
            self.changes = s.sweep.iter().map(|l| vec![0.0; l.len()]).collect();
            self.replacement = Some(s.replacement);
        }
        assert!(
            self.replacement == Some(s.replacement)
                && s.sweep
                    .iter()
                    .map(Vec::len)
                    .eq(self.changes.iter().map(Vec::len)),
            "sweeps of one model and one replacement"
        );
        let scored: Vec<bool> = s.baseline_logprob.iter().map(Option::is_some).collect();
        self.baseline += s.baseline_logprob.iter().flatten().sum::<f64>();
        self.scored += scored.iter().filter(|&&b| b).count();
        for (totals, cells) in self.changes.iter_mut().zip(&s.sweep) {
            for (total, cell) in totals.iter_mut().zip(cells) {
                assert!(
                    cell.delta_logprob
                        .iter()
                        .map(Option::is_some)
                        .eq(scored.iter().copied()),
                    "a head's changes at its text's scored positions"
                );
                *total += cell.delta_logprob.iter().flatten().sum::<f64>();
            }
        }
        self.texts += 1;
    }

    /// The pooled figures; `None` where no token was scored (no sweep was added: each scores at least one).
    pub fn finish(self) -> Option<PooledSweep> {
        let replacement = self.replacement?;
        if self.scored == 0 {
            return None;
        }
        let (n, baseline) = (self.scored as f64, self.baseline);
        Some(PooledSweep {
            texts: self.texts,
            scored_tokens: self.scored,
            baseline_perplexity: (-baseline / n).exp(),
            replacement,
            sweep: self
                .changes
                .into_iter()
                .map(|layer| {
                    layer
                        .into_iter()
                        .map(|change| PooledCell {
                            ablated_perplexity: (-(baseline + change) / n).exp(),
                            mean_delta_logprob: change / n,
                        })
                        .collect()
                })
                .collect(),
        })
    }
}

/// Knocks out every head alone, in turn, its values replaced as `replacement` says, calling `progress(heads
/// done, heads in all)` after each layer; when it returns `false` the sweep stops with
/// [`EngineError::Cancelled`].
///
/// What is reused: one traced pass of the intact model keeps every layer's input and each head's
/// attention-weighted values. For a head in layer l, the layers below l do not change, nor do the other heads
/// of layer l, so the run starts from the trace at layer l's attention output (the traced heads with that one
/// replaced, through `c_proj`), and only layer l's MLP and the layers above it run again, for all of the
/// layer's heads at once as a batch of windows.
pub fn sweep(
    engine: &Engine,
    text: &str,
    bos: bool,
    replacement: Replacement,
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<Sweep, EngineError> {
    let ids = checked_ids(engine, text, bos)?;
    let info = engine.info();
    let model = engine.model();
    let trace = model.trace(&ids, &HeadSet::default())?;
    let baseline = target_logprobs(model, &trace.hidden, &ids)?;
    let means = means_for(model, &trace, replacement)?;
    let t = ids.len();
    let total = info.n_layer * info.n_head;
    let mut layers = Vec::with_capacity(info.n_layer);
    for layer in 0..info.n_layer {
        let layer_means = match &means {
            Some(means) => Some(means.get(layer).ok_or(EngineError::Internal(
                "mean ablation without the means of every layer",
            ))?),
            None => None,
        };
        let hidden = model.without_each_head(&trace, layer, layer_means)?; // (n_head · t, n_embd)
        let mut cells = Vec::with_capacity(info.n_head);
        for head in 0..info.n_head {
            let ablated = target_logprobs(model, &hidden.narrow(0, head * t, t)?, &ids)?;
            cells.push(SweepCell {
                ablated_perplexity: perplexity(&ablated),
                delta_logprob: delta(&baseline, &ablated),
            });
        }
        layers.push(cells);
        if !progress((layer + 1) * info.n_head, total) {
            return Err(EngineError::Cancelled);
        }
    }
    Ok(Sweep {
        tokens: token_texts(engine, &ids),
        baseline_perplexity: perplexity(&baseline),
        baseline_logprob: baseline,
        replacement,
        sweep: layers,
    })
}

/// The text's ids, checked to fit the model and to have at least one scored token (two tokens, BOS included).
pub(crate) fn checked_ids(engine: &Engine, text: &str, bos: bool) -> Result<Vec<u32>, EngineError> {
    let ids = ids_in_context(engine, text, bos)?;
    if ids.len() < 2 {
        return Err(EngineError::NothingScored);
    }
    Ok(ids)
}

/// The ids of a non-empty `text` (BOS prepended if `bos`) that fit the model's context.
pub(crate) fn ids_in_context(
    engine: &Engine,
    text: &str,
    bos: bool,
) -> Result<Vec<u32>, EngineError> {
    if text.is_empty() {
        return Err(EngineError::EmptyText);
    }
    let (ids, spans) = engine.tokenize(text, bos)?;
    let limit = engine.info().n_positions;
    if ids.len() > limit {
        return Err(EngineError::TooLong {
            tokens: ids.len(),
            with_bos: if bos { " (with BOS)" } else { "" },
            limit,
            fits: engine
                .fitting_prefix(text, &spans, bos, limit)
                .ok()
                .flatten(),
        });
    }
    Ok(ids)
}

pub(crate) fn token_texts(engine: &Engine, ids: &[u32]) -> Vec<TokenText> {
    ids.iter()
        .map(|&id| TokenText {
            id,
            text: engine.tokenizer().text(id),
        })
        .collect()
}

/// ln p of each token given the ones before it, from the final hidden states of one window `hidden`
/// (ids.len(), n_embd): position 0 is `None`, position p is scored by row p − 1.
fn target_logprobs(
    model: &CausalLm,
    hidden: &Tensor,
    ids: &[u32],
) -> Result<Vec<Option<f64>>, EngineError> {
    let vocab = model.config().vocab_size;
    let rows = ids.len().saturating_sub(1); // the last row predicts past the text
    let mut out = Vec::with_capacity(ids.len());
    out.push(None);
    for start in (0..rows).step_by(LOGITS_CHUNK) {
        let len = LOGITS_CHUNK.min(rows - start);
        let logits = model
            .logits(hidden, start, len)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        // start + len ≤ rows = ids.len() − 1, so start + 1..start + len + 1 is within ids.
        let targets: Vec<Option<u32>> = ids[start + 1..start + len + 1]
            .iter()
            .copied()
            .map(Some)
            .collect();
        out.extend(
            row_stats(&logits, vocab, &targets, 0)
                .into_iter()
                .map(|r| Some(r.logprob)),
        );
    }
    Ok(out)
}

fn delta(baseline: &[Option<f64>], ablated: &[Option<f64>]) -> Vec<Option<f64>> {
    baseline
        .iter()
        .zip(ablated)
        .map(|(b, a)| Some(a.as_ref()? - b.as_ref()?))
        .collect()
}

/// exp(−mean ln p) over the scored positions ([`checked_ids`] makes sure there is one).
fn perplexity(logprobs: &[Option<f64>]) -> f64 {
    let scored: Vec<f64> = logprobs.iter().flatten().copied().collect();
    (-scored.iter().sum::<f64>() / scored.len() as f64).exp()
}
