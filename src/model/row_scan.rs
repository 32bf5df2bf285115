//! One read of a row of logits for what the LM head's statistics need besides the exponentials: the row's
//! maximum (the shift of its softmax), how many entries beat the actual token's (its rank) and the k largest (the
//! top-k). The exponentials then run over the same row while it is still in L2 ([`Scanned::moments`]), so a row
//! of 50,257 logits is read twice, not four times (the maximum, the exponentials, the rank and the top-k each
//! once, as before). Every result has the bits of those four passes: the maximum and the count are exact, and
//! the top-k offers the entries in the same order, skipping only chunks that cannot change it.

use super::vexp::{dispatch, Moments};

/// Lanes of the maximum and the count, as `vexp`'s: 16 f32 fill one AVX-512 register, two AVX2 ones.
const LANES: usize = 16;

/// A row of logits after one read: its maximum, its rank count and its k largest entries.
#[derive(Clone, Debug)]
pub struct Scanned<'a> {
    row: &'a [f32],
    /// The largest entry (NaN ignored, as `f32::max` does; −∞ for an empty row).
    max: f32,
    /// How many entries are greater than the value given to [`scan`]; `None` when it was given none.
    pub greater: Option<usize>,
    /// The k largest entries as (index, value), largest first; ties broken by the lower index.
    pub top: Vec<(u32, f32)>,
}

impl Scanned<'_> {
    /// The log-sum-exp of the row and the entropy of its softmax, shifted by the maximum this scan found (the bits
    /// of a read of the maximum on its own).
    pub fn moments(&self) -> Moments {
        super::vexp::moments_shifted(self.row, self.max)
    }
}

/// Offers entry `idx` to the k best so far (`best` sorted largest first, ties by lower index, at most k long).
#[inline(always)]
fn offer(best: &mut Vec<(u32, f32)>, k: usize, idx: usize, x: f32) {
    if best.len() == k && best.last().is_some_and(|&(_, low)| x <= low) {
        return;
    }
    let pos = best.partition_point(|&(_, v)| v >= x);
    best.insert(pos, (idx as u32, x));
    best.truncate(k);
}

/// The k largest entries of `row` as (index, value), largest first; ties broken by the lower index.
pub fn top_k_of(row: &[f32], k: usize) -> Vec<(u32, f32)> {
    scan(row, None, k).top
}

/// Reads `row` once for its maximum, the number of entries greater than `above` (when there is one) and its `k`
/// largest entries.
pub fn scan(row: &[f32], above: Option<f32>, k: usize) -> Scanned<'_> {
    let k = k.min(row.len());
    let (max, greater, top) = scan_values(row, above, k);
    Scanned {
        row,
        max,
        greater,
        top,
    }
}

mod body {
    use super::{offer, LANES};

    #[inline(always)]
    pub fn scan_values(
        row: &[f32],
        above: Option<f32>,
        k: usize,
    ) -> (f32, Option<usize>, Vec<(u32, f32)>) {
        // Two loops compiled apart: with nothing to count, the count is not in the loop at all.
        match above {
            Some(above) => {
                let (max, greater, top) = lanes(row, |x| u32::from(x > above), k);
                (max, Some(greater), top)
            }
            None => {
                let (max, _, top) = lanes(row, |_| 0, k);
                (max, None, top)
            }
        }
    }

    /// The maximum, Σ counted(x) and the k best of `row`.
    #[inline(always)]
    fn lanes(row: &[f32], counted: impl Fn(f32) -> u32, k: usize) -> (f32, usize, Vec<(u32, f32)>) {
        let mut max = [f32::NEG_INFINITY; LANES];
        let mut greater = [0u32; LANES];
        let mut best: Vec<(u32, f32)> = Vec::with_capacity(k + 1);
        for (c, chunk) in row.chunks(LANES).enumerate() {
            for ((m, g), &x) in max.iter_mut().zip(greater.iter_mut()).zip(chunk) {
                *m = m.max(x);
                *g += counted(x);
            }
            if k == 0 {
                continue;
            }
            // A chunk whose values are all ≤ the k-th best so far changes nothing, and that test runs in vector
            // lanes with no branch per value. Every other chunk (while fewer than k are held, a value above the
            // k-th best, a NaN value, or a NaN k-th best, which compares with nothing) is offered value by value
            // in index order, so the result is that of offering every value in turn.
            let changes = match best.get(k - 1) {
                Some(&(_, low)) => {
                    low.is_nan()
                        || chunk
                            .iter()
                            .fold(false, |any, &x| any | (x > low || x.is_nan()))
                }
                None => true,
            };
            if changes {
                for (i, &x) in chunk.iter().enumerate() {
                    offer(&mut best, k, c * LANES + i, x);
                }
            }
        }
        // max ignores NaN and is associative otherwise: the lanes give the row's maximum as a scan would. The
        // counts are exact, and a row is shorter than 2^32 entries in each lane (a vocabulary, not memory).
        let max = max.into_iter().fold(f32::NEG_INFINITY, f32::max);
        let greater = greater.into_iter().map(|g| g as usize).sum();
        (max, greater, best)
    }
}

dispatch!(
    /// The maximum, the count above `above` (if given) and the k best of `row` (k ≤ its length), in one read.
    scan_values / scan_values_avx512 / scan_values_avx2 (row: &[f32], above: Option<f32>, k: usize) -> (f32, Option<usize>, Vec<(u32, f32)>)
);

