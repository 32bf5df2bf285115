//! GPT-2 on candle, written to expose what attngraph shows: the attention probabilities of every layer and head,
//! and on request the pre-softmax scores QK^T/√d.
//!
//! Follows Hugging Face's `modeling_gpt2.py` (eager attention): Conv1D weights stored (in, out), pre-LayerNorm
//! blocks, tanh GELU (`gelu_new`), causal mask, final `ln_f`, LM head tied to `wte`.
//! One sequence at a time: activations are (t, n_embd) with no batch axis.

use candle_core::{DType, Device, Tensor};

use super::config::{Activation, Config};
use super::weights::{Weights, WeightsError};

/// A candle error during the forward pass.
pub type Result<T> = std::result::Result<T, candle_core::Error>;

/// LayerNorm with learned scale and shift.
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(
        weights: &Weights,
        name: &str,
        cfg: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        Ok(Self {
            weight: weights.get(&format!("{name}.weight"), &[cfg.n_embd], device)?,
            bias: weights.get(&format!("{name}.bias"), &[cfg.n_embd], device)?,
            eps: cfg.layer_norm_epsilon as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// GPT-2's Conv1D: a linear layer whose weight is stored (in, out), so y = x·W + b.
struct Conv1D {
    weight: Tensor,
    bias: Tensor,
}

impl Conv1D {
    fn load(
        weights: &Weights,
        name: &str,
        n_in: usize,
        n_out: usize,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        Ok(Self {
            weight: weights.get(&format!("{name}.weight"), &[n_in, n_out], device)?,
            bias: weights.get(&format!("{name}.bias"), &[n_out], device)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight)?.broadcast_add(&self.bias) // (t, n_out)
    }
}

/// What one attention layer hands back besides its output.
pub struct AttentionOutput {
    /// The block's attention output, (t, n_embd).
    pub hidden: Tensor,
    /// Attention probabilities, (n_head, t, t), rows sum to 1, zero above the diagonal.
    pub probs: Tensor,
    /// Pre-softmax scores QK^T/√d before masking, (n_head, t, t), if asked for.
    pub scores: Option<Tensor>,
}

struct Attention {
    c_attn: Conv1D,
    c_proj: Conv1D,
    n_head: usize,
    head_dim: usize,
}

impl Attention {
    fn load(
        weights: &Weights,
        name: &str,
        cfg: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        let c = cfg.n_embd;
        Ok(Self {
            c_attn: Conv1D::load(weights, &format!("{name}.c_attn"), c, 3 * c, device)?,
            c_proj: Conv1D::load(weights, &format!("{name}.c_proj"), c, c, device)?,
            n_head: cfg.n_head,
            head_dim: cfg.head_dim(),
        })
    }

    fn forward(&self, x: &Tensor, mask: &Tensor, keep_scores: bool) -> Result<AttentionOutput> {
        let (t, c) = x.dims2()?;
        let qkv = self.c_attn.forward(x)?; // (t, 3c)
        let heads = |i: usize| -> Result<Tensor> {
            qkv.narrow(1, i * c, c)? // (t, c)
                .reshape((t, self.n_head, self.head_dim))? // (t, n_head, head_dim)
                .transpose(0, 1)? // (n_head, t, head_dim)
                .contiguous()
        };
        let (q, k, v) = (heads(0)?, heads(1)?, heads(2)?);
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let scores = (q.matmul(&k.t()?)? * scale)?; // (n_head, t, t)
        let masked = scores.broadcast_add(mask)?; // -inf above the diagonal
        let probs = candle_nn::ops::softmax_last_dim(&masked)?; // (n_head, t, t)
        let y = probs
            .matmul(&v)? // (n_head, t, head_dim)
            .transpose(0, 1)? // (t, n_head, head_dim)
            .reshape((t, c))?;
        Ok(AttentionOutput {
            hidden: self.c_proj.forward(&y)?,
            probs,
            scores: keep_scores.then_some(scores),
        })
    }
}

struct Mlp {
    c_fc: Conv1D,
    c_proj: Conv1D,
    activation: Activation,
}

impl Mlp {
    fn load(
        weights: &Weights,
        name: &str,
        cfg: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        Ok(Self {
            c_fc: Conv1D::load(
                weights,
                &format!("{name}.c_fc"),
                cfg.n_embd,
                cfg.n_inner,
                device,
            )?,
            c_proj: Conv1D::load(
                weights,
                &format!("{name}.c_proj"),
                cfg.n_inner,
                cfg.n_embd,
                device,
            )?,
            activation: cfg.activation,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.c_fc.forward(x)?; // (t, n_inner)
        let h = match self.activation {
            Activation::GeluTanh => h.gelu()?,
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
    fn load(
        weights: &Weights,
        idx: usize,
        cfg: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        let name = format!("h.{idx}");
        Ok(Self {
            ln_1: LayerNorm::load(weights, &format!("{name}.ln_1"), cfg, device)?,
            attn: Attention::load(weights, &format!("{name}.attn"), cfg, device)?,
            ln_2: LayerNorm::load(weights, &format!("{name}.ln_2"), cfg, device)?,
            mlp: Mlp::load(weights, &format!("{name}.mlp"), cfg, device)?,
        })
    }
}

/// Receives each layer's attention as the forward pass produces it, so no caller has to hold all layers at once:
/// (layer index, probabilities (n_head, t, t), pre-softmax scores (n_head, t, t) when kept).
pub type LayerVisitor<'a> = dyn FnMut(usize, &Tensor, Option<&Tensor>) -> Result<()> + 'a;

/// GPT-2 language model with its LM head tied to the token embedding.
pub struct Gpt2 {
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: LayerNorm,
    config: Config,
    device: Device,
}

impl Gpt2 {
    /// Loads every weight from `weights`, checking shapes against `config`.
    pub fn load(
        weights: &Weights,
        config: &Config,
        device: &Device,
    ) -> std::result::Result<Self, WeightsError> {
        let blocks = (0..config.n_layer)
            .map(|idx| Block::load(weights, idx, config, device))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(Self {
            wte: weights.get("wte.weight", &[config.vocab_size, config.n_embd], device)?,
            wpe: weights.get("wpe.weight", &[config.n_positions, config.n_embd], device)?,
            blocks,
            ln_f: LayerNorm::load(weights, "ln_f", config, device)?,
            config: config.clone(),
            device: device.clone(),
        })
    }

    /// The model's sizes.
    pub fn config(&self) -> &Config {
        &self.config
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
        let t = ids.len();
        if t == 0 || t > self.config.n_positions {
            candle_core::bail!(
                "{t} tokens given; the model takes 1 to {}",
                self.config.n_positions
            );
        }
        let ids_t = Tensor::new(ids, &self.device)?;
        let positions = self.wpe.narrow(0, 0, t)?; // (t, n_embd)
        let mut x = self.wte.index_select(&ids_t, 0)?.add(&positions)?; // (t, n_embd)
        let mask = causal_mask(t, &self.device)?; // (t, t)
        for (idx, block) in self.blocks.iter().enumerate() {
            let out = block
                .attn
                .forward(&block.ln_1.forward(&x)?, &mask, keep_scores)?;
            x = (x + out.hidden)?;
            x = (&x + block.mlp.forward(&block.ln_2.forward(&x)?)?)?;
            visit(idx, &out.probs, out.scores.as_ref())?;
        }
        self.ln_f.forward(&x)
    }

    /// Logits of the rows `start..start + len` of `hidden`: (len, vocab_size).
    pub fn logits(&self, hidden: &Tensor, start: usize, len: usize) -> Result<Tensor> {
        hidden.narrow(0, start, len)?.matmul(&self.wte.t()?)
    }
}

/// 0 on and below the diagonal, -inf above: (t, t).
fn causal_mask(t: usize, device: &Device) -> Result<Tensor> {
    let values: Vec<f32> = (0..t)
        .flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
        .collect();
    Tensor::from_vec(values, (t, t), device)?.to_dtype(DType::F32)
}
