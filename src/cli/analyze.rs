//! `attngraph analyze`: each token's probability, surprisal, rank, entropy and top-k, and every head's
//! attention in JSON.

use std::io::Write;

use anyhow::bail;

use super::args::{AnalyzeFormat, BosArgs, ModelArgs};
use crate::model::AnalyzeOptions;

/// `attngraph analyze`.
pub fn analyze(
    model: &ModelArgs,
    text: &str,
    bos: BosArgs,
    top_k: usize,
    scores: bool,
    norms: bool,
    format: AnalyzeFormat,
) -> anyhow::Result<()> {
    if norms && format != AnalyzeFormat::Json {
        bail!("--norms adds arrays to the JSON: use it with --format json");
    }
    if text.is_empty() {
        bail!("--text is empty: give a sentence, e.g. --text \"I love tennis.\"");
    }
    let engine = model.load()?;
    let bos = bos.enabled(&engine, false);
    let options = AnalyzeOptions {
        bos,
        top_k,
        keep_scores: scores,
        norms,
        ..Default::default()
    };
    let analysis = engine.analyze(text, &options)?;
    let mut out = std::io::stdout().lock();
    match format {
        AnalyzeFormat::Json => {
            let mut value = serde_json::to_value(&analysis)?;
            flatten_stats(&mut value);
            if let Some(obj) = value.as_object_mut() {
                obj.insert("model_name".into(), engine.name().into());
                if norms {
                    let n = crate::model::norms::Norms::of(&analysis)?;
                    obj.insert("norms".into(), serde_json::to_value(&n.norms)?);
                    obj.insert("layer_norms".into(), serde_json::to_value(&n.layer_norms)?);
                    obj.insert("value_norms".into(), serde_json::to_value(&n.value_norms)?);
                }
            }
            serde_json::to_writer(&mut out, &value)?;
            writeln!(out)?;
        }
        AnalyzeFormat::Table => {
            writeln!(
                out,
                "{:>4}  {:<16} {:>6}  {:>9}  {:>9}  {:>6}  {:>8}  {:>10}  top alternatives",
                "pos", "token", "id", "p", "surprisal", "rank", "entropy", "PPL_t"
            )?;
            for (pos, token) in analysis.tokens.iter().enumerate() {
                let label = token.display.clone();
                match &token.stats {
                    Some(s) => {
                        let alts: Vec<String> = s
                            .top_k
                            .iter()
                            .take(3)
                            .map(|a| format!("{} {:.3}", crate::format::token(&a.text), a.prob))
                            .collect();
                        writeln!(
                            out,
                            "{pos:>4}  {label:<16} {:>6}  {:>9.3e}  {:>6.2} b  {:>6}  {:>6.2} b  {:>10.2}  {}",
                            token.id,
                            s.logprob.exp(),
                            s.surprisal_bits,
                            s.rank,
                            s.entropy_bits,
                            s.running_perplexity,
                            alts.join(", ")
                        )?;
                    }
                    None => writeln!(
                        out,
                        "{pos:>4}  {label:<16} {:>6}  (context only: not scored)",
                        token.id
                    )?,
                }
            }
            match analysis.perplexity {
                Some(ppl) => writeln!(
                    out,
                    "perplexity {ppl:.3} over {} scored tokens ({}, {})",
                    analysis.scored().count(),
                    engine.name(),
                    if analysis.bos {
                        "with BOS"
                    } else {
                        "no BOS: the first token is not scored"
                    }
                )?,
                None => writeln!(
                    out,
                    "perplexity: nothing scored (one token and no BOS; try --bos)"
                )?,
            }
        }
    }
    Ok(())
}

/// The JSON contract puts each token's statistics beside its id (`logprob` null where not scored).
fn flatten_stats(value: &mut serde_json::Value) {
    let Some(tokens) = value.get_mut("tokens").and_then(|t| t.as_array_mut()) else {
        return;
    };
    for token in tokens {
        let Some(obj) = token.as_object_mut() else {
            continue;
        };
        let stats = obj.remove("stats").unwrap_or(serde_json::Value::Null);
        for key in [
            "logprob",
            "surprisal_bits",
            "rank",
            "entropy_bits",
            "top_k",
            "running_perplexity",
        ] {
            let v = stats.get(key).cloned().unwrap_or(if key == "top_k" {
                serde_json::Value::Array(Vec::new())
            } else {
                serde_json::Value::Null
            });
            obj.insert(key.to_string(), v);
        }
    }
}
