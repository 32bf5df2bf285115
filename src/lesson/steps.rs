//! The lesson's steps, in the order they build on each other: tokens → Q·K scores → softmax rows → the graph →
//! the Markov chain → A^k and the sink → next-token probabilities → perplexity → bits and compression → what
//! a head contributes. Each has a few sentences in English and Traditional Chinese (one table per language,
//! [`EN`] and [`ZH_HANT`]), the figure it talks about, and a question whose answer is checked on the reader's
//! own text ([`answer`]) and explained with the reader's numbers ([`reveal`]).

use serde::{Deserialize, Serialize};

use super::explain::Explanation;
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

/// The text of one step in one language.
pub struct StepText {
    /// The step's title.
    pub title: &'static str,
    /// Two to five sentences.
    pub body: &'static [&'static str],
    /// The question the reader answers before the app checks it.
    pub question: &'static str,
    /// The choices.
    pub choices: &'static [&'static str],
}

/// How many steps.
pub const STEPS: usize = 10;

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

/// The answer explained with the reader's numbers.
pub fn reveal(lang: Lang, index: usize, f: &Facts<'_>) -> String {
    let e = f.explanation;
    let zh = lang == Lang::ZhHant;
    match index {
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
            let (m1, m8) = (
                e.mass_on_token0.first().copied().unwrap_or(f64::NAN),
                e.mass_on_token0.last().copied().unwrap_or(f64::NAN),
            );
            if zh {
                format!("走 1 步後有 {m1:.2} 的機率質量在詞元 0，走 8 步後有 {m8:.2}。反覆相乘會把機率質量都排進詞元 0（匯點），所以 A^k 說的多半是匯點，而不是語意。")
            } else {
                format!("{m1:.2} of the walkers are on token 0 after one step, {m8:.2} after eight. Repeated steps drain everything into token 0, the sink, so A^k says more about the sink than about meaning.")
            }
        }
        6 => match f.repeat() {
            Some((token, first, second)) => {
                let (p1, p2) = (
                    f.logprob(first).unwrap_or(f64::NAN).exp(),
                    f.logprob(second).unwrap_or(f64::NAN).exp(),
                );
                if zh {
                    format!("{token} 第一次（位置 {first}）的機率是 {p1:.3}，第二次（位置 {second}）是 {p2:.3}。")
                } else {
                    format!("{token} had probability {p1:.3} the first time (position {first}) and {p2:.3} the second (position {second}).")
                }
            }
            None => String::new(),
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
                let best = best
                    .map(|(l, h, v)| format!("{l}.{h} ({v:+.2})"))
                    .unwrap_or_default();
                if zh {
                    format!("{} 的 logit 為 {:.2}：所有注意力頭合計 {heads:+.2}，所有 MLP 合計 {mlps:+.2}，嵌入 {:+.2}。直接貢獻最大的頭是 {best}。這只是直接效果：在網格上把它剔除（knock out），就能看到總效果。", a.target.text, a.logit, a.embeddings)
                } else {
                    format!("Of the logit {:.2} of {:?}: all heads together add {heads:+.2}, all MLPs {mlps:+.2}, the embeddings {:+.2}. The head adding most directly is {best}. That is the direct effect only: knock it out in the grid to see the whole effect.", a.logit, a.target.text, a.embeddings)
                }
            }
            None => String::new(),
        },
        _ => String::new(),
    }
}

