//! Exponentials over rows of scores, sixteen at a time. Every softmax the model takes (attention rows, the LM
//! head's log-sum-exp) needs one e^x a score: 127 million for a 1,024-token GPT-2 analysis, which glibc's
//! `expf` computes one call at a time. Here each lane computes Cephes' single-precision exponential
//! (`cephes/single/expf.c`: x = n·ln 2 + r, e^r by a degree-7 polynomial, within 2 ulp of e^x), the rows
//! run through 16 lanes with sums kept per lane, and the compiler turns the lane loops into AVX-512 or AVX2
//! instructions on the CPUs that have them.
//!
//! The operations are plain multiplies and adds (no fused multiply-add) and the lanes are summed in a fixed
//! order, so every instruction set gives the same bits: the AVX-512, AVX2 and portable versions differ only in
//! how many lanes one instruction holds. Each function takes the row's maximum itself and subtracts it, so every
//! exponent is ≤ 0, the only range the polynomial and its scaling are built for; `moments_shifted` is given the
//! maximum (by the read of the row that found it) and answers NaN if an exponent comes out above 0.

/// Lanes of the sums: 16 f32 fill one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// ln 2 split so that n·LN2_HI is exact for |n| ≤ 2^9 (Cody and Waite): LN2_HI is 355/512 exactly.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding 1.5·2^23 rounds an f32 of magnitude under 2^22 to the nearest integer, which then sits in the low
/// mantissa bits.
const ROUNDER: f32 = 12_582_912.0;
/// The lowest exponent taken: above it n = round(x·log₂e) ≥ −126, so 2^n is a normal number. Below it the
/// exponential is taken as exactly 0 (the largest such value, about 1.2·10⁻³⁸, is far below what a sum that
/// starts at e^0 = 1 can hold).
const LOWEST: f32 = -87.33;

/// e^x for x ≤ 0 (a score less the row's maximum); NaN stays NaN.
#[inline(always)]
fn exp_nonpositive(x: f32) -> f32 {
    // `x < LOWEST` is false for NaN, which then runs through the arithmetic and comes out NaN.
    let clamped = if x < LOWEST { LOWEST } else { x };
    let t = clamped * std::f32::consts::LOG2_E + ROUNDER;
    let n = t - ROUNDER;
    // n is an integer in [−126, 0]: t's bits less ROUNDER's are n itself.
    let n_bits = (t.to_bits() as i32).wrapping_sub(ROUNDER.to_bits() as i32);
    let r = clamped - n * LN2_HI - n * LN2_LO;
    let r2 = r * r;
    // Cephes' coefficients; its 5.0000001201e-1 is 0.5 in f32.
    let p = ((((((1.987_569_2e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2)
        * r
        + 1.666_666_5e-1)
        * r
        + 0.5)
        * r2)
        + r
        + 1.0;
    // 2^n built from its exponent bits; n + 127 is in [1, 127], a normal number.
    let scale = f32::from_bits((n_bits.wrapping_add(127) as u32) << 23);
    if x < LOWEST {
        0.0
    } else {
        p * scale
    }
}

/// Sums 16 lanes in a fixed order: halves added pairwise, so the result does not depend on the vector width.
#[inline(always)]
fn lane_sum<T: Copy + std::ops::Add<Output = T>>(mut acc: [T; LANES]) -> T {
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            // i + width < 2·width ≤ LANES.
            acc[i] = acc[i] + acc[i + width];
        }
    }
    acc[0]
}

/// The bodies, compiled once per instruction set by `dispatch!`.
mod body {
    use super::{exp_nonpositive, lane_sum, Moments, LANES};

