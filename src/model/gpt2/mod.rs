//! GPT-2 on candle, written to expose what attngraph shows: the attention probabilities of every layer and head,
//! and on request the pre-softmax scores QK^T/√d.
//!
//! Follows Hugging Face's `modeling_gpt2.py` (eager attention): Conv1D weights stored (in, out), pre-LayerNorm
//! blocks, tanh GELU (`gelu_new`), causal mask, final `ln_f`, LM head tied to `wte`.
//! One sequence at a time: activations are (t, n_embd) with no batch axis.

use candle_core::{DType, Device, Tensor};

use super::config::{Activation, Config};
use super::head_set::HeadSet;
use super::layers::{Conv1D, Kernels, LayerNorm, Source};
use super::packed::PackedLinear;
use super::weights::{Weights, WeightsError};

/// A candle error during the forward pass.
pub type Result<T> = std::result::Result<T, candle_core::Error>;

/// What one attention layer hands back besides its output.
pub struct AttentionOutput {
    /// The block's attention output, (t, n_embd).
    pub hidden: Tensor,
    /// Attention probabilities, (n_head, t, t), rows sum to 1, zero above the diagonal.
    pub probs: Tensor,
    /// Pre-softmax scores QK^T/√d before masking, (n_head, t, t), if asked for.
    pub scores: Option<Tensor>,
    /// Each head's attention-weighted values, the input of `c_proj` split by head: (n_head, t, head_dim),
    /// zero for an ablated head.
    pub heads: Tensor,
}

mod residual;
mod scoring;

struct Attention {
    c_attn: Conv1D,
    c_proj: Conv1D,
    n_head: usize,
    head_dim: usize,
}

impl Attention {
    fn load(src: &Source, name: &str, cfg: &Config) -> std::result::Result<Self, WeightsError> {
        let c = cfg.n_embd;
        Ok(Self {
            c_attn: Conv1D::load(src, &format!("{name}.c_attn"), [c, 3 * c])?,
            c_proj: Conv1D::load(src, &format!("{name}.c_proj"), [c, c])?,
            n_head: cfg.n_head,
            head_dim: cfg.head_dim(),
        })
    }

    /// Part `i` (0 query, 1 key, 2 value) of c_attn's output (t, 3c), split into heads: (n_head, t, head_dim).
    fn split_heads(&self, qkv: &Tensor, i: usize) -> Result<Tensor> {
        let (t, three_c) = qkv.dims2()?;
        let c = three_c / 3;
        qkv.narrow(1, i * c, c)? // (t, c)
            .reshape((t, self.n_head, self.head_dim))? // (t, n_head, head_dim)
            .transpose(0, 1)? // (n_head, t, head_dim)
            .contiguous()
    }

    /// Attention of the new positions `x` (t_new, c), which follow `past` cached positions whose keys and values
    /// are given. `kept_heads` (n_head, 1, 1) of 1 and 0 multiplies each head's attention-weighted values: 0
    /// ablates the head (its share of `c_proj`'s input is zero; the bias stays). Returns the output and this
    /// layer's keys and values for all past + new positions.
    fn forward(
        &self,
        x: &Tensor,
        past: Option<&KeyValue>,
        mask: &Tensor,
        keep_scores: bool,
        kept_heads: Option<&Tensor>,
    ) -> Result<(AttentionOutput, KeyValue)> {
        let (t_new, c) = x.dims2()?;
        let qkv = self.c_attn.forward(x)?; // (t_new, 3c)
        let (q, k_new, v_new) = (
            self.split_heads(&qkv, 0)?,
            self.split_heads(&qkv, 1)?,
            self.split_heads(&qkv, 2)?,
        );
        let (k, v) = match past {
            Some(kv) => (
                Tensor::cat(&[&kv.k, &k_new], 1)?, // (n_head, t, head_dim)
                Tensor::cat(&[&kv.v, &v_new], 1)?,
            ),
            None => (k_new, v_new),
        };
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        // Scaling q (t_new × d values) instead of the scores (t_new × t per head) saves a pass over the largest tensor.
        let scores = (q * scale)?.matmul(&k.t()?)?; // (n_head, t_new, t)
        let offset = k.dim(1)? - t_new;
        let probs = super::softmax::causal_softmax(&scores, mask, offset)?; // (n_head, t_new, t), 0 in the future
        let heads = probs.matmul(&v)?; // (n_head, t_new, head_dim)
        let heads = match kept_heads {
            Some(kept) => heads.broadcast_mul(kept)?,
            None => heads,
        };
        let y = heads
            .transpose(0, 1)? // (t_new, n_head, head_dim)
            .reshape((t_new, c))?;
        let out = AttentionOutput {
            hidden: self.c_proj.forward(&y)?,
            probs,
            scores: keep_scores.then_some(scores),
            heads,
        };
        Ok((out, KeyValue { k, v }))
    }
}