/// English.
pub static EN: [StepText; STEPS] = [
    StepText {
        title: "1 · Text becomes tokens",
        body: &[
            "The model never sees letters. A tokenizer cuts your text into pieces from a fixed vocabulary and the model reads their ids.",
            "Common words are one token; rare words, names and Chinese characters are split into several, down to single bytes.",
            "Each token becomes one row and one column of every attention matrix, so the matrix grows as the square of the token count.",
        ],
        question: "Compared with the words in your text (split at spaces), how many tokens does the model read?",
        choices: &["fewer tokens than words", "exactly one per word", "more tokens than words"],
    },
    StepText {
        title: "2 · Queries, keys and the score matrix",
        body: &[
            "Each token makes a query (what it looks for) and a key (what it offers) with learned weights.",
            "Score S[i][j] = q_i · k_j / √d says how well token i's query matches token j's key.",
            "The figure shows one head's S before the causal mask, over every pair.",
        ],
        question: "Is the score matrix S symmetric (S[i][j] = S[j][i])?",
        choices: &["yes", "no"],
    },
    StepText {
        title: "3 · Softmax rows",
        body: &[
            "The causal mask hides every later token, then softmax turns each row of scores into probabilities.",
            "Row i now says where token i looks: its entries are ≥ 0 and add up to 1.",
            "Entropy measures how spread a row is: 0 bits when it looks at one token only.",
        ],
        question: "What is the entropy of token 0's row?",
        choices: &["0 bits", "1 bit", "log₂(number of tokens) bits"],
    },
    StepText {
        title: "4 · The attention graph",
        body: &[
            "Read the matrix as a directed graph: tokens are nodes, A[i][j] is the weight of the edge i → j.",
            "The figure draws the strongest edges of the selected head.",
            "Hover a token to see where it looks.",
        ],
        question: "Without the self-loops, is this graph a DAG (no path that comes back to where it started)?",
        choices: &["yes", "no"],
    },
    StepText {
        title: "5 · A Markov chain",
        body: &[
            "A matrix whose rows are probabilities is a Markov transition matrix.",
            "Put a walker on token i; at each step it moves to token j with probability A[i][j].",
            "A state the walker never leaves is absorbing.",
        ],
        question: "Which token is absorbing?",
        choices: &["token 0", "another token", "none"],
    },
    StepText {
        title: "6 · Many steps: A^k and the sink",
        body: &[
            "A^k holds where walkers stand after k steps.",
            "The figure plots the share of walkers on token 0 for k = 1 to 8, started one on each token.",
            "Trained models also park spare attention on token 0 (a sink), so this drain is strong in real heads.",
        ],
        question: "After 8 steps, what share of the walkers is on token 0?",
        choices: &["less than half", "more than half"],
    },
    StepText {
        title: "7 · Next-token probabilities",
        body: &[
            "Attention mixes information between tokens; MLPs compute on each token; at the end, position t gives a probability to every possible next token.",
            "The table shows p(x_t | x_<t) of each token of your text, with the model's top guesses.",
            "Repeats are a test: a model with an induction head copies what followed the first time.",
        ],
        question: "Does a token your text repeats get a higher probability the second time?",
        choices: &["yes, higher", "no, lower"],
    },
    StepText {
        title: "8 · Perplexity",
        body: &[
            "Multiply the probabilities of every token given the ones before it and you get the probability of the whole text: the chain rule.",
            "Perplexity is exp of the mean negative log-probability: the inverse geometric mean of those probabilities.",
            "The plot shows it running along your text.",
        ],
        question: "Guess your text's perplexity.",
        choices: &["below 10", "10 to 100", "above 100"],
    },
    StepText {
        title: "9 · Bits and compression",
        body: &[
            "−log₂ p is the number of bits an ideal coder driven by the model spends on a token.",
            "Summed over the text and divided by its bytes, that is bits per byte, comparable across tokenizers and with gzip.",
            "A model that predicts well compresses well: the two are one quantity (Shannon).",
        ],
        question: "Does the model need fewer than the 8 bits per byte that plain text takes?",
        choices: &["yes, fewer", "no, 8 or more"],
    },
    StepText {
        title: "10 · What a head contributes",
        body: &[
            "Attention is communication between tokens; the MLP is computation inside each token.",
            "Both add vectors to one residual stream, and the final logit is a sum of their shares: direct logit attribution.",
            "The grid colours every head by its share of the last token's logit; knock a head out to see its whole effect.",
        ],
        question: "Which adds more to the last token's logit directly?",
        choices: &["all attention heads together", "all MLPs together"],
    },
];

