//! Head-type scores with TransformerLens's definition: for a pattern P, score = Σ(A⊙P) / ΣA, where A may first
//! lose its BOS column and its diagonal. Plus the tokens of the induction probe: a random sequence repeated.

use serde::Serialize;

use crate::model::{Attentions, Engine, EngineError};

/// Tokens in each half of the induction probe when none is chosen.
pub const DEFAULT_PROBE_LEN: usize = 50;

/// The seed of the probe's random tokens, fixed so that every run and the app see the same probe.
pub const PROBE_SEED: u64 = 7;

/// What to leave out of A before scoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exclusions {
    /// Leave out column 0: every token's attention to token 0 (BOS, or the first token: the sink).
    pub attention_to_token0: bool,
    /// Leave out the diagonal: each token's attention to itself.
    pub attention_to_self: bool,
}

/// The scores of one head, each in [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HeadScores {
    /// Layer.
    pub layer: usize,
    /// Head.
    pub head: usize,
    /// Attention to the previous token.
    pub previous_token: f64,
    /// Attention to earlier copies of the same token.
    pub duplicate_token: f64,
    /// Attention to the token after an earlier copy of the same token.
    pub induction: f64,
    /// Attention to token 0.
    pub sink: f64,
    /// Attention to itself.
    pub self_attention: f64,
    /// The duplicate pattern's own share, for the badge: of the head's attention (after exclusions) in the
    /// rows where the pattern has a target of its own — one that is not token 0, the token itself or the one
    /// before it, which the sink, self and previous-token kinds explain — the share on those targets. `None`
    /// (too few to weigh) when fewer than 4 rows have one, or they hold less than a tenth of the attention.
    pub duplicate_share: Option<f64>,
    /// The induction pattern's, as `duplicate_share`.
    pub induction_share: Option<f64>,
}

/// The head whose previous-token or induction score is highest (the first of equals): the head with the
/// clearest pattern to open on. `None` without scores.
pub fn clearest_head(scores: &[HeadScores]) -> Option<super::Selection> {
    let strength = |s: &HeadScores| s.previous_token.max(s.induction);
    scores
        .iter()
        .reduce(|best, s| {
            if strength(s) > strength(best) {
                s
            } else {
                best
            }
        })
        .map(|s| super::Selection::Head {
            layer: s.layer,
            head: s.head,
        })
}

/// A copying kind is weighed only where at least this many rows, holding at least this share of the head's
/// attention, have a target of their own; else a score or two would decide.
const MIN_TARGET_ROWS: usize = 4;
const MIN_REACH: f64 = 0.1;

impl HeadScores {
    /// The best-fitting type, for badges: the kind with the highest score of at least `min`, as TransformerLens
    /// scores them, except that a copying kind (induction, duplicate) whose own share (see
    /// [`HeadScores::duplicate_share`]) passes
    /// `min` is weighed by that share and puts "sink" out of the running. Copying can only happen in the rows
    /// of tokens that came before (on a sentence said twice, about half), and a head rests on token 0 where its
    /// pattern has no target: an induction head's sink score may beat its induction score, yet it is an
    /// induction head.
    pub fn badge(&self, min: f64) -> Option<&'static str> {
        let copies = [self.induction_share, self.duplicate_share]
            .iter()
            .any(|s| s.is_some_and(|s| s >= min));
        let weighed = |share: Option<f64>, score: f64| match share {
            Some(share) if copies => share,
            _ => score,
        };
        let kinds = [
            ("induction", weighed(self.induction_share, self.induction)),
            ("previous", self.previous_token),
            (
                "duplicate",
                weighed(self.duplicate_share, self.duplicate_token),
            ),
            ("self", self.self_attention),
            ("sink", if copies { 0.0 } else { self.sink }),
        ];
        kinds
            .iter()
            .filter(|(_, s)| *s >= min)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, _)| *name)
    }
}

/// The kind a head's badge and the `heads` table's `type` name: see [`HeadScores::badge`].
pub const TYPE_MIN: f64 = 0.4;

/// For each row (query) i, the columns the duplicate and induction patterns mark: the earlier copies of token
/// i, and the tokens just after them. Kept sparse: a token repeats only so often.
struct CopyTargets {
    duplicate: Vec<Vec<usize>>,
    induction: Vec<Vec<usize>>,
}

