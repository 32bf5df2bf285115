//! The engine: GPT-2 on candle, its tokenizer and loader, and the per-text [`Analysis`].
//! Knows candle and tokenizers; never egui.

pub mod ablation;
pub mod analysis;
pub mod attentions;
pub mod attribution;
pub mod config;
pub(crate) mod cpu_caches;
pub mod demo;
mod download;
pub mod engine;
mod errors;
pub(crate) mod gelu;
pub mod generate;
pub mod gpt2;
pub mod head_set;
pub mod layers;
pub mod loader;
pub(crate) mod packed;
pub mod perplexity;
pub(crate) mod small_matmul;
pub(crate) mod softmax;
pub mod tokenizer;
pub mod weights;

pub use analysis::{Alternative, Analysis, ModelInfo, Token, TokenStats};
pub use attentions::{Attentions, AttentionsError};
pub use engine::{AnalyzeOptions, DeviceKind, Engine, EngineError};
pub use head_set::{HeadSet, HeadSetError};
pub use layers::Kernels;
pub use loader::{HubOptions, ModelSource, DEFAULT_MODEL, DEMO_MODEL, KNOWN_MODELS};
pub use packed::supported as packed_kernel_supported;

/// Pseudo-random values in [−0.5, 0.5) for the kernels' tests: a fixed linear congruential sequence per seed.
#[cfg(test)]
fn test_values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        })
        .collect()
}