/// Traditional Chinese.
pub static ZH_HANT: [StepText; STEPS] = [
    StepText {
        title: "1 · 文字變成詞元",
        body: &[
            "模型看不到字母。分詞器把文字切成固定詞彙表裡的片段，模型讀的是它們的編號。",
            "常見的詞是一個詞元；罕見的詞、人名和中文字會被切成好幾個，甚至單一位元組。",
            "每個詞元都是每個注意力矩陣的一列與一行，所以矩陣隨詞元數的平方增長。",
        ],
        question: "和你文字中的詞（以空白分開）相比，模型讀到幾個詞元？",
        choices: &["詞元比詞少", "每個詞剛好一個", "詞元比詞多"],
    },
    StepText {
        title: "2 · 查詢、鍵與分數矩陣",
        body: &[
            "每個詞元用學到的權重做出一個查詢（它在找什麼）和一個鍵（它提供什麼）。",
            "分數 S[i][j] = q_i · k_j / √d 表示詞元 i 的查詢和詞元 j 的鍵有多相配。",
            "圖中是某一個頭在因果遮罩之前、所有配對的 S。",
        ],
        question: "分數矩陣 S 是對稱的嗎（S[i][j] = S[j][i]）？",
        choices: &["是", "不是"],
    },
    StepText {
        title: "3 · Softmax 之後的每一列",
        body: &[
            "因果遮罩把後面的詞元都遮住，softmax 再把每一列分數變成機率。",
            "第 i 列說明詞元 i 看向哪裡：每一格 ≥ 0，總和為 1。",
            "熵衡量一列有多分散：只看一個詞元時是 0 位元。",
        ],
        question: "詞元 0 那一列的熵是多少？",
        choices: &["0 位元", "1 位元", "log₂(詞元數) 位元"],
    },
    StepText {
        title: "4 · 注意力圖",
        body: &[
            "把矩陣讀成有向圖：詞元是節點，A[i][j] 是邊 i → j 的權重。",
            "圖中畫出所選注意力頭最強的邊。",
            "把游標移到詞元上，看它看向哪裡。",
        ],
        question: "去掉自環之後，這張圖是有向無環圖（DAG，沒有繞回原點的路徑）嗎？",
        choices: &["是", "不是"],
    },
    StepText {
        title: "5 · 馬可夫鏈",
        body: &[
            "每一列都是機率分布的矩陣，就是馬可夫轉移矩陣。",
            "把一個隨機漫步者放在詞元 i；每一步它以機率 A[i][j] 走到詞元 j。",
            "隨機漫步者永遠離不開的狀態叫吸收態。",
        ],
        question: "哪個詞元是吸收態？",
        choices: &["詞元 0", "別的詞元", "沒有"],
    },
    StepText {
        title: "6 · 走很多步：A^k 與匯點",
        body: &[
            "A^k 記錄走 k 步之後隨機漫步者在哪裡。",
            "圖中畫出 k = 1 到 8 時，詞元 0 上的平均機率質量。",
            "訓練過的模型也會把多餘的注意力停在詞元 0（匯點），所以在真實的頭裡，機率質量流向詞元 0 特別明顯。",
        ],
        question: "走 8 步之後，有多少機率質量停在詞元 0？",
        choices: &["不到一半", "超過一半"],
    },
    StepText {
        title: "7 · 下一個詞元的機率",
        body: &[
            "注意力在詞元之間交換資訊；MLP 在每個詞元內部計算；最後，位置 t 給每一個可能的下一個詞元一個機率。",
            "表中是你文字裡每個詞元的 p(x_t | x_<t)，以及模型的前幾個猜測。",
            "重複是一種測試：有歸納頭的模型會複製第一次出現之後的內容。",
        ],
        question: "文字裡重複出現的詞元，第二次的機率會比較高嗎？",
        choices: &["會，比較高", "不會，比較低"],
    },
    StepText {
        title: "8 · 困惑度",
        body: &[
            "把每個詞元在前文條件下的機率相乘，就得到整段文字的機率：這就是鏈式法則。",
            "困惑度是平均負對數機率的指數：那些機率幾何平均的倒數。",
            "圖中畫出它沿著你的文字變化。",
        ],
        question: "猜猜你的文字的困惑度。",
        choices: &["小於 10", "10 到 100", "大於 100"],
    },
    StepText {
        title: "9 · 位元與壓縮",
        body: &[
            "−log₂ p 是由模型驅動的理想編碼器花在一個詞元上的位元數。",
            "加總後除以位元組數，就是每位元組位元數，可以跨分詞器比較，也能和 gzip 比。",
            "預測得好就壓縮得好：兩者是同一個量（夏農）。",
        ],
        question: "模型需要的位元數，會少於純文字的每位元組 8 位元嗎？",
        choices: &["會，比較少", "不會，8 或更多"],
    },
    StepText {
        title: "10 · 一個頭貢獻了什麼",
        body: &[
            "注意力是詞元之間的溝通；MLP 是每個詞元內部的計算。",
            "兩者都把向量加進同一條殘差流，最後的 logit 就是它們各自份額的總和：直接 logit 歸因。",
            "網格依每個頭對最後一個詞元 logit 的份額上色；把一個頭剔除，就能看到它的總效果。",
        ],
        question: "哪一個對最後一個詞元的 logit 直接貢獻比較多？",
        choices: &["所有注意力頭合計", "所有 MLP 合計"],
    },
];

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
