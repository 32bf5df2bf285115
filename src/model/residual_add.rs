//! The residual stream's adds on every thread.
//!
//! candle adds two tensors on the calling thread. The stream of a 1,024-token text is 3 MB a tensor, so each of a
//! block's two adds reads 6 MB and writes 3 MB from beyond the L2 cache at what one core's loads reach: about 1
//! ms each, 24 ms of a 1,024-token analysis of GPT-2 small (a phase timer, Intel Xeon, family 6 model 167), while
//! the other core waited. Here the rows are shared among rayon's threads; each value is the same single f32
//! addition candle makes, so the bits are candle's.

use candle_core::Tensor;
use rayon::prelude::*;

use super::softmax::{in_place_f32, with_values};

/// Values per task at least: rayon halves the work only while each half keeps this many, so a stream shorter than
/// 131,072 values (171 tokens of GPT-2 small) stays on the calling thread, as candle's add did.
const CHUNK: usize = 64 * 1024;

/// `a + b` for tensors of one shape: on every thread for contiguous f32 tensors on the CPU, read where they lie;
/// else candle's add (and its error for shapes that differ).
pub(crate) fn add(a: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    if a.dims() != b.dims() || !in_place_f32(a) || !in_place_f32(b) {
        return a + b;
    }
    // One shape, so the two slices have one length and the zip pairs every value.
    let sum = with_values(a, |a| {
        with_values(b, |b| {
            let mut sum = Vec::new();
            a.par_iter()
                .zip(b)
                .with_min_len(CHUNK)
                .map(|(x, y)| x + y)
                .collect_into_vec(&mut sum);
            sum
        })
    })??;
    Tensor::from_vec(sum, a.shape().clone(), a.device())
}

#[cfg(test)]
mod tests {
    use super::add;
    use crate::model::test_values::{bits, test_values as values};
    use candle_core::{Device, Tensor};

    #[test]
    fn the_bits_of_candles_add_at_every_size() {
        let dev = Device::Cpu;
        // On the calling thread, in halves, in quarters, and empty.
        for (rows, width) in [(1, 7), (64, 768), (200, 768), (4, 65_536), (0, 768)] {
            let a = Tensor::from_vec(values(rows * width, 1), (rows, width), &dev).unwrap();
            let b = Tensor::from_vec(values(rows * width, 2), (rows, width), &dev).unwrap();
            let sum = add(&a, &b).unwrap();
            assert_eq!(sum.dims(), &[rows, width]);
            assert_eq!(bits(&sum), bits(&(&a + &b).unwrap()), "({rows}, {width})");
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