#[cfg(test)]
mod tests {
    use super::*;

    /// What the scan must equal: the four passes, each on its own. The top-k by sorting (largest first, ties by
    /// the lower index) where the row has no NaN; with a NaN, every value offered in turn, as the top-k was taken
    /// before the scan (a NaN value goes first; a NaN k-th best lets every later value in).
    fn by_passes(
        row: &[f32],
        above: Option<f32>,
        k: usize,
    ) -> (f32, Option<usize>, Vec<(u32, f32)>) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let greater = above.map(|above| row.iter().filter(|&&x| x > above).count());
        let k = k.min(row.len());
        let best = if row.iter().any(|x| x.is_nan()) {
            let mut best = Vec::new();
            for (idx, &x) in row.iter().enumerate() {
                offer(&mut best, k, idx, x);
            }
            best
        } else {
            let mut all: Vec<(u32, f32)> = row
                .iter()
                .enumerate()
                .map(|(i, &x)| (i as u32, x))
                .collect();
            // A stable sort keeps equal values in index order.
            all.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap());
            all.truncate(k);
            all
        };
        (max, greater, best)
    }

    fn bits(v: &[(u32, f32)]) -> Vec<(u32, u32)> {
        v.iter().map(|&(i, x)| (i, x.to_bits())).collect()
    }

    #[test]
    fn top_k_orders_and_breaks_ties_by_index() {
        assert_eq!(
            top_k_of(&[0.1, 0.5, 0.5, 0.9], 3),
            vec![(3, 0.9), (1, 0.5), (2, 0.5)]
        );
        assert!(top_k_of(&[1.0], 0).is_empty());
        assert!(top_k_of(&[], 3).is_empty());
    }

    /// A compiled version of the scan.
    type Version = fn(&[f32], Option<f32>, usize) -> (f32, Option<usize>, Vec<(u32, f32)>);

    /// The compiled versions this CPU can run, the dispatched one first; says by name which it cannot.
    fn versions() -> Vec<(&'static str, Version)> {
        #[allow(unused_mut)] // Off x86-64 the dispatched version is the only one.
        let mut versions: Vec<(&'static str, Version)> =
            vec![("dispatched", scan_values), ("portable", body::scan_values)];
        #[cfg(target_arch = "x86_64")]
        macro_rules! compiled {
            ($name:literal, $feature:tt, $scan:ident) => {
                if std::arch::is_x86_feature_detected!($feature) {
                    // SAFETY: the CPU has the one feature the function is compiled for (checked above).
                    versions.push(($name, |r, a, k| unsafe { $scan(r, a, k) }));
                } else {
                    crate::skip_report::report(
                        "one_read_equals_the_four_passes_on_every_instruction_set",
                        concat!("the ", $name, " version"),
                        concat!("the CPU has no ", $feature),
                    );
                }
            };
        }
        #[cfg(target_arch = "x86_64")]
        {
            compiled!("avx512", "avx512f", scan_values_avx512);
            compiled!("avx2", "avx2", scan_values_avx2);
        }
        versions
    }

    #[test]
    fn one_read_equals_the_four_passes_on_every_instruction_set() {
        let values = crate::model::test_values::test_values(5_003, 7);
        // Ties (values rounded to a few levels), a NaN late in the row, infinities, and rows shorter than a
        // chunk or not a whole number of chunks.
        let ties: Vec<f32> = values.iter().map(|x| (x * 4.0).round()).collect();
        let mut nan = values.clone();
        nan[4_000] = f32::NAN;
        let mut first_nan = values.clone();
        first_nan[0] = f32::NAN;
        let mut infinite = values.clone();
        infinite[17] = f32::INFINITY;
        infinite[2_000] = f32::NEG_INFINITY;
        let rows = [
            &values[..],
            &ties[..],
            &nan[..],
            &first_nan[..],
            &infinite[..],
            &values[..10],
            &values[..40],
            &[][..],
        ];
        for (name, version) in versions() {
            for row in rows {
                for above in [
                    None,
                    Some(f32::NAN),
                    Some(0.0),
                    Some(1.0),
                    Some(-3.5),
                    Some(f32::INFINITY),
                ] {
                    for k in [0, 1, 5, 16, 17, 100] {
                        let (max, greater, top) = version(row, above, k.min(row.len()));
                        let (want_max, want_greater, want_top) = by_passes(row, above, k);
                        let case =
                            format!("{name}: k = {k}, above {above:?}, {} values", row.len());
                        assert_eq!(max.to_bits(), want_max.to_bits(), "{case}");
                        assert_eq!(greater, want_greater, "{case}");
                        assert_eq!(bits(&top), bits(&want_top), "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn moments_after_the_scan_are_those_of_a_fresh_read() {
        let values = crate::model::test_values::test_values(50_257, 3);
        let mut nan = values.clone();
        nan[123] = f32::NAN;
        for row in [&values[..], &values[..33], &nan[..]] {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let (got, want) = (
                scan(row, Some(0.0), 5).moments(),
                super::super::vexp::moments_shifted(row, max),
            );
            assert_eq!(got.log_sum_exp.to_bits(), want.log_sum_exp.to_bits());
            assert_eq!(got.entropy_nats.to_bits(), want.entropy_nats.to_bits());
        }
    }
}
