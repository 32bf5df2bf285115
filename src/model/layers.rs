//! The building blocks of every family's layers: LayerNorm and RMSNorm, the linear layer in its two layouts
//! (packed for the AVX-512 or AVX2 kernel, or rows for the portable path) read from GPT-2's Conv1D (in, out) or a
//! PyTorch Linear (out, in), the choice of kernels, and where weights come from.

use candle_core::{Device, Tensor};

use super::config::{Config, NormKind};
use super::layer_norm::{layer_norm, LayerNormWeights};
use super::packed::PackedLinear;
use super::weights::{Weights, WeightsError};
use candle_core::Result;

/// A norm: LayerNorm with learned scale and shift, or RMSNorm with a learned scale.
pub(super) struct Norm {
    pub(super) weight: Tensor,
    /// β for LayerNorm; `None` for RMSNorm.
    pub(super) bias: Option<Tensor>,
    eps: f32,
    /// γ and β for the rows-in-lanes LayerNorm, where this CPU runs it (`None` for RMSNorm).
    lanes: Option<LayerNormWeights>,
}

impl Norm {
    /// Loads `{name}.weight` (and `{name}.bias` for LayerNorm), of width n_embd.
    pub(super) fn load(
        src: &Source,
        name: &str,
        cfg: &Config,
    ) -> std::result::Result<Self, WeightsError> {
        let weight = src.get(&format!("{name}.weight"), &[cfg.n_embd])?;
        let bias = match cfg.norm {
            NormKind::LayerNorm => Some(src.get(&format!("{name}.bias"), &[cfg.n_embd])?),
            NormKind::RmsNorm => None,
        };
        let eps = cfg.layer_norm_epsilon as f32;
        // `ATTNGRAPH_KERNELS=portable` keeps candle's LayerNorm too.
        let lanes = match (&bias, src.kernels) {
            (Some(bias), Kernels::Auto) => LayerNormWeights::new(&weight, bias, eps),
            _ => None,
        };
        Ok(Self {
            weight,
            bias,
            eps,
            lanes,
        })
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if let Some(normed) = self.lanes.as_ref().and_then(|w| layer_norm(w, x)) {
            return normed;
        }
        match &self.bias {
            Some(bias) => candle_nn::ops::layer_norm(x, &self.weight, bias, self.eps),
            None => candle_nn::ops::rms_norm(x, &self.weight, self.eps),
        }
    }
}

/// Which matrix-product kernels a CPU model uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Kernels {
    /// The fastest this CPU has: weights packed for the packed kernel ([`super::packed`]) where the CPU has
    /// AVX-512F or AVX2 and FMA, else the rows kept for the few-row kernel and candle's gemm.
    #[default]
    Auto,
    /// The few-row kernel and candle's gemm on every CPU (for comparing the two paths).
    Portable,
}

impl Kernels {
    /// `ATTNGRAPH_KERNELS` in the environment: `portable` picks [`Kernels::Portable`], `auto` or nothing
    /// [`Kernels::Auto`]; anything else is an error that says so.
    pub fn from_env() -> std::result::Result<Self, String> {
        let Some(v) = std::env::var_os("ATTNGRAPH_KERNELS") else {
            return Ok(Self::Auto);
        };
        match v.to_str().map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("auto") => Ok(Self::Auto),
            Some(v) if v.eq_ignore_ascii_case("portable") => Ok(Self::Portable),
            _ => Err(format!(
                "ATTNGRAPH_KERNELS={v:?} is not auto or portable: set one of them, or unset it for auto"
            )),
        }
    }
}

/// A linear layer y = x·Wᵀ + b, kept the way this CPU's kernels read it. GPT-2 stores W as Conv1D (in, out);
/// the other families as PyTorch's Linear (out, in).
pub(super) enum Linear {
    /// Packed for the AVX-512 kernel, bias included.
    Packed(PackedLinear),
    /// (out, in) rows: the few-row kernel streams them in order, candle's gemm reads them through a transposed
    /// view.
    Rows {
        weight_t: Tensor,
        bias: Option<Tensor>,
    },
}

