//! The command line: `analyze`, `bench`. Each command is a thin layer over the library.

use std::io::Write;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use crate::model::{AnalyzeOptions, DeviceKind, Engine, HubOptions, ModelSource, DEFAULT_MODEL};

/// Look inside GPT-2's attention: every head as a Markov chain and a graph, every token's probability.
#[derive(Debug, Parser)]
#[command(name = "attngraph", version, about)]
pub struct Args {
    /// What to do; without one, the app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options shared by every command that loads a model.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// A Hub id (openai-community/gpt2, gpt2-medium, gpt2-large, gpt2-xl, distilbert/distilgpt2; `id@revision`
    /// allowed) or a folder with config.json, model.safetensors and tokenizer.json (or vocab.json + merges.txt).
    #[arg(long, default_value = DEFAULT_MODEL)]
    pub model: String,
    /// Use only the local Hugging Face cache (also HF_HUB_OFFLINE=1).
    #[arg(long)]
    pub offline: bool,
    /// Where the model runs.
    #[arg(long, value_enum, default_value_t = DeviceKind::Cpu)]
    pub device: DeviceKind,
}

impl ModelArgs {
    /// Loads the engine these arguments name.
    pub fn load(&self) -> anyhow::Result<Engine> {
        let source = ModelSource::parse(&self.model)?;
        let device = self.device.open()?;
        let engine = Engine::load(&source, &HubOptions::from_env(self.offline), &device)
            .with_context(|| format!("cannot load model {}", source.name()))?;
        Ok(engine)
    }
}

/// Output formats of `analyze`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    /// A table for people.
    Table,
    /// One JSON object for programs.
    Json,
}

/// The app's main views.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GuiView {
    /// The attention graph.
    Graph,
    /// The matrix heatmap.
    Matrix,
    /// The layer × head grid.
    Grid,
    /// The Markov panel with the graph of A^k.
    Markov,
    /// Sliding-window perplexity of a file (with --score-file).
    Perplexity,
}

/// Output formats of `bench`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchFormat {
    /// One JSON object per line and length.
    Json,
    /// A table.
    Table,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read a text: each token's probability, surprisal, rank, entropy, top-k and the running perplexity, and
    /// every head's attention (in JSON).
    Analyze {
        /// Model selection.
        #[command(flatten)]
        model: ModelArgs,
        /// The text to read.
        #[arg(long)]
        text: String,
        /// Prepend <|endoftext|> so the first token is scored too.
        #[arg(long, overrides_with = "no_bos")]
        bos: bool,
        /// Do not prepend <|endoftext|> (the default here): the first token is context only.
        #[arg(long, overrides_with = "bos")]
        no_bos: bool,
        /// Alternatives to list per token.
        #[arg(long, default_value_t = 5)]
        top_k: usize,
        /// Also output the pre-softmax scores QK^T/sqrt(d) (JSON only).
        #[arg(long)]
        scores: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
        format: AnalyzeFormat,
    },
    /// Time whole analyses (forward + attentions + per-token statistics) at several lengths.
    Bench {
        /// Model selection.
        #[command(flatten)]
        model: ModelArgs,
        /// Text lengths in tokens.
        #[arg(long, value_delimiter = ',', default_value = "8,64,256,1024")]
        tokens: Vec<usize>,
        /// Analyses per length (a different text each time).
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = BenchFormat::Json)]
        format: BenchFormat,
    },

    /// Sliding-window perplexity of text files, as Hugging Face's guide computes it, with all three averages.
    Perplexity(crate::cli_perplexity::PerplexityArgs),
    /// Open the app (the default when no command is given).
    Gui {
        /// Model to open (else the last one used).
        #[arg(long)]
        model: Option<String>,
        /// Text to show (else the last one typed).
        #[arg(long)]
        text: Option<String>,
        /// Layer of the head to select.
        #[arg(long, requires = "head")]
        layer: Option<usize>,
        /// Head to select.
        #[arg(long, requires = "layer")]
        head: Option<usize>,
        /// The main view.
        #[arg(long, value_enum)]
        view: Option<GuiView>,
        /// Render the window, save it as a PNG and exit (works under Xvfb).
        #[arg(long)]
        screenshot: Option<std::path::PathBuf>,
        /// Ignore saved settings and start from the defaults.
        #[arg(long)]
        fresh: bool,
        /// Score this file in the Perplexity tab once the model is loaded.
        #[arg(long)]
        score_file: Option<std::path::PathBuf>,
    },
    /// Export the selected matrix as a graph: DOT, GraphML, JSON, CSV or SVG.
    Export {
        /// Matrix and pruning.
        #[command(flatten)]
        select: crate::cli_graph::SelectArgs,
        /// Node layout for SVG (and recorded in JSON).
        #[arg(long, value_enum, default_value_t = crate::export::Layout::Arc)]
        layout: crate::export::Layout,
        /// Output format.
        #[arg(long, value_enum)]
        format: crate::export::Format,
        /// Output file; `-` writes to stdout.
        #[arg(short = 'o', long)]
        output: std::path::PathBuf,
    },
    /// Markov statistics of the selected matrix: row sums, DAG check, absorption, entropy, teleport ranking, A^K.
    Markov {
        /// Matrix selection (pruning does not change the statistics).
        #[command(flatten)]
        select: crate::cli_graph::SelectArgs,
        /// Teleport probability α of the ranking.
        #[arg(long, default_value_t = 0.15)]
        teleport: f64,
        /// K of the k-step matrix A^K.
        #[arg(long, default_value_t = 1)]
        steps: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
        format: AnalyzeFormat,
    },
    /// Head-type scores (previous-token, duplicate, induction, sink, self) of every head, on a text or, without
    /// --text, on a repeated random token sequence that reveals induction heads.
    Heads {
        /// Model selection.
        #[command(flatten)]
        model: ModelArgs,
        /// The text (BOS is prepended); without it, the induction probe runs.
        #[arg(long)]
        text: Option<String>,
        /// Length of the probe's random half.
        #[arg(long, default_value_t = 50)]
        probe_len: usize,
        /// Leave attention to token 0 out of the scores.
        #[arg(long)]
        exclude_bos: bool,
        /// Leave each token's attention to itself out of the scores.
        #[arg(long)]
        exclude_current: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
        format: AnalyzeFormat,
    },
}

