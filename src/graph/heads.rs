//! Head-type scores with TransformerLens's definition: for a pattern P, score = Σ(A⊙P) / ΣA, where A may first
//! lose its BOS column and its diagonal. Plus the tokens of the induction probe: a random sequence repeated.

use serde::Serialize;

use super::matrix::Matrix;
use super::select::head_matrix;
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
    /// The most `duplicate_token` can be on this text: the share of the head's attention (after the exclusions)
    /// in the rows of tokens that came before, the only rows with a target. For the badge.
    #[serde(skip)]
    pub duplicate_reach: f64,
    /// The most `induction` can be on this text, as `duplicate_reach`: on a text said twice, or the induction
    /// probe, the second half's rows, about half the attention. For the badge.
    #[serde(skip)]
    pub induction_reach: f64,
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

/// Fewer rows with a target than this, and a duplicate or induction badge would rest on a token or two.
const MIN_TARGET_ROWS: f64 = 4.0;

impl HeadScores {
    /// The best-fitting type, for badges: the kind whose score is the largest share of the most it can be on this
    /// text, if that share passes `min`; "sink" only when no other kind does. Duplicate and induction scores can
    /// only come from the rows of tokens that came before (on a sentence said twice, about half the attention),
    /// so each is weighed against its reach; the other kinds have a target in (nearly) every row. Token 0 is
    /// where heads rest when their own pattern has no target, so a head that copies in the second copy of a
    /// sentence and rests on token 0 through the first is an induction head, though its sink score may be the
    /// higher.
    pub fn badge(&self, min: f64) -> Option<&'static str> {
        // Without enough rows to weigh it on (reach 0), a score counts as it is.
        let share = |score: f64, reach: f64| if reach > 0.0 { score / reach } else { score };
        let kinds = [
            ("induction", share(self.induction, self.induction_reach)),
            ("previous", self.previous_token),
            (
                "duplicate",
                share(self.duplicate_token, self.duplicate_reach),
            ),
            ("self", self.self_attention),
        ];
        kinds
            .iter()
            .filter(|(_, s)| *s >= min)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, _)| *name)
            .or_else(|| (self.sink >= min).then_some("sink"))
    }
}

/// The share of A's attention (after exclusions) in the rows where `pattern` has a target: the most
/// [`pattern_score`] can be. 0 when fewer than [`MIN_TARGET_ROWS`] rows have one (too few to weigh a score
/// against), or nothing is left.
pub fn pattern_reach(a: &Matrix, pattern: &Matrix, ex: Exclusions) -> f64 {
    let n = a.n();
    let (mut reach, mut total, mut rows) = (0.0, 0.0, 0.0);
    for i in 0..n {
        let mut row = 0.0;
        let mut target = false;
        for j in 0..n {
            if (ex.attention_to_token0 && j == 0) || (ex.attention_to_self && i == j) {
                continue;
            }
            row += a.get(i, j);
            target |= pattern.get(i, j) > 0.0;
        }
        total += row;
        if target {
            reach += row;
            rows += 1.0;
        }
    }
    if total > 0.0 && rows >= MIN_TARGET_ROWS {
        reach / total
    } else {
        0.0
    }
}

