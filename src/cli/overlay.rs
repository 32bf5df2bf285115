//! `attngraph overlay`: every head of one layer at once, as the app's Overlay view (and BertViz's head view) draws
//! them, written as SVG or PNG.

use std::io::Write;

use anyhow::{bail, Context};

use super::args::{BosArgs, ModelArgs, TextArgs};
use crate::export;
use crate::graph::overlay::{Focus, ALL_LINES_UP_TO};
use crate::model::{AnalyzeOptions, KeepScores};

/// What `overlay` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OverlayFormat {
    /// The drawing.
    Svg,
    /// The drawing rasterised (resvg), at twice the SVG's size.
    Png,
}

/// Arguments of `attngraph overlay`.
#[derive(Debug, Clone, clap::Args)]
pub struct OverlayArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// The layer whose heads are drawn.
    #[arg(long)]
    pub layer: usize,
    /// The heads drawn, counting from 0: `--heads 0,3,5` (all of the layer's without it).
    #[arg(long, value_delimiter = ',')]
    pub heads: Vec<usize>,
    /// Leave out weights under X (0 to 1; the app's default).
    #[arg(long, default_value_t = 0.02)]
    pub threshold: f32,
    /// Draw only the lines of this query: where token P looks.
    #[arg(long, value_name = "P", conflicts_with = "key")]
    pub query: Option<usize>,
    /// Draw only the lines to this key: which tokens look at token P.
    #[arg(long, value_name = "P")]
    pub key: Option<usize>,
    /// Opacity on a log scale from 0.001 to 1, as the app's "log colours".
    #[arg(long)]
    pub log_colours: bool,
    /// Output format (else the one -o's extension names).
    #[arg(long, value_enum)]
    pub format: Option<OverlayFormat>,
    /// Output file; `-` writes the SVG to stdout.
    #[arg(short, long)]
    pub output: std::path::PathBuf,
}

/// Runs `attngraph overlay`.
pub fn run(args: &OverlayArgs) -> anyhow::Result<()> {
    let output = args.output.as_path();
    let ext = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match (args.format, ext.as_deref()) {
        (Some(format), _) => format,
        (None, Some("svg")) => OverlayFormat::Svg,
        (None, Some("png")) => OverlayFormat::Png,
        (None, _) if output.as_os_str() == "-" => OverlayFormat::Svg,
        _ => bail!(
            "which format? {} names none: give --format svg|png, or an -o ending in .svg or .png",
            output.display()
        ),
    };
    let to_stdout = output.as_os_str() == "-";
    if to_stdout && format == OverlayFormat::Png {
        bail!("PNG is binary: give a file with -o, e.g. -o overlay.png");
    }
    if !(0.0..=1.0).contains(&args.threshold) {
        bail!("--threshold {} must be between 0 and 1", args.threshold);
    }
    let text = args.text.read()?;
    if !to_stdout {
        export::check_target(output)
            .with_context(|| format!("cannot write {}", output.display()))?;
    }
    let engine = args.model.load()?;
    let info = engine.info();
    if args.layer >= info.n_layer {
        bail!(
            "layer {} does not exist: {} has layers 0–{}",
            args.layer,
            engine.name(),
            info.n_layer - 1
        );
    }
    if let Some(&head) = args.heads.iter().find(|&&h| h >= info.n_head) {
        bail!(
            "head {head} does not exist: {} has heads 0–{} in each layer",
            engine.name(),
            info.n_head - 1
        );
    }
    let heads: Vec<usize> = if args.heads.is_empty() {
        (0..info.n_head).collect()
    } else {
        let mut heads = args.heads.clone();
        heads.sort_unstable();
        heads.dedup();
        heads
    };
    let analysis = engine.analyze(
        &text,
        &AnalyzeOptions {
            bos: args.bos.enabled(&engine, false),
            top_k: 1,
            keep_scores: KeepScores::None,
            ..Default::default()
        },
    )?;
    let n = analysis.tokens.len();
    let focus = match (args.query, args.key) {
        (Some(q), _) => Some(Focus::Query(q)),
        (_, Some(k)) => Some(Focus::Key(k)),
        (None, None) => None,
    };
    if let Some(f) = focus {
        let at = crate::graph::overlay::token_of(f);
        if at >= n {
            bail!(
                "token {at} is past the text: it has {} (0–{})",
                crate::format::count(n, "token", "tokens"),
                n - 1
            );
        }
    }
    if focus.is_none() && n > ALL_LINES_UP_TO {
        bail!(
            "the text is {n} tokens: every line of more than {ALL_LINES_UP_TO} would cover the picture; give --query P or --key P to draw one token's, or a shorter text"
        );
    }
    let drawn = export::draw_overlay(
        &analysis,
        engine.name(),
        args.layer,
        &heads,
        args.threshold,
        focus,
        args.log_colours,
    );
    let svg = drawn.svg;
    if to_stdout {
        std::io::stdout().lock().write_all(svg.as_bytes())?;
        return Ok(());
    }
    let bytes = match format {
        OverlayFormat::Svg => svg.into_bytes(),
        OverlayFormat::Png => export::svg_to_png(&svg, 2.0)?,
    };
    export::write_atomic(output, &bytes)
        .with_context(|| format!("cannot write {}", output.display()))?;
    eprintln!(
        "wrote {} ({}, layer {}, {} of {} heads, {} of weight ≥ {})",
        output.display(),
        crate::format::count(n, "token", "tokens"),
        args.layer,
        heads.len(),
        info.n_head,
        crate::format::count(drawn.lines, "line", "lines"),
        drawn.threshold
    );
    Ok(())
}
