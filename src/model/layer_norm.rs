//! LayerNorm with candle's exact bits, sixteen rows at a time.
//!
//! candle's CPU LayerNorm (`candle_nn::ops::layer_norm`) sums each row's values and their squares one after the
//! other in f32: two chains of 768 dependent additions for a GPT-2-small row, about 3,000 cycles, whatever the
//! vector width. Here the sixteen lanes of an AVX-512 register hold sixteen rows, each lane gathering its row's
//! values in order: every row's sums are the same additions in the same order as candle's, sixteen rows for the
//! price of one. The rest of the formula is candle's too, operation for operation, none fused: mean = Σx / n,
//! var = Σx² / n − mean², 1 / √(var + ε), then ((x − mean) · that) · γ + β.
//!
//! The residual add before each norm in the same pass was tried and not kept: whole analyses ran within the
//! spread, and its two halves in one buffer raised the peak RSS of 1,024 tokens from 977 to 1,009 MB.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::f32_rows;

/// Rows per register: sixteen lanes.
const LANES: usize = 16;

/// LayerNorm's learned scale and shift as plain values, for the rows-in-lanes kernel.
pub(crate) struct LayerNormWeights {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    eps: f32,
}

impl LayerNormWeights {
    /// From γ and β, on a CPU with AVX-512F where the width fits the kernel's gather offsets; `None` elsewhere
    /// (candle's op runs there), or for weights that are not f32 on the CPU.
    pub(crate) fn new(gamma: &Tensor, beta: &Tensor, eps: f32) -> Option<Self> {
        let on_cpu_f32 = |t: &Tensor| t.device().is_cpu() && t.dtype() == candle_core::DType::F32;
        if !super::isa::avx512() || !on_cpu_f32(gamma) || !on_cpu_f32(beta) {
            return None;
        }
        let (gamma, beta) = (gamma.to_vec1::<f32>().ok()?, beta.to_vec1::<f32>().ok()?);
        let fits = !gamma.is_empty()
            && gamma.len() == beta.len()
            && gamma.len() <= i32::MAX as usize / LANES;
        fits.then_some(Self { gamma, beta, eps })
    }

    /// Whether `x` can go through the kernel: contiguous f32 on the CPU with rows of this width (candle's ops
    /// take anything else as they did).
    fn takes(&self, x: &Tensor) -> bool {
        super::softmax::in_place_f32(x) && x.dims().last() == Some(&self.gamma.len())
    }
}

/// LayerNorm of `x` (…, c) over its last dimension: candle's `layer_norm` bit for bit, where
/// [`LayerNormWeights::new`] gave weights; `None` when `x` is not for this kernel (the caller runs candle's op).
pub(crate) fn layer_norm(w: &LayerNormWeights, x: &Tensor) -> Option<candle_core::Result<Tensor>> {
    w.takes(x).then(|| x.apply_op1_no_bwd(&Rows { w }))
}

/// The op: the norm of its input's rows.
struct Rows<'a> {
    w: &'a LayerNormWeights,
}

impl CustomOp1 for Rows<'_> {
    fn name(&self) -> &'static str {
        "layer-norm-rows"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_rows(storage, layout, "layer norm")?;
        let c = self.w.gamma.len();
        if x.width != c {
            candle_core::bail!(
                "layer norm: rows {:?} against a width of {c}",
                layout.dims()
            );
        }
        let mut out = vec![0.0f32; x.values.len()];
        let group = LANES * c;
        x.values
            .par_chunks(group)
            .zip(out.par_chunks_mut(group))
            .for_each(|(x, norm)| norm_group(self.w, x, norm));
        Ok((CpuStorage::F32(out), Shape::from(layout.dims())))
    }
}

