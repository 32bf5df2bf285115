//! One transformer block, written once for every family: pre-norm attention, then a pre-norm MLP, each added to
//! the residual stream. What differs by family is where the weights are named and which parts it has: GPT-2's
//! GELU MLP with LayerNorm, or the gated SwiGLU MLP with RMSNorm of Qwen2 and Llama.

use candle_core::{Result, Tensor};

use super::attention::Attention;
use crate::model::config::{Activation, Config, Family};
use crate::model::layers::{Linear, Norm, Source};
use crate::model::residual_add;
use crate::model::weights::WeightsError;

enum Mlp {
    /// fc, then the activation, then proj (GPT-2's `c_fc`, `c_proj`).
    Plain {
        fc: Linear,
        proj: Linear,
        activation: Activation,
    },
    /// down(silu(gate x) ⊙ up x).
    Gated {
        gate: Linear,
        up: Linear,
        down: Linear,
    },
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Plain {
                fc,
                proj,
                activation,
            } => {
                if let (Activation::GeluTanh, Linear::Packed(fc), Linear::Packed(proj)) =
                    (activation, fc, proj)
                {
                    // The same bits, with GELU's output laid out for `proj`'s tiles.
                    return x.apply_op1_no_bwd(&crate::model::packed::mlp::GeluMlp { fc, proj });
                }
                let h = fc.forward(x)?; // (t, n_inner)
                let h = match activation {
                    Activation::GeluTanh => crate::model::gelu::gelu(&h)?,
                    Activation::GeluErf => h.gelu_erf()?,
                    Activation::Relu => h.relu()?,
                    Activation::SwiGlu => candle_nn::ops::silu(&h)?,
                };
                proj.forward(&h) // (t, n_embd)
            }
            Self::Gated { gate, up, down } => {
                let h = (candle_nn::ops::silu(&gate.forward(x)?)? * up.forward(x)?)?;
                down.forward(&h)
            }
        }
    }
}

pub(super) struct Block {
    norm_1: Norm,
    pub(super) attn: Attention,
    norm_2: Norm,
    mlp: Mlp,
}

impl Block {
    /// Block `idx` of a model of `cfg`'s family.
    pub(super) fn load(
        src: &Source,
        idx: usize,
        cfg: &Config,
    ) -> std::result::Result<Self, WeightsError> {
        let (c, inner) = (cfg.n_embd, cfg.n_inner);
        match cfg.family {
            Family::Gpt2 => {
                let name = format!("h.{idx}");
                Ok(Self {
                    norm_1: Norm::load(src, &format!("{name}.ln_1"), cfg)?,
                    attn: Attention::gpt2(src, &format!("{name}.attn"), cfg)?,
                    norm_2: Norm::load(src, &format!("{name}.ln_2"), cfg)?,
                    mlp: Mlp::Plain {
                        fc: Linear::conv1d(src, &format!("{name}.mlp.c_fc"), [c, inner])?,
                        proj: Linear::conv1d(src, &format!("{name}.mlp.c_proj"), [inner, c])?,
                        activation: cfg.activation,
                    },
                })
            }
            Family::Qwen2 | Family::Llama => {
                let name = format!("model.layers.{idx}");
                let linear = |part: &str, shape| {
                    Linear::pytorch(src, &format!("{name}.mlp.{part}"), shape, cfg.mlp_bias)
                };
                Ok(Self {
                    norm_1: Norm::load(src, &format!("{name}.input_layernorm"), cfg)?,
                    attn: Attention::llama(src, &format!("{name}.self_attn"), cfg)?,
                    norm_2: Norm::load(src, &format!("{name}.post_attention_layernorm"), cfg)?,
                    mlp: Mlp::Gated {
                        gate: linear("gate_proj", [c, inner])?,
                        up: linear("up_proj", [c, inner])?,
                        down: linear("down_proj", [inner, c])?,
                    },
                })
            }
        }
    }

    /// The attention's input: the first norm of the residual stream `x`.
    pub(super) fn attention_input(&self, x: &Tensor) -> Result<Tensor> {
        self.norm_1.forward(x)
    }

    /// The rest of the block once the attention output is known: the stream after attention, `x + attention`,
    /// and the MLP's output on it. The block's output is their sum.
    pub(super) fn finish(&self, x: &Tensor, attention: &Tensor) -> Result<(Tensor, Tensor)> {
        let mid = residual_add::add(x, attention)?;
        let mlp = self.mlp.forward(&self.norm_2.forward(&mid)?)?;
        Ok((mid, mlp))
    }
}
