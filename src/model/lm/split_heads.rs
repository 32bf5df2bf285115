//! Rows of queries, keys or values split into heads on the CPU in one pass, reading them where they lie.

use candle_core::Result;

/// Rows (t, n·d) split into heads (n, t, d) on the CPU in one pass on every thread, reading the rows where they
/// lie: a contiguous tensor, or a column slice of one (the fused projection's queries, keys and values). candle
/// copied such a slice to reshape it and copied it again to transpose it, both on one thread: 1.6 % of
/// `attngraph perplexity`'s samples, while the other core waited.
pub(super) struct SplitHeads {
    pub(super) head_dim: usize,
}

impl candle_core::CustomOp1 for SplitHeads {
    fn name(&self) -> &'static str {
        "split-heads"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        use rayon::prelude::*;
        let d = self.head_dim;
        let (t, width) = layout.shape().dims2()?;
        let (candle_core::CpuStorage::F32(values), &[row_stride, 1]) = (storage, layout.stride())
        else {
            candle_core::bail!("split heads: f32 rows of side-by-side values, not {layout:?}");
        };
        if d == 0 || !width.is_multiple_of(d) {
            candle_core::bail!("split heads: rows of {width} values are not heads of {d}");
        }
        let start = layout.start_offset();
        // Row r's values are start + r·row_stride .. + width; the last row's end must lie in the storage.
        let end = match t.checked_sub(1) {
            None => Some(start),
            Some(last) => last
                .checked_mul(row_stride)
                .and_then(|v| v.checked_add(start))
                .and_then(|v| v.checked_add(width)),
        };
        if end.is_none_or(|end| end > values.len()) {
            candle_core::bail!(
                "split heads: {t} rows of {width} at {layout:?} go past {} values",
                values.len()
            );
        }
        let n = width / d;
        // As many values as the t rows of width read (inside the storage, checked above).
        let mut heads = vec![0.0f32; t * width];
        // Head h's t rows of d, each from its place in row r (all inside `values`, checked above).
        heads
            .par_chunks_mut((t * d).max(1))
            .enumerate()
            .for_each(|(h, head)| {
                for (r, dst) in head.chunks_exact_mut(d).enumerate() {
                    let at = start + r * row_stride + h * d;
                    dst.copy_from_slice(&values[at..at + d]);
                }
            });
        Ok((
            candle_core::CpuStorage::F32(heads),
            candle_core::Shape::from((n, t, d)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::SplitHeads;
    use candle_core::{Device, IndexOp, Tensor};

    /// Heads split in place equal candle's reshape and transpose, for contiguous rows and for the fused
    /// projection's column slices; rows that are not whole heads, or not f32 side by side, are an error.
    #[test]
    fn split_heads_equals_reshape_and_transpose() {
        let dev = Device::Cpu;
        let (t, n, d) = (7, 3, 4);
        let values: Vec<f32> = (0..t * 3 * n * d).map(|i| i as f32 * 0.5 - 3.0).collect();
        let qkv = Tensor::from_vec(values, (t, 3 * n * d), &dev).unwrap();
        let candle_split = |rows: &Tensor| {
            rows.reshape((t, n, d))
                .and_then(|x| x.transpose(0, 1))
                .and_then(|x| x.contiguous())
                .and_then(|x| x.flatten_all())
                .and_then(|x| x.to_vec1::<f32>())
                .unwrap()
        };
        let op = SplitHeads { head_dim: d };
        for part in 0..3 {
            let rows = qkv.narrow(1, part * n * d, n * d).unwrap();
            for input in [rows.clone(), rows.contiguous().unwrap()] {
                let heads = input.apply_op1_no_bwd(&op).unwrap();
                assert_eq!(heads.dims(), &[n, t, d]);
                let got: Vec<f32> = heads.flatten_all().unwrap().to_vec1().unwrap();
                assert_eq!(got, candle_split(&input), "part {part}");
            }
        }
        // One row, and rows that are all one row (a broadcast, stride 0): as candle reads them.
        let one = qkv
            .narrow(0, 2, 1)
            .unwrap()
            .narrow(1, n * d, n * d)
            .unwrap();
        let broadcast = one.broadcast_as((t, n * d)).unwrap();
        for (input, rows) in [(one, 1), (broadcast, t)] {
            let got: Vec<f32> = input
                .apply_op1_no_bwd(&op)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let want: Vec<f32> = input
                .contiguous()
                .and_then(|x| x.reshape((rows, n, d)))
                .and_then(|x| x.transpose(0, 1))
                .and_then(|x| x.contiguous())
                .and_then(|x| x.flatten_all())
                .and_then(|x| x.to_vec1())
                .unwrap();
            assert_eq!(got, want, "{rows} rows");
        }
        // No rows: no heads' values.
        let none = qkv.narrow(0, 0, 0).unwrap().narrow(1, 0, n * d).unwrap();
        assert_eq!(none.apply_op1_no_bwd(&op).unwrap().dims(), &[n, 0, d]);
        // Rows of 12 are not heads of 5; a transposed view's values are not side by side.
        assert!(qkv
            .narrow(1, 0, 12)
            .unwrap()
            .apply_op1_no_bwd(&SplitHeads { head_dim: 5 })
            .is_err());
        let transposed = qkv.i((.., 0..t)).unwrap().t().unwrap();
        assert!(transposed
            .apply_op1_no_bwd(&SplitHeads { head_dim: 7 })
            .is_err());
    }
}