impl CopyTargets {
    fn of(ids: &[u32]) -> Self {
        let mut seen: std::collections::HashMap<u32, Vec<usize>> = Default::default();
        let (mut duplicate, mut induction) = (Vec::new(), Vec::new());
        for (i, &id) in ids.iter().enumerate() {
            let earlier = seen.entry(id).or_default();
            // Each earlier copy k < i, so its follower k + 1 ≤ i.
            induction.push(earlier.iter().map(|&k| k + 1).collect());
            duplicate.push(earlier.clone());
            earlier.push(i);
        }
        Self {
            duplicate,
            induction,
        }
    }
}

/// A pattern's own targets' sums (see [`HeadScores::duplicate_share`]): the attention on them, the attention
/// in the rows that have one, and how many rows have one.
#[derive(Clone, Copy, Default)]
struct CopyTally {
    hit: f64,
    reach: f64,
    rows: usize,
}

impl CopyTally {
    /// The share on the targets, where enough rows holding enough of the head's `total` attention have one.
    fn share(self, total: f64) -> Option<f64> {
        (self.rows >= MIN_TARGET_ROWS && total > 0.0 && self.reach / total >= MIN_REACH)
            .then(|| self.hit / self.reach)
    }
}

/// Σ(A⊙P)/ΣA; 0 when nothing is left after the exclusions.
fn ratio(hit: f64, total: f64) -> f64 {
    if total > 0.0 {
        hit / total
    } else {
        0.0
    }
}

/// Σ of `values` in f64, in eight running sums so that the compiler can keep them in one vector register.
fn sum<T: Copy + Into<f64>>(values: &[T]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let chunks = values.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&w| w.into()).sum();
    for chunk in chunks {
        for (lane, &w) in lanes.iter_mut().zip(chunk) {
            *lane += w.into();
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// Every score of one head in one pass over its rows. Row i must hold columns 0..=i (a causal row, or a full
/// one); the columns the patterns mark are all among them.
fn score_rows<'a, T: Copy + Into<f64> + 'a>(
    (layer, head): (usize, usize),
    rows: impl ExactSizeIterator<Item = &'a [T]>,
    targets: &CopyTargets,
    ex: Exclusions,
) -> HeadScores {
    assert_eq!(
        rows.len(),
        targets.duplicate.len(),
        "head scores: one row of attention for each token id"
    );
    let (mut total, mut sink_total, mut self_total) = (0.0, 0.0, 0.0);
    let (mut previous, mut duplicate, mut induction, mut sink, mut itself) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let mut own = [CopyTally::default(); 2];
    let marked = targets.duplicate.iter().zip(&targets.induction);
    for ((i, row), (dup, ind)) in rows.enumerate().zip(marked) {
        let kept =
            |j: usize| !((ex.attention_to_token0 && j == 0) || (ex.attention_to_self && j == i));
        // Row i holds columns 0..=i. Token 0 and the token itself are the only columns an exclusion can
        // drop; the sink score keeps column 0 and the self score the diagonal, whatever the exclusions say.
        let (w0, wi): (f64, f64) = (row[0].into(), row[i].into());
        let others = match i {
            0 => sum(&row[1..]),
            _ => sum(&row[1..i]) + sum(&row[i + 1..]),
        };
        let (row_kept, row_sink, row_self) = if i == 0 {
            let keep0 = |dropped: bool| if dropped { 0.0 } else { w0 };
            (
                others + keep0(ex.attention_to_token0 || ex.attention_to_self),
                others + keep0(ex.attention_to_self),
                others + keep0(ex.attention_to_token0),
            )
        } else {
            let col0 = if ex.attention_to_token0 { 0.0 } else { w0 };
            let diag = if ex.attention_to_self { 0.0 } else { wi };
            (others + col0 + diag, others + w0 + diag, others + col0 + wi)
        };
        sink_total += row_sink;
        self_total += row_self;
        total += row_kept;
        // Every marked column is ≤ i, and row i holds columns 0..=i.
        let at = |j: usize| if kept(j) { row[j].into() } else { 0.0 };
        if i > 0 {
            previous += at(i - 1);
        }
        duplicate += dup.iter().map(|&j| at(j)).sum::<f64>();
        induction += ind.iter().map(|&j| at(j)).sum::<f64>();
        if !(ex.attention_to_self && i == 0) {
            sink += w0;
        }
        if !(ex.attention_to_token0 && i == 0) {
            itself += wi;
        }
        for (tally, marked) in own.iter_mut().zip([dup, ind]) {
            // A target of the pattern's own: not token 0, the token itself or the one before it.
            let mut targets = marked
                .iter()
                .filter(|&&j| j != 0 && j != i && j + 1 != i)
                .peekable();
            if targets.peek().is_some() {
                tally.rows += 1;
                tally.reach += row_kept;
                tally.hit += targets.map(|&j| at(j)).sum::<f64>();
            }
        }
    }
    let [duplicate_own, induction_own] = own;
    HeadScores {
        layer,
        head,
        previous_token: ratio(previous, total),
        duplicate_token: ratio(duplicate, total),
        induction: ratio(induction, total),
        sink: ratio(sink, sink_total),
        self_attention: ratio(itself, self_total),
        duplicate_share: duplicate_own.share(total),
        induction_share: induction_own.share(total),
    }
}

/// Scores every head of `att` for a text with token ids `ids`: TransformerLens's Σ(A⊙P)/ΣA for each pattern
/// (previous token: P[i][i−1]; duplicate: j < i with token j = token i; induction: the duplicate pattern one to
/// the right; sink: P[i][0]; self: the diagonal), the sink score keeping column 0 and the self score the
/// diagonal whatever `ex` says, and the copying kinds' own shares.
pub fn score_heads(att: &Attentions, ids: &[u32], ex: Exclusions) -> Vec<HeadScores> {
    let n = att.n_tokens();
    let targets = CopyTargets::of(ids);
    let mut out = Vec::with_capacity(att.n_layer() * att.n_head());
    for layer in 0..att.n_layer() {
        for head in 0..att.n_head() {
            let rows = (0..n).map(|q| att.row(layer, head, q));
            out.push(score_rows((layer, head), rows, &targets, ex));
        }
    }
    out
}

/// The induction probe: `bos`, then `len` pseudo-random token ids below `vocab`, then the same ids again.
/// An induction head attends, in the second half, to the token after the earlier copy of the current one.
pub fn induction_probe_ids(bos: u32, len: usize, vocab: u32, seed: u64) -> Vec<u32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let first: Vec<u32> = (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            // Skip the lowest ids (bytes and very common pieces: 1000 of them, a quarter of a vocabulary too
            // small for that) so repeats within one half are rare.
            let skip = if vocab >= 2002 { 1000 } else { vocab / 4 };
            let range = u64::from(vocab.saturating_sub(skip + 1).max(1));
            (u64::from(skip) + state.wrapping_mul(0x2545_F491_4F6C_DD1D) % range) as u32
        })
        .collect();
    std::iter::once(bos)
        .chain(first.iter().copied())
        .chain(first.iter().copied())
        .collect()
}