/// Σ(A⊙P)/ΣA after exclusions; 0 when nothing is left.
pub fn pattern_score(a: &Matrix, pattern: &Matrix, ex: Exclusions) -> f64 {
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
pub fn previous_token_pattern(n: usize) -> Matrix {
    let mut p = Matrix::zeros(n);
    for i in 1..n {
        p.set(i, i - 1, 1.0);
    }
    p
}

/// P[i][j] = 1 where j < i and token j equals token i.
pub fn duplicate_token_pattern(ids: &[u32]) -> Matrix {
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
pub fn induction_pattern(ids: &[u32]) -> Matrix {
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
pub fn sink_pattern(n: usize) -> Matrix {
    let mut p = Matrix::zeros(n);
    for i in 0..n {
        p.set(i, 0, 1.0);
    }
    p
}

/// Scores every head of `att` for a text with token ids `ids`.
pub fn score_heads(att: &Attentions, ids: &[u32], ex: Exclusions) -> Vec<HeadScores> {
    let n = att.n_tokens();
    let prev = previous_token_pattern(n);
    let dup = duplicate_token_pattern(ids);
    let ind = induction_pattern(ids);
    let sink = sink_pattern(n);
    let ident = Matrix::identity(n);
    let mut out = Vec::with_capacity(att.n_layer() * att.n_head());
    for layer in 0..att.n_layer() {
        for head in 0..att.n_head() {
            let a = head_matrix(att, layer, head);
            out.push(HeadScores {
                layer,
                head,
                previous_token: pattern_score(&a, &prev, ex),
                duplicate_token: pattern_score(&a, &dup, ex),
                induction: pattern_score(&a, &ind, ex),
                sink: pattern_score(
                    &a,
                    &sink,
                    Exclusions {
                        attention_to_token0: false,
                        ..ex
                    },
                ),
                self_attention: pattern_score(
                    &a,
                    &ident,
                    Exclusions {
                        attention_to_self: false,
                        ..ex
                    },
                ),
                duplicate_reach: pattern_reach(&a, &dup, ex),
                induction_reach: pattern_reach(&a, &ind, ex),
            });
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
    use super::*;

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
            duplicate_reach: 1.0,
            induction_reach: 1.0,
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
        let n = ids.len();
        let ex = Exclusions::default();
        let (dup, ind) = (duplicate_token_pattern(ids), induction_pattern(ids));
        HeadScores {
            layer: 0,
            head: 0,
            previous_token: pattern_score(a, &previous_token_pattern(n), ex),
            duplicate_token: pattern_score(a, &dup, ex),
            induction: pattern_score(a, &ind, ex),
            sink: pattern_score(a, &sink_pattern(n), ex),
            self_attention: pattern_score(a, &Matrix::identity(n), ex),
            duplicate_reach: pattern_reach(a, &dup, ex),
            induction_reach: pattern_reach(a, &ind, ex),
        }
    }

    /// BOS, then ids 10..10+len, then the same again.
    fn said_twice(len: u32) -> Vec<u32> {
        std::iter::once(0)
            .chain(10..10 + len)
            .chain(10..10 + len)
            .collect()
    }

    #[test]
    fn a_head_that_copies_in_the_second_copy_and_rests_on_token_0_before_is_an_induction_head() {
        // Through the first copy (and BOS) it rests on token 0; in the second copy it gives 0.6 to the token
        // after the earlier copy of the current one and 0.4 to token 0. Its sink score (0.73) beats its
        // induction score (0.27), but the induction score is 0.6 of the most it could be here (0.45).
        let ids = said_twice(5);
        let n = ids.len();
        let mut a = Matrix::zeros(n);
        for i in 0..n {
            if i <= 5 {
                a.set(i, 0, 1.0);
            } else {
                a.set(i, i - 4, 0.6);
                a.set(i, 0, 0.4);
            }
        }
        let s = scores_of(&a, &ids);
        assert!(
            (s.induction - 0.6 * 5.0 / 11.0).abs() < 1e-12,
            "{}",
            s.induction
        );
        assert!((s.induction_reach - 5.0 / 11.0).abs() < 1e-12);
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
        let ids = said_twice(3);
        let n = ids.len();
        let mut a = Matrix::zeros(n);
        for i in 0..n {
            if i <= 3 {
                a.set(i, 0, 1.0);
            } else {
                a.set(i, i - 2, 1.0);
            }
        }
        let s = scores_of(&a, &ids);
        assert_eq!((s.induction_reach, s.duplicate_reach), (0.0, 0.0));
        // The scores count as they are (weighed by its reach, induction would be 1): induction 3/7 passes 0.4,
        // not 0.5, where the head is called by its sink score, 4/7.
        assert!((s.induction - 3.0 / 7.0).abs() < 1e-12 && (s.sink - 4.0 / 7.0).abs() < 1e-12);
        assert_eq!(s.badge(0.4), Some("induction"));
        assert_eq!(s.badge(0.5), Some("sink"));
    }

    #[test]
    fn probe_repeats_its_first_half() {
        let ids = induction_probe_ids(50256, 10, 50257, 3);
        assert_eq!(ids.len(), 21);
        assert_eq!(ids[1..11], ids[11..21]);
        assert!(ids[1..].iter().all(|&id| (1000..50256).contains(&id)));
    }
}
