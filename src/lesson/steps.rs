//! The lesson's steps, in the order they build on each other: tokens → Q·K scores → softmax rows → the graph →
//! the Markov chain → A^k and the sink → next-token probabilities → perplexity → bits and compression → what
//! a head contributes → what each layer predicts → what the sink carries. Each has a few sentences in English and Traditional Chinese (one table per language,
//! [`EN`] and [`ZH_HANT`]), the figure it talks about, and a question whose answer is checked on the reader's
//! own text and explained with the reader's numbers ([`step`], from the checks in `checks.rs`).

use serde::{Deserialize, Serialize};

use super::checks::check;
pub use super::facts::Facts;
pub use super::text::{StepText, EN, STEPS, ZH_HANT};

/// The lesson's languages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Lang {
    /// English.
    #[default]
    #[value(name = "en")]
    #[serde(rename = "en", alias = "En")]
    En,
    /// Traditional Chinese, the language of the note this project grew from.
    #[value(name = "zh-Hant")]
    #[serde(rename = "zh-Hant", alias = "ZhHant")]
    ZhHant,
}

impl Lang {
    /// Both languages, for the switch.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhHant];

    /// The language's name in itself.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::ZhHant => "繁體中文",
        }
    }

    fn table(self) -> &'static [StepText; STEPS] {
        match self {
            Lang::En => &EN,
            Lang::ZhHant => &ZH_HANT,
        }
    }
}

/// The figure a step talks about, drawn live on the reader's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Figure {
    /// The tokens with their ids.
    Tokens,
    /// The selected head's pre-softmax scores QKᵀ/√d, unmasked.
    Scores,
    /// The selected head's attention matrix.
    Attention,
    /// The selected head's graph.
    Graph,
    /// The Markov statistics of the selected head.
    Markov,
    /// Mass on token 0 after k steps, k = 1..8.
    Powers,
    /// Each token's probability.
    Probabilities,
    /// The running perplexity.
    Perplexity,
    /// Bits and bytes.
    Bits,
    /// The head grid coloured by contribution to the last token's logit.
    Heads,
    /// The logit lens at the last-but-one token: each layer's top guess and the next token's probability.
    Lens,
}

/// The step that takes the last token's logit apart (its figure is the head grid).
pub const ATTRIBUTION_STEP: usize = 9;

/// The step that reads every layer's prediction (the logit lens).
pub const LENS_STEP: usize = 10;

/// What each step shows.
pub const FIGURES: [Figure; STEPS] = [
    Figure::Tokens,
    Figure::Scores,
    Figure::Attention,
    Figure::Graph,
    Figure::Markov,
    Figure::Powers,
    Figure::Probabilities,
    Figure::Perplexity,
    Figure::Bits,
    Figure::Heads,
    Figure::Lens,
    Figure::Attention,
];

/// Step `index`'s text in `lang` (`index` is taken modulo [`STEPS`]).
pub fn text(lang: Lang, index: usize) -> &'static StepText {
    // index % STEPS < STEPS, the table's length.
    &lang.table()[index % STEPS]
}

/// One step of the lesson as the reader meets it on their text: what `attngraph lesson` prints and the app
/// draws.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepReport {
    /// From 1.
    pub number: usize,
    /// The title.
    pub title: String,
    /// The step's sentences, joined.
    pub text: String,
    /// The question asked before anything is revealed.
    pub question: String,
    /// The choices.
    pub choices: Vec<String>,
    /// The index of the right choice on this text; `None` where the step does not apply.
    pub answer: Option<usize>,
    /// Whether the text and model have what the question needs.
    pub applicable: bool,
    /// Why not, when not.
    pub reason: Option<String>,
    /// What the check shows once the reader has answered, with the reader's numbers; `None` where the step
    /// does not apply.
    pub reveal: Option<String>,
    /// The token positions the check looked at (BOS included when prepended); empty when none.
    pub positions: Vec<usize>,
    /// A remark beside the answer (the model has no circuit the question counts on, say); `None` without one.
    pub note: Option<String>,
}

/// The whole lesson on one text and head.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LessonReport {
    /// The language.
    pub lang: Lang,
    /// The twelve steps.
    pub steps: Vec<StepReport>,
}

/// Every step on the reader's text.
pub fn report(lang: Lang, f: &Facts<'_>) -> LessonReport {
    LessonReport {
        lang,
        steps: (0..STEPS).map(|i| step(lang, i, f)).collect(),
    }
}

/// Step `index` (from 0, taken modulo [`STEPS`]) on the reader's text.
pub fn step(lang: Lang, index: usize, f: &Facts<'_>) -> StepReport {
    let index = index % STEPS;
    let t = text(lang, index);
    let zh = lang == Lang::ZhHant;
    let (answer, positions, reveal, reason, note) = match check(index, f) {
        Ok(c) => (
            Some(c.answer),
            c.positions,
            Some(if zh { c.zh } else { c.en }),
            None,
            c.note.map(|(en, z)| if zh { z } else { en }),
        ),
        Err(n) => (
            None,
            Vec::new(),
            None,
            Some(if zh { n.zh } else { n.en }),
            None,
        ),
    };
    StepReport {
        number: index + 1,
        title: t.title.to_string(),
        text: t.body.join(" "),
        question: t.question.to_string(),
        choices: t.choices.iter().map(|c| c.to_string()).collect(),
        applicable: answer.is_some(),
        answer,
        reason,
        reveal,
        positions,
        note,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_has_text_in_both_languages() {
        for lang in Lang::ALL {
            for i in 0..STEPS {
                let t = text(lang, i);
                assert!(
                    !t.title.is_empty() && (2..=5).contains(&t.body.len()),
                    "{lang:?} {i}"
                );
                assert!(t.choices.len() >= 2 && !t.question.is_empty());
                // The two languages ask the same question: the same number of choices.
                assert_eq!(t.choices.len(), text(Lang::En, i).choices.len());
            }
        }
    }
}
