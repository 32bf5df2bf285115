//! Exponentials over rows of scores, sixteen at a time. Every softmax the model takes (attention rows, the LM
//! head's log-sum-exp) needs one e^x a score: 126 million for a 1,024-token GPT-2 analysis, which glibc's
//! `expf` computes one call at a time. Here each lane computes Cephes' single-precision exponential
//! (`cephes/single/expf.c`: x = n·ln 2 + r, e^r by a degree-7 polynomial, within 2 ulp of e^x), the rows
//! run through 16 lanes with sums kept per lane, and the compiler turns the lane loops into AVX-512 or AVX2
//! instructions on the CPUs that have them.
//!
//! The operations are plain multiplies and adds (no fused multiply-add) and the lanes are summed in a fixed
//! order, so every instruction set gives the same bits: the AVX-512, AVX2 and portable versions differ only in
//! how many lanes one instruction holds.

/// Lanes of the sums: 16 f32 fill one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// ln 2 split so that n·LN2_HI is exact for |n| ≤ 2^9 (Cody and Waite): LN2_HI is 355/512 exactly.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// Adding 1.5·2^23 rounds an f32 of magnitude under 2^22 to the nearest integer, which then sits in the low
/// mantissa bits.
const ROUNDER: f32 = 12_582_912.0;
/// Below this e^x is under f32's smallest normal number; those exponentials are taken as exactly 0 (the largest
/// of them, 2^−126 ≈ 1.2·10⁻³⁸, is far below what a sum starting at e^0 = 1 can hold).
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
    use super::{exp_nonpositive, lane_sum, LANES};

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
    pub fn exp_into(src: &[f32], dst: &mut [f32], shift: f32) -> f32 {
        // Equal lengths, so that the two remainders are the same positions.
        let n = src.len().min(dst.len());
        let (src, dst) = (&src[..n], &mut dst[..n]);
        let mut acc = [0.0f32; LANES];
        let mut s = src.chunks_exact(LANES);
        let mut d = dst.chunks_exact_mut(LANES);
        for (sc, dc) in (&mut s).zip(&mut d) {
            for ((a, &x), y) in acc.iter_mut().zip(sc).zip(dc) {
                *y = exp_nonpositive(x - shift);
                *a += *y;
            }
        }
        for ((a, &x), y) in acc.iter_mut().zip(s.remainder()).zip(d.into_remainder()) {
            *y = exp_nonpositive(x - shift);
            *a += *y;
        }
        lane_sum(acc)
    }

    #[inline(always)]
    pub fn exp_in_place(row: &mut [f32], shift: f32) -> f32 {
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
    pub fn exp_sum(row: &[f32], shift: f32) -> f64 {
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
        lane_sum(sum)
    }

    #[inline(always)]
    pub fn moments(row: &[f32], shift: f32) -> (f64, f64) {
        let mut sum = [0.0f64; LANES];
        let mut weighted = [0.0f64; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for ((s, w), &x) in sum.iter_mut().zip(weighted.iter_mut()).zip(chunk) {
                let d = x - shift;
                let e = f64::from(exp_nonpositive(d));
                *s += e;
                *w += e * f64::from(d);
            }
        }
        for ((s, w), &x) in sum
            .iter_mut()
            .zip(weighted.iter_mut())
            .zip(chunks.remainder())
        {
            let d = x - shift;
            let e = f64::from(exp_nonpositive(d));
            *s += e;
            *w += e * f64::from(d);
        }
        (lane_sum(sum), lane_sum(weighted))
    }
}

