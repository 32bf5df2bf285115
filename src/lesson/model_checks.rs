//! The checks of the steps that read the model beyond one head: what the heads and MLPs add to the last
//! logit (10), what each layer predicts (11) and what the sink carries (12).

use super::facts::{na, plain, Checked, Facts, NotApplicable};

/// Checks step `index` (from 9 on) on the reader's text.
pub(super) fn check(index: usize, f: &Facts<'_>) -> Result<Checked, NotApplicable> {
    let e = f.explanation;
    let last = e.tokens.saturating_sub(1);
    match index {
        9 => {
            let Some(a) = f.attribution else {
                return Err(na(
                    "Taking the last token's logit apart…",
                    "正在拆解最後一個詞元的 logit…",
                ));
            };
            let heads: f64 = a.heads.iter().flatten().sum();
            let mlps: f64 = a.mlp.iter().sum();
            let biases: f64 = a.attention_bias.iter().sum();
            let best = a
                .heads
                .iter()
                .enumerate()
                .flat_map(|(l, hs)| hs.iter().enumerate().map(move |(h, &v)| (l, h, v)))
                .reduce(|x, y| if y.2 > x.2 { y } else { x })
                .map_or_else(|| "—".to_string(), |(l, h, v)| format!("{l}.{h} ({v:+.2})"));
            let target = crate::format::token(&a.target.text);
            // Only LayerNorm (GPT-2) has a shift β; RMSNorm (Qwen2, Llama) has none to name.
            let (beta_en, beta_zh) = if f.analysis.model.layer_norm {
                (
                    format!(", the final LayerNorm's β {:+.2}", a.ln_bias),
                    format!("、最後 LayerNorm 的 β {:+.2}", a.ln_bias),
                )
            } else {
                (String::new(), String::new())
            };
            Ok(plain(
                usize::from(heads <= mlps),
                vec![a.position],
                format!(
                    "Of the logit {:.2} of {target} at position {}: all heads {heads:+.2}, all MLPs {mlps:+.2}, the embeddings {:+.2}, the attention output biases {biases:+.2}{beta_en}; together {:.2}. The head adding most directly is {best}. That is the direct effect only, with the final norm's 1/σ frozen: knock the head out in the grid to see its whole effect.",
                    a.logit, a.position, a.embeddings, a.total()
                ),
                format!(
                    "位置 {} 對 {target} 的 logit 是 {:.2}：所有頭合計 {heads:+.2}、所有 MLP 合計 {mlps:+.2}、嵌入 {:+.2}、注意力輸出偏差項 {biases:+.2}{beta_zh}；加起來是 {:.2}。直接貢獻最多的頭是 {best}。這只是固定最後正規化層的 1/σ 時的直接效果：在網格上把它移除，才看得到總效果。",
                    a.position, a.logit, a.embeddings, a.total()
                ),
            ))
        }
        10 => {
            let Some(lens) = f.lens else {
                return Err(na(
                    "Reading every layer's prediction…",
                    "正在讀取每一層的預測…",
                ));
            };
            let tokens = &f.analysis.tokens;
            let (Some(next), Some(pos)) = (tokens.last(), tokens.len().checked_sub(2)) else {
                return Err(na(
                    "The text is one token: nothing before it predicts it. Add a word.",
                    "文字只有一個詞元：它前面沒有東西可以預測它。多打一個字。",
                ));
            };
            let output = lens.len().saturating_sub(1);
            let top = |l: usize| lens.get(l).and_then(|c| c.top_k.first());
            let first = (0..=output).find(|&l| top(l).is_some_and(|g| g.id == next.id));
            let answer = match first {
                Some(0) => 0,
                Some(l) if l < output => 1,
                Some(_) => 2,
                None => 3,
            };
            // Each row's top guess, the row named by `name`.
            let guesses = |name: fn(usize, usize) -> String| -> Vec<String> {
                (0..=output)
                    .filter_map(|l| {
                        let g = top(l)?;
                        Some(format!(
                            "{}: {} {}",
                            name(l, output + 1),
                            crate::format::token(&g.text),
                            crate::format::percent(g.prob.ln())
                        ))
                    })
                    .collect()
            };
            let climb: Vec<String> = (0..=output)
                .filter_map(|l| {
                    let lp = lens.get(l)?.next_logprob?;
                    Some(crate::format::percent(lp))
                })
                .collect();
            let after = crate::format::token(&tokens[pos].text);
            let target = crate::format::token(&next.text);
            let (en_first, zh_first) = match first {
                Some(l) if l == output => (
                    format!("{target} becomes the top guess only at the output"),
                    format!("{target} 要到輸出才成為第一猜測"),
                ),
                Some(l) => (
                    format!(
                        "{target} first becomes the top guess at {}",
                        crate::model::lens::row_name(l, output + 1)
                    ),
                    format!(
                        "{target} 在 {} 第一次成為第一猜測",
                        crate::model::lens::row_name(l, output + 1)
                    ),
                ),
                None => (
                    format!("{target} is the top guess at no layer"),
                    format!("{target} 在任何一層都不是第一猜測"),
                ),
            };
            Ok(plain(
                answer,
                vec![pos, pos + 1],
                format!(
                    "After {after} (position {pos}), each layer's top guess — {}. {en_first}; its probability layer by layer: {}.",
                    guesses(crate::model::lens::row_name).join(", "),
                    climb.join(" → ")
                ),
                format!(
                    "在 {after}（位置 {pos}）之後，每一層的第一猜測——{}。{zh_first}；它一層一層的機率：{}。",
                    guesses(crate::model::lens::row_name).join("、"),
                    climb.join(" → ")
                ),
            ))
        }
        11 => {
            let Some(carried) = f.carried else {
                return Err(na(
                    "Weighing what the head moves from each token…",
                    "正在計算這個頭從每個詞元搬走多少…",
                ));
            };
            let total: f64 = carried.iter().sum();
            let (Some(&to_sink), true) = (carried.first(), total > 0.0 && last >= 1) else {
                return Err(na(
                    "The last token is token 0 itself, or the head moves nothing to it: type a few words.",
                    "最後一個詞元就是詞元 0，或這個頭什麼都沒搬給它：多打幾個字。",
                ));
            };
            let (layer, head) = (e.layer, e.head);
            let attention = f64::from(f.analysis.attentions.get(layer, head, last, 0));
            let share = to_sink / total;
            // ‖f(x_j)‖ = carried_j / α_j where α_j > 0: the sink's vector against the others' on average.
            let norm = |j: usize| {
                let a = f64::from(f.analysis.attentions.get(layer, head, last, j));
                (a > 0.0).then(|| carried[j] / a)
            };
            let others: Vec<f64> = (1..carried.len()).filter_map(norm).collect();
            let mean_others = others.iter().sum::<f64>() / others.len().max(1) as f64;
            let sink_norm = norm(0).map_or_else(|| "—".to_string(), |v| format!("{v:.2}"));
            Ok(plain(
                usize::from(share >= attention),
                vec![0, last],
                format!(
                    "Token 0 gets {} of the last token's attention in head {layer}.{head} and {} of what the head moves to it: ||f(x_0)|| = {sink_norm}, against {mean_others:.2} on average for the other tokens.",
                    crate::format::percent(attention.ln()),
                    crate::format::percent(share.ln())
                ),
                format!(
                    "在頭 {layer}.{head} 裡，詞元 0 得到最後一個詞元 {} 的注意力，卻只占這個頭搬給它的 {}：||f(x_0)|| = {sink_norm}，其他詞元平均是 {mean_others:.2}。",
                    crate::format::percent(attention.ln()),
                    crate::format::percent(share.ln())
                ),
            ))
        }
        _ => Err(na("No such step.", "沒有這一步。")),
    }
}
