//! The language model on candle, one type for every family, written to expose what attngraph shows: the
//! attention probabilities of every layer and head, and on request the pre-softmax scores QKᵀ/√d.
//!
//! GPT-2 follows Hugging Face's `modeling_gpt2.py`, Qwen2 and Llama `modeling_qwen2.py` and `modeling_llama.py`
//! (eager attention). The families differ in their blocks ([`block`]) and attention ([`attention`]); the
//! embedding, the block loop, the final norm and the LM head are here, once. One sequence at a time:
//! activations are (t, n_embd) with no batch axis.

use candle_core::{Device, Tensor};

use self::attention::Knockout;
pub use self::attention::{AttentionOutput, KeyValue, LayerProbs};
use self::block::Block;
pub(crate) use self::positions::causal_mask;
use super::config::{Config, Family, NormKind};
use super::head_set::HeadSet;
use super::layers::{Kernels, Norm, Source};
use super::options::KeepScores;
use super::packed::PackedLinear;
use super::residual_add;
use super::weights::{Weights, WeightsError};

/// A candle error during the forward pass.
pub type Result<T> = std::result::Result<T, candle_core::Error>;

mod attention;
mod block;
mod positions;
mod residual;
mod scoring;
mod split_heads;

/// One layer's pieces of the residual stream from [`CausalLm::trace`], for every position.
pub struct LayerTrace {
    /// The residual stream entering the layer, (t, n_embd).
    pub input: Tensor,
    /// Each head's attention-weighted values, (n_head, t, head_dim) (for an ablated head, what replaced them:
    /// zeros, or its means).
    pub heads: Tensor,
    /// The attention output added to the stream, the output projection's bias included, (t, n_embd).
    pub attention: Tensor,
    /// The MLP's output added to the stream, its bias included, (t, n_embd).
    pub mlp: Tensor,
}

/// The residual stream of one text, taken apart ([`CausalLm::trace`]): the embeddings plus every layer's
/// attention and MLP outputs add up to `residual`.
pub struct Trace {
    /// The embeddings entering the first block, (t, n_embd): token plus position embeddings for GPT-2, the token
    /// embedding alone for rotary families.
    pub embeddings: Tensor,
    /// Each layer's pieces.
    pub layers: Vec<LayerTrace>,
    /// The final residual stream, the input of the final norm, (t, n_embd).
    pub residual: Tensor,
    /// The final hidden states, the final norm of `residual`, (t, n_embd).
    pub hidden: Tensor,
}

/// Receives each layer's attention as the forward pass produces it, so no caller has to hold all layers at once:
/// (layer index, probabilities of the new rows, pre-softmax scores (n_head, t, t) when kept).
pub type LayerVisitor<'a> = dyn FnMut(usize, LayerProbs, Option<&Tensor>) -> Result<()> + 'a;

/// A (vocab_size, n_embd) matrix of token rows: the token embedding, and the LM head (the same matrix when tied).
enum TokenRows {
    /// Packed for the LM head's product; a token's row is gathered from its panel.
    Packed(PackedLinear),
    /// The plain table.
    Table(Tensor),
}

impl TokenRows {
    /// `name` (vocab_size, n_embd), packed when it serves as an LM head on a CPU that packs.
    fn load(
        src: &Source,
        name: &str,
        cfg: &Config,
        head: bool,
    ) -> std::result::Result<Self, WeightsError> {
        let shape = [cfg.vocab_size, cfg.n_embd];
        if head && src.packs() {
            let w = src.weights.elements(name, &shape)?;
            let k = cfg.n_embd;
            let packed = PackedLinear::pack(k, cfg.vocab_size, None, |i, o| w.get(o * k + i))
                .map_err(WeightsError::memory(name))?;
            Ok(Self::Packed(packed))
        } else {
            Ok(Self::Table(src.get(name, &shape)?))
        }
    }

