//! GELU (tanh form, `gelu_new`) on the CPU across all cores. candle's element-wise ops run on one thread, and
//! the MLP's activation was a tenth of an analysis; on other devices candle's own kernel is used.
//!
//! Each chunk runs through a loop compiled for AVX-512 or AVX2 where the CPU has it (`vexp`'s `dispatch!`):
//! the formula is branch-free arithmetic that the compiler puts in 16 or 8 lanes. Built for x86-64's baseline
//! it ran in 4 lanes with scalar steps between, 2.6 times PyTorch's time at 1,024 rows. The operations are
//! plain multiplies, adds and divisions (no fused multiply-add), so every instruction set gives the same bits.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::contiguous_f32;
use super::vexp::dispatch;

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as Hugging Face's `NewGELUActivation`.
#[inline(always)]
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
/// put straight into the exponent bits. NaN stays NaN through `gelu_tanh`, which multiplies by x at the end.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LOG2_E: f32 = std::f32::consts::LOG2_E;
    // ln 2 = LN_2_HI + LN_2_LO, the first with few enough bits that n·LN_2_HI is exact.
    const LN_2_HI: f32 = 0.693_359_4; // 0.693359375 = 355/512 exactly
    const LN_2_LO: f32 = -2.121_944_4e-4;
    // Adding 1.5·2^23 rounds to the nearest whole number (|t| < 2^22), which then sits in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    // Comparisons rather than `f32::clamp`, which keeps NaN by a branch the vectoriser does not take.
    let x = if x < -87.0 { -87.0 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    let t = x * LOG2_E + ROUND;
    let n = t - ROUND;
    // n is a whole number in [−126, 127]: t's bits less ROUND's are n itself (no float-to-int conversion,
    // which Rust saturates with scalar steps).
    let n_bits = (t.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let r = (x - n * LN_2_HI) - n * LN_2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // n + 127 is in [1, 254], a valid biased exponent.
    let two_n = f32::from_bits((n_bits.wrapping_add(127) as u32) << 23);
    p * two_n
}

/// The bodies, compiled once per instruction set by `dispatch!`.
mod body {
    #[inline(always)]
    pub fn gelu_into(src: &[f32], dst: &mut [f32]) {
        debug_assert_eq!(src.len(), dst.len(), "GELU of slices of two lengths");
        for (y, &x) in dst.iter_mut().zip(src) {
            *y = super::gelu_tanh(x);
        }
    }
}

dispatch!(
    /// GELU of each value of `src` into `dst`, of one length (`ParallelGelu`'s chunks of one tensor).
    gelu_into / gelu_into_avx512 / gelu_into_avx2 (src: &[f32], dst: &mut [f32]) -> ()
);

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
            .for_each(|(o, i)| gelu_into(i, o));
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// GELU of rows of `k` values (`h`, row-major) into `out`, rows starting `ld` ≥ k apart, for the packed kernel's
/// padded layout (`packed::padded_stride`); the last row ends at its k-th value. The values between rows are
/// whatever `out` held there (0 where it grew), never read. `out`'s memory is reused. An error unless `h` is
/// whole rows, k ≥ 1 (no model has an MLP of width 0) and ld ≥ k.
pub fn gelu_rows(h: &[f32], k: usize, ld: usize, out: &mut Vec<f32>) -> candle_core::Result<()> {
    let len = h
        .len()
        .checked_div(k)
        .filter(|m| m * k == h.len() && ld >= k)
        .and_then(|m| m.checked_mul(ld))
        .map(|whole| whole.saturating_sub(ld - k));
    let Some(len) = len else {
        candle_core::bail!(
            "GELU rows: {} values are not rows of {k} to lay {ld} apart",
            h.len()
        );
    };
    out.resize(len, 0.0);
    // Rows in chunks of about 8,192 values, as `ParallelGelu`; each row's GELU is `gelu_into` on its k values.
    let rows = (8192 / k).max(1);
    out.par_chunks_mut(rows * ld)
        .zip(h.par_chunks(rows * k))
        .for_each(|(o, i)| {
            for (dst, src) in o.chunks_mut(ld).zip(i.chunks(k)) {
                gelu_into(src, &mut dst[..k]);
            }
        });
    Ok(())
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

    /// The formula as it was written before the loop was vectorised: `f32::clamp` and a float-to-int cast.
    fn gelu_scalar(x: f32) -> f32 {
        let y = 0.797_884_6 * (x + 0.044_715 * x * x * x);
        let e = {
            let x = (2.0 * y).clamp(-87.0, 88.0);
            let n = (x * std::f32::consts::LOG2_E + 12_582_912.0) - 12_582_912.0;
            let r = (x - n * 0.693_359_4) - n * -2.121_944_4e-4;
            let p = 1.0
                + r * (1.0
                    + r * (0.5
                        + r * (1.0 / 6.0
                            + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
            p * f32::from_bits(((n as i32 + 127) as u32) << 23)
        };
        0.5 * x * (1.0 + (1.0 - 2.0 / (e + 1.0)))
    }

    /// Every value from −20 to 20 in steps of 1/1024, −0, the extremes, ±∞ and NaN.
    fn inputs() -> Vec<f32> {
        let mut xs: Vec<f32> = (-20_480..=20_480).map(|i| i as f32 / 1024.0).collect();
        xs.extend([
            -0.0,
            1e-30,
            -1e-30,
            1e30,
            -1e30,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        xs
    }

    #[test]
    fn every_instruction_set_gives_the_bits_of_the_scalar_formula() {
        let xs = inputs();
        // Bits for numbers; NaN as NaN (Rust promises no NaN's payload or sign).
        let bits = |ys: &[f32]| {
            ys.iter()
                .map(|y| if y.is_nan() { None } else { Some(y.to_bits()) })
                .collect::<Vec<_>>()
        };
        let want = bits(&xs.iter().map(|&x| gelu_scalar(x)).collect::<Vec<_>>());
        let mut ys = vec![0.0; xs.len()];
        gelu_into(&xs, &mut ys);
        assert_eq!(bits(&ys), want, "dispatched");
        body::gelu_into(&xs, &mut ys);
        assert_eq!(bits(&ys), want, "portable");
        #[cfg(target_arch = "x86_64")]
        {
            type Version = unsafe fn(&[f32], &mut [f32]);
            let compiled: [(&str, bool, Version); 2] = [
                (
                    "avx512f",
                    std::arch::is_x86_feature_detected!("avx512f"),
                    gelu_into_avx512,
                ),
                (
                    "avx2",
                    std::arch::is_x86_feature_detected!("avx2"),
                    gelu_into_avx2,
                ),
            ];
            for (feature, detected, version) in compiled {
                if !detected {
                    crate::skip_report::report(
                        "every_instruction_set_gives_the_bits_of_the_scalar_formula",
                        &format!("the {feature} version"),
                        &format!("the CPU has no {feature}"),
                    );
                    continue;
                }
                ys.fill(0.0);
                // SAFETY: the CPU has the one feature this version is compiled for (checked above).
                unsafe { version(&xs, &mut ys) };
                assert_eq!(bits(&ys), want, "{feature}");
            }
        }
        // NaN in, NaN out: never a plausible activation.
        assert!(ys.last().is_some_and(|y| y.is_nan()));
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