/// Up to [`LANES`] rows of `x` normed into `out` (as long as `x`, whole rows of the weights' width).
fn norm_group(w: &LayerNormWeights, x: &[f32], out: &mut [f32]) {
    let c = w.gamma.len();
    assert!(
        out.len() == x.len() && x.len().is_multiple_of(c) && x.len() <= LANES * c,
        "layer norm: a group of {} values for rows of {c}",
        x.len()
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `LayerNormWeights` exist only where AVX-512F was detected, with 1 ≤ c ≤ i32::MAX / 16 and β as
    // long as γ; the assertion above gives whole rows, at most sixteen, in `x` and `out` alike.
    unsafe {
        norm_group_avx512(x, c, &w.gamma, &w.beta, w.eps, out)
    }
}

/// # Safety
/// AVX-512F is available; `x` and `out` hold the same whole number (≤ 16) of rows of `c` values, 1 ≤ c ≤
/// i32::MAX / 16, and `gamma` and `beta` hold `c` values each.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn norm_group_avx512(
    x: &[f32],
    c: usize,
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let rows = x.len() / c;
    let live: __mmask16 = ((1u32 << rows) - 1) as __mmask16;
    // Lane r reads row r: offsets r·c, which fit in i32 (c ≤ i32::MAX / 16).
    let offsets = _mm512_mullo_epi32(
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
        _mm512_set1_epi32(c as i32),
    );
    let (mut sum, mut sum2) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    for i in 0..c {
        // Lanes past the rows are masked: they read nothing. Lane r reads x[r·c + i], inside `x` for r < rows.
        let v =
            _mm512_mask_i32gather_ps::<4>(_mm512_setzero_ps(), live, offsets, x.as_ptr().add(i));
        sum = _mm512_add_ps(sum, v);
        sum2 = _mm512_add_ps(sum2, _mm512_mul_ps(v, v));
    }
    let n = _mm512_set1_ps(c as f32);
    let mean = _mm512_div_ps(sum, n);
    let var = _mm512_sub_ps(_mm512_div_ps(sum2, n), _mm512_mul_ps(mean, mean));
    let inv = _mm512_div_ps(
        _mm512_set1_ps(1.0),
        _mm512_sqrt_ps(_mm512_add_ps(var, _mm512_set1_ps(eps))),
    );
    let (mut means, mut invs) = ([0.0f32; LANES], [0.0f32; LANES]);
    _mm512_storeu_ps(means.as_mut_ptr(), mean);
    _mm512_storeu_ps(invs.as_mut_ptr(), inv);
    for ((row, dst), (&m, &s)) in x
        .chunks_exact(c)
        .zip(out.chunks_exact_mut(c))
        .zip(means.iter().zip(&invs))
    {
        let (m, s) = (_mm512_set1_ps(m), _mm512_set1_ps(s));
        let mut j = 0;
        while j < c {
            let k: __mmask16 = if c - j >= LANES {
                0xffff
            } else {
                ((1u32 << (c - j)) - 1) as __mmask16
            };
            // j < c, and the mask keeps each access to the c − j values left in `row`, `dst`, γ and β.
            let v = _mm512_maskz_loadu_ps(k, row.as_ptr().add(j));
            let g = _mm512_maskz_loadu_ps(k, gamma.as_ptr().add(j));
            let b = _mm512_maskz_loadu_ps(k, beta.as_ptr().add(j));
            let d = _mm512_add_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_sub_ps(v, m), s), g), b);
            _mm512_mask_storeu_ps(dst.as_mut_ptr().add(j), k, d);
            j += LANES;
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn norm_group_avx512(_: &[f32], _: usize, _: &[f32], _: &[f32], _: f32, _: &mut [f32]) {
    unreachable!("LayerNormWeights are made only on x86-64 CPUs with AVX-512F")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::bits;
    use candle_core::Device;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        // A spread of magnitudes and signs, with rows far from zero mean, where the formula loses the most bits.
        (0..n)
            .map(|i| {
                let h = (i as u32)
                    .wrapping_mul(2_654_435_761)
                    .wrapping_add(seed.wrapping_mul(40_503))
                    >> 8;
                (h % 20_000) as f32 / 1_000.0 - 7.0 + (i % 5) as f32 * 0.37
            })
            .collect()
    }

    /// The kernel's weights (ε 10⁻⁵), or `None` with the skip said on the test output for `test` where this CPU
    /// has no AVX-512F.
    fn weights_or_skip(test: &str, gamma: &Tensor, beta: &Tensor) -> Option<LayerNormWeights> {
        let w = LayerNormWeights::new(gamma, beta, 1e-5);
        if w.is_none() {
            crate::skip_report::report(
                &format!("layer_norm::{test}"),
                "the rows-in-lanes LayerNorm",
                "this CPU has no AVX-512F, or ATTNGRAPH_ISA is set below it",
            );
        }
        w
    }

    #[test]
    fn equals_candles_layer_norm_bit_for_bit() {
        let dev = Device::Cpu;
        for c in [1, 7, 16, 20, 768] {
            let gamma = Tensor::from_vec(values(c, 1), c, &dev).unwrap();
            let beta = Tensor::from_vec(values(c, 2), c, &dev).unwrap();
            let Some(w) = weights_or_skip("equals_candles_layer_norm_bit_for_bit", &gamma, &beta)
            else {
                return;
            };
            for rows in [1, 5, 16, 17, 33, 64] {
                let x =
                    Tensor::from_vec(values(rows * c, 3 + rows as u32), (rows, c), &dev).unwrap();
                let y = Tensor::from_vec(values(rows * c, 99), (rows, c), &dev).unwrap();
                let want = candle_nn::ops::layer_norm(&x, &gamma, &beta, 1e-5).unwrap();
                let got = layer_norm(&w, &x).expect("f32 rows on the CPU").unwrap();
                assert_eq!(bits(&got), bits(&want), "{rows} rows of {c}");
                // The model passes views that start inside a larger buffer: rows 1.. of a stacked tensor.
                let stacked = Tensor::cat(&[&y, &x], 0).unwrap();
                let view = stacked.narrow(0, rows, rows).unwrap();
                let from_view = layer_norm(&w, &view).expect("a contiguous view").unwrap();
                assert_eq!(
                    bits(&from_view),
                    bits(&want),
                    "a view at an offset, {rows} rows of {c}"
                );
                assert_eq!(from_view.dims(), &[rows, c]);
            }
        }
    }

    #[test]
    fn inputs_the_kernel_does_not_take_are_left_to_candle() {
        let dev = Device::Cpu;
        let gamma = Tensor::ones(8, candle_core::DType::F32, &dev).unwrap();
        let beta = Tensor::zeros(8, candle_core::DType::F32, &dev).unwrap();
        let Some(w) = weights_or_skip(
            "inputs_the_kernel_does_not_take_are_left_to_candle",
            &gamma,
            &beta,
        ) else {
            return;
        };
        let wide = Tensor::zeros((2, 9), candle_core::DType::F32, &dev).unwrap();
        assert!(layer_norm(&w, &wide).is_none());
        let half = Tensor::zeros((2, 8), candle_core::DType::F16, &dev).unwrap();
        assert!(layer_norm(&w, &half).is_none());
        // A transposed (not contiguous) input goes to candle's op, as before.
        let square = Tensor::zeros((8, 8), candle_core::DType::F32, &dev)
            .unwrap()
            .t()
            .unwrap();
        assert!(layer_norm(&w, &square).is_none());
    }
}