    /// The rows of `ids`: (ids.len(), n_embd).
    fn gather(&self, ids: &[u32], device: &Device) -> Result<Tensor> {
        match self {
            Self::Packed(p) => {
                let mut rows = Vec::with_capacity(ids.len() * p.k());
                for &id in ids {
                    if id as usize >= p.n() {
                        candle_core::bail!("token id {id} outside the vocabulary of {}", p.n());
                    }
                    rows.extend(p.row(id as usize));
                }
                Tensor::from_vec(rows, (ids.len(), p.k()), device)
            }
            Self::Table(table) => {
                let n = table.dim(0)?;
                if let Some(id) = ids.iter().find(|&&id| id as usize >= n) {
                    candle_core::bail!("token id {id} outside the vocabulary of {n}");
                }
                table.index_select(&Tensor::new(ids, device)?, 0)
            }
        }
    }

    /// `rows` (len, n_embd) times every token row: (len, vocab_size).
    fn product(&self, rows: &Tensor) -> Result<Tensor> {
        match self {
            Self::Packed(p) => p.forward(&rows.contiguous()?),
            Self::Table(table) => super::small_matmul::matmul_t(rows, table),
        }
    }
}

/// A causal language model of any supported family (see [`super::config::Family`]).
pub struct CausalLm {
    /// The token embedding.
    embedding: TokenRows,
    /// The LM head when it is not the embedding.
    lm_head: Option<TokenRows>,
    /// Learned position embeddings (GPT-2's `wpe`), (n_positions, n_embd); `None` with rotary positions.
    positions: Option<Tensor>,
    blocks: Vec<Block>,
    final_norm: Norm,
    config: Config,
    device: Device,
}

impl CausalLm {
    /// Loads every weight from `weights`, checking shapes against `config`, with the fastest kernels this
    /// CPU has.
    pub fn load(
        weights: &Weights,
        config: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        Self::load_with(weights, config, device, Kernels::Auto)
    }

    /// [`CausalLm::load`] with the kernels chosen.
    pub fn load_with(
        weights: &Weights,
        config: &Config,
        device: &Device,
        kernels: Kernels,
    ) -> std::result::Result<Self, WeightsError> {
        let src = Source {
            weights,
            device,
            kernels,
        };
        let blocks = (0..config.n_layer)
            .map(|idx| Block::load(&src, idx, config))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let tied = config.tied_embeddings;
        let (embedding, lm_head, positions, final_norm) = match config.family {
            Family::Gpt2 => (
                TokenRows::load(&src, "wte.weight", config, true)?,
                None,
                Some(src.get("wpe.weight", &[config.n_positions, config.n_embd])?),
                Norm::load(&src, "ln_f", config)?,
            ),
            Family::Qwen2 | Family::Llama => (
                TokenRows::load(&src, "model.embed_tokens.weight", config, tied)?,
                if tied {
                    None
                } else {
                    Some(TokenRows::load(&src, "lm_head.weight", config, true)?)
                },
                None,
                Norm::load(&src, "model.norm", config)?,
            ),
        };
        Ok(Self {
            embedding,
            lm_head,
            positions,
            blocks,
            final_norm,
            config: config.clone(),
            device: device.clone(),
        })
    }

