//! The scoring pass for sliding-window perplexity: no attention probabilities kept, query rows in blocks that
//! multiply only the keys they can see, and the last layer computing only the rows that are scored.

use candle_core::Tensor;

use super::positions::{query_blocks, QUERY_BLOCK};
use super::{CausalLm, Result};
use crate::model::residual_add;

impl CausalLm {
    /// Final hidden states of the rows `from..t` of each of `windows` (all of one length t), stacked:
    /// (windows.len() · (t − from), n_embd). For scoring: no attention probabilities are kept, the masked
    /// half of every QKᵀ is skipped, and the last layer computes only the rows asked for (the others are
    /// needed there only as keys and values). Each window starts at position 0.
    pub fn forward_scoring(&self, windows: &[&[u32]], from: usize) -> Result<Tensor> {
        self.scoring_pass(windows, from, QUERY_BLOCK, true)
    }

    /// [`CausalLm::forward_scoring`] on the path of masked query blocks of `block` rows, even where the CPU's
    /// fused attention would run instead (tests use small blocks to cover the block boundaries on a small model).
    pub fn forward_scoring_in_blocks(
        &self,
        windows: &[&[u32]],
        from: usize,
        block: usize,
    ) -> Result<Tensor> {
        self.scoring_pass(windows, from, block, false)
    }

    fn scoring_pass(
        &self,
        windows: &[&[u32]],
        from: usize,
        block: usize,
        fused: bool,
    ) -> Result<Tensor> {
        let block = block.max(1);
        let b = windows.len();
        let t = windows.first().map_or(0, |w| w.len());
        if b == 0 || t == 0 || t > self.config.n_positions || from >= t {
            candle_core::bail!(
                "windows of {t} tokens scored from {from}; the model takes 1 to {}",
                self.config.n_positions
            );
        }
        if windows.iter().any(|w| w.len() != t) {
            candle_core::bail!("windows scored together must have one length");
        }
        let tokens = self.embed(&windows.concat())?;
        let mut x = match &self.positions {
            Some(wpe) => {
                let positions = wpe.narrow(0, 0, t)?;
                tokens.add(&Tensor::cat(&vec![&positions; b], 0)?)? // (b·t, n_embd)
            }
            None => tokens,
        };
        let blocks = query_blocks(t, block, &self.device)?;
        let n = self.blocks.len();
        for (idx, block) in self.blocks.iter().enumerate() {
            let keep = if idx + 1 == n { from } else { 0 };
            let attn = block.attn.forward_scoring(
                &block.attention_input(&x)?,
                b,
                t,
                keep,
                &blocks,
                fused,
            )?;
            if keep > 0 {
                let c = x.dim(1)?;
                x = x
                    .reshape((b, t, c))?
                    .narrow(1, keep, t - keep)?
                    .contiguous()?
                    .reshape((b * (t - keep), c))?;
            }
            let (mid, mlp) = block.finish(&x, &attn)?;
            x = residual_add::add(&mid, &mlp)?;
        }
        self.final_norm.forward(&x)
    }
}
