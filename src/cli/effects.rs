//! `attngraph ablate` and `attngraph attribute`: which heads matter to what the model predicts.

use std::io::Write;

use anyhow::bail;

use super::args::{progress_bar, BosArgs, EffectFormat, ModelArgs, TextArgs};
use crate::export::{ablation_csv, attribution_csv, sweep_csv};
use crate::format::percent;
use crate::model::ablation::{self, Ablation, Replacement, Sweep};
use crate::model::attribution::{self, Attribution};
use crate::model::HeadSet;

/// `attngraph ablate`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["heads", "all_heads"])))]
pub struct AblateArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read, or a file of texts.
    #[command(flatten)]
    pub text: AblateText,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Heads to knock out together, as layer.head counting from 0: `--heads 0.3,2.1`.
    #[arg(long)]
    pub heads: Option<HeadSet>,
    /// Knock out every head alone, in turn, and report each.
    #[arg(long)]
    pub all_heads: bool,
    /// What a knocked-out head's attention-weighted values become.
    #[arg(long, value_enum, default_value_t = Replacement::Zero)]
    pub replace_with: Replacement,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EffectFormat::Table)]
    pub format: EffectFormat,
}

/// What `attngraph ablate` reads: `--text T` or `--text-file PATH` as every one-text command, or a file of
/// texts, one a line (`--prompts FILE`).
#[derive(Debug, Clone, clap::Args)]
#[group(required = true, multiple = false)]
pub struct AblateText {
    /// The text to read.
    #[arg(long)]
    pub text: Option<String>,
    /// Read the text from a UTF-8 file instead (a page, say; `-`: stdin), exactly as it is: its last newline is a
    /// token too.
    #[arg(long, value_name = "PATH")]
    pub text_file: Option<std::path::PathBuf>,
    /// A file of texts, one a line (blank lines skipped; -: stdin), each read alone, the heads knocked out over
    /// all of them: the perplexity of all their scored tokens without the set (--heads, and each text's), or
    /// without each head (--all-heads).
    #[arg(long, value_name = "FILE")]
    pub prompts: Option<std::path::PathBuf>,
}

/// `attngraph attribute`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("prediction").required(true).args(["position", "predict"])))]
pub struct AttributeArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// The position whose prediction (of the token at position + 1) is taken apart, counting from 0 with BOS
    /// included when prepended.
    #[arg(long)]
    pub position: Option<usize>,
    /// The token whose prediction is taken apart, numbered as the window's probability panel and `gui
    /// --predict` number it: `--predict P` is `--position P−1`.
    #[arg(long)]
    pub predict: Option<usize>,
    /// The token id whose logit to attribute; default: the token at position + 1, or the model's top
    /// prediction at the last position.
    #[arg(long)]
    pub target: Option<u32>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EffectFormat::Table)]
    pub format: EffectFormat,
}

/// Runs `attngraph ablate` on one text (a file of texts, `--prompts`, is the pooled module's).
pub fn ablate(args: &AblateArgs) -> anyhow::Result<()> {
    let text = TextArgs {
        text: args.text.text.clone(),
        text_file: args.text.text_file.clone(),
    }
    .read()?;
    let engine = args.model.load()?;
    let bos = args.bos.enabled(&engine, false);
    let mut out = std::io::stdout().lock();
    match &args.heads {
        Some(heads) => {
            if heads.is_empty() {
                bail!("--heads names no head: write layer.head, e.g. --heads 0.3");
            }
            let report = ablation::ablate(&engine, &text, bos, heads, args.replace_with)?;
            match args.format {
                EffectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
                EffectFormat::Csv => write!(out, "{}", ablation_csv(&report))?,
                EffectFormat::Table => write!(out, "{}", ablation_table(&report, heads))?,
            }
        }
        None => {
            let info = engine.info();
            let bar = progress_bar(info.n_layer * info.n_head, "heads", args.quiet);
            let report =
                ablation::sweep(&engine, &text, bos, args.replace_with, &mut |done, _| {
                    bar.set_position(done as u64);
                    true
                })?;
            bar.finish_and_clear();
            match args.format {
                EffectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
                EffectFormat::Csv => write!(out, "{}", sweep_csv(&report))?,
                EffectFormat::Table => write!(out, "{}", sweep_table(&report))?,
            }
        }
    }
    Ok(())
}

