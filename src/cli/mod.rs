//! The command line: `analyze`, `export`, `markov`, `heads`, `ablate`, `attribute`, `explain`, `lesson`, `lens`, `perplexity`,
//! `bench` and `gui`. Each command is a thin layer over the library, in a file of its own; the arguments several commands
//! share live in the leaf module [`args`], so imports run one way: this file → a command's file → `args`.

pub mod analyze;
pub mod args;
pub mod bench;
pub mod effects;
pub mod graph;
pub mod heads;
pub mod kernels;
pub mod lens;
pub mod lesson;
pub mod machine;
pub mod overlay;
pub mod patch;
pub mod perplexity;
pub mod pooled;
pub mod report;
pub mod window;

use clap::{Parser, Subcommand};

use crate::ui::settings::View;
pub use args::{AnalyzeFormat, AnalyzeOutput, BenchFormat, BosArgs, ModelArgs, TextArgs};

/// Look inside a language model's attention (GPT-2, Qwen2, Llama): every head as a Markov chain and a graph, every token's probability.
#[derive(Debug, Parser)]
#[command(name = "attngraph", version, about)]
pub struct Args {
    /// What to do; without one, the app opens.
    #[command(subcommand)]
    pub command: Option<Command>,
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
        #[command(flatten)]
        text: TextArgs,
        /// BOS (off unless --bos).
        #[command(flatten)]
        bos: BosArgs,
        /// What to output, and where.
        #[command(flatten)]
        output: AnalyzeOutput,
    },
    /// Time whole analyses (forward + attentions + per-token statistics) at several lengths.
    Bench {
        /// Model selection.
        #[command(flatten)]
        model: ModelArgs,
        /// Text lengths in tokens, whole numbers separated by commas (e.g. 8,64,256).
        #[arg(long, value_delimiter = ',', default_value = "8,64,256,1024")]
        tokens: Vec<usize>,
        /// Analyses per length (a different text each time).
        #[arg(long, default_value_t = 5)]
        repeat: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = BenchFormat::Table)]
        format: BenchFormat,
        /// Time each matrix-product kernel on GPT-2 small's linear layers instead (GFLOP/s, weights GB/s); no
        /// model is loaded.
        #[arg(long)]
        kernels: bool,
        /// The machine's matrix-product rate for the floor, in GFLOP/s (else measured: a 2,048² float32 product).
        #[arg(long)]
        peak_gflops: Option<f64>,
        /// The machine's memory bandwidth for the floor, in GB/s (else measured: a 512 MB read).
        #[arg(long)]
        peak_gbps: Option<f64>,
        /// Also time the norms of what flows (`export --weight norm`, the window's edges menu) on each text.
        #[arg(long)]
        norms: bool,
    },

    /// Knock heads out and see each token's log-probability move: a set of heads together (--heads), or every
    /// head alone in turn (--all-heads), on a text or over a file of texts (--prompts).
    Ablate(effects::AblateArgs),
    /// Direct logit attribution: what each head, MLP and the embeddings add to the logit of one prediction.
    Attribute(effects::AttributeArgs),
    /// The numbers the lesson teaches with, for one text and head: sizes, the score matrix's asymmetry, the
    /// Markov facts, the mass on token 0 after k steps, the joint probability, perplexity and bits.
    Explain(effects::ExplainArgs),
    /// The lesson's twelve steps on a text: each question, its choices, the right choice on this text, what the
    /// check reveals, and the positions it looked at.
    Lesson(lesson::LessonArgs),
    /// The logit lens: what each layer would predict, its residual stream put through the final norm and
    /// the unembedding; the last layer is the model's own output.
    Lens(lens::LensArgs),
    /// Every head of one layer at once, as the app's Overlay view (and BertViz's head view) draws them: a line
    /// from each query to each key it attends to, one colour per head, as opaque as the weight; SVG or PNG.
    Overlay(overlay::OverlayArgs),
    /// Activation patching between two texts of one length: the metric logit[answer] − logit[wrong] at the last
    /// position with each head's values, or the residual stream at each layer and position, from the clean text.
    Patch(patch::PatchArgs),
    /// Sliding-window perplexity of text files, as Hugging Face's guide computes it, with all three averages.
    Perplexity(perplexity::PerplexityArgs),
    /// Open the app (the default when no command is given).
    Gui {
        /// Model to open (else the last one used).
        #[arg(long)]
        model: Option<String>,
        /// Text to show (else the last one typed).
        #[arg(long)]
        text: Option<String>,
        /// Show the text of this UTF-8 file instead (`-`: stdin), exactly as it is.
        #[arg(long, value_name = "PATH", conflicts_with = "text")]
        text_file: Option<std::path::PathBuf>,
        /// Layer of the head to select.
        #[arg(long, requires = "head")]
        layer: Option<usize>,
        /// Head to select.
        #[arg(long, requires = "layer")]
        head: Option<usize>,
        /// The main view.
        #[arg(long, value_enum)]
        view: Option<View>,
        /// Render the window, save it as a PNG and exit (works under Xvfb).
        #[arg(long)]
        screenshot: Option<std::path::PathBuf>,
        /// Start from the defaults, neither reading nor changing the saved settings.
        #[arg(long)]
        fresh: bool,
        /// Score this file in the Perplexity tab once the model is loaded.
        #[arg(long)]
        score_file: Option<std::path::PathBuf>,
        /// Score the text in the Perplexity tab once the model is loaded: a text of any length, in sliding
        /// windows.
        #[arg(long, conflicts_with = "score_file")]
        score_text: bool,
        /// K of the A^K the Markov view draws, 1 to 16 (as far as its slider goes).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=16))]
        steps: Option<u64>,
        /// Heads to knock out, as layer.head: `--knock-out 0.3,2.1`.
        #[arg(long)]
        knock_out: Option<crate::model::HeadSet>,
        /// What knocked-out heads' values become, as the knock-out's "as zeros | means": zero or mean ablation
        /// (the knock-out and the sweep).
        #[arg(long, value_enum, default_value_t = crate::model::ablation::Replacement::Zero)]
        replace_with: crate::model::ablation::Replacement,
        /// The token (position, BOS included) whose prediction the head grid explains.
        #[arg(long)]
        predict: Option<usize>,
        /// The token (position, BOS included) to pin in the graph: its edges highlighted, and where it looks
        /// shown on every head of the grid.
        #[arg(long)]
        pin: Option<usize>,
        /// What the head grid is coloured by (with --predict: contribution unless told).
        #[arg(long, value_enum)]
        colour: Option<crate::ui::view_state::GridColour>,
        /// The lesson's step to open, from 1 (with --view lesson).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..=crate::lesson::steps::STEPS as u64))]
        lesson_step: Option<u64>,
        /// The lesson's language.
        #[arg(long, value_enum)]
        lang: Option<crate::lesson::steps::Lang>,
        /// The graph's token window: only the queries FIRST-LAST (from 0), the tokens before them faded.
        #[arg(long, value_name = "FIRST-LAST", value_parser = parse_window)]
        queries: Option<(usize, usize)>,
        /// Colour edges and heatmap cells on a log scale (weights from 0.001 to 1), as the "log colours" box.
        #[arg(long)]
        log_colours: bool,
        /// The graph keeps edges of at least this weight (the threshold slider; 0.02 by default).
        #[arg(long, value_parser = parse_weight)]
        threshold: Option<f64>,
        /// The graph's layout: tokens on a line (arc), on a circle, or force-directed from the circle.
        #[arg(long, value_enum)]
        layout: Option<crate::ui::settings::GraphLayout>,
        /// What the graph's and heatmap's edges weigh: attention, what flows (‖α·f(x)‖, relative to the largest
        /// edge) or each row's share of it, as the "edges" menu.
        #[arg(long, value_enum)]
        weight: Option<crate::graph::EdgeWeight>,
        /// The Compare view's second text (`--view compare`).
        #[arg(long)]
        compare: Option<String>,
        /// In the Compare view, patch from the text into the compared one at once.
        #[arg(long)]
        patch: bool,
    },
    /// Export the selected matrix as a graph: SVG, PNG, DOT, GraphML, JSON or CSV (the format from --format, else
    /// from -o's extension).
    Export {
        /// Matrix and pruning.
        #[command(flatten)]
        select: graph::SelectArgs,
        /// Node layout for SVG (and recorded in JSON).
        #[arg(long, value_enum, default_value_t = crate::export::Layout::Arc)]
        layout: crate::export::Layout,
        /// Output format (else the one -o's extension names).
        #[arg(long, value_enum)]
        format: Option<crate::export::Format>,
        /// Output file; `-` writes to stdout (then --format is needed).
        #[arg(short = 'o', long)]
        output: std::path::PathBuf,
    },
    /// Markov statistics of the selected matrix: row sums, DAG check, absorption, entropy, teleport ranking, A^K.
    Markov {
        /// Matrix selection (pruning does not change the statistics).
        #[command(flatten)]
        select: graph::SelectArgs,
        /// Teleport probability α of the ranking.
        #[arg(long, default_value_t = crate::markov::DEFAULT_TELEPORT)]
        teleport: f64,
        /// K of the k-step matrix A^K.
        #[arg(long, default_value_t = 1)]
        steps: usize,
        /// Output format.
        #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
        format: AnalyzeFormat,
    },
    /// Head-type scores (previous-token, duplicate, induction, sink, self) of every head, on a text, on a file of
    /// texts (their mean), or without either on a repeated random token sequence that reveals induction heads.
    Heads {
        /// Model selection.
        #[command(flatten)]
        model: ModelArgs,
        /// The text; without it (or --prompts), the induction probe runs.
        #[arg(long)]
        text: Option<String>,
        /// A file of texts, one a line (blank lines skipped; - reads stdin): each read alone, and each head's
        /// scores averaged over them, as TransformerLens's head detector averages a batch of prompts.
        #[arg(long, value_name = "FILE", conflicts_with = "text")]
        prompts: Option<std::path::PathBuf>,
        /// BOS for --text and --prompts (on unless --no-bos: the sink score looks at token 0).
        #[command(flatten)]
        bos: BosArgs,
        /// Length of the probe's random half, 2 to (context − 1) / 2 [default: 50, or what the context allows].
        #[arg(long, conflicts_with_all = ["text", "prompts"])]
        probe_len: Option<usize>,
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

/// An edge weight: a number from 0 to 1.
fn parse_weight(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(w) if (0.0..=1.0).contains(&w) => Ok(w),
        _ => Err(format!(
            "`{s}` is not an edge weight: write a number from 0 to 1, e.g. 0.05"
        )),
    }
}

