//! `attngraph ablate --prompts FILE`: heads knocked out over a file of texts, one a line, each read alone, the
//! figures pooled over every scored token: a set of heads together (`--heads`), or every head alone in turn
//! (`--all-heads`).

use std::io::Write;

use anyhow::Context;

use super::args::{progress_bar, EffectFormat};
use super::effects::{by_perplexity, replaced, AblateArgs};
use crate::model::ablation::{self, Replacement};

/// `attngraph ablate --prompts FILE`: the heads knocked out over every text of the file.
pub fn ablate_over_texts(args: &AblateArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let texts = super::args::read_prompts(file)?;
    let engine = args.model.load()?;
    let bos = args.bos.enabled(&engine, false);
    if let Some(heads) = &args.heads {
        return ablate_set_over_texts(args, &engine, bos, heads, file, &texts);
    }
    let info = engine.info();
    let heads = info.n_layer * info.n_head;
    let bar = progress_bar(texts.len() * heads, "heads", args.quiet);
    // Each text's sweep is added to the sums and dropped: a long file is not kept whole.
    let mut pool = ablation::SweepPool::default();
    let shown = file.display();
    for (i, (line, text)) in texts.iter().enumerate() {
        let swept = ablation::sweep(&engine, text, bos, args.replace_with, &mut |done, _| {
            bar.set_position((i * heads + done) as u64);
            true
        });
        match swept {
            Ok(sweep) => pool.add(&sweep),
            Err(err) => {
                bar.finish_and_clear();
                return Err(super::args::line_error(err, &shown, *line, engine.name()));
            }
        }
    }
    bar.finish_and_clear();
    // `texts` is not empty (read_prompts refuses a file of none), and each sweep scores a token.
    let pooled = pool.finish().context("no token of the file was scored")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        EffectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&pooled)?)?,
        EffectFormat::Csv => write!(out, "{}", pooled_sweep_csv(&pooled))?,
        EffectFormat::Table => write!(out, "{}", pooled_sweep_table(&pooled, &shown.to_string()))?,
    }
    Ok(())
}

/// Heads by the perplexity without them, highest first, over every text.
fn pooled_sweep_table(sweep: &ablation::PooledSweep, file: &str) -> String {
    let mut s = format!(
        "every head alone {}, over {} of {file} ({} scored); perplexity {:.3} with every head in place\n\n",
        replaced_in_each_text(sweep.replacement, true),
        crate::format::count(sweep.texts, "text", "texts"),
        crate::format::count(sweep.scored_tokens, "token", "tokens"),
        sweep.baseline_perplexity
    );
    s.push_str(&format!(
        "{:>6}  {:>11} {:>9}  {:>14}\n",
        "head", "perplexity", "change", "Δ ln p a token"
    ));
    for (l, h, cell) in by_perplexity(&sweep.sweep, |c| c.ablated_perplexity) {
        s.push_str(&format!(
            "{:>6}  {:>11.3} {:>+8.1}%  {:>+14.4}\n",
            format!("{l}.{h}"),
            cell.ablated_perplexity,
            100.0 * (cell.ablated_perplexity / sweep.baseline_perplexity - 1.0),
            cell.mean_delta_logprob,
        ));
    }
    s
}

/// One row per head: `layer,head,ablated_perplexity,mean_delta_logprob,replacement`.
fn pooled_sweep_csv(sweep: &ablation::PooledSweep) -> String {
    let mut out = String::from("layer,head,ablated_perplexity,mean_delta_logprob,replacement\n");
    for (layer, heads) in sweep.sweep.iter().enumerate() {
        for (head, cell) in heads.iter().enumerate() {
            out.push_str(&format!(
                "{layer},{head},{},{},{}\n",
                cell.ablated_perplexity,
                cell.mean_delta_logprob,
                sweep.replacement.name()
            ));
        }
    }
    out
}

