//! Head-type scores with TransformerLens's definition: for a pattern P, score = Σ(A⊙P) / ΣA, where A may first
//! lose its BOS column and its diagonal. Plus the tokens of the induction probe: a random sequence repeated.

use serde::Serialize;

use crate::model::{Attentions, Engine, EngineError};

pub mod mean;

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
    /// What a head with no pattern would score on these rows, for the badge.
    pub chance: Chance,
    /// The sums the scores and shares were made of, so that a mean over texts weighs the shares over all
    /// their rows ([`mean::mean_over_texts`]).
    #[serde(skip)]
    pub(crate) tally: Tally,
}

/// The sums one head's scores were made of: the attention each score is a share of (after its exclusions), and
/// the copying kinds' own targets.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Tally {
    /// The attention the previous-token, duplicate and induction scores are shares of.
    total: f64,
    /// The sink score's.
    sink_total: f64,
    /// The self score's.
    self_total: f64,
    duplicate: CopyTally,
    induction: CopyTally,
}

impl Tally {
    /// Both tallies' sums.
    fn plus(self, other: Self) -> Self {
        Self {
            total: self.total + other.total,
            sink_total: self.sink_total + other.sink_total,
            self_total: self.self_total + other.self_total,
            duplicate: self.duplicate.plus(other.duplicate),
            induction: self.induction.plus(other.induction),
        }
    }

    /// The copying kinds' own shares, as [`HeadScores::duplicate_share`] and `induction_share`.
    fn shares(&self) -> (Option<f64>, Option<f64>) {
        (
            self.duplicate.share(self.total),
            self.induction.share(self.total),
        )
    }
}

/// The previous-token, sink and self scores of a head that spreads each row evenly over the tokens it sees
/// (row i: 1/(i + 1) on each of tokens 0..=i), with the same exclusions: what causality alone gives. On a
/// short text they are high (on 4 tokens, 0.52 on token 0 and on the token itself), and any head scores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Chance {
    /// The previous-token score's.
    pub previous_token: f64,
    /// The sink score's.
    pub sink: f64,
    /// The self score's.
    pub self_attention: f64,
}

impl Chance {
    /// The chance scores of a text of `n` tokens with exclusions `ex`: [`score_rows`] on rows of 1/(i + 1),
    /// summed in closed form.
    fn of(n: usize, ex: Exclusions) -> Self {
        let (mut total, mut sink_total, mut self_total) = (0.0, 0.0, 0.0);
        let (mut previous, mut sink, mut itself) = (0.0, 0.0, 0.0);
        for i in 0..n {
            let w = 1.0 / (i as f64 + 1.0);
            // Row i: token 0 and the token itself (one cell when i is 0), and i − 1 others.
            let others = i.saturating_sub(1) as f64 * w;
            let kept = |j: usize| {
                !((ex.attention_to_token0 && j == 0) || (ex.attention_to_self && j == i))
            };
            let sink_kept = |j: usize| !(ex.attention_to_self && j == i);
            let self_kept = |j: usize| !(ex.attention_to_token0 && j == 0);
            let row_total = |keep: &dyn Fn(usize) -> bool| {
                let first = if keep(0) { w } else { 0.0 };
                let diagonal = if i > 0 && keep(i) { w } else { 0.0 };
                others + first + diagonal
            };
            total += row_total(&kept);
            sink_total += row_total(&sink_kept);
            self_total += row_total(&self_kept);
            if i > 0 && kept(i - 1) {
                previous += w;
            }
            if sink_kept(0) {
                sink += w;
            }
            if self_kept(i) {
                itself += w;
            }
        }
        Chance {
            previous_token: ratio(previous, total),
            sink: ratio(sink, sink_total),
            self_attention: ratio(itself, self_total),
        }
    }
}

/// How far a score stands above chance, as a share of the room there is: (score − chance) / (1 − chance); 0
/// where chance is 1 (one token: every head scores 1, and nothing is told).
fn lift(score: f64, chance: f64) -> f64 {
    if chance < 1.0 {
        (score - chance) / (1.0 - chance)
    } else {
        0.0
    }
}

