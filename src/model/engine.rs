//! The engine: a loaded model of any supported family and its tokenizer, turning a text into an [`Analysis`].

use std::sync::Arc;

use candle_core::{Device, Tensor};

use super::analysis::{row_stats, Alternative, Analysis, ModelInfo, Scores, Token, TokenStats};
use super::attentions::Attentions;
use super::config::{Config, Family, NormKind, Positions};
use super::demo;
pub use super::errors::EngineError;
use super::layers::Kernels;
use super::lm::{CausalLm, KeyValue, LayerProbs};
use super::loader::{self, HubOptions, ModelSource, TokenizerFiles};
pub use super::options::{AnalyzeOptions, DeviceKind, KeepScores};
use super::pool::on_pool;
pub use super::prefix_cache::PrefixCache;
use super::prefix_cache::{
    common_prefix, prefix_flow, tokens_within_budget, CacheState, ATTENTION_BUDGET_GB,
};
use super::tokenizer::{bytes_to_text, display_form, visible_whitespace, TextTokenizer};
use super::weights::Weights;

/// Positions whose logits are computed at once: 128 × 50257 × 4 bytes = 26 MB, so no analysis ever holds the
/// logits of a whole 1024-token text (200 MB).
const LOGITS_CHUNK: usize = 128;

/// A token's byte range in the input: (start, end).
pub type Span = (usize, usize);

/// A loaded model with its tokenizer.
pub struct Engine {
    model: CausalLm,
    tokenizer: TextTokenizer,
    name: String,
    bos: Option<u32>,
}

impl Engine {
    /// Finds, downloads if needed, and loads a model, with the fastest kernels this CPU has (or those
    /// `ATTNGRAPH_KERNELS` and `ATTNGRAPH_ISA` name: see [`Kernels::from_env`] and [`super::isa::level`]). An
    /// error, before anything is read, where either holds a value that is not one of its names.
    pub fn load(
        source: &ModelSource,
        hub: &HubOptions,
        device: &Device,
    ) -> Result<Self, EngineError> {
        super::isa::from_env().map_err(EngineError::Setting)?;
        let kernels = Kernels::from_env().map_err(EngineError::Setting)?;
        Self::load_with(source, hub, device, kernels)
    }