    /// The largest value (NaN ignored, as `f32::max` does; −∞ for an empty row).
    #[inline(always)]
    pub fn max(row: &[f32]) -> f32 {
        let mut acc = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (a, &x) in acc.iter_mut().zip(chunk) {
                *a = a.max(x);
            }
        }
        for (a, &x) in acc.iter_mut().zip(chunks.remainder()) {
            *a = a.max(x);
        }
        // max ignores NaN and is associative otherwise: the lanes give the row's maximum as a scan would.
        acc.into_iter().fold(f32::NEG_INFINITY, f32::max)
    }

    #[inline(always)]
    pub fn paired_exp(src: &[f32], dst: &mut [f32]) -> f32 {
        let shift = max(src);
        let mut acc = [0.0f32; LANES];
        let mut s = src.chunks_exact(LANES);
        let mut d = dst.chunks_exact_mut(LANES);
        for (sc, dc) in (&mut s).zip(&mut d) {
            for ((a, &x), y) in acc.iter_mut().zip(sc).zip(dc) {
                *y = exp_nonpositive(x - shift);
                *a += *y;
            }
        }
        // src and dst have one length (the caller checked), so the remainders are the same positions.
        for ((a, &x), y) in acc.iter_mut().zip(s.remainder()).zip(d.into_remainder()) {
            *y = exp_nonpositive(x - shift);
            *a += *y;
        }
        lane_sum(acc)
    }

    #[inline(always)]
    pub fn exp_in_place(row: &mut [f32]) -> f32 {
        let shift = max(row);
        let mut acc = [0.0f32; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (a, y) in acc.iter_mut().zip(chunk) {
                *y = exp_nonpositive(*y - shift);
                *a += *y;
            }
        }
        for (a, y) in acc.iter_mut().zip(chunks.into_remainder()) {
            *y = exp_nonpositive(*y - shift);
            *a += *y;
        }
        lane_sum(acc)
    }

    #[inline(always)]
    pub fn log_sum_exp(row: &[f32]) -> f64 {
        let shift = max(row);
        let mut sum = [0.0f64; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (s, &x) in sum.iter_mut().zip(chunk) {
                *s += f64::from(exp_nonpositive(x - shift));
            }
        }
        for (s, &x) in sum.iter_mut().zip(chunks.remainder()) {
            *s += f64::from(exp_nonpositive(x - shift));
        }
        f64::from(shift) + lane_sum(sum).ln()
    }

    #[inline(always)]
    pub fn moments_shifted(row: &[f32], shift: f32) -> Moments {
        let mut sum = [0.0f64; LANES];
        let mut weighted = [0.0f64; LANES];
        // The largest exponent met: above 0 only if `shift` was below the row's maximum.
        let mut highest = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (((s, w), h), &x) in sum
                .iter_mut()
                .zip(weighted.iter_mut())
                .zip(highest.iter_mut())
                .zip(chunk)
            {
                let d = x - shift;
                *h = h.max(d);
                let e = f64::from(exp_nonpositive(d));
                *s += e;
                *w += e * f64::from(d);
            }
        }
        for (((s, w), h), &x) in sum
            .iter_mut()
            .zip(weighted.iter_mut())
            .zip(highest.iter_mut())
            .zip(chunks.remainder())
        {
            let d = x - shift;
            *h = h.max(d);
            let e = f64::from(exp_nonpositive(d));
            *s += e;
            *w += e * f64::from(d);
        }
        if highest.into_iter().fold(f32::NEG_INFINITY, f32::max) > 0.0 {
            // Not the row's maximum: the exponentials above were outside the polynomial's range. A caller's
            // bug, which must not come out as a plausible number.
            return Moments {
                log_sum_exp: f64::NAN,
                entropy_nats: f64::NAN,
            };
        }
        let (sum, weighted) = (lane_sum(sum), lane_sum(weighted));
        Moments {
            log_sum_exp: f64::from(shift) + sum.ln(),
            entropy_nats: sum.ln() - weighted / sum,
        }
    }
}

/// What the LM head's statistics need of a row of logits.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Moments {
    /// ln Σ e^x: a token's log-probability is its logit less this.
    pub log_sum_exp: f64,
    /// −Σ p ln p of softmax(row), in nats.
    pub entropy_nats: f64,
}