/// Runs `attngraph attribute`.
pub fn attribute(args: &AttributeArgs) -> anyhow::Result<()> {
    let position = match (args.position, args.predict) {
        (Some(position), _) => position,
        (None, Some(0)) => bail!(
            "--predict 0 names the first token, which nothing before it predicts: use --predict 1 or later (with --bos, 1 is the text's first token)"
        ),
        (None, Some(token)) => token - 1,
        (None, None) => bail!("say which prediction: --predict P (the token at P) or --position P (the logits at P)"),
    };
    let text = args.text.read()?;
    let engine = args.model.load()?;
    let report = attribution::attribute(
        &engine,
        &text,
        args.bos.enabled(&engine, false),
        position,
        args.target,
    )?;
    let mut out = std::io::stdout().lock();
    match args.format {
        EffectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        EffectFormat::Csv => write!(out, "{}", attribution_csv(&report))?,
        EffectFormat::Table => write!(out, "{}", attribution_table(&report))?,
    }
    Ok(())
}

/// How the tables say what became of the heads knocked out.
pub(super) fn replaced(replacement: Replacement, one: bool) -> &'static str {
    match (replacement, one) {
        (Replacement::Zero, true) => "knocked out (its values zeroed)",
        (Replacement::Zero, false) => "knocked out (their values zeroed)",
        (Replacement::Mean, true) => {
            "mean-ablated (its values set to their means over the positions read)"
        }
        (Replacement::Mean, false) => {
            "mean-ablated (their values set to their means over the positions read)"
        }
    }
}

/// Positions by the size of their change, biggest first.
fn ablation_table(a: &Ablation, heads: &HeadSet) -> String {
    let mut s = format!(
        "{} {heads} {}: perplexity {:.3} → {:.3} ({:+.1} %)\n\n",
        if heads.len() == 1 { "head" } else { "heads" },
        replaced(a.replacement, heads.len() == 1),
        a.baseline_perplexity,
        a.ablated_perplexity,
        100.0 * (a.ablated_perplexity / a.baseline_perplexity - 1.0)
    );
    s.push_str(&format!(
        "{:>4}  {:<18} {:>9} {:>9} {:>9}\n",
        "pos", "token", "p before", "p after", "Δ ln p"
    ));
    let mut rows: Vec<(usize, f64)> = a
        .delta_logprob
        .iter()
        .enumerate()
        .filter_map(|(p, d)| Some((p, (*d)?)))
        .collect();
    rows.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    for (p, d) in rows {
        let (Some(Some(before)), Some(Some(after)), Some(token)) = (
            a.baseline_logprob.get(p),
            a.ablated_logprob.get(p),
            a.tokens.get(p),
        ) else {
            continue;
        };
        s.push_str(&format!(
            "{p:>4}  {} {:>9} {:>9} {d:>+9.4}\n",
            crate::format::pad(&crate::format::token(&token.text), 18),
            percent(*before),
            percent(*after),
        ));
    }
    s
}

/// The cells of a [layer][head] grid with their layer and head, the highest `perplexity` first.
pub(super) fn by_perplexity<C>(
    grid: &[Vec<C>],
    perplexity: impl Fn(&C) -> f64,
) -> Vec<(usize, usize, &C)> {
    let mut cells: Vec<(usize, usize, &C)> = grid
        .iter()
        .enumerate()
        .flat_map(|(l, heads)| heads.iter().enumerate().map(move |(h, c)| (l, h, c)))
        .collect();
    cells.sort_by(|a, b| perplexity(b.2).total_cmp(&perplexity(a.2)));
    cells
}

/// Heads by how much their removal raises the perplexity, with the token each one matters to most.
fn sweep_table(sweep: &Sweep) -> String {
    let mut s = format!(
        "every head alone {}; perplexity {:.3} with every head in place\n\n",
        replaced(sweep.replacement, true),
        sweep.baseline_perplexity
    );
    s.push_str(&format!(
        "{:>6}  {:>11} {:>9}  {}\n",
        "head", "perplexity", "change", "the token it matters most to (Δ ln p)"
    ));
    for (l, h, cell) in by_perplexity(&sweep.sweep, |c| c.ablated_perplexity) {
        // Only a drop counts: a head whose removal raises every token's probability is needed by none.
        let worst = cell
            .delta_logprob
            .iter()
            .enumerate()
            .filter_map(|(p, d)| Some((p, (*d)?)))
            .filter(|(_, d)| *d < 0.0)
            .min_by(|a, b| a.1.total_cmp(&b.1));
        let token = worst
            .and_then(|(p, d)| {
                Some(format!(
                    "{} at {p} ({d:+.3})",
                    crate::format::token(&sweep.tokens.get(p)?.text)
                ))
            })
            .unwrap_or_else(|| "none: no token's probability drops without it".into());
        s.push_str(&format!(
            "{:>6}  {:>11.3} {:>+8.1}%  {token}\n",
            format!("{l}.{h}"),
            cell.ablated_perplexity,
            100.0 * (cell.ablated_perplexity / sweep.baseline_perplexity - 1.0),
        ));
    }
    s
}

