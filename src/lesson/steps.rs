//! The lesson's steps, in the order they build on each other: tokens → Q·K scores → softmax rows → the graph →
//! the Markov chain → A^k and the sink → next-token probabilities → perplexity → bits and compression → what
//! a head contributes. Each has a few sentences in English and Traditional Chinese (one table per language,
//! [`EN`] and [`ZH_HANT`]), the figure it talks about, and a question whose answer is checked on the reader's
//! own text ([`answer`]) and explained with the reader's numbers ([`reveal`]).

use serde::{Deserialize, Serialize};

use super::explain::Explanation;
pub use super::text::{StepText, EN, STEPS, ZH_HANT};
use crate::graph::heads::HeadScores;
use crate::model::attribution::Attribution;
use crate::model::Analysis;

/// The lesson's languages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum Lang {
    /// English.
    #[default]
    #[value(name = "en")]
    En,
    /// Traditional Chinese, the language of the note this project grew from.
    #[value(name = "zh-Hant")]
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
}

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
];

/// Step `index`'s text in `lang` (`index` is taken modulo [`STEPS`]).
pub fn text(lang: Lang, index: usize) -> &'static StepText {
    // index % STEPS < STEPS, the table's length.
    &lang.table()[index % STEPS]
}

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
}

impl Facts<'_> {
    fn words(&self) -> usize {
        self.analysis.text.split_whitespace().count()
    }

    fn text_tokens(&self) -> usize {
        self.analysis.tokens.iter().filter(|t| !t.is_bos).count()
    }

    /// The first token that occurs again, with the positions of its first two occurrences.
    fn repeat(&self) -> Option<(String, usize, usize)> {
        let tokens = &self.analysis.tokens;
        tokens.iter().enumerate().skip(1).find_map(|(j, t)| {
            let i = tokens
                .iter()
                .take(j)
                .position(|u| u.id == t.id && !u.is_bos)?;
            // Position 0 is never scored: a repeat counts only when both occurrences are.
            (i >= 1).then(|| (t.display.clone(), i, j))
        })
    }

    fn logprob(&self, position: usize) -> Option<f64> {
        Some(self.analysis.tokens.get(position)?.stats.as_ref()?.logprob)
    }

    fn best_induction(&self) -> f64 {
        self.head_scores
            .iter()
            .map(|s| s.induction)
            .fold(0.0, f64::max)
    }

    /// Parameters of a GPT-2 of this shape: embeddings, positions, 12·d² + 13·d per block, the final norm.
    fn parameters(&self) -> usize {
        let m = &self.analysis.model;
        let d = m.n_embd;
        (m.vocab_size + m.n_positions) * d + m.n_layer * (12 * d * d + 13 * d) + 2 * d
    }
}

/// The right choice of step `index`'s question on the reader's text, or `None` where the text or the model
/// lacks what the question needs ([`caveat`] says what).
pub fn answer(index: usize, f: &Facts<'_>) -> Option<usize> {
    let e = f.explanation;
    match index {
        0 => Some(match f.text_tokens().cmp(&f.words()) {
            std::cmp::Ordering::Less => 0,
            std::cmp::Ordering::Equal => 1,
            std::cmp::Ordering::Greater => 2,
        }),
        1 => Some(if e.score_asymmetry > 1e-3 { 1 } else { 0 }),
        // Token 0 sees only itself: its row is e₀, whose entropy is 0.
        2 => Some(0),
        3 => Some(if e.dag_without_self_loops { 0 } else { 1 }),
        4 => Some(match e.absorbing_states.as_slice() {
            [0] => 0,
            [] => 2,
            _ => 1,
        }),
        5 => Some(if e.mass_on_token0.last().copied()? > 0.5 {
            1
        } else {
            0
        }),
        6 => {
            let (_, first, second) = f.repeat()?;
            Some(if f.logprob(second)? > f.logprob(first)? {
                0
            } else {
                1
            })
        }
        7 => Some(if e.perplexity < 10.0 {
            0
        } else if e.perplexity <= 100.0 {
            1
        } else {
            2
        }),
        8 => Some(if e.bits_per_byte? < 8.0 { 0 } else { 1 }),
        9 => {
            let a = f.attribution?;
            let heads: f64 = a.heads.iter().flatten().sum();
            let mlps: f64 = a.mlp.iter().sum();
            Some(if heads > mlps { 0 } else { 1 })
        }
        _ => None,
    }
}

