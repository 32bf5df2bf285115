//! `attngraph perplexity`: sliding-window perplexity of files, as Hugging Face's guide computes it.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context};

use super::args::{read_text, BosArgs, ModelArgs};
use crate::model::perplexity::WindowOptions;

/// Arguments of `attngraph perplexity`.
#[derive(Debug, clap::Args)]
pub struct PerplexityArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// Tokens between window starts [default: max length / 2].
    #[arg(long)]
    pub stride: Option<usize>,
    /// Tokens per window [default: the model's context, n_positions].
    #[arg(long)]
    pub max_length: Option<usize>,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Windows run through the model together (more memory; the numbers do not change).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PerplexityFormat::Table)]
    pub format: PerplexityFormat,
    /// Also write one CSV row per window (begin, end, trg_len, n_scored, mean_nll).
    #[arg(long)]
    pub per_window: Option<PathBuf>,
    /// Also write one CSV row per scored token (position, token, nll, bits, p, window): where the text
    /// surprised the model.
    #[arg(long)]
    pub per_token: Option<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Text files, joined with a blank line ("\n\n") as the guide joins WikiText; `-` reads stdin.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
}

/// Tokens the table names as the most surprising.
const MOST_SURPRISING: usize = 5;

/// A file's name as a message shows it: `stdin` for `-`.
fn shown(path: &std::path::Path) -> String {
    if path.as_os_str() == "-" {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PerplexityFormat {
    /// Lines for people (`text`, its older name, still works).
    #[value(alias = "text")]
    Table,
    /// One JSON object.
    Json,
}

/// Runs the command.
pub fn perplexity(args: &PerplexityArgs) -> anyhow::Result<()> {
    if args.files.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        bail!("- (stdin) is given more than once: stdin can be read once; give it once, or save it to a file");
    }
    let texts = args
        .files
        .iter()
        .map(|path| {
            let text = read_text(path)?;
            // Joined to the others, an empty file would add a blank line of its own to be scored.
            if text.is_empty() {
                bail!(
                    "{} is empty: there is nothing in it to score; leave it out, or check that it was saved",
                    shown(path)
                );
            }
            Ok(text)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let text = texts.join("\n\n");
    // A refused output path is said before the windows are scored, not after.
    for path in [&args.per_window, &args.per_token].into_iter().flatten() {
        crate::export::check_target(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.per_window.is_some() && args.per_window == args.per_token {
        bail!("--per-window and --per-token name the same file: give each its own");
    }
    let engine = args.model.load()?;
    let max_length = args.max_length.unwrap_or(engine.info().n_positions);
    let stride = args.stride.unwrap_or((max_length / 2).max(1));
    let (ids, spans) = engine.tokenize(&text, false)?;
    let bos = args.bos.enabled(&engine, false);
    if spans.is_empty() {
        bail!("the input has no text to score: give a file with some text in it");
    }
    let bar = super::args::progress_bar(ids.len(), "tokens", args.quiet);
    let mut progress = |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    if args.batch == 0 {
        bail!("--batch 0: give at least 1 (windows run through the model together)");
    }
    let options = WindowOptions {
        max_length,
        stride,
        bos,
        batch: args.batch,
    };
    let report = crate::model::perplexity::sliding_window(&engine, &ids, options, &mut progress)?;
    // The spans are the text's own, one per token of the report less BOS.
    let Some(scored_bytes) = report.scored_bytes(text.len(), &spans, bos) else {
        bail!("internal error: the tokens' byte spans do not fit the text or the windows");
    };
    // A text of one token without BOS stops at sliding_window (too short): scored_bytes is not 0 here.
    let bits_per_byte = report.bits_per_byte(scored_bytes);
    bar.finish_and_clear();
    if let Some(path) = &args.per_window {
        let mut csv = String::from("begin,end,trg_len,n_scored,mean_nll\n");
        for w in &report.windows {
            csv.push_str(&format!(
                "{},{},{},{},{}\n",
                w.begin, w.end, w.trg_len, w.n_scored, w.mean_nll
            ));
        }
        crate::export::write_atomic(path, csv.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    // Labels only where they are written: the per-token CSV and the table's most surprising tokens.
    let tokens = if args.per_token.is_some() || args.format == PerplexityFormat::Table {
        crate::session::scoring::token_labels(&engine, &text, &ids, &spans, bos)?
    } else {
        Vec::new()
    };
    if let Some(path) = &args.per_token {
        let Some(csv) = crate::export::per_token_csv(&report, &tokens) else {
            bail!(
                "internal error: {} token labels for a scoring of {} tokens",
                tokens.len(),
                report.tokens
            );
        };
        crate::export::write_atomic(path, csv.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        PerplexityFormat::Json => {
            let mut value = serde_json::to_value(&report)?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("model".into(), engine.name().into());
                obj.insert("max_length".into(), max_length.into());
                obj.insert("stride".into(), stride.into());
                obj.insert("bos".into(), bos.into());
                obj.insert("scored_bytes".into(), scored_bytes.into());
                obj.insert("bits_per_byte".into(), bits_per_byte.into());
            }
            serde_json::to_writer(&mut out, &value)?;
            writeln!(out)?;
        }
        PerplexityFormat::Table => {
            writeln!(
                out,
                "{}: {}, {} scored, {} of {max_length}, stride {stride}{}",
                engine.name(),
                crate::format::count(report.tokens, "token", "tokens"),
                report.predicted_tokens,
                crate::format::count(report.windows.len(), "window", "windows"),
                if bos {
                    ", BOS first"
                } else {
                    "; no BOS: the first token is context only (the app puts the model's BOS first, as --bos does)"
                }
            )?;
            writeln!(
                out,
                "perplexity (token-weighted, exact)      {:.4}",
                report.ppl.token
            )?;
            writeln!(
                out,
                "perplexity (mean of window losses)      {:.4}   HF guide 2023-24",
                report.ppl.window_mean
            )?;
            writeln!(
                out,
                "perplexity (Σ loss·trg_len / end)       {:.4}   HF guide late 2022",
                report.ppl.hf_legacy
            )?;
            writeln!(
                out,
                "bits per byte                           {bits_per_byte:.4}   over {scored_bytes} scored bytes"
            )?;
            let listed: Vec<String> = report
                .most_surprising(MOST_SURPRISING)
                .iter()
                .map(|&(position, nll)| {
                    // Windows score positions of the text with BOS, whose labels `tokens` holds one each.
                    let text = &tokens[position];
                    format!(
                        "{text} {:.1} bits (token {position})",
                        nll / std::f64::consts::LN_2
                    )
                })
                .collect();
            writeln!(out, "most surprising: {}", listed.join(", "))?;
        }
    }
    Ok(())
}
