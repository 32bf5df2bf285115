//! What one analysis leaves for the next: the keys, values and results of a text whose start the next text
//! shares, and the memory budget that bounds how long a text an analysis keeps whole.

use std::sync::Arc;

use candle_core::Tensor;

use super::analysis::Analysis;
use super::lm::KeyValue;

/// The most memory every head's attention of one analysis may take: 4 GB holds GPT-2 XL's 1,200 heads at 1,024
/// tokens (2.5 GB) and Qwen2.5-0.5B's 336 at about 2,400; a longer text is refused rather than run out of memory.
pub(super) const ATTENTION_BUDGET_GB: usize = 4;

/// The most tokens whose attention, kept for `heads` heads as lower triangles of f32, fits the budget.
pub(super) fn tokens_within_budget(heads: usize) -> usize {
    let budget = (ATTENTION_BUDGET_GB as f64) * 1e9 / 4.0 / heads.max(1) as f64; // t(t + 1)/2 ≤ budget
    ((2.0 * budget).sqrt() - 0.5).floor() as usize
}

/// Token ids, keys and values per layer, final hidden states: what a prefix reuses.
pub(super) type CacheState = (Vec<u32>, Vec<KeyValue>, Tensor);

/// What [`Engine::analyze_cached`] keeps from one text to the next.
#[derive(Default)]
pub struct PrefixCache {
    pub(super) ids: Vec<u32>,
    pub(super) kv: Vec<KeyValue>,
    pub(super) hidden: Option<Tensor>,
    pub(super) top_k: usize,
    pub(super) previous: Option<Arc<Analysis>>,
}

impl PrefixCache {
    /// Tokens the next analysis could reuse at most.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// The previous text's norms of what flows for its first `reuse` tokens, when it had them and reuse > 0.
pub(super) fn prefix_flow(cache: &PrefixCache, reuse: usize) -> Option<Vec<Vec<Vec<f64>>>> {
    let flow = cache.previous.as_ref()?.flow.as_ref()?;
    (reuse > 0).then(|| flow.prefix_grams(reuse))
}

/// Length of the longest common prefix.
pub(super) fn common_prefix(a: &[u32], b: &[u32]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_attention_budget_keeps_gpt2s_whole_context() {
        // GPT-2 XL: 48 layers × 25 heads at 1,024 tokens is 1,200 · 1,024 · 1,025 / 2 · 4 bytes = 2.5 GB.
        assert!(super::tokens_within_budget(48 * 25) >= 1024);
        // Qwen2.5-0.5B: 24 × 14 heads; t(t + 1)/2 · 4 · 336 ≤ 4e9 gives t = 2,439.
        let t = super::tokens_within_budget(24 * 14);
        assert_eq!(t, 2439);
        let bytes = |t: usize| (t * (t + 1) / 2 * 4 * 336) as f64;
        assert!(bytes(t) <= 4e9 && bytes(t + 1) > 4e9);
    }
}
