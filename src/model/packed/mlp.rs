//! GPT-2's MLP on packed weights as one op, with GELU's output on rows padded so that a tile's rows miss each
//! other in the L1 cache.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

use super::{block_len, PackedLinear, MR};
use crate::model::softmax::f32_rows;

/// The distance, ≥ k and k plus a multiple of 16, at which to lay rows of `k` values so that the [`MR`] rows a
/// tile reads side by side start on [`MR`] different cache lines modulo 4 KB (and stay on different lines
/// where k is a multiple of 16, as in every GPT-2). Rows 4 KB apart (or a multiple) all
/// meet in one set of the L1 data cache, which at 48 KB has 12 ways: at k = 3,072 (GPT-2 small's MLP output
/// projection) each step of a tile read twelve lines of one set beside the weights. `attngraph bench --kernels`
/// with that layer's rows read 3,056 apart instead (a probe for the time only, its rows overlapping; Intel
/// Xeon, family 6 model 167): 258–264 → 282–290 GFLOP/s at 1,024 rows, 263–268 → 283–290 at 256.
pub fn padded_stride(k: usize) -> usize {
    const LINE: usize = 64;
    const PAGE: usize = 4096;
    let distinct = |ld: usize| {
        let mut lines: Vec<usize> = (0..MR).map(|r| r * ld * 4 % PAGE / LINE).collect();
        lines.sort_unstable();
        lines.windows(2).all(|w| w[0] != w[1])
    };
    // 64 rounds of 16 values reach every line of a 4 KB page as an offset, so one of them is distinct.
    (0..=PAGE / LINE)
        .map(|j| k + 16 * j)
        .find(|&ld| distinct(ld))
        .unwrap_or(k)
}

/// [`GeluMlp`]'s buffers for `fc`'s output and GELU's, one pair for the process: forward passes run on any of
/// rayon's threads (`pool::on_pool`), and a pair per thread would keep as many pairs as there are threads.
static MLP_SCRATCH: std::sync::Mutex<(Vec<f32>, Vec<f32>)> =
    std::sync::Mutex::new((Vec::new(), Vec::new()));

/// The most values the process keeps in [`GeluMlp`]'s buffers (16 Mi values, 64 MiB, each): where either is
/// larger, for a long text on a large model, both are freed after their MLP.
const MLP_SCRATCH_KEPT: usize = 16 << 20;

/// GPT-2's MLP on packed weights: `fc`, GELU (tanh form) and `proj`, with the activations laid out for `proj`'s
/// tiles ([`padded_stride`]) as GELU writes them, at no extra pass. The same values as the three ops one after
/// another, bit for bit: the same kernel sums the same products in the same order, only reading its rows from
/// other addresses.
pub struct GeluMlp<'a> {
    pub fc: &'a PackedLinear,
    pub proj: &'a PackedLinear,
}

impl CustomOp1 for GeluMlp<'_> {
    fn name(&self) -> &'static str {
        "packed-gelu-mlp"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_rows(storage, layout, "packed MLP")?;
        let (m, k) = (x.rows, x.width);
        let inner = self.fc.n;
        if k != self.fc.k || self.proj.k != inner {
            candle_core::bail!(
                "packed MLP: input {:?} against {} → {} → {}",
                layout.dims(),
                self.fc.k,
                inner,
                self.proj.n
            );
        }
        // The two inner buffers are kept from one MLP to the next (12 MB each at 1,024 tokens of GPT-2 small),
        // so that their pages are neither faulted in nor zeroed again for every layer. A call that finds them
        // taken (another analysis running at once) makes its own; the lock is held only to take or put them,
        // so a poisoned one (a panic elsewhere) is used as it is.
        let (mut h, mut g) = match MLP_SCRATCH.try_lock() {
            Ok(mut kept) => std::mem::take(&mut *kept),
            Err(std::sync::TryLockError::Poisoned(kept)) => std::mem::take(&mut *kept.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => (Vec::new(), Vec::new()),
        };
        let block = block_len().map_err(candle_core::Error::msg)?;
        self.fc.forward_into(x.values, m, k, block, &mut h)?;
        let ld = padded_stride(inner);
        crate::model::gelu::gelu_rows(&h, inner, ld, &mut g)?;
        let y = self.proj.forward_strided(&g, m, ld)?;
        if h.capacity().max(g.capacity()) <= MLP_SCRATCH_KEPT {
            // Kept unless another call's pair is there already.
            if let Ok(mut kept) = MLP_SCRATCH.try_lock() {
                if kept.0.capacity() == 0 {
                    *kept = (h, g);
                }
            }
        }
        let mut shape = x.lead.to_vec();
        shape.push(self.proj.n);
        Ok((CpuStorage::F32(y), Shape::from(shape)))
    }
}