/// Defines a public function that runs `body::$name` compiled for AVX-512 or AVX2 where the CPU has it.
macro_rules! dispatch {
    ($(#[$doc:meta])* $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                fn avx512($($arg: $ty),*) -> $ret {
                    body::$name($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) -> $ret {
                    body::$name($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has AVX-512F, the only feature `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, the only feature `avx2` is compiled for.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body::$name($($arg),*)
        }
    };
}

dispatch!(
    /// The largest value of `row` (NaN values ignored; −∞ for an empty row or one of NaN only), as
    /// `row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x))` gives it.
    max(row: &[f32]) -> f32
);

dispatch!(
    /// Writes e^(x − shift) for each x of `src` into `dst` (the shorter's length) and returns their sum. `shift`
    /// is at least every x (the row's maximum), so each exponent is ≤ 0.
    exp_into(src: &[f32], dst: &mut [f32], shift: f32) -> f32
);

dispatch!(
    /// Replaces each x of `row` by e^(x − shift) and returns their sum; `shift` is at least every x.
    exp_in_place(row: &mut [f32], shift: f32) -> f32
);

dispatch!(
    /// Σ e^(x − shift) over `row`, exponentials in f32 and the sum in f64; `shift` is at least every x.
    exp_sum(row: &[f32], shift: f32) -> f64
);

dispatch!(
    /// (S, W) = (Σ e^(x − shift), Σ e^(x − shift)·(x − shift)) over `row`, exponentials in f32 and sums in
    /// f64: ln S + shift is the row's log-sum-exp and ln S − W/S the entropy of its softmax, in nats.
    moments(row: &[f32], shift: f32) -> (f64, f64)
);

#[cfg(test)]
mod tests {
    use super::*;

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
            let ulp = f32::from_bits(want.to_bits() + 1) - want;
            assert!((got - want).abs() <= 2.0 * ulp, "e^{x}: {got} vs {want}");
        }
    }

    #[test]
    fn nan_and_minus_infinity() {
        assert!(exp_nonpositive(f32::NAN).is_nan());
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), 0.0);
        let row = [0.0, f32::NAN, -1.0];
        assert!(exp_in_place(&mut row.clone(), 0.0).is_nan());
        assert!(moments(&row, 0.0).0.is_nan());
        assert_eq!(max(&row), 0.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }

    /// A row of every length from 0 to 40 (partial chunks included), its values spread over [−20, 0].
    fn rows() -> impl Iterator<Item = Vec<f32>> {
        (0..=40).map(|n| (0..n).map(|i| -((i * 7919 % 41) as f32) / 2.0).collect())
    }

    #[test]
    fn every_version_gives_the_same_bits_as_the_portable_one() {
        for row in rows() {
            let m = body::max(&row);
            assert_eq!(max(&row).to_bits(), m.to_bits());
            let (mut a, mut b, mut c) = (row.clone(), row.clone(), vec![0.0; row.len()]);
            let sum = body::exp_in_place(&mut a, m);
            assert_eq!(exp_in_place(&mut b, m).to_bits(), sum.to_bits());
            assert_eq!(exp_into(&row, &mut c, m).to_bits(), sum.to_bits());
            assert_eq!(a, b);
            assert_eq!(a, c);
            let (s, w) = body::moments(&row, m);
            let (s2, w2) = moments(&row, m);
            assert_eq!((s.to_bits(), w.to_bits()), (s2.to_bits(), w2.to_bits()));
            assert_eq!(exp_sum(&row, m).to_bits(), s.to_bits());
        }
    }

    #[test]
    fn sums_and_moments_match_f64() {
        for row in rows().filter(|r| !r.is_empty()) {
            let m = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            assert_eq!(max(&row), m);
            let es: Vec<f64> = row.iter().map(|&x| f64::from(x - m).exp()).collect();
            let (want_s, want_w) = (
                es.iter().sum::<f64>(),
                es.iter()
                    .zip(&row)
                    .map(|(e, &x)| e * f64::from(x - m))
                    .sum::<f64>(),
            );
            let mut dst = vec![0.0; row.len()];
            let sum = exp_into(&row, &mut dst, m);
            assert!(
                (f64::from(sum) - want_s).abs() <= 1e-6 * want_s,
                "{sum} vs {want_s}"
            );
            for (d, e) in dst.iter().zip(&es) {
                assert!((f64::from(*d) - e).abs() <= 2.5e-7 * e, "{d} vs {e}");
            }
            let (s, w) = moments(&row, m);
            assert!((s - want_s).abs() <= 1e-6 * want_s, "{s} vs {want_s}");
            assert!(
                (w - want_w).abs() <= 1e-6 * want_w.abs().max(1e-12),
                "{w} vs {want_w}"
            );
        }
    }
}