/// Defines `$name`, which runs `body::$name` compiled for AVX-512 (`$avx512`) or AVX2 (`$avx2`) where the
/// CPU has it, and the portable build elsewhere.
macro_rules! dispatch {
    ($(#[$doc:meta])* $vis:vis $name:ident / $avx512:ident / $avx2:ident ($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f")]
        fn $avx512($($arg: $ty),*) -> $ret {
            body::$name($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2")]
        fn $avx2($($arg: $ty),*) -> $ret {
            body::$name($($arg),*)
        }

        $(#[$doc])*
        $vis fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                if crate::model::isa::avx512() {
                    // SAFETY: the CPU has AVX-512F, the only feature the function is compiled for.
                    return unsafe { $avx512($($arg),*) };
                }
                if crate::model::isa::avx2() {
                    // SAFETY: the CPU has AVX2, the only feature the function is compiled for.
                    return unsafe { $avx2($($arg),*) };
                }
            }
            body::$name($($arg),*)
        }
    };
}

// gelu.rs compiles its loop the same way.
pub(crate) use dispatch;

dispatch!(
    /// Writes e^(x − m) for each x of `src` into `dst`, where m is `src`'s maximum, and returns their sum: a
    /// softmax before its division. NaN in, NaN out (and a NaN sum); so is a row holding +∞ or only −∞.
    paired_exp / paired_exp_avx512 / paired_exp_avx2 (src: &[f32], dst: &mut [f32]) -> f32
);

/// [`paired_exp`] for rows of one length.
///
/// # Panics
/// If `src` and `dst` differ in length, as `copy_from_slice` does: a caller's bug, not a value to guess.
pub fn exp_into(src: &[f32], dst: &mut [f32]) -> f32 {
    assert_eq!(src.len(), dst.len(), "exp_into: rows of different lengths");
    paired_exp(src, dst)
}

dispatch!(
    /// Replaces each x of `row` by e^(x − m), m the row's maximum, and returns their sum.
    pub exp_in_place / exp_in_place_avx512 / exp_in_place_avx2 (row: &mut [f32]) -> f32
);

dispatch!(
    /// ln Σ e^x over `row`, as m + ln Σ e^(x − m) with m the row's maximum, exponentials in f32 and the sum in
    /// f64.
    pub log_sum_exp / log_sum_exp_avx512 / log_sum_exp_avx2 (row: &[f32]) -> f64
);

dispatch!(
    /// The log-sum-exp of `row` and the entropy of its softmax, from S = Σ e^(x − m) and W = Σ e^(x − m)·(x − m)
    /// (exponentials in f32, sums in f64): ln S + m and ln S − W/S. `shift` must be m, `row`'s maximum, which
    /// [`super::row_scan::Scanned`] finds in its read of the row and passes; a shift below an entry of the row
    /// (an exponent above 0, outside what the polynomial is built for) gives NaN for both.
    pub(super) moments_shifted / moments_shifted_avx512 / moments_shifted_avx2 (row: &[f32], shift: f32) -> Moments
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The moments of a row, its maximum read on its own.
    fn moments(row: &[f32]) -> Moments {
        moments_shifted(row, body::max(row))
    }

    /// Values from −100 to 0 on a grid that hits every binade of the result, plus the edges.
    fn grid() -> Vec<f32> {
        let mut xs: Vec<f32> = (0..=200_000)
            .map(|i| -100.0 * i as f32 / 200_000.0)
            .collect();
        xs.extend([
            0.0,
            -0.0,
            -1e-30,
            -0.346_573_6,
            -0.346_573_6 * 3.0,
            LOWEST,
            -87.0,
            -103.0,
        ]);
        xs
    }

    #[test]
    fn within_two_ulp_of_the_correctly_rounded_exponential() {
        for x in grid() {
            // f64's exp, rounded once to f32, is the correctly rounded value bar a tie.
            let want = f64::from(x).exp() as f32;
            let got = exp_nonpositive(x);
            if x < LOWEST {
                assert_eq!(got, 0.0, "e^{x}");
                continue;
            }
            // The smaller of the two neighbouring gaps (below a power of two the one under is half the other).
            let up = f32::from_bits(want.to_bits() + 1) - want;
            let down = want - f32::from_bits(want.to_bits() - 1);
            assert!(
                (got - want).abs() <= 2.0 * up.min(down),
                "e^{x}: {got} vs {want}"
            );
        }
    }

    #[test]
    fn nan_and_infinities_stay_nan_never_a_plausible_number() {
        assert!(exp_nonpositive(f32::NAN).is_nan());
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        let bad = [
            vec![0.0, f32::NAN, -1.0],
            vec![0.0, f32::INFINITY, -1.0],
            vec![f32::NEG_INFINITY; 3],
        ];
        for row in bad {
            assert!(exp_in_place(&mut row.clone()).is_nan(), "{row:?}");
            assert!(log_sum_exp(&row).is_nan(), "{row:?}");
            assert!(moments(&row).entropy_nats.is_nan(), "{row:?}");
        }
        // A masked score (−∞) beside finite ones is an exact 0.
        let mut row = [0.0, f32::NEG_INFINITY];
        assert_eq!(exp_in_place(&mut row), 1.0);
        assert_eq!(row, [1.0, 0.0]);
    }

    /// A row of every length from 0 to 40 (partial chunks included), its values spread over [−20, 20].
    fn rows() -> impl Iterator<Item = Vec<f32>> {
        (0..=40).map(|n| {
            (0..n)
                .map(|i| ((i * 7919 % 81) as f32 - 40.0) / 2.0)
                .collect()
        })
    }

    /// A compiled version: its name and its in-place exponentials, log-sum-exp and moments.
    type Version = (
        &'static str,
        fn(&mut [f32]) -> f32,
        fn(&[f32]) -> f64,
        fn(&[f32]) -> Moments,
    );

    /// The compiled versions this CPU can run, the dispatched one first; says by name which it cannot (CI's CPU
    /// varies, so that is a report, not a failure).
    fn versions() -> Vec<Version> {
        #[allow(unused_mut)] // Off x86-64 the dispatched version is the only one.
        let mut versions: Vec<Version> = vec![("dispatched", exp_in_place, log_sum_exp, moments)];
        #[cfg(target_arch = "x86_64")]
        macro_rules! compiled {
            ($name:literal, $feature:tt, $in_place:ident, $lse:ident, $moments:ident) => {
                if std::arch::is_x86_feature_detected!($feature) {
                    versions.push((
                        $name,
                        // SAFETY: the CPU has the one feature each of the three is compiled for (checked above).
                        |r| unsafe { $in_place(r) },
                        // SAFETY: as above.
                        |r| unsafe { $lse(r) },
                        // SAFETY: as above.
                        |r| unsafe { $moments(r, body::max(r)) },
                    ));
                } else {
                    crate::skip_report::report(
                        "every_instruction_set_gives_the_portable_bits",
                        concat!("the ", $name, " version"),
                        concat!("the CPU has no ", $feature),
                    );
                }
            };
        }
        #[cfg(target_arch = "x86_64")]
        {
            compiled!(
                "avx512",
                "avx512f",
                exp_in_place_avx512,
                log_sum_exp_avx512,
                moments_shifted_avx512
            );
            compiled!(
                "avx2",
                "avx2",
                exp_in_place_avx2,
                log_sum_exp_avx2,
                moments_shifted_avx2
            );
        }
        versions
    }

    #[test]
    fn every_instruction_set_gives_the_portable_bits() {
        let versions = versions();
        for row in rows() {
            let mut want = row.clone();
            let sum = body::exp_in_place(&mut want);
            let lse = body::log_sum_exp(&row);
            let m = body::moments_shifted(&row, body::max(&row));
            let mut c = vec![0.0; row.len()];
            assert_eq!(exp_into(&row, &mut c).to_bits(), sum.to_bits());
            assert_eq!(c, want);
            for &(name, in_place, lse_of, moments_of) in &versions {
                let mut got = row.clone();
                assert_eq!(in_place(&mut got).to_bits(), sum.to_bits(), "{name}");
                assert_eq!(got, want, "{name}");
                assert_eq!(lse_of(&row).to_bits(), lse.to_bits(), "{name}");
                let g = moments_of(&row);
                assert_eq!(g.log_sum_exp.to_bits(), m.log_sum_exp.to_bits(), "{name}");
                assert_eq!(g.entropy_nats.to_bits(), m.entropy_nats.to_bits(), "{name}");
            }
        }
    }

    #[test]
    fn a_shift_below_the_maximum_is_nan_never_a_plausible_number() {
        let row = grid();
        let max = body::max(&row);
        for shift in [max - 1e-3, max - 1.0, -200.0] {
            for m in [
                moments_shifted(&row, shift),
                body::moments_shifted(&row, shift),
            ] {
                assert!(
                    m.log_sum_exp.is_nan() && m.entropy_nats.is_nan(),
                    "shift {shift}: {m:?}"
                );
            }
        }
        // The maximum itself, or a shift above it (every exponent below 0), gives numbers.
        assert!(moments_shifted(&row, max).log_sum_exp.is_finite());
        assert!(moments_shifted(&row, max + 1.0).log_sum_exp.is_finite());
    }

    #[test]
    fn softmax_sums_and_moments_match_f64() {
        for row in rows().filter(|r| !r.is_empty()) {
            let m = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            let es: Vec<f64> = row.iter().map(|&x| f64::from(x - m).exp()).collect();
            let s: f64 = es.iter().sum();
            let want_lse = f64::from(m) + s.ln();
            let want_entropy = -es.iter().map(|e| e / s * (e / s).ln()).sum::<f64>();
            let mut dst = vec![0.0; row.len()];
            let sum = exp_into(&row, &mut dst);
            assert!((f64::from(sum) - s).abs() <= 1e-6 * s, "{sum} vs {s}");
            for (d, e) in dst.iter().zip(&es) {
                assert!((f64::from(*d) - e).abs() <= 2.5e-7 * e, "{d} vs {e}");
            }
            assert!((log_sum_exp(&row) - want_lse).abs() <= 1e-6, "{row:?}");
            let got = moments(&row);
            assert!((got.log_sum_exp - want_lse).abs() <= 1e-6, "{row:?}");
            assert!((got.entropy_nats - want_entropy).abs() <= 1e-6, "{row:?}");
        }
    }

    #[test]
    #[should_panic(expected = "rows of different lengths")]
    fn rows_of_different_lengths_are_a_bug() {
        exp_into(&[0.0; 3], &mut [0.0; 4]);
    }
}
