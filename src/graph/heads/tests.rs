//! The head-type scores checked against their dense definitions and on heads built by hand.

use super::*;
use crate::graph::matrix::Matrix;

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
        chance: Chance::default(),
        tally: Default::default(),
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
pub(super) fn scores_of(a: &Matrix, ids: &[u32]) -> HeadScores {
    score_rows(
        (0, 0),
        a.iter_rows(),
        &earlier_copies(ids),
        Exclusions::default(),
        Chance::of(ids.len(), Exclusions::default()),
    )
}

/// The exclusions the sink and self scores use under `ex`: the sink ignores the token-0 exclusion, self its own.
fn own_exclusions(ex: Exclusions) -> (Exclusions, Exclusions) {
    (
        Exclusions {
            attention_to_token0: false,
            ..ex
        },
        Exclusions {
            attention_to_self: false,
            ..ex
        },
    )
}

/// Row i: 1/(i + 1) on each of tokens 0..=i.
fn uniform_causal(n: usize) -> Matrix {
    let mut a = Matrix::zeros(n);
    for i in 0..n {
        (0..=i).for_each(|j| a.set(i, j, 1.0 / (i as f64 + 1.0)));
    }
    a
}

#[test]
fn chance_is_the_dense_score_of_an_even_spread() {
    for n in 1..=12 {
        let a = uniform_causal(n);
        for (t0, me) in [(false, false), (true, false), (false, true), (true, true)] {
            let ex = Exclusions {
                attention_to_token0: t0,
                attention_to_self: me,
            };
            let (sink_ex, self_ex) = own_exclusions(ex);
            let c = Chance::of(n, ex);
            let want = [
                pattern_score(&a, &previous_token_pattern(n), ex),
                pattern_score(&a, &sink_pattern(n), sink_ex),
                pattern_score(&a, &Matrix::identity(n), self_ex),
            ];
            let got = [c.previous_token, c.sink, c.self_attention];
            for (g, w) in got.iter().zip(want) {
                assert!((g - w).abs() < 1e-12, "{n} {ex:?}: {got:?} vs {want:?}");
            }
        }
    }
    // On 4 tokens an even spread puts (1 + 1/2 + 1/3 + 1/4) / 4 on token 0.
    assert!((Chance::of(4, Exclusions::default()).sink - 25.0 / 48.0).abs() < 1e-12);
}

#[test]
fn on_a_short_text_a_head_with_no_pattern_is_named_nothing() {
    // An even spread on 4 tokens scores 0.52 on token 0 and on itself, over TYPE_MIN: causality's pattern,
    // not the head's. A head that puts 0.8 of each row on token 0 is a sink; one that looks back, previous.
    let ids = [0, 1, 2, 3];
    assert_eq!(scores_of(&uniform_causal(4), &ids).badge(TYPE_MIN), None);
    let mut sink = uniform_causal(4);
    for i in 1..4 {
        (0..=i).for_each(|j| sink.set(i, j, if j == 0 { 0.8 } else { 0.2 / i as f64 }));
    }
    assert_eq!(scores_of(&sink, &ids).badge(TYPE_MIN), Some("sink"));
    let mut previous = Matrix::zeros(4);
    previous.set(0, 0, 1.0);
    (1..4).for_each(|i| previous.set(i, i - 1, 1.0));
    assert_eq!(scores_of(&previous, &ids).badge(TYPE_MIN), Some("previous"));
    // One token: every head puts all of it on token 0, itself; nothing is told.
    assert_eq!(scores_of(&Matrix::identity(1), &[0]).badge(TYPE_MIN), None);
    // On a long text chance is small and the bar is TYPE_MIN's: 0.45 on token 0 in every row of 50 is a sink.
    let n = 50;
    let mut leaning = uniform_causal(n);
    for i in 1..n {
        (0..=i).for_each(|j| leaning.set(i, j, if j == 0 { 0.45 } else { 0.55 / i as f64 }));
    }
    let ids: Vec<u32> = (0..n as u32).collect();
    assert_eq!(scores_of(&leaning, &ids).badge(TYPE_MIN), Some("sink"));
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
            // With no earlier copy that half rests on token 0, as a head with nothing to copy does: 0 is the
            // design of this made-up head, not a fallback.
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
                let chance = Chance::of(n, ex);
                let got = score_rows((0, 0), head.iter_rows(), &earlier_copies(&ids), ex, chance);
                // The rows the app passes are causal, row i holding columns 0..=i: the same scores.
                let causal = head.iter_rows().enumerate().map(|(i, row)| &row[..=i]);
                assert_eq!(
                    score_rows((0, 0), causal, &earlier_copies(&ids), ex, chance),
                    got
                );
                let (sink_ex, self_ex) = own_exclusions(ex);
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
                    close(got.duplicate_share, shares.0) && close(got.induction_share, shares.1),
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
pub(super) fn said_twice(len: u32) -> Vec<u32> {
    std::iter::once(0)
        .chain(10..10 + len)
        .chain(10..10 + len)
        .collect()
}

/// A head on `said_twice(len)` that rests on token 0 through BOS and the first copy, then gives `weight` to
/// the token `back` places before (the rest to token 0).
pub(super) fn copying_head(len: usize, back: usize, weight: f64) -> Matrix {
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
    // The scores count as they are: induction 3/7, not weighed by its share (1.0), and sink 4/7, which an
    // even spread over 7 tokens nearly reaches (0.37: the sink stands only 0.32 of the way above it).
    assert!((s.induction - 3.0 / 7.0).abs() < 1e-12 && (s.sink - 4.0 / 7.0).abs() < 1e-12);
    assert!(lift(s.sink, s.chance.sink) < LIFT_MIN);
    assert_eq!(s.badge(0.4), Some("induction"));
    // Resting on token 0 through a longer first half, the same head is a sink: 7/10 against chance 0.29.
    let mut ids = vec![0, 11, 12, 13, 14, 15, 16];
    ids.extend([14, 15, 16]);
    let mut a = Matrix::zeros(10);
    (0..7).for_each(|i| a.set(i, 0, 1.0));
    (7..10).for_each(|i| a.set(i, i - 2, 1.0));
    let s = scores_of(&a, &ids);
    assert_eq!(s.induction_share, None);
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
