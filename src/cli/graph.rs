//! `attngraph export`, `markov` and `heads`: the graph layer from the command line.

use std::io::Write;

use anyhow::{bail, Context};
use clap::ValueEnum;

use super::args::{BosArgs, ModelArgs, TextArgs};
use crate::export::{self, Format, Layout, Snapshot};
use crate::graph::{heads, EdgeWeight, Pruning, Selection};
use crate::model::{AnalyzeOptions, KeepScores};

/// Aggregates over heads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Aggregate {
    /// Mean over the heads of --layer.
    LayerMean,
    /// Entry-wise max over the heads of --layer.
    LayerMax,
    /// Mean over all heads.
    AllMean,
    /// Attention rollout (Abnar & Zuidema 2020).
    Rollout,
    /// Attention flow (max-flow; short texts only).
    Flow,
}

/// Which matrix, and which of its edges.
#[derive(Debug, Clone, clap::Args)]
pub struct SelectArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Layer of the head (or of --aggregate layer-mean / layer-max).
    #[arg(long)]
    pub layer: Option<usize>,
    /// Head within --layer.
    #[arg(long)]
    pub head: Option<usize>,
    /// An aggregate instead of one head.
    #[arg(long, value_enum, conflicts_with = "head")]
    pub aggregate: Option<Aggregate>,
    /// Keep edges with weight ≥ X.
    #[arg(long, default_value_t = 0.0)]
    pub threshold: f64,
    /// Keep the K heaviest edges per row (0: all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Keep the fewest edges per row whose weights reach P of the row.
    #[arg(long, default_value_t = 1.0)]
    pub mass: f64,
    /// Drop token 0 (the attention sink) and renormalise rows.
    #[arg(long)]
    pub drop_first: bool,
    /// What an edge weighs: the attention weight, what it carries ‖α·f(x)‖ relative to the largest edge
    /// (Kobayashi et al., 2020), or each row's share of what flows. For a head or --aggregate layer-mean.
    #[arg(long, value_enum, default_value_t = EdgeWeight::Attention)]
    pub weight: EdgeWeight,
}

