//! The scoring pass for sliding-window perplexity: no attention probabilities kept, query rows in blocks that
//! multiply only the keys they can see, and the last layer computing only the rows that are scored.

use candle_core::Tensor;

use super::{Attention, Gpt2, QueryBlock, Result, QUERY_BLOCK};

impl Attention {
    /// Attention for scoring, where nobody looks at the probabilities: `x` is `b` windows of `t` rows each,
    /// (b·t, c), and only the query rows `keep..t` of each window are computed. Query rows go in blocks
    /// that multiply only the keys they can see, so the masked half of QKᵀ is never computed and no
    /// (n_head, t, t) tensor is made. Returns (b·(t − keep), c).
    pub(super) fn forward_scoring(
        &self,
        x: &Tensor,
        b: usize,
        t: usize,
        keep: usize,
        blocks: &[QueryBlock],
    ) -> Result<Tensor> {
        let c = x.dim(1)?;
        let qkv = self.c_attn.forward(x)?; // (b·t, 3c)
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let mut outputs = Vec::with_capacity(b);
        for w in 0..b {
            let rows = qkv.narrow(0, w * t, t)?;
            let (q, k, v) = (
                (self.split_heads(&rows, 0)? * scale)?,
                self.split_heads(&rows, 1)?,
                self.split_heads(&rows, 2)?,
            );
            let mut ys = Vec::with_capacity(blocks.len());
            for block in blocks.iter().filter(|bl| bl.start + bl.len > keep) {
                let start = block.start.max(keep);
                let len = block.start + block.len - start;
                let seen = start + len; // keys 0..seen
                let scores = q
                    .narrow(1, start, len)?
                    .matmul(&k.narrow(1, 0, seen)?.t()?)?; // (n_head, len, seen)
                let mask = block.mask.narrow(0, start - block.start, len)?;
                let probs = crate::model::softmax::causal_softmax(&scores, &mask, start)?;
                ys.push(probs.matmul(&v.narrow(1, 0, seen)?)?); // (n_head, len, head_dim)
            }
            let y = Tensor::cat(&ys, 1)?; // (n_head, t − keep, head_dim)
            outputs.push(y.transpose(0, 1)?.reshape((t - keep, c))?);
        }
        self.c_proj.forward(&Tensor::cat(&outputs, 0)?)
    }
}

impl Gpt2 {
    /// Final hidden states of the rows `from..t` of each of `windows` (all of one length t), stacked:
    /// (windows.len() · (t − from), n_embd). For scoring: no attention probabilities are kept, the masked
    /// half of every QKᵀ is skipped, and the last layer computes only the rows asked for (the others are
    /// needed there only as keys and values). Each window starts at position 0.
    pub fn forward_scoring(&self, windows: &[&[u32]], from: usize) -> Result<Tensor> {
        self.forward_scoring_in_blocks(windows, from, QUERY_BLOCK)
    }

    /// [`Gpt2::forward_scoring`] with query blocks of `block` rows (tests use small blocks to cover the
    /// block boundaries on a small model).
    pub fn forward_scoring_in_blocks(
        &self,
        windows: &[&[u32]],
        from: usize,
        block: usize,
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
        let positions = self.wpe.narrow(0, 0, t)?;
        let positions = Tensor::cat(&vec![&positions; b], 0)?; // (b·t, n_embd)
        let mut x = self.embed(&windows.concat())?.add(&positions)?;
        let blocks = self.query_blocks(t, block)?;
        let n = self.blocks.len();
        for (idx, block) in self.blocks.iter().enumerate() {
            let keep = if idx + 1 == n { from } else { 0 };
            let attn = block
                .attn
                .forward_scoring(&block.ln_1.forward(&x)?, b, t, keep, &blocks)?;
            if keep > 0 {
                let c = x.dim(1)?;
                x = x
                    .reshape((b, t, c))?
                    .narrow(1, keep, t - keep)?
                    .contiguous()?
                    .reshape((b * (t - keep), c))?;
            }
            x = (x + attn)?;
            x = (&x + block.mlp.forward(&block.ln_2.forward(&x)?)?)?;
        }
        self.ln_f.forward(&x)
    }
}