/// A block of query rows for [`Attention::forward_scoring`] with its causal mask (len, start + len).
struct QueryBlock {
    start: usize,
    len: usize,
    mask: Tensor,
}

/// Query rows per block: small enough that a block's scores stay in cache-friendly buffers (12 heads × 256 ×
/// 1,024 floats = 12 MB at most), large enough for efficient matrix products.
const QUERY_BLOCK: usize = 256;

/// One layer's keys and values for every position so far, (n_head, t, head_dim) each: what a later call needs
/// to extend the text without recomputing its prefix.
#[derive(Clone, Debug)]
pub struct KeyValue {
    /// Keys.
    pub k: Tensor,
    /// Values.
    pub v: Tensor,
}

impl KeyValue {
    /// The first `len` positions.
    pub fn prefix(&self, len: usize) -> Result<Self> {
        Ok(Self {
            k: self.k.narrow(1, 0, len)?,
            v: self.v.narrow(1, 0, len)?,
        })
    }
}

struct Mlp {
    c_fc: Conv1D,
    c_proj: Conv1D,
    activation: Activation,
}

impl Mlp {
    fn load(src: &Source, name: &str, cfg: &Config) -> std::result::Result<Self, WeightsError> {
        Ok(Self {
            c_fc: Conv1D::load(src, &format!("{name}.c_fc"), [cfg.n_embd, cfg.n_inner])?,
            c_proj: Conv1D::load(src, &format!("{name}.c_proj"), [cfg.n_inner, cfg.n_embd])?,
            activation: cfg.activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.c_fc.forward(x)?; // (t, n_inner)
        let h = match self.activation {
            Activation::GeluTanh => super::gelu::gelu(&h)?,
            Activation::GeluErf => h.gelu_erf()?,
            Activation::Relu => h.relu()?,
        };
        self.c_proj.forward(&h) // (t, n_embd)
    }
}

struct Block {
    ln_1: LayerNorm,
    attn: Attention,
    ln_2: LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn load(src: &Source, idx: usize, cfg: &Config) -> std::result::Result<Self, WeightsError> {
        let name = format!("h.{idx}");
        Ok(Self {
            ln_1: LayerNorm::load(src, &format!("{name}.ln_1"), cfg)?,
            attn: Attention::load(src, &format!("{name}.attn"), cfg)?,
            ln_2: LayerNorm::load(src, &format!("{name}.ln_2"), cfg)?,
            mlp: Mlp::load(src, &format!("{name}.mlp"), cfg)?,
        })
    }
}

/// One layer's pieces of the residual stream from [`Gpt2::trace`], for every position.
pub struct LayerTrace {
    /// The residual stream entering the layer, (t, n_embd).
    pub input: Tensor,
    /// Each head's attention-weighted values, (n_head, t, head_dim) (zero for an ablated head).
    pub heads: Tensor,
    /// The attention output added to the stream, `c_proj`'s bias included, (t, n_embd).
    pub attention: Tensor,
    /// The MLP's output added to the stream, its bias included, (t, n_embd).
    pub mlp: Tensor,
}

/// The residual stream of one text, taken apart ([`Gpt2::trace`]): the embeddings plus every layer's
/// attention and MLP outputs add up to `residual`.
pub struct Trace {
    /// Token plus position embeddings, (t, n_embd).
    pub embeddings: Tensor,
    /// Each layer's pieces.
    pub layers: Vec<LayerTrace>,
    /// The final residual stream, the input of `ln_f`, (t, n_embd).
    pub residual: Tensor,
    /// The final hidden states, `ln_f` of `residual`, (t, n_embd).
    pub hidden: Tensor,
}

/// Receives each layer's attention as the forward pass produces it, so no caller has to hold all layers at once:
/// (layer index, probabilities (n_head, t, t), pre-softmax scores (n_head, t, t) when kept).
pub type LayerVisitor<'a> = dyn FnMut(usize, &Tensor, Option<&Tensor>) -> Result<()> + 'a;

/// The token embedding, also the LM head (tied weights): (vocab_size, n_embd).
enum TokenEmbedding {
    /// Packed for the LM head's product; a token's embedding is gathered from its panel.
    Packed(PackedLinear),
    /// The plain table.
    Table(Tensor),
}

/// GPT-2 language model with its LM head tied to the token embedding.
pub struct Gpt2 {
    wte: TokenEmbedding,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    config: Config,
    device: Device,
}

impl Gpt2 {
    /// Loads every weight from `weights`, checking shapes against `config`, with the fastest kernels this
    /// CPU has.
    pub fn load(
        weights: &Weights,
        config: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        Self::load_with(weights, config, device, Kernels::Auto)
    }

    /// [`Gpt2::load`] with the kernels chosen.
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
        let wte_shape = [config.vocab_size, config.n_embd];
        let wte = if src.packs() {
            let w = weights.elements("wte.weight", &wte_shape)?;
            let k = config.n_embd;
            TokenEmbedding::Packed(PackedLinear::pack(k, config.vocab_size, None, |i, o| {
                w.get(o * k + i)
            }))
        } else {
            TokenEmbedding::Table(src.get("wte.weight", &wte_shape)?)
        };
        Ok(Self {
            wte,
            wpe: src.get("wpe.weight", &[config.n_positions, config.n_embd])?,
            blocks,
            ln_f: LayerNorm::load(&src, "ln_f", config)?,
            config: config.clone(),
            device: device.clone(),
        })
    }

    /// The model's sizes.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Which matrix-product kernels this model runs: `"avx512-packed"` or `"portable"` (the few-row kernel and
    /// candle's gemm on the CPU, candle's own on a GPU).
    pub fn kernels_in_use(&self) -> &'static str {
        match self.wte {
            TokenEmbedding::Packed(_) => "avx512-packed",
            TokenEmbedding::Table(_) => "portable",
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Runs the model on `ids` (at most `n_positions` of them), handing every layer's attention probabilities
    /// (and with `keep_scores` the pre-softmax scores) to `visit` as they are made. Returns the final hidden
    /// states after `ln_f`, (t, n_embd): multiply by `wte`ᵀ for logits ([`Gpt2::logits`]).
    pub fn forward(
        &self,
        ids: &[u32],
        keep_scores: bool,
        visit: &mut LayerVisitor<'_>,
    ) -> Result<Tensor> {
        Ok(self
            .forward_from(ids, &[], keep_scores, &HeadSet::default(), visit)?
            .0)
    }

    /// Runs the model on `new_ids`, which follow the positions whose keys and values are in `past` (one entry per
    /// layer, or empty for a fresh start), with the heads in `ablated` knocked out (see `Gpt2::trace`).
    /// Attention rows and hidden states are for the new positions only: probabilities (n_head, t_new, t).
    /// Returns (hidden (t_new, n_embd), keys and values for all positions).
    pub fn forward_from(
        &self,
        new_ids: &[u32],
        past: &[KeyValue],
        keep_scores: bool,
        ablated: &HeadSet,
        visit: &mut LayerVisitor<'_>,
    ) -> Result<(Tensor, Vec<KeyValue>)> {
        let offset = match past.first() {
            Some(kv) => kv.k.dim(1)?,
            None => 0,
        };
        let t_new = new_ids.len();
        let mut x = self.embed_at(new_ids, offset)?; // (t_new, n_embd)
        let mask = causal_mask(offset, t_new, &self.device)?; // (t_new, t)
        let mut cache = Vec::with_capacity(self.blocks.len());
        for (idx, block) in self.blocks.iter().enumerate() {
            let kept = self.kept_heads(ablated, idx)?;
            let (out, kv) = block.attn.forward(
                &block.ln_1.forward(&x)?,
                past.get(idx),
                &mask,
                keep_scores,
                kept.as_ref(),
            )?;
            x = (x + out.hidden)?;
            x = (&x + block.mlp.forward(&block.ln_2.forward(&x)?)?)?;
            visit(idx, &out.probs, out.scores.as_ref())?;
            cache.push(kv);
        }
        Ok((self.ln_f.forward(&x)?, cache))
    }

    fn block(&self, layer: usize) -> Result<&Block> {
        self.blocks.get(layer).ok_or_else(|| {
            candle_core::Error::Msg(format!(
                "layer {layer} does not exist: the model has {}",
                self.blocks.len()
            ))
        })
    }

    /// Token plus position embeddings of `ids` placed from position `offset`: (ids.len(), n_embd).
    fn embed_at(&self, ids: &[u32], offset: usize) -> Result<Tensor> {
        let t = offset + ids.len();
        if ids.is_empty() || t > self.config.n_positions {
            candle_core::bail!(
                "{t} tokens given; the model takes 1 to {}",
                self.config.n_positions
            );
        }
        self.embed(ids)?
            .add(&self.wpe.narrow(0, offset, ids.len())?)
    }

    /// The factor each head's values are multiplied by in `layer`: `None` when no head there is ablated, else
    /// (n_head, 1, 1) of 1 (kept) and 0 (ablated).
    fn kept_heads(&self, ablated: &HeadSet, layer: usize) -> Result<Option<Tensor>> {
        if let Err(err) = ablated.check(self.config.n_layer, self.config.n_head) {
            candle_core::bail!("{err}");
        }
        if ablated.in_layer(layer).next().is_none() {
            return Ok(None);
        }
        self.kept_mask(self.config.n_head, |h| !ablated.contains(layer, h))
            .map(Some)
    }

    fn kept_mask(&self, n_head: usize, kept: impl Fn(usize) -> bool) -> Result<Tensor> {
        let values: Vec<f32> = (0..n_head)
            .map(|h| if kept(h) { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_vec(values, (n_head, 1, 1), &self.device)
    }

    fn query_blocks(&self, t: usize, block: usize) -> Result<Vec<QueryBlock>> {
        (0..t)
            .step_by(block.max(1))
            .map(|start| {
                let len = block.max(1).min(t - start);
                Ok(QueryBlock {
                    start,
                    len,
                    mask: causal_mask(start, len, &self.device)?,
                })
            })
            .collect()
    }

    /// Logits of the rows `start..start + len` of `hidden`: (len, vocab_size).
    pub fn logits(&self, hidden: &Tensor, start: usize, len: usize) -> Result<Tensor> {
        let rows = hidden.narrow(0, start, len)?;
        match &self.wte {
            TokenEmbedding::Packed(p) => p.forward(&rows.contiguous()?),
            TokenEmbedding::Table(wte) => super::small_matmul::matmul_t(&rows, wte),
        }
    }

    /// The token embeddings of `ids`: (ids.len(), n_embd).
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        match &self.wte {
            TokenEmbedding::Packed(p) => {
                let mut rows = Vec::with_capacity(ids.len() * p.k());
                for &id in ids {
                    if id as usize >= p.n() {
                        candle_core::bail!("token id {id} outside the vocabulary of {}", p.n());
                    }
                    rows.extend(p.row(id as usize));
                }
                Tensor::from_vec(rows, (ids.len(), p.k()), &self.device)
            }
            TokenEmbedding::Table(wte) => wte.index_select(&Tensor::new(ids, &self.device)?, 0),
        }
    }
}

/// The causal mask of `t_new` queries at positions offset.. over all offset + t_new keys: 0 where the key is
/// not in the query's future, -inf where it is. (t_new, offset + t_new).
fn causal_mask(offset: usize, t_new: usize, device: &Device) -> Result<Tensor> {
    let t = offset + t_new;
    let values: Vec<f32> = (0..t_new)
        .flat_map(|i| {
            (0..t).map(move |j| {
                if j <= offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (t_new, t), device)?.to_dtype(DType::F32)
}