    /// The model's sizes.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Which matrix-product kernels this model runs: `"avx512-packed"` or `"avx2-packed"` (the packed kernel's
    /// tiles), or `"portable"` (the few-row kernel and candle's gemm on the CPU, candle's own on a GPU). `None`
    /// for packed weights without a kernel, which cannot be: weights are packed only where one was detected, at
    /// a level read once.
    pub fn kernels_in_use(&self) -> Option<&'static str> {
        match self.head() {
            TokenRows::Table(_) => Some("portable"),
            TokenRows::Packed(_) => super::packed::Kernel::detected().map(|k| k.path()),
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn head(&self) -> &TokenRows {
        self.lm_head.as_ref().unwrap_or(&self.embedding)
    }

    /// Runs the model on `ids` (at most `n_positions` of them), handing every layer's attention probabilities
    /// (and the pre-softmax scores of the layers `keep_scores` names) to `visit` as they are made. Returns the final hidden
    /// states after the final norm, (t, n_embd): [`CausalLm::logits`] turns them into logits.
    pub fn forward(
        &self,
        ids: &[u32],
        keep_scores: KeepScores,
        visit: &mut LayerVisitor<'_>,
    ) -> Result<Tensor> {
        Ok(self
            .forward_from(ids, &[], keep_scores, &HeadSet::default(), visit)?
            .0)
    }

    /// Runs the model on `new_ids`, which follow the positions whose keys and values are in `past` (one entry per
    /// layer, or empty for a fresh start), with the heads in `ablated` knocked out (see `CausalLm::trace`).
    /// Attention rows and hidden states are for the new positions only: each layer's [`LayerProbs`], packed by
    /// the CPU's fused attention, dense (n_head, t_new, t) elsewhere.
    /// Returns (hidden (t_new, n_embd), keys and values for all positions).
    pub fn forward_from(
        &self,
        new_ids: &[u32],
        past: &[KeyValue],
        keep_scores: KeepScores,
        ablated: &HeadSet,
        visit: &mut LayerVisitor<'_>,
    ) -> Result<(Tensor, Vec<KeyValue>)> {
        self.forward_from_observed(
            new_ids,
            past,
            keep_scores,
            (ablated, None),
            visit,
            &mut |_, _| Ok(()),
        )
    }

    /// [`CausalLm::forward_from`], also handing `observe` each layer's index and the residual stream entering it
    /// (t_new, n_embd): what the norms of what flows read, in the same pass. The ablated heads' values are set to
    /// `means` (one tensor a layer, from [`CausalLm::head_means`]) where given, else zeroed.
    pub fn forward_from_observed(
        &self,
        new_ids: &[u32],
        past: &[KeyValue],
        keep_scores: KeepScores,
        (ablated, means): (&HeadSet, Option<&[Tensor]>),
        visit: &mut LayerVisitor<'_>,
        observe: &mut dyn FnMut(usize, &Tensor) -> Result<()>,
    ) -> Result<(Tensor, Vec<KeyValue>)> {
        if means.is_some_and(|means| means.len() != self.blocks.len()) {
            candle_core::bail!(
                "mean ablation needs the means of all {} layers",
                self.blocks.len()
            );
        }
        let offset = match past.first() {
            Some(kv) => kv.positions()?,
            None => 0,
        };
        let t_new = new_ids.len();
        let mut x = self.embed_at(new_ids, offset)?; // (t_new, n_embd)
        let mask = causal_mask(offset, t_new, &self.device)?; // (t_new, t)
        let mut cache = Vec::with_capacity(self.blocks.len());
        for (idx, block) in self.blocks.iter().enumerate() {
            observe(idx, &x)?;
            let kept = self.kept_heads(ablated, idx, means.and_then(|means| means.get(idx)))?;
            let (out, kv) = block.attn.forward(
                &block.attention_input(&x)?,
                past.get(idx),
                &mask,
                // Any layer's scores kept: every layer runs the plain attention, so that the numbers are
                // those of every layer's scores kept, bit for bit; `visit` gets those of the layers named.
                keep_scores.any(),
                kept.as_ref(),
            )?;
            let (mid, mlp) = block.finish(&x, &out.hidden)?;
            x = residual_add::add(&mid, &mlp)?;
            let scores = out.scores.as_ref().filter(|_| keep_scores.of(idx));
            visit(idx, out.probs, scores)?;
            cache.push(kv);
        }
        Ok((self.final_norm.forward(&x)?, cache))
    }

    fn block(&self, layer: usize) -> Result<&Block> {
        self.blocks.get(layer).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "layer {layer} does not exist: the model has {}",
                self.blocks.len()
            ))
        })
    }

    /// The embeddings of `ids` placed from position `offset`: token plus position embeddings with learned
    /// positions, the token embedding alone with rotary ones (they enter in the attention). (ids.len(), n_embd).
    fn embed_at(&self, ids: &[u32], offset: usize) -> Result<Tensor> {
        let t = offset + ids.len();
        if ids.is_empty() || t > self.config.n_positions {
            candle_core::bail!(
                "{t} tokens given; the model takes 1 to {}",
                self.config.n_positions
            );
        }
        let tokens = self.embed(ids)?;
        match &self.positions {
            Some(wpe) => tokens.add(&wpe.narrow(0, offset, ids.len())?),
            None => Ok(tokens),
        }
    }

    /// What becomes of the heads of `layer` in `ablated`: `None` when none of them is there; else they are
    /// zeroed, or where `means` (this layer's, (n_head, 1, head_dim), from [`CausalLm::head_means`]) is given,
    /// set to their means.
    fn kept_heads(
        &self,
        ablated: &HeadSet,
        layer: usize,
        means: Option<&Tensor>,
    ) -> Result<Option<Knockout>> {
        if let Err(err) = ablated.check(self.config.n_layer, self.config.n_head) {
            candle_core::bail!("{err}");
        }
        if ablated.in_layer(layer).next().is_none() {
            return Ok(None);
        }
        self.knockout(|h| !ablated.contains(layer, h), means)
            .map(Some)
    }

    /// The [`Knockout`] that keeps the heads `kept` says and zeroes the others, or sets them to `means`.
    fn knockout(&self, kept: impl Fn(usize) -> bool, means: Option<&Tensor>) -> Result<Knockout> {
        let n_head = self.config.n_head;
        let values: Vec<f32> = (0..n_head)
            .map(|h| if kept(h) { 1.0 } else { 0.0 })
            .collect();
        let kept = Tensor::from_vec(values, (n_head, 1, 1), &self.device)?;
        let fill = match means {
            Some(means) => Some(means.broadcast_mul(&kept.affine(-1.0, 1.0)?)?),
            None => None,
        };
        Ok(Knockout::new(kept, fill))
    }

    /// Each layer's heads' attention-weighted values in `trace`, averaged over its positions: (n_head, 1,
    /// head_dim) a layer. What mean ablation puts in an ablated head's place (the mean over the one text read,
    /// as TransformerLens users mean-ablate on one prompt).
    pub fn head_means(&self, trace: &Trace) -> Result<Vec<Tensor>> {
        trace
            .layers
            .iter()
            .map(|layer| layer.heads.mean_keepdim(1))
            .collect()
    }

    /// Logits of the rows `start..start + len` of `hidden`: (len, vocab_size).
    pub fn logits(&self, hidden: &Tensor, start: usize, len: usize) -> Result<Tensor> {
        self.head().product(&hidden.narrow(0, start, len)?)
    }

    /// Logits of the rows `rows` of `hidden`, in that order: (rows.len(), vocab_size). Each row's are the bits
    /// [`CausalLm::logits`] gives it alone: the rows go through the head in groups no larger than the few-row
    /// product takes (above that, the portable path's product sums in another order).
    pub fn logits_of_rows(&self, hidden: &Tensor, rows: &[u32]) -> Result<Tensor> {
        let groups = rows
            .chunks(super::small_matmul::MAX_ROWS)
            .map(|group| {
                let picked = hidden.index_select(&Tensor::new(group, hidden.device())?, 0)?;
                self.head().product(&picked)
            })
            .collect::<Result<Vec<_>>>()?;
        Tensor::cat(&groups, 0)
    }

    /// The token embeddings of `ids`: (ids.len(), n_embd).
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        self.embedding.gather(ids, &self.device)
    }

    /// The final norm's kind, weight γ and bias β (LayerNorm only), each (n_embd), and ε: what direct logit
    /// attribution freezes.
    pub fn final_norm(&self) -> (NormKind, &Tensor, Option<&Tensor>, f64) {
        (
            self.config.norm,
            &self.final_norm.weight,
            self.final_norm.bias.as_ref(),
            self.config.layer_norm_epsilon,
        )
    }

    /// The final norm of a residual stream (t, n_embd): what the logit lens puts each layer's stream through.
    pub fn final_norm_forward(&self, x: &Tensor) -> Result<Tensor> {
        self.final_norm.forward(x)
    }

    /// The LM head's row for token `id`: (n_embd).
    pub fn unembedding(&self, id: u32) -> Result<Tensor> {
        self.head().gather(&[id], &self.device)?.squeeze(0)
    }
}
