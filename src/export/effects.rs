//! What heads do to predictions, as CSV: an ablation, a sweep over every head, a direct logit attribution.
//! (Their JSON is the structs' own serde form.)

use super::escape::csv_field;
use crate::model::ablation::{Ablation, Sweep};
use crate::model::attribution::Attribution;

fn number(x: Option<f64>) -> String {
    x.map(|x| x.to_string()).unwrap_or_default()
}

/// One row per position: `position,id,token,baseline_logprob,ablated_logprob,delta_logprob` (empty where a
/// position is not scored).
pub fn ablation_csv(a: &Ablation) -> String {
    let mut out =
        String::from("position,id,token,baseline_logprob,ablated_logprob,delta_logprob\n");
    for (p, token) in a.tokens.iter().enumerate() {
        let at = |v: &[Option<f64>]| number(v.get(p).copied().flatten());
        out.push_str(&format!(
            "{p},{},{},{},{},{}\n",
            token.id,
            csv_field(&token.text),
            at(&a.baseline_logprob),
            at(&a.ablated_logprob),
            at(&a.delta_logprob),
        ));
    }
    out
}

/// One row per head and position: `layer,head,ablated_perplexity,position,token,delta_logprob`.
pub fn sweep_csv(s: &Sweep) -> String {
    let mut out = String::from("layer,head,ablated_perplexity,position,token,delta_logprob\n");
    for (layer, heads) in s.sweep.iter().enumerate() {
        for (head, cell) in heads.iter().enumerate() {
            for (p, (token, delta)) in s.tokens.iter().zip(&cell.delta_logprob).enumerate() {
                out.push_str(&format!(
                    "{layer},{head},{},{p},{},{}\n",
                    cell.ablated_perplexity,
                    csv_field(&token.text),
                    number(*delta),
                ));
            }
        }
    }
    out
}

/// One row per part: `part,layer,head,contribution` (layer and head empty where they do not apply), then the
/// logit they add up to.
pub fn attribution_csv(a: &Attribution) -> String {
    let mut out = String::from("part,layer,head,contribution\n");
    out.push_str(&format!("embeddings,,,{}\n", a.embeddings));
    for (layer, heads) in a.heads.iter().enumerate() {
        for (head, c) in heads.iter().enumerate() {
            out.push_str(&format!("head,{layer},{head},{c}\n"));
        }
        if let Some(b) = a.attention_bias.get(layer) {
            out.push_str(&format!("attention_bias,{layer},,{b}\n"));
        }
        if let Some(m) = a.mlp.get(layer) {
            out.push_str(&format!("mlp,{layer},,{m}\n"));
        }
    }
    out.push_str(&format!("ln_bias,,,{}\n", a.ln_bias));
    out.push_str(&format!("logit,,,{}\n", a.logit));
    out
}
