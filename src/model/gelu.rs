//! GELU (tanh form, `gelu_new`) on the CPU across all cores. candle's element-wise ops run on one thread, and
//! the MLP's activation was a tenth of an analysis; on other devices candle's own kernel is used.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::contiguous_f32;

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as Hugging Face's `NewGELUActivation`.
#[inline]
fn gelu_tanh(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let y = SQRT_2_OVER_PI * (x + 0.044_715 * x * x * x);
    // tanh(y) = 1 − 2/(e^{2y} + 1): one exp instead of libm's tanhf (expm1f inside), exact at the extremes
    // (e^{2y} → ∞ gives 1, → 0 gives −1).
    let tanh = 1.0 - 2.0 / (exp(2.0 * y) + 1.0);
    0.5 * x * (1.0 + tanh)
}

/// e^x for f32 in plain arithmetic, with no call and no branch, so that a loop over it is vectorised (libm's
/// `expf` is a call per value). x is clamped to [−87, 88], where e^x is a normal f32; GELU needs no more (past
/// that its tanh is ±1 already). e^x = 2^n · e^r with n = round(x·log2 e) and r = x − n·ln 2 (ln 2 in two parts,
/// so that r keeps its low bits; |r| ≤ 0.35), e^r by its degree-6 Taylor polynomial (error below 2·10⁻⁸), 2^n
/// put straight into the exponent bits.
#[inline]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN_2_HI + LN_2_LO, the first with few enough bits that n·LN_2_HI is exact.
    const LN_2_HI: f32 = 0.693_359_4; // 0.693359375 = 355/512 exactly
    const LN_2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5·2^23 rounds to the nearest whole number (|t| < 2^22), without a libm call.
    const ROUND: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2_E + ROUND) - ROUND;
    let r = (x - n * LN_2_HI) - n * LN_2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n is a whole number in [−126, 127] here, so n + 127 is a valid biased exponent.
    let two_n = f32::from_bits(((n as i32 + 127) as u32) << 23);
    p * two_n
}

struct ParallelGelu;

impl CustomOp1 for ParallelGelu {
    fn name(&self) -> &'static str {
        "parallel-gelu-tanh"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, "parallel GELU")?;

        let mut out = vec![0.0f32; input.len()];
        out.par_chunks_mut(8192)
            .zip(input.par_chunks(8192))
            .for_each(|(o, i)| {
                for (o, &x) in o.iter_mut().zip(i) {
                    *o = gelu_tanh(x);
                }
            });
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// GELU of `x`: in parallel on the CPU for contiguous f32, else candle's `gelu`.
pub fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && x.is_contiguous() {
        x.apply_op1_no_bwd(&ParallelGelu)
    } else {
        x.gelu()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_tanh_formula() {
        for i in -400..=400 {
            let x = i as f32 / 40.0;
            let want = 0.5
                * f64::from(x)
                * (1.0
                    + ((2.0 / std::f64::consts::PI).sqrt()
                        * (f64::from(x) + 0.044715 * f64::from(x).powi(3)))
                    .tanh());
            assert!((f64::from(gelu_tanh(x)) - want).abs() < 2e-6, "x = {x}");
        }
        assert_eq!(gelu_tanh(100.0), 100.0);
        assert_eq!(gelu_tanh(-100.0), 0.0);
    }

    #[test]
    fn exp_is_within_a_few_ulps_of_f64() {
        for i in -8700..=8800 {
            let x = i as f32 / 100.0;
            let want = f64::from(x).exp();
            let got = f64::from(exp(x));
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "x = {x}: {got} vs {want}"
            );
        }
        // Past the clamp: the ends of the normal range, not infinities or denormals.
        assert!(exp(1000.0).is_finite() && exp(-1000.0) > 0.0);
    }
}
