//! `attngraph lesson`: the lesson's twelve steps on one text and head, as the app asks them — each question with
//! its choices, the right choice on this text, what the check reveals, and the positions it looked at.

use std::io::Write;

use anyhow::bail;

use super::args::{AnalyzeFormat, BosArgs, ModelArgs, TextArgs};
use crate::graph::{heads, Selection};
use crate::lesson::explain::explain;
use crate::lesson::steps::{self, Facts, Lang};
use crate::model::{attribution, AnalyzeOptions, KeepScores};

/// Arguments of `attngraph lesson`.
#[derive(Debug, Clone, clap::Args)]
pub struct LessonArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Layer of the head the head-level steps use (with --head); without them, the head with the strongest
    /// previous-token or induction score on the text, as the app opens on.
    #[arg(long, requires = "head")]
    pub layer: Option<usize>,
    /// Head within --layer.
    #[arg(long, requires = "layer")]
    pub head: Option<usize>,
    /// The language.
    #[arg(long, value_enum, default_value_t = Lang::En)]
    pub lang: Lang,
    /// Output format.
    #[arg(long, value_enum, default_value_t = AnalyzeFormat::Table)]
    pub format: AnalyzeFormat,
}

/// The report with the head it used.
#[derive(serde::Serialize)]
struct Output<'a> {
    layer: usize,
    head: usize,
    #[serde(flatten)]
    report: &'a steps::LessonReport,
}

/// Runs `attngraph lesson`.
pub fn lesson(args: &LessonArgs) -> anyhow::Result<()> {
    let text = args.text.read()?;
    let engine = args.model.load()?;
    let bos = args.bos.enabled(&engine, false);
    let analysis = engine.analyze(
        &text,
        &AnalyzeOptions {
            bos,
            top_k: 1,
            // With the head named, its layer's scores alone; else the head is chosen from the attention.
            keep_scores: match args.layer {
                Some(layer) => KeepScores::Layer(layer),
                None => KeepScores::All,
            },
            ..Default::default()
        },
    )?;
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let head_scores = heads::score_heads(&analysis.attentions, &ids, heads::Exclusions::default());
    let (layer, head) = match (args.layer, args.head, heads::clearest_head(&head_scores)) {
        (Some(layer), Some(head), _) => (layer, head),
        (_, _, Some(Selection::Head { layer, head })) => (layer, head),
        _ => bail!("the model has no attention heads to teach with"),
    };
    let explanation = explain(&analysis, layer, head)?;
    // The last step takes apart the prediction of the text's last token, as the app's lesson does.
    let last = analysis.tokens.len() - 1; // analyze returned tokens, one at least
    let attribution = if last >= 1 {
        Some(attribution::attribute(&engine, &text, bos, last - 1, None)?)
    } else {
        None
    };
    // The lens step reads every layer's guess at the last-but-one token: that column of the lens alone.
    let lens = if last >= 1 {
        Some(crate::model::lens::column(
            &engine,
            &text,
            bos,
            1,
            &crate::model::HeadSet::default(),
            crate::model::ablation::Replacement::Zero,
            last - 1,
        )?)
    } else {
        None
    };
    // The sink step weighs what the head moves to the last token from each token: α ‖f(x_j)‖.
    let norms = crate::model::norms::value_norms_of_layer(&engine, &ids, layer)?;
    let norms = norms
        .get(head)
        .ok_or_else(|| anyhow::anyhow!("the model has no head {layer}.{head}"))?;
    let carried: Vec<f64> = norms
        .iter()
        .enumerate()
        .map(|(j, n)| f64::from(analysis.attentions.get(layer, head, last, j)) * n)
        .collect();
    let facts = Facts {
        analysis: &analysis,
        explanation: &explanation,
        head_scores: &head_scores,
        attribution: attribution.as_ref(),
        lens: lens.as_deref(),
        carried: Some(&carried),
    };
    let report = steps::report(args.lang, &facts);
    let mut out = std::io::stdout().lock();
    if args.format == AnalyzeFormat::Json {
        let output = Output {
            layer,
            head,
            report: &report,
        };
        writeln!(out, "{}", serde_json::to_string_pretty(&output)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} — head {layer}.{head}, {} tokens\n",
        engine.name(),
        analysis.tokens.len()
    )?;
    for s in &report.steps {
        writeln!(out, "{}", s.title)?;
        writeln!(out, "  {}", s.question)?;
        for (i, choice) in s.choices.iter().enumerate() {
            let mark = if s.answer == Some(i) { "→" } else { " " };
            writeln!(out, "  {mark} {choice}")?;
        }
        match (&s.reveal, &s.reason) {
            (Some(reveal), _) => writeln!(out, "  {reveal}")?,
            (None, Some(reason)) => writeln!(out, "  ({reason})")?,
            (None, None) => {}
        }
        if let Some(note) = &s.note {
            writeln!(out, "  {note}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
