//! Causal softmax on the CPU: each attention row normalised over the keys it may see, in one parallel pass that
//! never touches the masked half. Replaces "add a −∞ mask, then softmax" (two full passes, the first on one
//! thread); on other devices that generic path is used.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

/// The contiguous f32 values a CPU op reads (this op and `gelu`'s take only that layout).
pub(super) fn contiguous_f32<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> candle_core::Result<&'a [f32]> {
    let (CpuStorage::F32(values), Some((start, end))) = (storage, layout.contiguous_offsets())
    else {
        candle_core::bail!("{op} takes contiguous f32");
    };
    values.get(start..end).ok_or_else(|| {
        candle_core::Error::Msg(format!(
            "{op}: layout {start}..{end} past the storage's {} values",
            values.len()
        ))
    })
}

/// A CPU op's input read as rows of its last dimension: contiguous f32 values ([`contiguous_f32`]), the
/// dimensions before the last, how many rows they make, and the row length.
pub(super) struct F32Rows<'a, 'b> {
    pub values: &'a [f32],
    pub lead: &'b [usize],
    pub rows: usize,
    pub width: usize,
}

/// [`F32Rows`] of an op's input; an error for a scalar or any layout [`contiguous_f32`] refuses.
pub(super) fn f32_rows<'a, 'b>(
    storage: &'a CpuStorage,
    layout: &'b Layout,
    op: &str,
) -> candle_core::Result<F32Rows<'a, 'b>> {
    let values = contiguous_f32(storage, layout, op)?;
    let Some((&width, lead)) = layout.dims().split_last() else {
        candle_core::bail!("{op}: a scalar input");
    };
    Ok(F32Rows {
        values,
        lead,
        rows: lead.iter().product(),
        width,
    })
}

/// Whether `x` is a contiguous f32 tensor on the CPU: what the CPU ops here read where it lies.
pub(crate) fn in_place_f32(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && x.is_contiguous()
}

/// Runs `f` on the values of `x` in row-major order: read in place when `x` is a contiguous f32 tensor on the
/// CPU (no copy of what may be 50 MB of attention), copied out first otherwise. `x`'s storage is locked for
/// reading meanwhile, so `f` must not write to `x`.
pub fn with_values<R>(x: &Tensor, f: impl FnOnce(&[f32]) -> R) -> candle_core::Result<R> {
    if in_place_f32(x) {
        let (storage, layout) = x.storage_and_layout();
        if let candle_core::Storage::Cpu(cpu) = &*storage {
            return Ok(f(contiguous_f32(cpu, layout, "values")?));
        }
    }
    Ok(f(&x.flatten_all()?.to_vec1::<f32>()?))
}

struct CausalSoftmax {
    /// Position of the first query row (the number of cached positions before it).
    offset: usize,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "causal-softmax"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, "causal softmax")?;
        let (_heads, t_new, t) = layout.shape().dims3()?;

        let mut out = vec![0.0f32; input.len()];
        out.par_chunks_mut(t)
            .zip(input.par_chunks(t))
            .enumerate()
            .for_each(|(row, (dst, src))| {
                // Query i (absolute position offset + i) sees keys 0..=offset + i.
                let visible = (self.offset + row % t_new.max(1) + 1).min(t);
                // visible ≤ t, the length of both rows (chunks of t of equal-length buffers).
                let (dst, src) = (&mut dst[..visible], &src[..visible]);
                let inv = 1.0 / super::vexp::exp_into(src, dst);
                dst.iter_mut().for_each(|d| *d *= inv);
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Softmax of `scores` (n_head, t_new, t) over the keys each query may see; `mask` (t_new, t) holds 0 and −∞
/// for the generic path.
pub fn causal_softmax(
    scores: &Tensor,
    mask: &Tensor,
    offset: usize,
) -> candle_core::Result<Tensor> {
    if scores.device().is_cpu()
        && scores.dtype() == candle_core::DType::F32
        && scores.is_contiguous()
    {
        scores.apply_op1_no_bwd(&CausalSoftmax { offset })
    } else {
        candle_nn::ops::softmax_last_dim(&scores.broadcast_add(mask)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn equals_mask_then_softmax() {
        // 2 heads, 3 new queries after 2 cached positions, 5 keys.
        let values: Vec<f32> = (0..30)
            .map(|i| ((i * 7919) % 13) as f32 / 3.0 - 2.0)
            .collect();
        let scores = Tensor::from_vec(values, (2, 3, 5), &Device::Cpu).unwrap();
        let mask: Vec<f32> = (0..3)
            .flat_map(|i| (0..5).map(move |j| if j <= 2 + i { 0.0 } else { f32::NEG_INFINITY }))
            .collect();
        let mask = Tensor::from_vec(mask, (3, 5), &Device::Cpu).unwrap();
        let ours = causal_softmax(&scores, &mask, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let generic =
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap()).unwrap();
        let want = generic.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in ours.iter().zip(&want) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        // Row 0 of each head sees 3 keys: the last two are exactly 0.
        assert_eq!((ours[3], ours[4]), (0.0, 0.0));
    }
}
