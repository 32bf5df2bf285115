//! The building blocks of GPT-2's layers: LayerNorm, the Conv1D linear layer in its two layouts (packed for the
//! AVX-512 kernel, or rows for the portable path), the choice of kernels, and where weights come from.

use candle_core::{Device, Tensor};

use super::config::Config;
use super::packed::PackedLinear;
use super::weights::{Weights, WeightsError};
use candle_core::Result;

/// LayerNorm with learned scale and shift.
pub(super) struct LayerNorm {
    pub(super) weight: Tensor,
    pub(super) bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    pub(super) fn load(
        src: &Source,
        name: &str,
        cfg: &Config,
    ) -> std::result::Result<Self, WeightsError> {
        Ok(Self {
            weight: src.get(&format!("{name}.weight"), &[cfg.n_embd])?,
            bias: src.get(&format!("{name}.bias"), &[cfg.n_embd])?,
            eps: cfg.layer_norm_epsilon as f32,
        })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

/// Which matrix-product kernels a CPU model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// The fastest this CPU has: weights packed for the AVX-512 kernel ([`super::packed`]) where the CPU has
    /// AVX-512F, else the rows kept for the few-row kernel and candle's gemm.
    #[default]
    Auto,
    /// The few-row kernel and candle's gemm on every CPU (for comparing the two paths).
    Portable,
}

impl Kernels {
    /// `ATTNGRAPH_KERNELS=portable` in the environment picks [`Kernels::Portable`]; anything else is `Auto`.
    pub fn from_env() -> Self {
        match std::env::var("ATTNGRAPH_KERNELS") {
            Ok(v) if v.eq_ignore_ascii_case("portable") => Self::Portable,
            _ => Self::Auto,
        }
    }
}

/// GPT-2's Conv1D: a linear layer whose weight is stored (in, out), so y = x·W + b; kept the way this CPU's
/// kernels read it.
pub(super) enum Conv1D {
    /// Packed for the AVX-512 kernel, bias included.
    Packed(PackedLinear),
    /// Transposed to (out, in) rows: the few-row kernel streams them in order, candle's gemm reads them through a
    /// transposed view.
    Rows { weight_t: Tensor, bias: Tensor },
}

impl Conv1D {
    pub(super) fn load(
        src: &Source,
        name: &str,
        [n_in, n_out]: [usize; 2],
    ) -> std::result::Result<Self, WeightsError> {
        let (weight, bias) = (format!("{name}.weight"), format!("{name}.bias"));
        Ok(if src.packs() {
            let w = src.weights.elements(&weight, &[n_in, n_out])?;
            let bias = src.weights.values(&bias, &[n_out])?;
            Self::Packed(PackedLinear::pack(n_in, n_out, Some(&bias), |i, o| {
                w.get(i * n_out + o)
            }))
        } else {
            Self::Rows {
                weight_t: src
                    .weights
                    .get_transposed(&weight, [n_in, n_out], src.device)?,
                bias: src.get(&bias, &[n_out])?,
            }
        })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Packed(p) => p.forward(x), // (t, n_out)
            Self::Rows { weight_t, bias } => {
                super::small_matmul::matmul_t(x, weight_t)?.broadcast_add(bias)
            }
        }
    }
}

/// Where a model's weights come from and how they are kept.
pub(super) struct Source<'a> {
    pub(super) weights: &'a Weights,
    pub(super) device: &'a Device,
    pub(super) kernels: Kernels,
}

impl Source<'_> {
    pub(super) fn get(
        &self,
        name: &str,
        shape: &[usize],
    ) -> std::result::Result<Tensor, WeightsError> {
        self.weights.get(name, shape, self.device)
    }

    /// Whether products are packed for the AVX-512 kernel.
    pub(super) fn packs(&self) -> bool {
        self.kernels == Kernels::Auto && self.device.is_cpu() && super::packed::supported()
    }
}