/// A positional kind (previous token, sink, self) names a head only where its score stands at least this far
/// above chance ([`lift`]): a third of the way from an even spread to all of each row. On long texts chance is
/// small and [`TYPE_MIN`] decides; on short ones this keeps causality's own pattern from naming every head.
pub const LIFT_MIN: f64 = 1.0 / 3.0;

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
    /// Whether every score had attention to be a share of: false where the exclusions left none (one token, or
    /// two with both excluded), and the scores are 0 for want of any.
    pub fn has_attention_left(&self) -> bool {
        let t = &self.tally;
        t.total > 0.0 && t.sink_total > 0.0 && t.self_total > 0.0
    }

    /// The best-fitting type, for badges: the kind with the highest score of at least `min`, as TransformerLens
    /// scores them, except that a copying kind (induction, duplicate) whose own share (see
    /// [`HeadScores::duplicate_share`]) passes
    /// `min` is weighed by that share and puts "sink" out of the running. Copying can only happen in the rows
    /// of tokens that came before (on a sentence said twice, about half), and a head rests on token 0 where its
    /// pattern has no target: an induction head's sink score may beat its induction score, yet it is an
    /// induction head. A positional kind (previous token, sink, self) counts only where it stands [`LIFT_MIN`]
    /// above what a head with no pattern would score on the same rows ([`Chance`]).
    pub fn badge(&self, min: f64) -> Option<&'static str> {
        let copies = [self.induction_share, self.duplicate_share]
            .iter()
            .any(|s| s.is_some_and(|s| s >= min));
        let weighed = |share: Option<f64>, score: f64| match share {
            Some(share) if copies => share,
            _ => score,
        };
        // A positional kind no higher above chance than LIFT_MIN scores 0 here: it names nothing.
        let positional = |score: f64, chance: f64| {
            if lift(score, chance) >= LIFT_MIN {
                score
            } else {
                0.0
            }
        };
        let c = &self.chance;
        let kinds = [
            ("induction", weighed(self.induction_share, self.induction)),
            (
                "previous",
                positional(self.previous_token, c.previous_token),
            ),
            (
                "duplicate",
                weighed(self.duplicate_share, self.duplicate_token),
            ),
            ("self", positional(self.self_attention, c.self_attention)),
            (
                "sink",
                if copies {
                    0.0
                } else {
                    positional(self.sink, c.sink)
                },
            ),
        ];
        kinds
            .iter()
            .filter(|(_, s)| *s >= min)
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(name, _)| *name)
    }
}

/// The least score (or own share) a kind needs to name a head in its badge and the `heads` table's `type`:
/// see [`HeadScores::badge`].
pub const TYPE_MIN: f64 = 0.4;

/// For each row (query) i, the earlier copies of token i: the columns the duplicate pattern marks (the
/// induction pattern marks the column after each). Kept sparse: a token repeats only so often.
fn earlier_copies(ids: &[u32]) -> Vec<Vec<usize>> {
    let mut seen: std::collections::HashMap<u32, Vec<usize>> = Default::default();
    ids.iter()
        .enumerate()
        .map(|(i, &id)| {
            let earlier = seen.entry(id).or_default();
            let copies = earlier.clone();
            earlier.push(i);
            copies
        })
        .collect()
}

/// A pattern's own targets' sums (see [`HeadScores::duplicate_share`]): the attention on them, the attention
/// in the rows that have one, and how many rows have one.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CopyTally {
    hit: f64,
    reach: f64,
    rows: usize,
}

impl CopyTally {
    fn plus(self, other: Self) -> Self {
        Self {
            hit: self.hit + other.hit,
            reach: self.reach + other.reach,
            rows: self.rows + other.rows,
        }
    }

