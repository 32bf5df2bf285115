//! `attngraph analyze`: each token's probability, surprisal, rank, entropy and top-k, and every head's
//! attention in JSON.

use std::io::Write;

use anyhow::{bail, Context};
use serde::Serialize;

use super::args::{AnalyzeFormat, AnalyzeOutput, BosArgs, ModelArgs};
use crate::export::{write_analysis, write_atomic_with, NpzError};
use crate::model::norms::Norms;
use crate::model::{Analysis, AnalyzeOptions, KeepScores};

/// `attngraph analyze`.
pub fn analyze(
    model: &ModelArgs,
    text: &str,
    bos: BosArgs,
    output: &AnalyzeOutput,
) -> anyhow::Result<()> {
    let AnalyzeOutput {
        top_k,
        scores,
        norms,
        format,
        ref npz,
    } = *output;
    for (asked, flag) in [(scores, "--scores"), (norms, "--norms")] {
        if asked && format != AnalyzeFormat::Json && npz.is_none() {
            bail!("{flag} adds arrays to the JSON or the .npz: use it with --format json or --npz FILE");
        }
    }
    // A refused output path is said before the model runs, not after.
    if let Some(path) = npz.as_deref() {
        crate::export::check_target(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let engine = model.load()?;
    let bos = bos.enabled(&engine, false);
    let options = AnalyzeOptions {
        bos,
        top_k,
        keep_scores: if scores {
            KeepScores::All
        } else {
            KeepScores::None
        },
        norms,
        ..Default::default()
    };
    let analysis = engine.analyze(text, &options)?;
    let norms = norms.then(|| Norms::of(&analysis)).transpose()?;
    if let Some(path) = npz.as_deref() {
        write_atomic_with(path, |file| {
            write_analysis(std::io::BufWriter::new(file), &analysis, norms.as_ref())?
                .flush()
                .map_err(NpzError::from)
        })
        .with_context(|| format!("cannot write {}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    match format {
        AnalyzeFormat::Json => {
            let mut out = std::io::BufWriter::new(out);
            serde_json::to_writer(
                &mut out,
                &AnalysisJson::of(&analysis, engine.name(), norms.as_ref()),
            )?;
            writeln!(out)?;
            out.flush()?;
        }
        AnalyzeFormat::Table => {
            writeln!(
                out,
                "{:>4}  {:<16} {:>6}  {:>10}  {:>9}  {:>6}  {:>8}  {:>10}  top alternatives",
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
                            .map(|a| {
                                format!(
                                    "{} {}",
                                    crate::format::token(&a.text),
                                    crate::format::percent(a.prob.ln())
                                )
                            })
                            .collect();
                        writeln!(
                            out,
                            "{pos:>4}  {} {:>6}  {:>10}  {:>6.2} b  {:>6}  {:>6.2} b  {:>10.2}  {}",
                            crate::format::pad(&label, 16),
                            token.id,
                            crate::format::percent(s.logprob),
                            s.surprisal_bits,
                            s.rank,
                            s.entropy_bits,
                            s.running_perplexity,
                            alts.join(", ")
                        )?;
                    }
                    None => writeln!(
                        out,
                        "{pos:>4}  {} {:>6}  (context only: not scored)",
                        crate::format::pad(&label, 16),
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
                        "no BOS: the first token is not scored; the app puts the model's BOS first, as --bos does"
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

/// `analyze --format json`: the analysis and what was asked beside it, written as it is serialised, never held
/// as a JSON tree: at 1,024 tokens GPT-2 small's attention alone is 150 million numbers (the zeros above the
/// diagonal included), a tree of several gigabytes.
#[derive(Serialize)]
struct AnalysisJson<'a> {
    #[serde(flatten)]
    analysis: &'a Analysis,
    model_name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    norms: Option<&'a Vec<Vec<Vec<Vec<f64>>>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    layer_norms: Option<&'a Vec<Vec<Vec<f64>>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_norms: Option<&'a Vec<Vec<Vec<f64>>>>,
}

impl<'a> AnalysisJson<'a> {
    fn of(analysis: &'a Analysis, model_name: &'a str, norms: Option<&'a Norms>) -> Self {
        Self {
            analysis,
            model_name,
            norms: norms.map(|n| &n.norms),
            layer_norms: norms.map(|n| &n.layer_norms),
            value_norms: norms.map(|n| &n.value_norms),
        }
    }
}