/// `FIRST-LAST`, two token positions with FIRST ≤ LAST.
fn parse_window(s: &str) -> Result<(usize, usize), String> {
    let bad = || format!("`{s}` is not a token window: write FIRST-LAST, e.g. 100-150");
    let (a, b) = s.split_once('-').ok_or_else(bad)?;
    let (a, b): (usize, usize) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a > b {
        return Err(format!(
            "the window {a}-{b} ends before it starts: write FIRST-LAST with FIRST ≤ LAST"
        ));
    }
    Ok((a, b))
}

/// The command line with `gui` put in where it starts with an option other than help or the version:
/// `attngraph --model demo` opens the app as `attngraph gui --model demo` does, as `attngraph` alone does.
pub fn with_default_command(
    args: impl IntoIterator<Item = std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = args.into_iter().collect();
    let opens_app = args.get(1).and_then(|a| a.to_str()).is_some_and(|first| {
        first.starts_with('-')
            && !matches!(first, "-" | "--" | "-h" | "--help" | "-V" | "--version")
    });
    if opens_app {
        args.insert(1, "gui".into());
    }
    args
}

/// Runs the parsed command line.
pub fn run(args: Args) -> anyhow::Result<()> {
    // A kernel setting that is not one of its names is refused before anything runs, the window included.
    crate::model::isa::from_env().map_err(anyhow::Error::msg)?;
    crate::model::Kernels::from_env().map_err(anyhow::Error::msg)?;
    match args.command {
        None => window::run(crate::app::Launch::default()),
        Some(Command::Perplexity(args)) => perplexity::perplexity(&args),
        Some(Command::Ablate(args)) => match &args.text.prompts {
            Some(file) => pooled::ablate_over_texts(&args, file),
            None => effects::ablate(&args),
        },
        Some(Command::Attribute(args)) => effects::attribute(&args),
        Some(Command::Explain(args)) => effects::explain(&args),
        Some(Command::Lesson(args)) => lesson::lesson(&args),
        Some(Command::Lens(args)) => lens::run(&args),
        Some(Command::Overlay(args)) => overlay::run(&args),
        Some(Command::Patch(args)) => patch::run(&args),
        Some(Command::Gui {
            model,
            text,
            text_file,
            layer,
            head,
            view,
            screenshot,
            fresh,
            score_file,
            score_text,
            steps,
            knock_out,
            replace_with,
            predict,
            pin,
            colour,
            lesson_step,
            lang,
            queries,
            log_colours,
            threshold,
            layout,
            weight,
            compare,
            patch,
        }) => {
            // Read before the window opens, so that a bad file is said on the terminal.
            let text = match text_file {
                Some(path) => Some(args::read_text(&path)?),
                None => text,
            };
            let launch = crate::app::Launch {
                model,
                text,
                selection: layer
                    .zip(head)
                    .map(|(layer, head)| crate::graph::Selection::Head { layer, head }),
                view,
                screenshot,
                fresh,
                score_file,
                score_text,
                // 1 to 16, checked by the parser.
                markov_steps: steps.map(|k| k as usize),
                // Without --knock-out every head runs: the empty set, HeadSet's default.
                knock_out: knock_out.unwrap_or_default(),
                knock_out_by: replace_with,
                predict,
                pin,
                colour,
                // 1 ≤ lesson_step ≤ STEPS, checked by clap: a step index from 0.
                lesson_step: lesson_step.map(|s| s as usize - 1),
                lang,
                window: queries,
                log_colours,
                threshold,
                layout,
                edge_weight: weight,
                compare_text: compare,
                patch,
                ..crate::app::Launch::default()
            };
            window::run(launch)
        }
        Some(Command::Analyze {
            model,
            text,
            bos,
            output,
        }) => analyze::analyze(&model, &text.read()?, bos, &output),
        Some(Command::Bench {
            model,
            tokens,
            repeat,
            format,
            kernels,
            peak_gflops,
            peak_gbps,
            norms,
        }) => {
            if kernels {
                kernels::bench_kernels(format == BenchFormat::Json)
            } else {
                bench::bench(
                    &model,
                    &tokens,
                    repeat,
                    format == BenchFormat::Json,
                    (peak_gflops, peak_gbps),
                    norms,
                )
            }
        }
        Some(Command::Export {
            select,
            layout,
            format,
            output,
        }) => graph::export(&select, layout, format, &output),
        Some(Command::Markov {
            select,
            teleport,
            steps,
            format,
        }) => graph::markov(&select, teleport, steps, format == AnalyzeFormat::Json),
        Some(Command::Heads {
            model,
            text,
            prompts,
            bos,
            probe_len,
            exclude_bos,
            exclude_current,
            format,
        }) => heads::heads(
            &model,
            match (text, prompts) {
                (Some(text), _) => heads::ScoredOn::Text(text),
                (None, Some(file)) => heads::ScoredOn::Prompts(file),
                (None, None) => heads::ScoredOn::Probe,
            },
            bos,
            probe_len,
            exclude_bos,
            exclude_current,
            format == AnalyzeFormat::Json,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::with_default_command;

    #[test]
    fn options_without_a_command_open_the_app() {
        let line = |words: &[&str]| -> Vec<String> {
            with_default_command(words.iter().map(|w| std::ffi::OsString::from(*w)))
                .into_iter()
                .map(|a| a.into_string().unwrap())
                .collect()
        };
        assert_eq!(
            line(&["attngraph", "--model", "demo"]),
            ["attngraph", "gui", "--model", "demo"]
        );
        for unchanged in [
            &["attngraph"][..],
            &["attngraph", "--help"],
            &["attngraph", "-V"],
            &["attngraph", "--"],
            &["attngraph", "analyze", "--model", "demo"],
        ] {
            assert_eq!(line(unchanged), unchanged);
        }
    }
}
