//! `attngraph export` and `markov`: the graph layer from the command line.

use std::io::Write;

use anyhow::{bail, Context};
use clap::ValueEnum;

use super::args::{BosArgs, ModelArgs, TextArgs};
use crate::export::{self, Format, Layout, Snapshot};
use crate::graph::{EdgeWeight, Pruning, Selection};
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