    /// Counts row `i` (holding `row_kept` of the attention, `at` column j) if the pattern marks a target of
    /// its own there: not token 0, the token itself or the one before it.
    fn add(
        &mut self,
        marked: impl Iterator<Item = usize>,
        i: usize,
        row_kept: f64,
        at: impl Fn(usize) -> f64,
    ) {
        let mut targets = marked
            .filter(|&j| j != 0 && j != i && j + 1 != i)
            .peekable();
        if targets.peek().is_some() {
            self.rows += 1;
            self.reach += row_kept;
            self.hit += targets.map(at).sum::<f64>();
        }
    }

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
    copies: &[Vec<usize>],
    ex: Exclusions,
    chance: Chance,
) -> HeadScores {
    assert_eq!(
        rows.len(),
        copies.len(),
        "head scores: one row of attention for each token id"
    );
    let (mut total, mut sink_total, mut self_total) = (0.0, 0.0, 0.0);
    let (mut previous, mut duplicate, mut induction, mut sink, mut itself) =
        (0.0, 0.0, 0.0, 0.0, 0.0);
    let (mut duplicate_own, mut induction_own) = (CopyTally::default(), CopyTally::default());
    for ((i, row), dup) in rows.enumerate().zip(copies) {
        // The induction pattern's columns: each earlier copy k < i's follower, k + 1 ≤ i.
        let ind = || dup.iter().map(|&k| k + 1);
        let kept =
            |j: usize| !((ex.attention_to_token0 && j == 0) || (ex.attention_to_self && j == i));
        // The sink score ignores the token-0 exclusion, the self score the self exclusion.
        let sink_kept = |j: usize| !(ex.attention_to_self && j == i);
        let self_kept = |j: usize| !(ex.attention_to_token0 && j == 0);
        // Row i holds columns 0..=i. Token 0 and the token itself are the only columns an exclusion can
        // drop: a row's total is the others, plus those two where kept (one cell when i is 0).
        let (w0, wi): (f64, f64) = (row[0].into(), row[i].into());
        let others = match i {
            0 => sum(&row[1..]),
            _ => sum(&row[1..i]) + sum(&row[i + 1..]),
        };
        let row_total = |keep: &dyn Fn(usize) -> bool| {
            let first = if keep(0) { w0 } else { 0.0 };
            let diagonal = if i > 0 && keep(i) { wi } else { 0.0 };
            others + first + diagonal
        };
        let row_kept = row_total(&kept);
        total += row_kept;
        sink_total += row_total(&sink_kept);
        self_total += row_total(&self_kept);
        // Every marked column is ≤ i, and row i holds columns 0..=i.
        let at = |j: usize| if kept(j) { row[j].into() } else { 0.0 };
        if i > 0 {
            previous += at(i - 1);
        }
        duplicate += dup.iter().map(|&j| at(j)).sum::<f64>();
        induction += ind().map(at).sum::<f64>();
        if sink_kept(0) {
            sink += w0;
        }
        if self_kept(i) {
            itself += wi;
        }
        duplicate_own.add(dup.iter().copied(), i, row_kept, at);
        induction_own.add(ind(), i, row_kept, at);
    }
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
        chance,
        tally: Tally {
            total,
            sink_total,
            self_total,
            duplicate: duplicate_own,
            induction: induction_own,
        },
    }
}

/// Scores every head of `att` for a text with token ids `ids`: TransformerLens's Σ(A⊙P)/ΣA for each pattern
/// (previous token: P[i][i−1]; duplicate: j < i with token j = token i; induction: the duplicate pattern one to
/// the right; sink: P[i][0]; self: the diagonal), the sink score ignoring `ex`'s token-0 exclusion and the self
/// score its self exclusion, and the copying kinds' own shares.
///
/// # Panics
///
/// If `ids` is not one id for each of `att`'s tokens (both come from one analysis).
pub fn score_heads(att: &Attentions, ids: &[u32], ex: Exclusions) -> Vec<HeadScores> {
    use rayon::prelude::*;
    let (n, n_head) = (att.n_tokens(), att.n_head());
    let copies = earlier_copies(ids);
    let chance = Chance::of(n, ex);
    // Each head on its own thread, in layer-then-head order.
    (0..att.n_layer() * n_head)
        .into_par_iter()
        .map(|i| {
            let (layer, head) = (i / n_head, i % n_head);
            let rows = (0..n).map(|q| att.row(layer, head, q));
            score_rows((layer, head), rows, &copies, ex, chance)
        })
        .collect()
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
mod tests;