impl Linear {
    /// GPT-2's Conv1D `{name}.weight` stored (in, out), with its bias.
    pub(super) fn conv1d(
        src: &Source,
        name: &str,
        [n_in, n_out]: [usize; 2],
    ) -> std::result::Result<Self, WeightsError> {
        let (weight, bias) = (format!("{name}.weight"), format!("{name}.bias"));
        Ok(if src.packs() {
            let w = src.weights.elements(&weight, &[n_in, n_out])?;
            let bias = src.weights.values(&bias, &[n_out])?;
            Self::Packed(
                PackedLinear::pack(n_in, n_out, Some(&bias), |i, o| w.get(i * n_out + o))
                    .map_err(WeightsError::memory(&weight))?,
            )
        } else {
            Self::Rows {
                weight_t: src
                    .weights
                    .get_transposed(&weight, [n_in, n_out], src.device)?,
                bias: Some(src.get(&bias, &[n_out])?),
            }
        })
    }

    /// A PyTorch Linear `{name}.weight` stored (out, in), with `{name}.bias` when `bias`.
    pub(super) fn pytorch(
        src: &Source,
        name: &str,
        [n_in, n_out]: [usize; 2],
        bias: bool,
    ) -> std::result::Result<Self, WeightsError> {
        let weight = format!("{name}.weight");
        let bias_name = format!("{name}.bias");
        Ok(if src.packs() {
            let w = src.weights.elements(&weight, &[n_out, n_in])?;
            let bias = bias
                .then(|| src.weights.values(&bias_name, &[n_out]))
                .transpose()?;
            Self::Packed(
                PackedLinear::pack(n_in, n_out, bias.as_deref(), |i, o| w.get(o * n_in + i))
                    .map_err(WeightsError::memory(&weight))?,
            )
        } else {
            Self::Rows {
                weight_t: src.get(&weight, &[n_out, n_in])?,
                bias: bias.then(|| src.get(&bias_name, &[n_out])).transpose()?,
            }
        })
    }

    /// The weight as a plain (out, in) matrix on `device`, without the bias: for products with a slice of its
    /// columns (one head's share of an output projection).
    pub(super) fn weight(&self, device: &Device) -> Result<Tensor> {
        match self {
            Self::Packed(p) => {
                let rows: Vec<f32> = (0..p.n()).flat_map(|o| p.row(o)).collect();
                Tensor::from_vec(rows, (p.n(), p.k()), device)
            }
            Self::Rows { weight_t, .. } => Ok(weight_t.clone()),
        }
    }

    /// `x` (t, in) projected into `parts` equal runs of the outputs, each split into heads of `d`: tensors of
    /// (run / d, t, d), what `forward` and a reshape and transpose of each run give, written in place by the
    /// product itself. An error where [`Linear::places_heads`] is false.
    pub(super) fn forward_heads(&self, x: &Tensor, d: usize, parts: usize) -> Result<Vec<Tensor>> {
        match self {
            Self::Packed(p) if self.places_heads(d, parts) => p.forward_heads(x, d, parts),
            _ => candle_core::bail!(
                "this linear layer cannot write its outputs as {parts} runs of heads of {d}"
            ),
        }
    }

    /// Whether [`Linear::forward_heads`] can write heads of `d` in `parts` runs: the packed kernel, and heads a
    /// multiple of its panels of 32 outputs wide that divide each run.
    pub(super) fn places_heads(&self, d: usize, parts: usize) -> bool {
        match self {
            Self::Packed(p) => p.places_heads(d, parts),
            Self::Rows { .. } => false,
        }
    }

    pub(super) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        match self {
            Self::Packed(p) => p.forward(x), // (t, n_out)
            Self::Rows { weight_t, bias } => {
                let y = super::small_matmul::matmul_t(x, weight_t)?;
                match bias {
                    Some(bias) => y.broadcast_add(bias),
                    None => Ok(y),
                }
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

    /// Whether products are packed for the packed kernel.
    pub(super) fn packs(&self) -> bool {
        self.kernels == Kernels::Auto && self.device.is_cpu() && super::packed::supported()
    }
}
