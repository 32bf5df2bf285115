//! The engine: GPT-2 on candle, its tokenizer and loader, and the per-text [`Analysis`].
//! Knows candle and tokenizers; never egui.

pub mod ablation;
pub mod analysis;
pub mod attentions;
pub mod attribution;
pub(crate) mod causal_attention;
pub mod config;
pub(crate) mod cpu_caches;
pub mod demo;
mod download;
pub mod engine;
mod errors;
mod fit;
pub mod flow;
pub(crate) mod gelu;
pub mod generate;
pub mod head_set;
pub mod isa;
mod known;
pub(crate) mod layer_norm;
pub mod layers;
pub mod lens;
pub mod lm;
pub mod loader;
pub mod norms;
mod options;
pub(crate) mod packed;
pub mod patching;
pub mod perplexity;
pub(crate) mod pool;
mod prefix_cache;
mod residual_add;
pub(crate) mod row_scan;
pub(crate) mod small_matmul;
pub(crate) mod softmax;
pub mod tokenizer;
pub(crate) mod vexp;
pub mod weights;

#[cfg(test)]
pub(crate) mod test_values;

pub use analysis::{Alternative, Analysis, ModelInfo, Token, TokenStats};
pub use attentions::{Attentions, AttentionsError};
pub use engine::{AnalyzeOptions, DeviceKind, Engine, EngineError, KeepScores};
pub use head_set::{HeadSet, HeadSetError};
pub use layers::Kernels;
pub use loader::{HubOptions, ModelSource, DEFAULT_MODEL, DEMO_MODEL, KNOWN_MODELS};
pub use packed::supported as packed_kernel_supported;