impl SelectArgs {
    fn selection(&self) -> anyhow::Result<Selection> {
        Ok(match (self.aggregate, self.layer, self.head) {
            (None, Some(layer), Some(head)) => Selection::Head { layer, head },
            (None, _, _) => bail!("choose a matrix: --layer L --head H, or --aggregate layer-mean|layer-max|all-mean|rollout|flow"),
            (Some(Aggregate::LayerMean), Some(l), _) => Selection::LayerMean(l),
            (Some(Aggregate::LayerMax), Some(l), _) => Selection::LayerMax(l),
            (Some(Aggregate::LayerMean | Aggregate::LayerMax), None, _) => bail!("--aggregate layer-mean and layer-max need --layer L"),
            (Some(aggregate @ (Aggregate::AllMean | Aggregate::Rollout | Aggregate::Flow)), Some(l), _) => bail!(
                "--layer {l} has no effect with --aggregate {}: it spans every layer; leave --layer out, or use --aggregate layer-mean --layer {l}",
                aggregate.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string())
            ),
            (Some(Aggregate::AllMean), None, _) => Selection::AllMean,
            (Some(Aggregate::Rollout), None, _) => Selection::Rollout,
            (Some(Aggregate::Flow), None, _) => Selection::Flow,
        })
    }

    fn pruning(&self) -> anyhow::Result<Pruning> {
        if !(0.0..=1.0).contains(&self.threshold) {
            bail!("--threshold {} must be between 0 and 1", self.threshold);
        }
        if !(self.mass > 0.0 && self.mass <= 1.0) {
            bail!("--mass {} must be in (0, 1]", self.mass);
        }
        Ok(Pruning {
            threshold: self.threshold,
            top_k: self.top_k,
            mass: self.mass,
            drop_first: self.drop_first,
        })
    }

    /// Loads the model, analyses the text, and builds the snapshot; `output`, where the result will be written,
    /// is checked once the text is read and before the model runs.
    fn snapshot(
        &self,
        layout: Layout,
        teleport: f64,
        steps: usize,
        output: Option<&std::path::Path>,
    ) -> anyhow::Result<Snapshot> {
        let selection = self.selection()?;
        let pruning = self.pruning()?;
        let text = self.text.read()?;
        if let Some(path) = output {
            export::check_target(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let engine = self.model.load()?;
        let analysis = engine.analyze(
            &text,
            &AnalyzeOptions {
                bos: self.bos.enabled(&engine, false),
                top_k: 1,
                keep_scores: KeepScores::None,
                // The norms of what flows, in the analysis's own pass, when the edges weigh them.
                norms: self.weight != EdgeWeight::Attention,
                ..Default::default()
            },
        )?;
        let flow = analysis.flow.clone();
        Ok(Snapshot::weighted(
            engine.name(),
            &analysis,
            selection,
            pruning,
            layout,
            teleport,
            steps,
            self.weight,
            flow.as_deref(),
        )?)
    }
}

/// `attngraph export`.
pub fn export(
    args: &SelectArgs,
    layout: Layout,
    format: Option<Format>,
    output: &std::path::Path,
) -> anyhow::Result<()> {
    let Some(format) = format.or_else(|| Format::from_path(output)) else {
        bail!(
            "which format? {} names none: give --format svg|png|dot|graphml|json|csv, or an -o ending in one of those",
            output.display()
        );
    };
    if output.as_os_str() == "-" && format == Format::Png {
        bail!("PNG is binary: give a file with -o, e.g. -o graph.png");
    }
    let written = (output.as_os_str() != "-").then_some(output);
    let snap = args.snapshot(layout, crate::markov::DEFAULT_TELEPORT, 1, written)?;
    let bytes = export::render_bytes(&snap, format).map_err(|err| {
        let too_large = matches!(
            &err,
            export::RenderError::Png(export::PngError::Size(..))
        );
        let err = anyhow::Error::from(err);
        if too_large {
            err.context("the graph is too wide for one PNG: give -o graph.svg, or --layout circle, or a shorter text")
        } else {
            err
        }
    })?;
    if output.as_os_str() == "-" {
        std::io::stdout().lock().write_all(&bytes)?;
        return Ok(());
    }
    export::write_atomic(output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    // The command line keeps every edge unless told (the window hides those under 0.02): say which.
    eprintln!(
        "wrote {} ({} tokens, {} edges of weight ≥ {}{}, {})",
        output.display(),
        snap.graph.token_count(),
        snap.graph.edge_count(),
        snap.pruning.threshold,
        if snap.pruning.top_k > 0 {
            format!(", each token's {} strongest", snap.pruning.top_k)
        } else {
            String::new()
        },
        snap.title()
    );
    Ok(())
}

/// `attngraph markov`.
pub fn markov(args: &SelectArgs, teleport: f64, steps: usize, json: bool) -> anyhow::Result<()> {
    if !(teleport > 0.0 && teleport <= 1.0) {
        bail!("--teleport {teleport} must be in (0, 1]");
    }
    if args.weight != EdgeWeight::Attention {
        bail!(
            "a Markov chain is the attention itself (its rows sum to 1); what flows is not one: drop --weight, or export the weighted graph with `attngraph export --weight {}`",
            args.weight.name().replace('_', "-")
        );
    }
    // The Markov statistics read the whole matrix; pruning only thins the edges a picture draws.
    let pruned = [
        (args.threshold != 0.0, "--threshold"),
        (args.top_k != 0, "--top-k"),
        (args.mass != 1.0, "--mass"),
        (args.drop_first, "--drop-first"),
    ];
    if let Some((_, flag)) = pruned.iter().find(|(given, _)| *given) {
        bail!(
            "{flag} prunes the edges that `attngraph export` draws; the Markov statistics read the whole matrix, rows summing to 1: leave {flag} out"
        );
    }
    let snap = args.snapshot(Layout::Arc, teleport, steps, None)?;
    let mut out = std::io::stdout().lock();
    let r = &snap.markov;
    if json {
        serde_json::to_writer(&mut out, r)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} — {} ({})",
        snap.model,
        snap.title(),
        crate::format::count(snap.graph.token_count(), "token", "tokens")
    )?;
    writeln!(
        out,
        "row-stochastic: {}   DAG without self-loops: {}   row 0 = e0: {}   absorbing: {:?}   sink mass: {:.3}",
        r.is_row_stochastic, r.is_dag_without_self_loops, r.row0_is_e0, r.absorbing_states, r.sink_mass
    )?;
    // With --steps K > 1, two more columns from A^K: the share of a walker from row i that is on token 0 after
    // K steps, and the token it is most likely on then.
    let k_columns = steps > 1;
    let mut header = format!(
        "{:>4}  {:<16} {:>8} {:>9} {:>9} {:>9} {:>9}",
        "pos", "token", "row sum", "H bits", "2^H", "E[steps]", "rank π"
    );
    if k_columns {
        header += &format!(
            " {:>9}  {:<20}",
            format!("A^{steps}→0"),
            format!("A^{steps} most")
        );
    }
    writeln!(out, "{}", header.trim_end())?;
    let tokens: Vec<_> = snap.graph.tokens().collect();
    for (i, t) in tokens.iter().enumerate() {
        let mut line = format!(
            "{i:>4}  {} {:>8.5} {:>9.3} {:>9.2} {:>9.3} {:>9.4}",
            crate::format::pad(&crate::format::shorten(&t.text, 16), 16),
            // The report has one entry per token in each of these lists.
            r.row_sums[i],
            r.row_entropy_bits[i],
            r.effective_attended[i],
            r.expected_steps[i],
            r.teleport_ranking[i],
        );
        if k_columns {
            let row = r.k_step.row(i);
            // A^K is n × n, so row i has an entry for token 0 and a largest entry.
            let (most, mass) = row
                .iter()
                .copied()
                .enumerate()
                .fold(
                    (0, row[0]),
                    |best, (j, v)| {
                        if v > best.1 {
                            (j, v)
                        } else {
                            best
                        }
                    },
                );
            line += &format!(
                " {:>9.4}  {:<20}",
                row[0],
                format!(
                    "{most} {} {mass:.3}",
                    crate::format::shorten(&tokens[most].text, 10)
                )
            );
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    writeln!(out, "π: stationary distribution with teleport α = {teleport}; E[steps]: expected steps to absorption")?;
    if k_columns {
        writeln!(
            out,
            "A^{steps}→0: the share of a walk from each token that is on token 0 after {steps} steps; A^{steps} most: where it most likely is then"
        )?;
    }
    Ok(())
}

/// What `attngraph heads` scores the heads on.
pub enum ScoredOn {
    /// One text (--text).
    Text(String),
    /// A file of texts, one a line (--prompts): the mean over them.
    Prompts(std::path::PathBuf),
    /// The induction probe.
    Probe,
}

/// `attngraph heads`: head-type scores on a text, on a file of texts (their mean), or on the induction probe.
pub fn heads(
    model: &ModelArgs,
    on: ScoredOn,
    bos: BosArgs,
    probe: Option<usize>,
    exclude_bos: bool,
    exclude_current: bool,
    json: bool,
) -> anyhow::Result<()> {
    // A file of texts is read, and refused if it holds none, before the model loads.
    let prompts = match &on {
        ScoredOn::Prompts(file) => {
            let all = super::args::read_text(file)?;
            // Line numbers from 1, as editors show them; `lines` drops each line's LF or CR LF.
            let texts: Vec<(usize, String)> = all
                .lines()
                .enumerate()
                .filter(|(_, line)| !line.trim().is_empty())
                .map(|(i, line)| (i + 1, line.to_owned()))
                .collect();
            if texts.is_empty() {
                bail!(
                    "{} holds no text: write one text a line (blank lines are skipped)",
                    file.display()
                );
            }
            texts
        }
        _ => Vec::new(),
    };
    let engine = model.load()?;
    let bos = bos.enabled(&engine, true);
    let ex = heads::Exclusions {
        attention_to_token0: exclude_bos,
        attention_to_self: exclude_current,
    };
    // One text's scores and its tokens, BOS included.
    let score_text = |text: &str| -> anyhow::Result<(Vec<heads::HeadScores>, usize)> {
        let analysis = engine.analyze(
            text,
            &AnalyzeOptions {
                bos,
                top_k: 1,
                keep_scores: KeepScores::None,
                ..Default::default()
            },
        )?;
        let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
        Ok((
            heads::score_heads(&analysis.attentions, &ids, ex),
            ids.len(),
        ))
    };
    let with_bos = if bos { " with BOS first" } else { "" };
    match on {
        ScoredOn::Text(text) => {
            let (scores, tokens) = score_text(&text)?;
            let on = format!(
                "{}: scored on the text, {}{with_bos}",
                engine.name(),
                crate::format::count(tokens, "token", "tokens"),
            );
            print_head_scores(&scores, json, &on)
        }
        ScoredOn::Prompts(file) => {
            let texts = prompts;
            let bar = super::args::progress_bar(texts.len(), "texts", false);
            let mut per_text = Vec::with_capacity(texts.len());
            let (mut fewest, mut most) = (usize::MAX, 0);
            for (line, text) in &texts {
                let (scores, tokens) =
                    score_text(text).with_context(|| format!("{} line {line}", file.display()))?;
                per_text.push(scores);
                (fewest, most) = (fewest.min(tokens), most.max(tokens));
                bar.inc(1);
            }
            bar.finish_and_clear();
            // `texts` is not empty (refused above), and each gave its scores or returned its error.
            let scores = heads::mean::mean_over_texts(&per_text)
                .context("no text of the file was scored")?;
            let on = format!(
                "{}: the mean over {} of {}, each read alone{with_bos} ({fewest} to {most} tokens)",
                engine.name(),
                crate::format::count(texts.len(), "text", "texts"),
                file.display(),
            );
            print_head_scores(&scores, json, &on)
        }
        ScoredOn::Probe => {
            // BOS and the random half twice must fit the context; a half of one token has no earlier copy
            // followed by anything to look for.
            let most = engine.info().n_positions.saturating_sub(1) / 2;
            if most < 2 {
                bail!(
                    "{} reads {} positions, too few for the induction probe (BOS and a random half of 2 tokens at least, twice): give a text with --text",
                    engine.name(),
                    engine.info().n_positions
                );
            }
            let probe = match probe {
                Some(len) if !(2..=most).contains(&len) => bail!(
                    "--probe-len {len}: give 2 to {most} ({} reads {} positions: BOS, then the random half twice)",
                    engine.name(),
                    engine.info().n_positions
                ),
                Some(len) => len,
                None => heads::DEFAULT_PROBE_LEN.min(most),
            };
            let scores = heads::probe_scores(&engine, probe, ex)?;
            let on = format!(
                "{}: scored on the induction probe, BOS then a random sequence of {probe} tokens said twice (--text T or --prompts FILE scores texts instead)",
                engine.name()
            );
            print_head_scores(&scores, json, &on)
        }
    }
}

/// The scores as JSON, or as a table under `on`, the line that says what they were scored on.
fn print_head_scores(scores: &[heads::HeadScores], json: bool, on: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        /// A head's scores with the type its badge names.
        #[derive(serde::Serialize)]
        struct Typed<'a> {
            #[serde(flatten)]
            scores: &'a heads::HeadScores,
            r#type: Option<&'static str>,
        }
        let typed: Vec<Typed> = scores
            .iter()
            .map(|scores| Typed {
                scores,
                r#type: scores.badge(heads::TYPE_MIN),
            })
            .collect();
        serde_json::to_writer(&mut out, &typed)?;
        writeln!(out)?;
        return Ok(());
    }
    // The copying kinds' own shares (dup. own, ind. own) weigh them for the type; "-" where too few rows have
    // a target of their own.
    let share = |s: Option<f64>| s.map_or_else(|| "-".to_owned(), |s| format!("{s:.3}"));
    writeln!(out, "{on}\n")?;
    writeln!(
        out,
        "{:>5} {:>4}  {:>8} {:>9} {:>9} {:>6} {:>6}  {:>8} {:>8}  type",
        "layer",
        "head",
        "previous",
        "duplicate",
        "induction",
        "sink",
        "self",
        "dup. own",
        "ind. own"
    )?;
    for s in scores {
        writeln!(
            out,
            "{:>5} {:>4}  {:>8.3} {:>9.3} {:>9.3} {:>6.3} {:>6.3}  {:>8} {:>8}  {}",
            s.layer,
            s.head,
            s.previous_token,
            s.duplicate_token,
            s.induction,
            s.sink,
            s.self_attention,
            share(s.duplicate_share),
            share(s.induction_share),
            // A head no kind describes: said, not left blank.
            s.badge(heads::TYPE_MIN).unwrap_or("—")
        )?;
    }
    // Every head of one text shares its chance scores.
    if let Some(c) = scores.first().map(|s| s.chance) {
        writeln!(
            out,
            "\ntype: the kind whose score is at least {} (the copying kinds weighed by their own share where \
             there is one; — where no kind is); previous, sink and self also {:.0}% of the way from chance to 1, where chance is \
             what a head spreading each row evenly scores here: previous {:.3}, sink {:.3}, self {:.3}",
            heads::TYPE_MIN,
            heads::LIFT_MIN * 100.0,
            c.previous_token,
            c.sink,
            c.self_attention
        )?;
    }
    Ok(())
}
