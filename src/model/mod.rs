//! The engine: GPT-2 on candle, its tokenizer and loader, and the per-text [`Analysis`].
//! Knows candle and tokenizers; never egui.

pub mod analysis;
pub mod config;
pub mod engine;
pub mod gelu;
pub mod generate;
pub mod gpt2;
pub mod loader;
pub mod packed;
pub mod perplexity;
pub mod small_matmul;
pub mod softmax;
pub mod tokenizer;
pub mod weights;

pub use analysis::{Alternative, Analysis, Attentions, ModelInfo, Token, TokenStats};
pub use engine::{AnalyzeOptions, DeviceKind, Engine, EngineError};
pub use gpt2::Kernels;
pub use loader::{HubOptions, ModelSource, DEFAULT_MODEL, KNOWN_MODELS};