/// Where the reader's text or the current model lacks what step `index` needs: a sentence that says so, instead
/// of pretending.
pub fn caveat(lang: Lang, index: usize, f: &Facts<'_>) -> Option<String> {
    match (index, lang) {
        (6, _) if f.repeat().is_none() => Some(match lang {
            Lang::En => "Your text repeats no token, so this question has no answer on it yet: type a word twice (\"I love tennis. I love tennis.\").".into(),
            Lang::ZhHant => "你的文字沒有重複的詞元，這題還無法作答：把一個詞打兩次（例如 \"I love tennis. I love tennis.\"）。".into(),
        }),
        (6, _) if f.best_induction() < 0.1 => Some(match lang {
            Lang::En => format!(
                "This model has no induction head on your text (best induction score {:.2}): it has no circuit that copies what came after the first occurrence, so a repeat may not help it.",
                f.best_induction()
            ),
            Lang::ZhHant => format!(
                "這個模型在你的文字上沒有歸納頭（induction head，最高分 {:.2}）：它沒有複製「第一次出現之後是什麼」的迴路，所以重複未必有幫助。",
                f.best_induction()
            ),
        }),
        (9, _) if f.attribution.is_none() => Some(match lang {
            Lang::En => "Taking the last token's logit apart…".into(),
            Lang::ZhHant => "正在拆解最後一個詞元的 logit…".into(),
        }),
        _ => None,
    }
}