/// Head-type scores on the induction probe: BOS, then `len` random tokens, then the same tokens again (`len`
/// is cut so the probe fits the model's context), where an induction head attends, in the second half, to the
/// token after the earlier copy of the current one.
pub fn probe_scores(
    engine: &Engine,
    len: usize,
    exclude: Exclusions,
) -> Result<Vec<HeadScores>, EngineError> {
    let ids = probe_ids(engine, len)?;
    let attentions = engine.attentions_of_ids(&ids)?;
    Ok(score_heads(&attentions, &ids, exclude))
}

/// The ids of `engine`'s induction probe: its `<|endoftext|>`, then `len` ids (cut so the probe fits the
/// model's context) below its vocabulary size, then the same ids again.
pub fn probe_ids(engine: &Engine, len: usize) -> Result<Vec<u32>, EngineError> {
    let info = engine.info();
    // A model whose config names no BOS token may still have <|endoftext|> to stand first.
    let bos = engine
        .bos_token()
        .or_else(|| engine.tokenizer().end_of_text())
        .ok_or(EngineError::NoBosToken)?;
    let len = len.min(info.n_positions.saturating_sub(1) / 2).max(1);
    // A vocabulary past u32's range (none exists) would still hold every id below u32::MAX.
    let vocab = u32::try_from(info.vocab_size).unwrap_or(u32::MAX);
    Ok(induction_probe_ids(bos, len, vocab, PROBE_SEED))
}

#[cfg(test)]
mod tests {
    use super::super::matrix::Matrix;
    use super::*;

    // The scores' definitions with dense patterns, as TransformerLens writes them: what the one-pass scorer is
    // checked against.

