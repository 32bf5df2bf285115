//! The residual stream's adds on every thread.
//!
//! candle adds two tensors on the calling thread. The stream of a 1,024-token text is 3 MB a tensor, so each of a
//! block's two adds reads 6 MB and writes 3 MB from beyond the L2 cache at what one core's loads reach: about 1
//! ms each, 24 ms of a 1,024-token analysis of GPT-2 small (a phase timer, Intel Xeon, family 6 model 167), while
//! the other core waited. Here the rows are shared among rayon's threads; each value is the same single f32
//! addition candle makes, so the bits are candle's.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::contiguous_f32;

/// Values per task at least: rayon halves the work only while each half keeps this many, so a stream shorter than
/// 131,072 values (171 tokens of GPT-2 small) stays on the calling thread, as candle's add did.
const CHUNK: usize = 64 * 1024;

/// `a + b` for tensors of one shape: on every thread for contiguous f32 tensors on the CPU, else candle's add.
pub(crate) fn add(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    let shared = |t: &Tensor| {
        t.device().is_cpu() && t.dtype() == candle_core::DType::F32 && t.is_contiguous()
    };
    if a.dims() == b.dims() && shared(a) && shared(b) {
        return a.apply_op2_no_bwd(b, &ParallelAdd);
    }
    a + b
}

struct ParallelAdd;

impl CustomOp2 for ParallelAdd {
    fn name(&self) -> &'static str {
        "residual-add"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let a = contiguous_f32(s1, l1, "residual add")?;
        let b = contiguous_f32(s2, l2, "residual add")?;
        if l1.dims() != l2.dims() || a.len() != b.len() {
            candle_core::bail!(
                "residual add: shapes {:?} and {:?} differ",
                l1.dims(),
                l2.dims()
            );
        }
        let mut sum = Vec::new();
        a.par_iter()
            .zip(b)
            .with_min_len(CHUNK)
            .map(|(x, y)| x + y)
            .collect_into_vec(&mut sum);
        Ok((CpuStorage::F32(sum), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::add;
    use crate::model::test_values::test_values as values;
    use candle_core::{Device, Tensor};

    #[test]
    fn the_bits_of_candles_add_at_every_size() {
        let dev = Device::Cpu;
        // On the calling thread, in halves, in quarters, and empty.
        for (rows, width) in [(1, 7), (64, 768), (200, 768), (4, 65_536), (0, 768)] {
            let a = Tensor::from_vec(values(rows * width, 1), (rows, width), &dev).unwrap();
            let b = Tensor::from_vec(values(rows * width, 2), (rows, width), &dev).unwrap();
            let want: Vec<u32> = (&a + &b)
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            let sum = add(&a, &b).unwrap();
            assert_eq!(sum.dims(), &[rows, width]);
            let got: Vec<u32> = sum
                .flatten_all()
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(got, want, "({rows}, {width})");
        }
    }

    #[test]
    fn views_and_other_shapes_give_candles_values() {
        let dev = Device::Cpu;
        let a = Tensor::from_vec(values(6 * 4, 3), (6, 4), &dev).unwrap();
        let b = Tensor::from_vec(values(4 * 6, 4), (4, 6), &dev).unwrap();
        // Rows of a larger tensor, contiguous from an offset: read where they lie.
        let big = Tensor::from_vec(values(10 * 4, 5), (10, 4), &dev).unwrap();
        let rows = big.narrow(0, 3, 6).unwrap();
        let want = (&rows + &a).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(add(&rows, &a).unwrap().to_vec2::<f32>().unwrap(), want);
        // A transposed view: not contiguous, added by candle, the same values.
        let bt = b.t().unwrap();
        let want = (&a + &bt).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(add(&a, &bt).unwrap().to_vec2::<f32>().unwrap(), want);
        // Shapes that differ are candle's error, not a guess.
        assert!(add(&a, &b).is_err());
    }
}