/// As the one-text tables say what became of the heads, with the means each text's own.
fn replaced_in_each_text(replacement: Replacement, one: bool) -> &'static str {
    match (replacement, one) {
        (Replacement::Zero, _) => replaced(replacement, one),
        (Replacement::Mean, true) => {
            "mean-ablated (its values set to their means over each text's positions)"
        }
        (Replacement::Mean, false) => {
            "mean-ablated (their values set to their means over each text's positions)"
        }
    }
}

/// `attngraph ablate --heads … --prompts FILE`: the heads knocked out together in every text of the file.
fn ablate_set_over_texts(
    args: &AblateArgs,
    engine: &crate::model::Engine,
    bos: bool,
    heads: &crate::model::HeadSet,
    file: &std::path::Path,
    texts: &[(usize, String)],
) -> anyhow::Result<()> {
    // Heads the model lacks are said of --heads, before any line is read.
    let info = engine.info();
    heads.check(info.n_layer, info.n_head)?;
    let bar = progress_bar(texts.len(), "texts", args.quiet);
    let shown = file.display();
    // Each text's line and its perplexity intact and without the heads; its ablation is added to the sums and
    // dropped.
    let mut pool = ablation::AblationPool::default();
    let mut lines = Vec::with_capacity(texts.len());
    for (line, text) in texts {
        match ablation::ablate(engine, text, bos, heads, args.replace_with) {
            Ok(a) => {
                lines.push((*line, a.baseline_perplexity, a.ablated_perplexity));
                pool.add(&a);
            }
            Err(err) => {
                bar.finish_and_clear();
                return Err(super::args::line_error(err, &shown, *line, engine.name()));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    // `texts` is not empty (read_prompts refuses a file of none), and each ablation scores a token.
    let pooled = pool.finish().context("no token of the file was scored")?;
    let mut out = std::io::stdout().lock();
    match args.format {
        EffectFormat::Json => {
            /// The pooled figures, and each text's by its line.
            #[derive(serde::Serialize)]
            struct WithLines<'a> {
                #[serde(flatten)]
                pooled: &'a ablation::PooledAblation,
                per_text: Vec<PerText>,
            }
            #[derive(serde::Serialize)]
            struct PerText {
                line: usize,
                baseline_perplexity: f64,
                ablated_perplexity: f64,
            }
            let per_text = lines
                .iter()
                .map(|&(line, baseline_perplexity, ablated_perplexity)| PerText {
                    line,
                    baseline_perplexity,
                    ablated_perplexity,
                })
                .collect();
            let json = WithLines {
                pooled: &pooled,
                per_text,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&json)?)?;
        }
        EffectFormat::Csv => {
            writeln!(
                out,
                "line,baseline_perplexity,ablated_perplexity,replacement"
            )?;
            for (line, base, abl) in &lines {
                writeln!(out, "{line},{base},{abl},{}", pooled.replacement.name())?;
            }
        }
        EffectFormat::Table => {
            let heads: Vec<String> = pooled
                .heads
                .iter()
                .map(|[l, h]| format!("{l}.{h}"))
                .collect();
            let one = heads.len() == 1;
            writeln!(
                out,
                "{} {} {} over {} of {shown} ({} scored): perplexity {:.3} → {:.3} ({:+.1} %)\n",
                if one { "head" } else { "heads" },
                heads.join(","),
                replaced_in_each_text(pooled.replacement, one),
                crate::format::count(pooled.texts, "text", "texts"),
                crate::format::count(pooled.scored_tokens, "token", "tokens"),
                pooled.baseline_perplexity,
                pooled.ablated_perplexity,
                100.0 * (pooled.ablated_perplexity / pooled.baseline_perplexity - 1.0),
            )?;
            writeln!(
                out,
                "{:>6}  {:>11} {:>11} {:>9}",
                "line", "intact", "without", "change"
            )?;
            let mut rows = lines.clone();
            // The texts whose perplexity rises most without the heads first.
            rows.sort_by(|a, b| (b.2 / b.1).total_cmp(&(a.2 / a.1)));
            for (line, base, abl) in rows {
                writeln!(
                    out,
                    "{line:>6}  {base:>11.3} {abl:>11.3} {:>+8.1}%",
                    100.0 * (abl / base - 1.0)
                )?;
            }
        }
    }
    Ok(())
}