/// Parts by the size of their contribution, biggest first.
fn attribution_table(a: &Attribution) -> String {
    // `attribute` checked position < tokens.len().
    let context = crate::format::token(&a.tokens[a.position].text);
    let mut s = format!(
        "position {} ({context}) predicting {} (id {}): logit {:.4}, p {}\n",
        a.position,
        crate::format::token(&a.target.text),
        a.target.id,
        a.logit,
        percent(a.logprob)
    );
    s.push_str(&format!(
        "the parts below add up to {:.4}; each is its direct effect on the logit through the final norm, with its scale frozen\n\n",
        a.total()
    ));
    let mut parts: Vec<(String, f64)> = vec![
        ("embeddings".into(), a.embeddings),
        ("ln_f bias".into(), a.ln_bias),
    ];
    for (l, heads) in a.heads.iter().enumerate() {
        parts.extend(
            heads
                .iter()
                .enumerate()
                .map(|(h, &c)| (format!("head {l}.{h}"), c)),
        );
    }
    parts.extend(
        a.attention_bias
            .iter()
            .enumerate()
            .map(|(l, &c)| (format!("attention bias {l}"), c)),
    );
    parts.extend(
        a.mlp
            .iter()
            .enumerate()
            .map(|(l, &c)| (format!("mlp {l}"), c)),
    );
    parts.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    s.push_str(&format!("{:<18} {:>10}\n", "part", "logit"));
    for (name, c) in parts {
        s.push_str(&format!("{name:<18} {c:>+10.4}\n"));
    }
    s
}

/// `attngraph explain`.
#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Layer of the head, from 0.
    #[arg(long, default_value_t = 0)]
    pub layer: usize,
    /// Head, from 0.
    #[arg(long, default_value_t = 0)]
    pub head: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = super::args::AnalyzeFormat::Table)]
    pub format: super::args::AnalyzeFormat,
}

/// Runs `attngraph explain`.
pub fn explain(args: &ExplainArgs) -> anyhow::Result<()> {
    let text = args.text.read()?;
    let engine = args.model.load()?;
    let analysis = engine.analyze(
        &text,
        &crate::model::AnalyzeOptions {
            bos: args.bos.enabled(&engine, false),
            top_k: 1,
            keep_scores: crate::model::KeepScores::Layer(args.layer),
            ..Default::default()
        },
    )?;
    let e = crate::lesson::explain::explain(&analysis, args.layer, args.head)?;
    let mut out = std::io::stdout().lock();
    if args.format == super::args::AnalyzeFormat::Json {
        writeln!(out, "{}", serde_json::to_string_pretty(&e)?)?;
        return Ok(());
    }
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mass: Vec<String> = e
        .mass_on_token0
        .iter()
        .enumerate()
        .map(|(k, m)| format!("A^{}: {m:.3}", k + 1))
        .collect();
    write!(
        out,
        "{} characters, {} bytes, {} tokens → attention matrices of {} (characters), {} (bytes), {} (tokens) entries\n\
         head {}.{}: score asymmetry ‖S−Sᵀ‖/‖S‖ = {:.3}; row-stochastic {}; a DAG without self-loops {}; absorbing {:?}\n\
         mass on token 0: {}\n\
         joint ln p = {:.4} over {} tokens → perplexity {:.3}, {:.1} bits, {} bits per byte ({} bytes)\n",
        e.characters,
        e.bytes,
        e.tokens,
        e.attention_entries.characters,
        e.attention_entries.bytes,
        e.attention_entries.tokens,
        e.layer,
        e.head,
        e.score_asymmetry,
        yes(e.row_stochastic),
        yes(e.dag_without_self_loops),
        e.absorbing_states,
        mass.join(", "),
        e.joint_log_prob,
        e.scored_tokens,
        e.perplexity,
        e.bits,
        e.bits_per_byte
            .map_or_else(|| "no".to_string(), |b| format!("{b:.3}")),
        e.scored_bytes,
    )?;
    Ok(())
}