    /// Of A's attention (after exclusions) in the rows where `pattern` has a target of its own — one that is not
    /// token 0, the token itself or the one before it, which the sink, self and previous-token kinds explain — the
    /// share on those targets. `None` when fewer than `MIN_TARGET_ROWS` rows have one, or they hold less than
    /// `MIN_REACH` of the attention.
    fn copy_share(a: &Matrix, pattern: &Matrix, ex: Exclusions) -> Option<f64> {
        let n = a.n();
        let (mut hit, mut reach, mut total, mut rows) = (0.0, 0.0, 0.0, 0);
        for i in 0..n {
            let (mut row, mut row_hit, mut target) = (0.0, 0.0, false);
            for j in 0..n {
                if (ex.attention_to_token0 && j == 0) || (ex.attention_to_self && i == j) {
                    continue;
                }
                let w = a.get(i, j);
                row += w;
                if pattern.get(i, j) > 0.0 && j != 0 && j != i && j + 1 != i {
                    target = true;
                    row_hit += w;
                }
            }
            total += row;
            if target {
                reach += row;
                hit += row_hit;
                rows += 1;
            }
        }
        (rows >= MIN_TARGET_ROWS && total > 0.0 && reach / total >= MIN_REACH).then(|| hit / reach)
    }

    /// Σ(A⊙P)/ΣA after exclusions; 0 when nothing is left.
    fn pattern_score(a: &Matrix, pattern: &Matrix, ex: Exclusions) -> f64 {
        let n = a.n();
        let (mut hit, mut total) = (0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                if (ex.attention_to_token0 && j == 0) || (ex.attention_to_self && i == j) {
                    continue;
                }
                let w = a.get(i, j);
                total += w;
                hit += w * pattern.get(i, j);
            }
        }
        if total > 0.0 {
            hit / total
        } else {
            0.0
        }
    }

    /// P[i][i−1] = 1.
    fn previous_token_pattern(n: usize) -> Matrix {
        let mut p = Matrix::zeros(n);
        for i in 1..n {
            p.set(i, i - 1, 1.0);
        }
        p
    }

    /// P[i][j] = 1 where j < i and token j equals token i.
    fn duplicate_token_pattern(ids: &[u32]) -> Matrix {
        let mut p = Matrix::zeros(ids.len());
        for (i, a) in ids.iter().enumerate() {
            for (j, b) in ids.iter().enumerate().take(i) {
                if a == b {
                    p.set(i, j, 1.0);
                }
            }
        }
        p
    }

    /// P[i][j] = 1 where 1 ≤ j ≤ i and token j − 1 equals token i, j − 1 < i: the duplicate pattern shifted one right.
    fn induction_pattern(ids: &[u32]) -> Matrix {
        let mut p = Matrix::zeros(ids.len());
        for (i, a) in ids.iter().enumerate() {
            for j in 1..=i {
                if ids.get(j - 1) == Some(a) && j - 1 < i {
                    p.set(i, j, 1.0);
                }
            }
        }
        p
    }

    /// P[i][0] = 1.
    fn sink_pattern(n: usize) -> Matrix {
        let mut p = Matrix::zeros(n);
        for i in 0..n {
            p.set(i, 0, 1.0);
        }
        p
    }

    #[test]
    fn the_clearest_head_has_the_strongest_previous_token_or_induction_score() {
        let head = |layer, head, previous_token, induction| HeadScores {
            layer,
            head,
            previous_token,
            duplicate_token: 0.9,
            induction,
            sink: 0.95,
            self_attention: 0.0,
            duplicate_share: None,
            induction_share: None,
        };
        assert_eq!(clearest_head(&[]), None);
        let scores = [
            head(0, 0, 0.1, 0.0),
            head(0, 1, 0.6, 0.1),
            head(1, 0, 0.2, 0.7),
            head(1, 1, 0.7, 0.0),
        ];
        assert_eq!(
            clearest_head(&scores),
            Some(super::super::Selection::Head { layer: 1, head: 0 })
        );
        // Sink and duplicate scores do not count, and the first of equals wins.
        let equal = [head(0, 0, 0.5, 0.0), head(0, 1, 0.0, 0.5)];
        assert_eq!(
            clearest_head(&equal),
            Some(super::super::Selection::Head { layer: 0, head: 0 })
        );
    }

    #[test]
    fn patterns_by_hand() {
        // ids: A B A B → duplicate: (2,0), (3,1); induction: token 2 (A) looks at 1 (after the earlier A),
        // token 3 (B) looks at 2 (after the earlier B).
        let ids = [7, 8, 7, 8];
        let dup = duplicate_token_pattern(&ids);
        let ind = induction_pattern(&ids);
        assert_eq!(
            (dup.get(2, 0), dup.get(3, 1), dup.get(3, 0)),
            (1.0, 1.0, 0.0)
        );
        assert_eq!(
            (ind.get(2, 1), ind.get(3, 2), ind.get(3, 1)),
            (1.0, 1.0, 0.0)
        );
    }

    #[test]
    fn a_pure_previous_token_head_scores_one() {
        // Row 0 looks at itself, every other row at its predecessor.
        let a = Matrix::from_rows(&[
            vec![1.0, 0.0, 0.0],
            vec![1.0, 0.0, 0.0],
            vec![0.0, 1.0, 0.0],
        ])
        .unwrap();
        let p = previous_token_pattern(3);
        // Σ(A⊙P) = 2 of ΣA = 3; without BOS column: 1 of 1.
        assert!((pattern_score(&a, &p, Exclusions::default()) - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            pattern_score(
                &a,
                &p,
                Exclusions {
                    attention_to_token0: true,
                    attention_to_self: false
                }
            ),
            1.0
        );
    }

    /// The scores of one head `a` on `ids`, as `score_heads` makes them.
    fn scores_of(a: &Matrix, ids: &[u32]) -> HeadScores {
        score_rows(
            (0, 0),
            a.iter_rows(),
            &CopyTargets::of(ids),
            Exclusions::default(),
        )
    }

    #[test]
    fn one_pass_equals_the_dense_definitions() {
        // Random causal rows (each summing to 1) on texts with repeats, with every choice of exclusions.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut weighed = 0;
        for ids in [
            vec![0, 3, 4, 5, 3, 4, 5, 3, 4, 6],
            vec![0, 5, 5, 5, 5, 5, 5],
            vec![0, 1, 2, 3, 2, 4, 2, 5, 2, 6, 2, 7],
            vec![9],
        ] {
            let n = ids.len();
            let mut a = Matrix::zeros(n);
            for i in 0..n {
                let w: Vec<f64> = (0..=i).map(|_| next() + 0.01).collect();
                let sum: f64 = w.iter().sum();
                w.iter().enumerate().for_each(|(j, v)| a.set(i, j, v / sum));
            }
            // A head that also copies (half of each row on the token after the last earlier copy, where there
            // is one of its own), so that the shares are not all `None`.
            let mut copying = a.clone();
            for i in 0..n {
                for j in 0..n {
                    copying.set(i, j, 0.5 * a.get(i, j));
                }
                let target = (2..i).rev().find(|&j| ids[j - 1] == ids[i]).unwrap_or(0);
                copying.set(i, target, copying.get(i, target) + 0.5);
            }
            let prev = previous_token_pattern(n);
            let (dup, ind) = (duplicate_token_pattern(&ids), induction_pattern(&ids));
            for head in [&a, &copying] {
                for (t0, me) in [(false, false), (true, false), (false, true), (true, true)] {
                    let ex = Exclusions {
                        attention_to_token0: t0,
                        attention_to_self: me,
                    };
                    let got = score_rows((0, 0), head.iter_rows(), &CopyTargets::of(&ids), ex);
                    let sink_ex = Exclusions {
                        attention_to_token0: false,
                        ..ex
                    };
                    let self_ex = Exclusions {
                        attention_to_self: false,
                        ..ex
                    };
                    let want = [
                        pattern_score(head, &prev, ex),
                        pattern_score(head, &dup, ex),
                        pattern_score(head, &ind, ex),
                        pattern_score(head, &sink_pattern(n), sink_ex),
                        pattern_score(head, &Matrix::identity(n), self_ex),
                    ];
                    let scores = [
                        got.previous_token,
                        got.duplicate_token,
                        got.induction,
                        got.sink,
                        got.self_attention,
                    ];
                    for (g, w) in scores.iter().zip(want) {
                        assert!(
                            (g - w).abs() < 1e-12,
                            "{ids:?} {ex:?}: {scores:?} vs {want:?}"
                        );
                    }
                    let shares = (copy_share(head, &dup, ex), copy_share(head, &ind, ex));
                    let close = |g: Option<f64>, w: Option<f64>| match (g, w) {
                        (Some(g), Some(w)) => (g - w).abs() < 1e-12,
                        (g, w) => g == w,
                    };
                    assert!(
                        close(got.duplicate_share, shares.0)
                            && close(got.induction_share, shares.1),
                        "{ids:?} {ex:?}: {:?} vs {shares:?}",
                        (got.duplicate_share, got.induction_share)
                    );
                    weighed += usize::from(got.induction_share.is_some());
                }
            }
        }
        // Some of the shares compared were numbers, not all `None`.
        assert!(weighed > 0);
    }

    /// BOS, then ids 10..10+len, then the same again.
    fn said_twice(len: u32) -> Vec<u32> {
        std::iter::once(0)
            .chain(10..10 + len)
            .chain(10..10 + len)
            .collect()
    }

    /// A head on `said_twice(len)` that rests on token 0 through BOS and the first copy, then gives `weight` to
    /// the token `back` places before (the rest to token 0).
    fn copying_head(len: usize, back: usize, weight: f64) -> Matrix {
        let n = 2 * len + 1;
        let mut a = Matrix::zeros(n);
        for i in 0..n {
            if i <= len {
                a.set(i, 0, 1.0);
            } else {
                a.set(i, i - back, weight);
                a.set(i, 0, 1.0 - weight);
            }
        }
        a
    }

    #[test]
    fn a_head_that_copies_in_the_second_copy_and_rests_on_token_0_before_is_an_induction_head() {
        // Through the first copy (and BOS) it rests on token 0; in the second copy it gives 0.6 to the token
        // after the earlier copy of the current one and 0.4 to token 0. Its sink score (0.73) beats its
        // induction score (0.27), but the induction score is 0.6 of the most it could be here (0.45).
        let ids = said_twice(5);
        let n = ids.len();
        let s = scores_of(&copying_head(5, 4, 0.6), &ids);
        assert!(
            (s.induction - 0.6 * 5.0 / 11.0).abs() < 1e-12,
            "{}",
            s.induction
        );
        assert!((s.induction_share.unwrap() - 0.6).abs() < 1e-12);
        assert!((s.sink - 8.0 / 11.0).abs() < 1e-12);
        assert_eq!(s.badge(0.4), Some("induction"));
        // The same rows all on token 0: a sink head.
        let mut sink = Matrix::zeros(n);
        (0..n).for_each(|i| sink.set(i, 0, 1.0));
        assert_eq!(scores_of(&sink, &ids).badge(0.4), Some("sink"));
    }

    #[test]
    fn on_a_text_with_too_few_repeats_scores_are_not_weighed() {
        // Three repeated tokens: the induction rows are too few to call a head an induction head on them.
        let s = scores_of(&copying_head(3, 2, 1.0), &said_twice(3));
        assert_eq!((s.induction_share, s.duplicate_share), (None, None));
        // The scores count as they are: sink 4/7 beats induction 3/7.
        assert!((s.induction - 3.0 / 7.0).abs() < 1e-12 && (s.sink - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(s.badge(0.4), Some("sink"));
        // Four repeated tokens are enough.
        let s = scores_of(&copying_head(4, 3, 1.0), &said_twice(4));
        assert_eq!(s.induction_share, Some(1.0));
        assert_eq!(s.badge(0.4), Some("induction"));
    }

    #[test]
    fn a_previous_token_head_stays_one_where_copying_targets_are_the_previous_token() {
        // A list "a , b , c , d , e , f": each comma's induction target (the token after an earlier comma) is
        // the token just before it, and in "ha ha ha ha ha ha" every earlier token is a duplicate target. A
        // head that always looks one back is a previous-token head on both.
        for ids in [
            vec![0, 1, 2, 3, 2, 4, 2, 5, 2, 6, 2, 7],
            vec![0, 5, 5, 5, 5, 5, 5],
        ] {
            let n = ids.len();
            let mut a = Matrix::zeros(n);
            a.set(0, 0, 1.0);
            (1..n).for_each(|i| a.set(i, i - 1, 1.0));
            assert_eq!(scores_of(&a, &ids).badge(0.4), Some("previous"), "{ids:?}");
        }
        // A one-token text after BOS: a head resting on token 0 is a sink (its previous and self scores, 0.5,
        // are the same cells).
        let mut a = Matrix::zeros(2);
        (0..2).for_each(|i| a.set(i, 0, 1.0));
        assert_eq!(scores_of(&a, &[0, 9]).badge(0.4), Some("sink"));
    }

    #[test]
    fn probe_repeats_its_first_half() {
        let ids = induction_probe_ids(50256, 10, 50257, 3);
        assert_eq!(ids.len(), 21);
        assert_eq!(ids[1..11], ids[11..21]);
        assert!(ids[1..].iter().all(|&id| (1000..50256).contains(&id)));
    }
}
