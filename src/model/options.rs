//! What an analysis is asked for and where the model runs: options every caller of the engine fills in.

use super::errors::EngineError;
use super::head_set::HeadSet;
use candle_core::Device;

/// Where the model runs.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
pub enum DeviceKind {
    /// The CPU (always available).
    #[default]
    Cpu,
    /// An NVIDIA GPU (build with `--features cuda`).
    Cuda,
    /// An Apple GPU (build with `--features metal`).
    Metal,
}

impl DeviceKind {
    /// Opens the device.
    pub fn open(self) -> Result<Device, EngineError> {
        let fail = |name: &str, err: candle_core::Error| EngineError::Device {
            name: name.into(),
            message: format!("{err} (was attngraph built with `--features {name}`?)"),
        };
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda => Device::new_cuda(0).map_err(|e| fail("cuda", e)),
            Self::Metal => Device::new_metal(0).map_err(|e| fail("metal", e)),
        }
    }
}

/// Which layers' pre-softmax scores QKᵀ/√d an analysis keeps ([`Analysis::scores`]). Kept scores are a
/// second matrix as large as the attention for each head kept (600 MB for GPT-2 small's 144 heads at 1,024
/// tokens), so keep only what is read: the lesson's explanation reads one head's. With any kept, every layer runs
/// the plain attention rather than the fused one, so the analysis is the same, bit for bit, whichever are kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum KeepScores {
    /// None.
    #[default]
    None,
    /// Every layer's.
    All,
    /// One layer's; the other layers' entries in [`Analysis::scores`] are empty.
    Layer(usize),
}

impl KeepScores {
    /// Whether any layer's scores are kept.
    pub fn any(self) -> bool {
        self != Self::None
    }

    /// Whether layer `layer`'s scores are kept.
    pub fn of(self, layer: usize) -> bool {
        match self {
            Self::None => false,
            Self::All => true,
            Self::Layer(l) => l == layer,
        }
    }
}

/// What to compute for a text.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzeOptions {
    /// Make the model's BOS token (GPT-2's `<|endoftext|>`, Llama's `<s>`) token 0, so the first real token is
    /// scored too; `false` leaves it out even where the tokenizer would add it.
    pub bos: bool,
    /// How many alternatives to keep per position.
    pub top_k: usize,
    /// Which layers' pre-softmax scores to keep as well.
    pub keep_scores: KeepScores,
    /// Heads to knock out (see [`CausalLm::trace`]); empty for the model as it is.
    pub ablated: HeadSet,
    /// What the knocked-out heads' values become.
    pub replacement: super::head_set::Replacement,
    /// Also weigh what each head moves from each token ([`Analysis::flow`]), in the same pass.
    pub norms: bool,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self {
            bos: true,
            top_k: 5,
            keep_scores: KeepScores::None,
            ablated: HeadSet::default(),
            replacement: Default::default(),
            norms: false,
        }
    }
}
