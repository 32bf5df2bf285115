//! The checks behind the lesson's questions: what each step reads on the reader's text and model ([`Facts`]),
//! the right choice there, the positions it looked at, and what the check reveals, in both languages — or why
//! the step does not apply.

use super::facts::{na, Checked, Facts, NotApplicable};

/// Checks step `index`'s question on the reader's text.
pub(super) fn check(index: usize, f: &Facts<'_>) -> Result<Checked, NotApplicable> {
    let e = f.explanation;
    let n = e.tokens;
    let last = n.saturating_sub(1);
    use super::facts::plain;
    match index {
        0 => {
            let (t, w) = (f.text_tokens(), f.words());
            let answer = match t.cmp(&w) {
                std::cmp::Ordering::Less => 0,
                std::cmp::Ordering::Equal => 1,
                std::cmp::Ordering::Greater => 2,
            };
            let m = &f.analysis.model;
            let table = (m.vocab_size * m.n_embd) as f64 / 1e6;
            let params = f.parameters() as f64 / 1e6;
            Ok(plain(
                answer,
                Vec::new(),
                format!(
                    "{} for {}, {} characters, {} bytes. Split into bytes, the attention matrix would have {} entries; as tokens it has {}. The vocabulary's size never enters this n × n matrix: a larger vocabulary only cuts a text into fewer tokens (a smaller n²), and pays with a larger embedding table ({} × {} = {table:.1} million of this model's {params:.1} million parameters), a wider softmax at the output, and rarer tokens, each seen less often in training.",
                    crate::format::count(t, "token", "tokens"), crate::format::count(w, "word", "words"), e.characters, e.bytes, e.attention_entries.bytes, e.attention_entries.tokens, m.vocab_size, m.n_embd
                ),
                format!(
                    "{t} 個詞元、{w} 個詞（以空白分開，每個漢字算一個）、{} 個字元、{} 個位元組。若切成位元組，注意力矩陣有 {} 格；以詞元計只有 {} 格。詞彙表的大小從不出現在這個 n × n 矩陣裡：較大的詞彙表只是把文字切成較少的詞元（n² 較小），代價是較大的嵌入表（{} × {} = {:.0} 萬，這個模型共約 {:.0} 萬個參數）、輸出端較寬的 softmax，以及較罕見、訓練時較少見到的詞元。",
                    e.characters, e.bytes, e.attention_entries.bytes, e.attention_entries.tokens, m.vocab_size, m.n_embd, table * 100.0, params * 100.0
                ),
            ))
        }
        1 => {
            if n < 2 {
                return Err(na(
                    "Your text is one token: there is no first and last to compare. Type a few words.",
                    "你的文字只有一個詞元，沒有第一個和最後一個可比。請多打幾個字。",
                ));
            }
            let (lf, fl) = (e.score_last_first, e.score_first_last);
            // With rotary positions each query and key is turned by its position first, so even symmetric
            // weights give S[i][j] ≠ S[j][i]; the formula below is for models with learned positions.
            let (rotary_en, rotary_zh) = if f.analysis.model.learned_positions {
                ("", "")
            } else {
                (
                    " This model rotates each query and key by its position (RoPE) before the product, so S[i][j] depends on i − j as well and is not symmetric even with symmetric weights; for a model with learned positions, as GPT-2:",
                    "這個模型在相乘之前，先依位置旋轉每個查詢和鍵（RoPE），所以 S[i][j] 也取決於 i − j，即使權重對稱也不對稱；以學習位置的模型（例如 GPT-2）來說：",
                )
            };
            let scale = lf.abs().max(fl.abs()).max(1.0);
            let answer = if (lf - fl).abs() <= 1e-6 * scale {
                2
            } else if lf > fl {
                0
            } else {
                1
            };
            Ok(plain(
                answer,
                vec![last, 0],
                format!(
                    "S[{last}][0] = {lf:.3} and S[0][{last}] = {fl:.3}; over the whole matrix ||S−Sᵀ||/||S|| = {:.3} (0 if it were symmetric). Here d_head = {}.{} S = X W_Q (X W_K)ᵀ / √d_head is symmetric on every text when W_Q W_Kᵀ is symmetric (and W_Q b_Kᵀ equals W_K b_Qᵀ), and otherwise generally not: different weights alone do not make it asymmetric, but a trained head is almost never symmetric — \"i looks for j\" is not \"j looks for i\".",
                    e.score_asymmetry, e.head_dim, rotary_en
                ),
                format!(
                    "S[{last}][0] = {lf:.3}，S[0][{last}] = {fl:.3}；整個矩陣的 ||S−Sᵀ||/||S|| = {:.3}（對稱則為 0）。這裡 d_head = {}。{}S = X W_Q (X W_K)ᵀ / √d_head 在 W_Q W_Kᵀ 對稱（且偏差項相符）時，任何文字的 S 都對稱，否則一般不對稱：權重不同本身並不保證不對稱，但訓練過的頭幾乎從不對稱——「i 找 j」不等於「j 找 i」。",
                    e.score_asymmetry, e.head_dim, rotary_zh
                ),
            ))
        }
        2 => {
            if last < 2 {
                return Err(na(
                    "With two tokens, the first one is also the one just before the last: the choices overlap. Type a few more words.",
                    "只有兩個詞元時，第一個也就是最後一個的前一個：選項重疊了。請多打幾個字。",
                ));
            }
            let j = e.last_row_argmax;
            let answer = if j == 0 {
                0
            } else if j + 1 == last {
                1
            } else if j == last {
                2
            } else {
                3
            };
            let stochastic_en = if e.row_stochastic {
                "Every row sums to 1 (checked)."
            } else {
                "Some row here does not sum to 1 within 1e-4: that would be a bug; please report it."
            };
            let stochastic_zh = if e.row_stochastic {
                "每一列的總和都是 1（已檢查）。"
            } else {
                "這裡有一列的總和與 1 相差超過 1e-4：這是錯誤，請回報。"
            };
            Ok(plain(
                answer,
                vec![j],
                format!(
                    "The last token ({}) gives {:.2} of its attention to position {j} ({}). {stochastic_en} Its output from this head is that mix of the value vectors, then W_O.",
                    f.token(last),
                    e.last_row_max,
                    f.token(j)
                ),
                format!(
                    "最後一個詞元（{}）把 {:.2} 的注意力給了位置 {j}（{}）。{stochastic_zh}這個頭對它的輸出，就是依這一列混合的值向量，再乘上 W_O。",
                    f.token(last),
                    e.last_row_max,
                    f.token(j)
                ),
            ))
        }
        3 => {
            let j = e.most_attended;
            let answer = if j == 0 {
                0
            } else if j == last {
                1
            } else {
                2
            };
            let share = 100.0 * e.most_attended_total / n as f64;
            let dag_en = if e.dag_without_self_loops {
                "Without its self-loops this head's graph is a DAG (checked); with them it is not."
            } else {
                "Without its self-loops this graph should be a DAG, and the check says it is not: that would be a bug; please report it."
            };
            let dag_zh = if e.dag_without_self_loops {
                "去掉自環後，這個頭的圖是有向無環圖（已檢查）；含自環則不是。"
            } else {
                "去掉自環後這張圖應該是有向無環圖，檢查卻說不是：這是錯誤，請回報。"
            };
            Ok(plain(
                answer,
                vec![j],
                format!(
                    "Column {j} ({}) receives {:.2} in all, {share:.0} % of the {n} rows' total. {dag_en}",
                    f.token(j),
                    e.most_attended_total
                ),
                format!(
                    "第 {j} 行（{}）總共收到 {:.2}，是 {n} 列總和的 {share:.0}%。{dag_zh}",
                    f.token(j),
                    e.most_attended_total
                ),
            ))
        }
        4 => {
            let h = e.last_row_entropy_bits;
            let absorbing = format!("{:?}", e.absorbing_states);
            Ok(plain(
                usize::from(h <= 1.0),
                vec![last],
                format!(
                    "The last token's row has {h:.2} bits: it attends to about 2^H = {:.1} tokens (of the {n} it can see, log₂ {n} = {:.2} bits if it spread evenly). Token 0's row is [1, 0, …], 0 bits. Absorbing states here: {absorbing}.",
                    h.exp2(),
                    (n as f64).log2()
                ),
                format!(
                    "最後一個詞元那一列有 {h:.2} 位元：它大約看向 2^H = {:.1} 個詞元（它能看到 {n} 個，若平均分散則是 log₂ {n} = {:.2} 位元）。詞元 0 那一列是 [1, 0, …]，0 位元。這裡的吸收態：{absorbing}。",
                    h.exp2(),
                    (n as f64).log2()
                ),
            ))
        }
        5 => {
            let (Some(&m1), Some(&m8), Some(&u1), Some(&u8)) = (
                e.mass_on_token0.first(),
                e.mass_on_token0.last(),
                e.uniform_mass_on_token0.first(),
                e.uniform_mass_on_token0.last(),
            ) else {
                return Err(na("The text has no tokens.", "文字沒有詞元。"));
            };
            Ok(plain(
                usize::from(m8 > 0.5),
                vec![0],
                format!(
                    "With one walker started on each token, {:.0} % of them are on token 0 after one step of this head and {:.0} % after eight. A uniform causal matrix of the same size would have {:.0} % and {:.0} %: every causal matrix drains into token 0; a sink only makes it faster.",
                    100.0 * m1,
                    100.0 * m8,
                    100.0 * u1,
                    100.0 * u8
                ),
                format!(
                    "每個詞元上各放一個隨機漫步者，這個頭走一步後有 {:.0}% 的漫步者在詞元 0，走八步後有 {:.0}%。同樣大小的均勻因果矩陣則是 {:.0}% 和 {:.0}%：每個因果矩陣都會流向詞元 0，匯點只是讓它更快。",
                    100.0 * m1,
                    100.0 * m8,
                    100.0 * u1,
                    100.0 * u8
                ),
            ))
        }
        6 => {
            // (t, t′, ln p at t, ln p at t′) for each repeat whose two positions are both predicted.
            let pairs: Vec<(usize, usize, f64, f64)> = e
                .repeat_positions
                .iter()
                .zip(&e.repeat_first_positions)
                .filter_map(|(&t, &first)| Some((t, first, f.logprob(t)?, f.logprob(first)?)))
                .collect();
            if pairs.is_empty() {
                return Err(na(
                    "No pair of tokens repeats in your text, so this question has no answer on it yet: say something twice (\"I love tennis. I love tennis.\").",
                    "你的文字裡沒有重複出現的一對詞元，這題還無法作答：把一句話說兩次（例如「I love tennis. I love tennis.」）。",
                ));
            }
            // `pairs` is not empty (checked above).
            let count = pairs.len() as f64;
            let second = pairs.iter().map(|p| p.2).sum::<f64>() / count;
            let first = pairs.iter().map(|p| p.3).sum::<f64>() / count;
            let at: Vec<String> = pairs.iter().map(|p| p.0.to_string()).collect();
            let was: Vec<String> = pairs.iter().map(|p| p.1.to_string()).collect();
            let note = match f.best_induction() {
                Some((l, h, score)) if score < 0.1 => Some((
                    format!("This model has no induction head on your text (best induction score {score:.2}, head {l}.{h}): it has no circuit that copies what followed the first time, so a repeat may not help it."),
                    format!("這個模型在你的文字上沒有歸納頭（最高的歸納分數是 {score:.2}，注意力頭 {l}.{h}）：它沒有照抄第一次之後內容的迴路，所以重複未必有幫助。"),
                )),
                _ => None,
            };
            let (best_en, best_zh) = match f.best_induction() {
                Some((l, h, s)) => (
                    format!(
                        " The strongest induction head on your text is {l}.{h} (score {s:.2})."
                    ),
                    format!("你的文字上歸納分數最高的頭是 {l}.{h}（{s:.2}）。"),
                ),
                None => (String::new(), String::new()),
            };
            Ok(Checked {
                answer: usize::from(second <= first),
                positions: pairs.iter().map(|p| p.0).collect(),
                en: format!(
                    "Pairs seen before end at positions {}; there the model gave {} (geometric mean), against {} at the pairs' first occurrences (positions {}).{best_en}",
                    at.join(", "),
                    crate::format::percent(second),
                    crate::format::percent(first),
                    was.join(", "),
                ),
                zh: format!(
                    "先前出現過的詞元對結束在位置 {}；模型在那裡給的機率是 {}（幾何平均），這些詞元對第一次出現時（位置 {}）是 {}。{best_zh}",
                    at.join("、"),
                    crate::format::percent(second),
                    was.join("、"),
                    crate::format::percent(first),
                ),
                note,
            })
        }
        7 => {
            let ppl = e.perplexity;
            let answer = if ppl < 10.0 {
                0
            } else if ppl <= 100.0 {
                1
            } else {
                2
            };
            let nats = -e.joint_log_prob / e.scored_tokens as f64;
            let vocab = f.analysis.model.vocab_size;
            let (scope_en, scope_zh) = if f.analysis.bos {
                ("the whole text (BOS in front)", "整段文字（前面有 BOS）")
            } else {
                (
                    "the text after its first token, p(x₂ … x_n | x₁) (without BOS the first token is not predicted)",
                    "第一個詞元之後的文字 p(x₂ … x_n | x₁)（沒有 BOS 時第一個詞元不被預測）",
                )
            };
            Ok(plain(
                answer,
                Vec::new(),
                format!(
                    "ln of the probability of {scope_en} is {:.2} over {} predicted tokens, so ln PPL = {nats:.3} nats per token ({:.3} bits) and PPL = {ppl:.2}. A uniform guess over this model's {vocab} tokens would give {vocab}; only probability 1 on every actual token gives 1. The attention matrices alone cannot give this number: the final logits do.",
                    e.joint_log_prob,
                    e.scored_tokens,
                    nats / std::f64::consts::LN_2
                ),
                format!(
                    "{scope_zh}的機率取 ln 是 {:.2}，共 {} 個被預測的詞元，所以 ln PPL = 每個詞元 {nats:.3} 奈特（{:.3} 位元），PPL = {ppl:.2}。在這個模型的 {vocab} 個詞元中均勻亂猜會得到 {vocab}；只有每個實際詞元都以機率 1 猜中，才會是 1。光靠注意力矩陣算不出這個數：要靠最後的 logits。",
                    e.joint_log_prob,
                    e.scored_tokens,
                    nats / std::f64::consts::LN_2
                ),
            ))
        }
        8 => {
            let (Some(bpb), Some(gzip)) = (e.bits_per_byte, e.gzip_bits_per_byte) else {
                return Err(na(
                    "No byte of your text is predicted (one character, without BOS): add text, or turn BOS on.",
                    "你的文字沒有任何位元組被預測（只有一個字元且沒有 BOS）：多打一些字，或打開 BOS。",
                ));
            };
            Ok(plain(
                usize::from(bpb >= gzip),
                Vec::new(),
                format!(
                    "The model: {:.1} bits for {} predicted bytes, {bpb:.2} bits per byte. gzip −9: {} bytes for the text's {}, {gzip:.2} bits per byte (its 18 bytes of header and trailer weigh a lot on a short text). Plain text: 8. Without BOS the model's figure leaves out the first token's bytes, which it does not predict.",
                    e.bits, e.scored_bytes, e.gzip_bytes, e.bytes
                ),
                format!(
                    "模型：{} 個被預測的位元組用了 {:.1} 位元，每位元組 {bpb:.2} 位元。gzip −9：文字的 {} 個位元組壓成 {} 個位元組，每位元組 {gzip:.2} 位元（它 18 個位元組的檔頭和檔尾，在短文字上占了很大比例）。純文字：8。沒有 BOS 時，模型的數字不含第一個詞元的位元組，因為它不預測那些。",
                    e.scored_bytes, e.bits, e.bytes, e.gzip_bytes
                ),
            ))
        }
        _ => super::model_checks::check(index, f),
    }
}