/// The answer explained with the reader's numbers; `None` where they lack what it needs (the step's
/// [`caveat`] says what).
pub fn reveal(lang: Lang, index: usize, f: &Facts<'_>) -> Option<String> {
    let e = f.explanation;
    let zh = lang == Lang::ZhHant;
    let text = match index {
        0 => {
            let (t, w) = (f.text_tokens(), f.words());
            if zh {
                format!("{t} 個詞元、{w} 個以空白分開的詞、{} 個字元、{} 個位元組。若以位元組為單位，注意力矩陣有 {} 格；以詞元為單位只有 {} 格：詞彙表越大，詞元越少，n² 越小，但嵌入表越大。", e.characters, e.bytes, e.attention_entries.bytes, e.attention_entries.tokens)
            } else {
                format!("{t} tokens for {w} words, {} characters, {} bytes. Split into bytes, the attention matrix would have {} entries; as tokens it has {}: a larger vocabulary means fewer tokens and a smaller n², at the cost of a larger embedding table.", e.characters, e.bytes, e.attention_entries.bytes, e.attention_entries.tokens)
            }
        }
        1 => {
            if zh {
                format!("‖S−Sᵀ‖/‖S‖ = {:.3}（對稱則為 0）。q_i·k_j 與 q_j·k_i 不同，因為查詢與鍵來自不同的權重 W_Q、W_K：「i 要找 j」不等於「j 要找 i」。", e.score_asymmetry)
            } else {
                format!("‖S−Sᵀ‖/‖S‖ = {:.3} (0 if it were symmetric). q_i·k_j differs from q_j·k_i because queries and keys come from different weights, W_Q and W_K: \"i looks for j\" is not \"j looks for i\".", e.score_asymmetry)
            }
        }
        2 => {
            let stochastic = if e.row_stochastic { "yes" } else { "no" };
            if zh {
                format!("詞元 0 只看得到自己：它那一列是 [1, 0, …]，熵為 0 位元。每一列總和都是 1（列隨機：{}）。", if e.row_stochastic { "是" } else { "否" })
            } else {
                format!("Token 0 can only see itself: its row is [1, 0, …], whose entropy is 0 bits. Every row sums to 1 (row-stochastic: {stochastic}).")
            }
        }
        3 => {
            if zh {
                format!(
                    "去掉自環後{}有向無環圖：因果遮罩讓每條邊都指向更早的詞元，不可能繞回來。",
                    if e.dag_without_self_loops {
                        "是"
                    } else {
                        "不是"
                    }
                )
            } else {
                format!("Without self-loops it {} a DAG: the causal mask makes every edge point to an earlier token, so no path comes back.", if e.dag_without_self_loops { "is" } else { "is not" })
            }
        }
        4 => {
            if zh {
                format!("吸收態：{:?}。走到詞元 0 就離不開了。鏈只能往過去走，永遠不能走向後面的詞元：它只能回頭看較早的詞元。", e.absorbing_states)
            } else {
                format!("Absorbing: {:?}. A walker that reaches token 0 never leaves. The chain only moves into the past, never to a later token: it can only look back to earlier tokens.", e.absorbing_states)
            }
        }
        5 => {
            let (&m1, &m8) = (e.mass_on_token0.first()?, e.mass_on_token0.last()?);
            if zh {
                format!("走 1 步後有 {m1:.2} 的機率質量在詞元 0，走 8 步後有 {m8:.2}。反覆相乘會把機率質量都排進詞元 0（匯點），所以 A^k 說的多半是匯點，而不是語意。")
            } else {
                format!("{m1:.2} of the walkers are on token 0 after one step, {m8:.2} after eight. Repeated steps drain everything into token 0, the sink, so A^k says more about the sink than about meaning.")
            }
        }
        6 => match f.repeat() {
            Some((token, first, second)) => {
                let (p1, p2) = (f.logprob(first)?.exp(), f.logprob(second)?.exp());
                if zh {
                    format!("{token} 第一次（位置 {first}）的機率是 {p1:.3}，第二次（位置 {second}）是 {p2:.3}。")
                } else {
                    format!("{token} had probability {p1:.3} the first time (position {first}) and {p2:.3} the second (position {second}).")
                }
            }
            None => return None,
        },
        7 => {
            if zh {
                format!("鏈式法則：p(x₁…x_n) = Π p(x_t | x_<t)，ln 聯合機率 = {:.2}（{} 個被評分的詞元）。困惑度 = exp({:.2}/{}) = {:.2}，也就是各機率幾何平均的倒數；只有每個預測都確定（p = 1）時才是最小值 1。注意力矩陣本身算不出困惑度：那要靠最後的 logits。", e.joint_log_prob, e.scored_tokens, -e.joint_log_prob, e.scored_tokens, e.perplexity)
            } else {
                format!("The chain rule: p(x₁…x_n) = Π p(x_t | x_<t), so ln of the joint probability is {:.2} over {} scored tokens. Perplexity = exp({:.2}/{}) = {:.2}, the inverse geometric mean of the probabilities; it is 1, its minimum, only if every prediction is certain. The attention matrix alone cannot give it: the final logits do.", e.joint_log_prob, e.scored_tokens, -e.joint_log_prob, e.scored_tokens, e.perplexity)
            }
        }
        8 => {
            let params = f.parameters() as f64 / 1e6;
            let bpb = e
                .bits_per_byte
                .map_or_else(|| "—".to_string(), |b| format!("{b:.2}"));
            if zh {
                format!("用 {:.1} 位元編碼 {} 個位元組：每位元組 {bpb} 位元（原始文字 8 位元，gzip 在一頁散文上約 3.9）。以模型驅動的算術編碼器大約就需要這麼多位元（夏農）。這個模型約有 {params:.1} 百萬個參數：它們是訓練文字的有損壓縮，只留下預測用得到的規律。", e.bits, e.scored_bytes)
            } else {
                format!("{:.1} bits for {} bytes: {bpb} bits per byte (plain text takes 8; gzip about 3.9 on a page of prose). An arithmetic coder driven by the model needs about that many (Shannon). The model has about {params:.1} million parameters: a lossy compression of its training text that keeps what helps prediction.", e.bits, e.scored_bytes)
            }
        }
        9 => match f.attribution {
            Some(a) => {
                let heads: f64 = a.heads.iter().flatten().sum();
                let mlps: f64 = a.mlp.iter().sum();
                let best = a
                    .heads
                    .iter()
                    .enumerate()
                    .flat_map(|(l, hs)| hs.iter().enumerate().map(move |(h, &v)| (l, h, v)))
                    .max_by(|x, y| x.2.total_cmp(&y.2));
                let (l, h, v) = best?;
                let best = format!("{l}.{h} ({v:+.2})");
                if zh {
                    format!("{} 的 logit 為 {:.2}：所有注意力頭合計 {heads:+.2}，所有 MLP 合計 {mlps:+.2}，嵌入 {:+.2}。直接貢獻最大的頭是 {best}。這只是直接效果：在網格上把它剔除（knock out），就能看到總效果。", a.target.text, a.logit, a.embeddings)
                } else {
                    format!("Of the logit {:.2} of {:?}: all heads together add {heads:+.2}, all MLPs {mlps:+.2}, the embeddings {:+.2}. The head adding most directly is {best}. That is the direct effect only: knock it out in the grid to see the whole effect.", a.logit, a.target.text, a.embeddings)
                }
            }
            None => return None,
        },
        _ => return None,
    };
    Some(text)
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
