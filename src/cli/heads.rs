//! `attngraph heads`: each head's type scores on a text, on a file of texts (their mean), or on the induction
//! probe.

use std::io::Write;

use anyhow::{bail, Context};

use super::args::{BosArgs, ModelArgs};
use crate::graph::heads;
use crate::model::{AnalyzeOptions, EngineError, KeepScores};

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
        ScoredOn::Prompts(file) => super::args::read_prompts(file)?,
        _ => Vec::new(),
    };
    let engine = model.load()?;
    let bos = bos.enabled(&engine, true);
    let ex = heads::Exclusions {
        attention_to_token0: exclude_bos,
        attention_to_self: exclude_current,
    };
    // One text's scores and its tokens, BOS included.
    let score_text = |text: &str| -> Result<(Vec<heads::HeadScores>, usize), EngineError> {
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
            print_head_scores(&scores, json, &on, "here")
        }
        ScoredOn::Prompts(file) => {
            let texts = prompts;
            let bar = super::args::progress_bar(texts.len(), "texts", false);
            let mut per_text = Vec::with_capacity(texts.len());
            let (mut fewest, mut most) = (usize::MAX, 0);
            let file = file.display();
            for (line, text) in &texts {
                let scored = match score_text(text) {
                    Ok((scores, tokens)) if !scores.iter().all(heads::HeadScores::has_attention_left) => {
                        Err(anyhow::anyhow!(
                            "{file} line {line} is {}: --exclude-bos and --exclude-current leave no attention to score; give a longer text, or drop an exclusion",
                            crate::format::count(tokens, "token", "tokens")
                        ))
                    }
                    Ok(scored) => Ok(scored),
                    Err(err) => Err(super::args::line_error(err, &file, *line, engine.name())),
                };
                let (scores, tokens) = match scored {
                    Ok(scored) => scored,
                    Err(err) => {
                        bar.finish_and_clear();
                        return Err(err);
                    }
                };
                per_text.push(scores);
                (fewest, most) = (fewest.min(tokens), most.max(tokens));
                bar.inc(1);
            }
            bar.finish_and_clear();
            // `texts` is not empty (refused above), and each gave its scores or returned its error.
            let scores = heads::mean::mean_over_texts(&per_text)
                .context("no text of the file was scored")?;
            let on = format!(
                "{}: the mean over {} of {file}, each read alone{with_bos} ({fewest} to {most} tokens)",
                engine.name(),
                crate::format::count(texts.len(), "text", "texts"),
            );
            print_head_scores(&scores, json, &on, "on these texts, on average")
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
            print_head_scores(&scores, json, &on, "here")
        }
    }
}

/// The scores as JSON, or as a table under `on`, the line that says what they were scored on, and a note on
/// the types whose chance scores are `where_` they were scored ("here", or on average over texts).
fn print_head_scores(
    scores: &[heads::HeadScores],
    json: bool,
    on: &str,
    where_: &str,
) -> anyhow::Result<()> {
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
    // Every head of one text, or of one set of texts, shares its chance scores.
    if let Some(c) = scores.first().map(|s| s.chance) {
        writeln!(
            out,
            "\ntype: the kind whose score is at least {} (the copying kinds weighed by their own share where \
             there is one; — where no kind is); previous, sink and self also {:.0}% of the way from chance to 1, where chance is \
             what a head spreading each row evenly scores {where_}: previous {:.3}, sink {:.3}, self {:.3}",
            heads::TYPE_MIN,
            heads::LIFT_MIN * 100.0,
            c.previous_token,
            c.sink,
            c.self_attention
        )?;
    }
    Ok(())
}