/// Runs the parsed command line.
pub fn run(args: Args) -> anyhow::Result<()> {
    match args.command {
        None => crate::app::run(crate::app::Launch::default()),
        Some(Command::Perplexity(args)) => crate::cli_perplexity::perplexity(&args),
        Some(Command::Gui {
            model,
            text,
            layer,
            head,
            view,
            screenshot,
            fresh,
            score_file,
        }) => {
            use crate::ui::settings::View;
            let launch = crate::app::Launch {
                model,
                text,
                selection: layer
                    .zip(head)
                    .map(|(layer, head)| crate::graph::Selection::Head { layer, head }),
                view: view.map(|v| match v {
                    GuiView::Graph => View::Graph,
                    GuiView::Matrix => View::Matrix,
                    GuiView::Grid => View::Grid,
                    GuiView::Markov => View::Markov,
                    GuiView::Perplexity => View::Perplexity,
                }),
                screenshot,
                fresh,
                export_dir: None,
                score_file,
            };
            crate::app::run(launch)
        }
        Some(Command::Analyze {
            model,
            text,
            bos,
            no_bos: _,
            top_k,
            scores,
            format,
        }) => analyze(&model, &text, bos, top_k, scores, format),
        Some(Command::Bench {
            model,
            tokens,
            repeat,
            format,
        }) => crate::cli_bench::bench(&model, &tokens, repeat, format == BenchFormat::Json),
        Some(Command::Export {
            select,
            layout,
            format,
            output,
        }) => crate::cli_graph::export(&select, layout, format, &output),
        Some(Command::Markov {
            select,
            teleport,
            steps,
            format,
        }) => crate::cli_graph::markov(&select, teleport, steps, format == AnalyzeFormat::Json),
        Some(Command::Heads {
            model,
            text,
            probe_len,
            exclude_bos,
            exclude_current,
            format,
        }) => crate::cli_graph::heads(
            &model,
            text.as_deref(),
            probe_len,
            exclude_bos,
            exclude_current,
            format == AnalyzeFormat::Json,
        ),
    }
}

fn analyze(
    model: &ModelArgs,
    text: &str,
    bos: bool,
    top_k: usize,
    scores: bool,
    format: AnalyzeFormat,
) -> anyhow::Result<()> {
    if text.is_empty() {
        bail!("--text is empty: give a sentence, e.g. --text \"I love tennis.\"");
    }
    let engine = model.load()?;
    let options = AnalyzeOptions {
        bos,
        top_k,
        keep_scores: scores,
    };
    let analysis = engine.analyze(text, &options)?;
    let mut out = std::io::stdout().lock();
    match format {
        AnalyzeFormat::Json => {
            let mut value = serde_json::to_value(&analysis)?;
            flatten_stats(&mut value);
            if let Some(obj) = value.as_object_mut() {
                obj.insert("model_name".into(), engine.name().into());
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
                let label = format!("{:?}", token.display);
                match &token.stats {
                    Some(s) => {
                        let alts: Vec<String> = s
                            .top_k
                            .iter()
                            .take(3)
                            .map(|a| {
                                format!(
                                    "{:?} {:.3}",
                                    crate::model::tokenizer::visible_whitespace(&a.text),
                                    a.prob
                                )
                            })
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

/// Milliseconds since `start`.
pub(crate) fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1e3
}
