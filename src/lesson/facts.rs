//! What the lesson's checks read ([`Facts`]) and what a check returns: its answer and reveal ([`Checked`]), or
//! why the step does not apply ([`NotApplicable`]).

use super::explain::Explanation;
use crate::graph::heads::HeadScores;
use crate::model::attribution::Attribution;
use crate::model::Analysis;

/// What the checks read: the reader's text as analysed, the lesson's numbers for the selected head, the head
/// scores on the text, and the attribution of the last token's prediction once it is there.
pub struct Facts<'a> {
    /// The analysis on screen.
    pub analysis: &'a Analysis,
    /// `explain` for the selected head.
    pub explanation: &'a Explanation,
    /// Head-type scores on the text.
    pub head_scores: &'a [HeadScores],
    /// Direct logit attribution of the last token's prediction.
    pub attribution: Option<&'a Attribution>,
    /// The logit lens at the last-but-one token, as the model is (no head knocked out unless the analysis has):
    /// each layer's cell there, the stream entering block 0 first and the model's output last.
    pub lens: Option<&'a [crate::model::lens::LensCell]>,
    /// What the head moves to the last token from each token, α_ij ‖f(x_j)‖ (see [`crate::model::norms`]).
    pub carried: Option<&'a [f64]>,
}

impl Facts<'_> {
    /// The text's words: split at whitespace, with each Han character one word of its own (Chinese puts no
    /// spaces between words), and punctuation standing alone not counted.
    pub(super) fn words(&self) -> usize {
        self.analysis
            .text
            .split_whitespace()
            .map(|piece| {
                let han = piece.chars().filter(|&c| is_han(c)).count();
                let other = piece.chars().any(|c| !is_han(c) && c.is_alphanumeric());
                han + usize::from(other)
            })
            .sum()
    }

    pub(super) fn text_tokens(&self) -> usize {
        self.analysis.tokens.iter().filter(|t| !t.is_bos).count()
    }

    pub(super) fn token(&self, position: usize) -> String {
        self.analysis
            .tokens
            .get(position)
            .map_or_else(|| "?".to_string(), |t| t.display.clone())
    }

    pub(super) fn logprob(&self, position: usize) -> Option<f64> {
        Some(self.analysis.tokens.get(position)?.stats.as_ref()?.logprob)
    }

    /// The head with the highest induction score on the text, and the score.
    pub(super) fn best_induction(&self) -> Option<(usize, usize, f64)> {
        self.head_scores
            .iter()
            .map(|s| (s.layer, s.head, s.induction))
            .reduce(|best, s| if s.2 > best.2 { s } else { best })
    }

    /// The model's parameters.
    pub(super) fn parameters(&self) -> usize {
        self.analysis.model.parameters
    }
}

/// What a check found: the answer, the positions it read, and the reveal's text in both languages.
pub(super) struct Checked {
    pub(super) answer: usize,
    pub(super) positions: Vec<usize>,
    pub(super) en: String,
    pub(super) zh: String,
    pub(super) note: Option<(String, String)>,
}

/// Why a step does not apply, in both languages.
pub(super) struct NotApplicable {
    pub(super) en: String,
    pub(super) zh: String,
}

pub(super) fn na(en: impl Into<String>, zh: impl Into<String>) -> NotApplicable {
    NotApplicable {
        en: en.into(),
        zh: zh.into(),
    }
}

/// A check's answer with no remark beside it.
pub(super) fn plain(answer: usize, positions: Vec<usize>, en: String, zh: String) -> Checked {
    Checked {
        answer,
        positions,
        en,
        zh,
        note: None,
    }
}

/// Whether `c` is a Han character: 〇, the CJK unified ideographs, their extensions A to H, and the compatibility
/// ideographs and their supplement.
fn is_han(c: char) -> bool {
    matches!(
        u32::from(c),
        0x3007 | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x2_0000..=0x2_EBEF | 0x2_F800..=0x2_FA1F | 0x3_0000..=0x3_23AF
    )
}