    /// [`Engine::load`] with the kernels chosen.
    pub fn load_with(
        source: &ModelSource,
        hub: &HubOptions,
        device: &Device,
        kernels: Kernels,
    ) -> Result<Self, EngineError> {
        let (config, tokenizer, weights) = match source {
            ModelSource::Demo => (
                Config::from_json(demo::CONFIG)?,
                TextTokenizer::from_tokenizer_json_bytes(demo::NAME, demo::TOKENIZER)?,
                Weights::from_static(demo::NAME, demo::WEIGHTS)?,
            ),
            _ => {
                let files = loader::resolve(source, hub)?;
                let config = Config::from_file(&files.config)?;
                let tokenizer = match &files.tokenizer {
                    TokenizerFiles::Json(path) => TextTokenizer::from_tokenizer_json(path)?,
                    TokenizerFiles::VocabMerges(vocab, merges) => {
                        TextTokenizer::from_vocab_merges(vocab, merges)?
                    }
                };
                (config, tokenizer, Weights::open(&files.weights)?)
            }
        };
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(EngineError::VocabMismatch {
                tokenizer: tokenizer.vocab_size(),
                model: config.vocab_size,
            });
        }
        let model = CausalLm::load_with(&weights, &config, device, kernels)?;
        // The BOS token: the one the tokenizer puts in front by itself, else the config's bos_token_id, else
        // GPT-2's <|endoftext|> for GPT-2 checkpoints whose config names none. Looked up, never assumed.
        let bos = tokenizer
            .prepends()
            .or(config.bos_token_id)
            .or_else(|| {
                (config.family == Family::Gpt2)
                    .then(|| tokenizer.end_of_text())
                    .flatten()
            })
            .filter(|&id| (id as usize) < config.vocab_size);
        Ok(Self {
            model,
            tokenizer,
            name: source.name(),
            bos,
        })
    }

    /// The model's name as given (Hub id or folder).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model's sizes.
    pub fn info(&self) -> ModelInfo {
        let c = self.model.config();
        ModelInfo {
            family: c.family,
            n_layer: c.n_layer,
            n_head: c.n_head,
            n_kv_head: c.n_kv_head,
            head_dim: c.head_dim,
            learned_positions: c.positions == Positions::Learned,
            layer_norm: c.norm == NormKind::LayerNorm,
            bos_token: self.bos.map(|id| self.tokenizer.text(id)),
            parameters: c.parameters(),
            n_embd: c.n_embd,
            n_positions: c.n_positions,
            vocab_size: c.vocab_size,
        }
    }

    /// The model's beginning-of-sequence token, if it has one.
    pub fn bos_token(&self) -> Option<u32> {
        self.bos
    }

    /// `bos` where the model has a BOS token, else `false`: the app's BOS box is one setting for every model,
    /// and a model without one reads the text without it (the box says why it is off).
    pub fn bos_if_any(&self, bos: bool) -> bool {
        bos && self.bos.is_some()
    }

    /// Whether the model's tokenizer puts BOS in front of a text by itself (Llama's does, GPT-2's and Qwen's do
    /// not): what `--bos` defaults to, so the ids are those of transformers' `tokenizer(text)`.
    pub fn tokenizer_adds_bos(&self) -> bool {
        self.tokenizer.prepends().is_some()
    }

    /// Whether `id` ends a text: one of config.json's `eos_token_id`s, or GPT-2's `<|endoftext|>`.
    pub fn is_end_of_text(&self, id: u32) -> bool {
        let config = self.model.config();
        config.eos_token_ids.contains(&id)
            || (config.eos_token_ids.is_empty() && Some(id) == self.tokenizer.end_of_text())
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// The model.
    pub fn model(&self) -> &CausalLm {
        &self.model
    }

    /// Tokenizes `text`, prepending BOS if asked: (ids, byte spans).
    pub fn tokenize(&self, text: &str, bos: bool) -> Result<(Vec<u32>, Vec<Span>), EngineError> {
        let pieces = self.tokenizer.encode(text)?;
        let mut ids = Vec::with_capacity(pieces.len() + 1);
        let mut spans = Vec::with_capacity(pieces.len() + 1);
        if bos {
            ids.push(self.bos.ok_or(EngineError::NoBosToken)?);
            spans.push((0, 0));
        }
        for piece in pieces {
            ids.push(piece.id);
            spans.push((piece.start, piece.end));
        }
        Ok((ids, spans))
    }

    /// Every head's attention for a sequence of token ids (for probes that are not text).
    pub fn attentions_of_ids(&self, ids: &[u32]) -> Result<Attentions, EngineError> {
        let info = self.info();
        if ids.is_empty() || ids.len() > info.n_positions {
            return Err(EngineError::TooLong {
                tokens: ids.len(),
                with_bos: "",
                limit: info.n_positions,
                fits: None,
            });
        }
        let mut attentions = Attentions::with_shape(info.n_layer, info.n_head, ids.len());
        self.model
            .forward(ids, KeepScores::None, &mut |_, probs, _| {
                push_layer(&mut attentions, None, probs)
            })?;
        Ok(attentions)
    }

    /// Reads `text` with the model: every token's statistics and every head's attention.
    pub fn analyze(&self, text: &str, options: &AnalyzeOptions) -> Result<Analysis, EngineError> {
        Ok(on_pool(|| self.analyze_with(text, options, &PrefixCache::default()))?.0)
    }

    /// Like [`Engine::analyze`], reusing what `cache` holds from the previous text: causal attention means the
    /// keys, values, attention rows and statistics of a common token prefix never change when text is appended,
    /// so live typing pays only for the new tokens. The cache is then updated to this text.
    /// The result is shared with the cache, not copied: an analysis of 1024 tokens holds 300 MB of attention.
    pub fn analyze_cached(
        &self,
        text: &str,
        options: &AnalyzeOptions,
        cache: &mut PrefixCache,
    ) -> Result<Arc<Analysis>, EngineError> {
        let (analysis, state) = on_pool(|| self.analyze_with(text, options, &*cache))?;
        let analysis = Arc::new(analysis);
        *cache = match state {
            Some((ids, kv, hidden)) => PrefixCache {
                ids,
                kv,
                hidden: Some(hidden),
                top_k: options.top_k,
                previous: Some(analysis.clone()),
            },
            None => PrefixCache::default(),
        };
        Ok(analysis)
    }

    /// Analyses `text`, reusing `cache`; returns the analysis and, unless scores were kept (they are not cached),
    /// what the next call can reuse: the token ids, every layer's keys and values, and the final hidden states.
    fn analyze_with(
        &self,
        text: &str,
        options: &AnalyzeOptions,
        cache: &PrefixCache,
    ) -> Result<(Analysis, Option<CacheState>), EngineError> {
        if text.is_empty() {
            return Err(EngineError::EmptyText);
        }
        let (ids, spans) = self.tokenize(text, options.bos)?;
        let info = self.info();
        options.ablated.check(info.n_layer, info.n_head)?;
        if let KeepScores::Layer(layer) = options.keep_scores {
            if layer >= info.n_layer {
                return Err(super::head_set::HeadSetError::Layer {
                    layer,
                    last: info.n_layer.saturating_sub(1),
                }
                .into());
            }
        }
        let t = ids.len();
        let heads = info.n_layer * info.n_head;
        let limit = tokens_within_budget(heads);
        // The part of the text that can be read is within both bounds, whichever refuses it. A failure to find
        // it leaves the refusal as it is, with no part to offer.
        let fits = || {
            self.fitting_prefix(text, &spans, options.bos, info.n_positions.min(limit))
                .ok()
                .flatten()
        };
        if t > info.n_positions {
            return Err(EngineError::TooLong {
                tokens: t,
                with_bos: if options.bos { " (with BOS)" } else { "" },
                limit: info.n_positions,
                fits: fits(),
            });
        }
        if t > limit {
            return Err(EngineError::TooManyToKeep {
                tokens: t,
                limit,
                heads,
                gb: ATTENTION_BUDGET_GB,
                fits: fits(),
            });
        }
        // Mean ablation's means are over every position, so a new token changes every row: nothing is reused.
        let means = self
            .model
            .knock_out_means(&ids, &options.ablated, options.replacement)?;
        // Reuse at most t − 1 positions, so there is always a new row to run; never with scores (not cached).
        let reuse = match &cache.previous {
            Some(prev)
                if !options.keep_scores.any()
                    && means.is_none()
                    && prev.bos == options.bos
                    && prev.ablated == options.ablated
                    && prev.replacement == options.replacement
                    && cache.top_k == options.top_k
                    && (!options.norms || prev.flow.is_some()) =>
            {
                common_prefix(&cache.ids, &ids).min(t - 1)
            }
            _ => 0,
        };
        let past: Vec<KeyValue> = cache
            .kv
            .iter()
            .map(|kv| kv.prefix(reuse))
            .collect::<Result<_, _>>()?;
        let past: &[KeyValue] = if reuse > 0 { &past } else { &[] };
        let prefix = if reuse > 0 {
            cache.previous.as_ref().map(|a| &a.attentions)
        } else {
            None
        };
        // reuse ≤ ids.len(): it is the length of a common prefix of `ids` and the cached ids.
        let new_ids = &ids[reuse..];

        let mut attentions = Attentions::with_shape(info.n_layer, info.n_head, t);
        let mut score_layers = Vec::new();
        // The norms of what flows for the new positions, layer by layer; the reused ones are the previous text's.
        let mut grams: Vec<Vec<Vec<f64>>> = match (options.norms, prefix_flow(cache, reuse)) {
            (true, Some(prefix)) => prefix,
            (true, None) => vec![Vec::new(); info.n_layer],
            (false, _) => Vec::new(),
        };
        let mut flow_error = None;
        let model = &self.model;
        let forward = self.model.forward_from_observed(
            new_ids,
            past,
            options.keep_scores,
            (&options.ablated, means.as_deref()),
            &mut |_, probs, scores| {
                push_layer(&mut attentions, prefix, probs)?;
                // One entry a layer, in order: empty for a layer whose scores are not kept.
                if options.keep_scores.any() {
                    score_layers.push(match scores {
                        Some(scores) => scores.to_vec3::<f32>()?,
                        None => Vec::new(),
                    });
                }
                Ok(())
            },
            &mut |layer, input| {
                if options.norms {
                    let failure = match (
                        super::flow::FlowParts::gram_rows(model, layer, input, &options.ablated),
                        grams.get_mut(layer),
                    ) {
                        (Ok(rows), Some(layer_grams)) => {
                            layer_grams.extend(rows);
                            return Ok(());
                        }
                        (Err(err), _) => err,
                        (_, None) => EngineError::Internal("a layer past the model"),
                    };
                    // The first failure stops the pass and is what the reader is told.
                    flow_error = Some(failure);
                    candle_core::bail!("the norms of what flows failed");
                }
                Ok(())
            },
        );
        if let Some(err) = flow_error {
            return Err(err);
        }
        let (hidden_new, kv) = forward?;
        let flow = options
            .norms
            .then(|| Arc::new(super::flow::FlowParts::from_grams(info.n_head, grams)));
        let scores = options.keep_scores.any().then_some(Scores(score_layers));
        let hidden = match (&cache.hidden, reuse) {
            (Some(old), r) if r > 0 => Tensor::cat(&[&old.narrow(0, 0, r)?, &hidden_new], 0)?, // (t, n_embd)
            _ => hidden_new,
        };

        // Row r of the logits predicts token r + 1; the last row predicts the token after the text. Rows before
        // `first_row` keep their targets, so the tokens they score are reused as they were.
        let first_row = reuse.saturating_sub(1);
        let targets: Vec<Option<u32>> = (first_row..t).map(|r| ids.get(r + 1).copied()).collect();
        let mut rows = Vec::with_capacity(t - first_row);
        for start in (first_row..t).step_by(LOGITS_CHUNK) {
            let len = LOGITS_CHUNK.min(t - start);
            let logits = self.model.logits(&hidden, start, len)?;
            // targets has one entry per row first_row..t, and start + len ≤ t.
            let chunk_targets = &targets[start - first_row..start - first_row + len];
            // Read in place: a chunk of logits is 25 MB, which a copy wrote and read again.
            rows.extend(crate::model::softmax::with_values(&logits, |flat| {
                row_stats(flat, info.vocab_size, chunk_targets, options.top_k)
            })?);
        }

        let alternatives = |top: &[(u32, f64)]| -> Vec<Alternative> {
            top.iter()
                .map(|&(id, prob)| Alternative {
                    id,
                    text: self.tokenizer.text(id),
                    prob,
                })
                .collect()
        };
        let mut nll_sum = 0.0;
        let mut scored = 0usize;
        let mut tokens = Vec::with_capacity(t);
        for (pos, (&id, &(start, end))) in ids.iter().zip(&spans).enumerate() {
            let reused = (pos <= first_row && reuse > 0)
                .then(|| cache.previous.as_ref().and_then(|a| a.tokens.get(pos)))
                .flatten();
            if let Some(token) = reused {
                if let Some(stats) = &token.stats {
                    nll_sum -= stats.logprob;
                    scored += 1;
                }
                tokens.push(token.clone());
                continue;
            }
            let stats = match pos
                .checked_sub(1)
                .and_then(|r| rows.get(r.wrapping_sub(first_row)))
            {
                Some(row) if pos > first_row => {
                    nll_sum -= row.logprob;
                    scored += 1;
                    Some(TokenStats {
                        logprob: row.logprob,
                        surprisal_bits: -row.logprob / std::f64::consts::LN_2,
                        rank: row.rank,
                        entropy_bits: row.entropy_nats / std::f64::consts::LN_2,
                        top_k: alternatives(&row.top_k),
                        running_perplexity: (nll_sum / scored as f64).exp(),
                    })
                }
                _ => None,
            };
            let piece = if options.bos && pos == 0 {
                self.tokenizer.text(id)
            } else {
                text.get(start..end)
                    .map(str::to_string)
                    .unwrap_or_else(|| bytes_to_text(self.tokenizer.bytes(id)))
            };
            let display = if options.bos && pos == 0 {
                visible_whitespace(&piece)
            } else {
                display_form(text, start, end)
                    .unwrap_or_else(|| visible_whitespace(&self.tokenizer.text(id)))
            };
            tokens.push(Token {
                id,
                display,
                text: piece,
                start,
                end,
                is_bos: options.bos && pos == 0,
                stats,
            });
        }
        // `rows` has one entry per position first_row..t, and t > first_row, so `last` is the last position's
        // row; an empty list would be a bug, and says so.
        let next_top_k =
            rows.last()
                .map(|row| alternatives(&row.top_k))
                .ok_or(EngineError::Internal(
                    "no prediction row for the last position",
                ))?;
        let analysis = Analysis {
            text: text.to_string(),
            bos: options.bos,
            model: info,
            tokens,
            perplexity: (scored > 0).then(|| (nll_sum / scored as f64).exp()),
            next_top_k,
            attentions,
            scores,
            ablated: options.ablated.clone(),
            replacement: options.replacement,
            flow,
        };
        let state = (!options.keep_scores.any()).then_some((ids, kv, hidden));
        Ok((analysis, state))
    }
}

/// Appends one layer of `probs` to `attentions`, after the rows of `prefix` (see [`Attentions::push_layer_rows`]),
/// in whichever layout the attention wrote them.
fn push_layer(
    attentions: &mut Attentions,
    prefix: Option<&Attentions>,
    probs: LayerProbs,
) -> candle_core::Result<()> {
    let pushed = match probs {
        LayerProbs::Dense(dense) => crate::model::softmax::with_values(&dense, |rows| {
            attentions.push_layer_rows(prefix, rows)
        })?,
        LayerProbs::Packed { values, new_rows } => {
            attentions.push_layer_packed(prefix, new_rows, values)
        }
    };
    pushed.map_err(|e| candle_core::Error::Msg(e.to_string()))
}
