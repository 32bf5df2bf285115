//! `attngraph patch`: activation patching between two texts of one length — which heads and which positions of
//! the residual stream carry the difference — as a table, CSV or JSON.

use std::fmt::Write as _;
use std::io::Write;

use anyhow::{bail, Context};

use super::args::{BosArgs, EffectFormat, ModelArgs};
use crate::format::{shorten, token};
use crate::model::patching::{patch, Patching};
use crate::model::Engine;

/// Arguments of `attngraph patch`.
#[derive(Debug, Clone, clap::Args)]
pub struct PatchArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text whose answer is right ("When Mary and John went to the store, John gave a drink to").
    #[arg(long)]
    pub clean: String,
    /// The text of the same number of tokens that leads elsewhere ("…, Mary gave a drink to").
    #[arg(long)]
    pub corrupt: String,
    /// BOS (as the model's tokenizer does unless --bos or --no-bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// The token the clean text should lead to: the text of one token of the vocabulary (" Mary", with its
    /// leading space), or its id as #ID.
    #[arg(long)]
    pub answer: String,
    /// The token the corrupt text leads to instead, written the same way.
    #[arg(long)]
    pub wrong: String,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EffectFormat::Table)]
    pub format: EffectFormat,
}

/// Runs `attngraph patch`.
pub fn run(args: &PatchArgs) -> anyhow::Result<()> {
    let engine = args.model.load()?;
    let answer = token_id(&engine, &args.answer).context("--answer")?;
    let wrong = token_id(&engine, &args.wrong).context("--wrong")?;
    let bos = args.bos.enabled(&engine, false);
    let report = patch(
        &engine,
        &args.clean,
        &args.corrupt,
        bos,
        answer,
        wrong,
        &mut |_, _| true,
    )?;
    let mut out = std::io::stdout().lock();
    match args.format {
        super::args::EffectFormat::Json => {
            writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?
        }
        super::args::EffectFormat::Csv => write!(out, "{}", crate::export::patching_csv(&report))?,
        super::args::EffectFormat::Table => write!(out, "{}", table(&report))?,
    }
    Ok(())
}

/// The id of `--answer`/`--wrong`: `#ID`, or a text that is exactly one token.
fn token_id(engine: &Engine, given: &str) -> anyhow::Result<u32> {
    let vocab = engine.info().vocab_size;
    if let Some(digits) = given.strip_prefix('#') {
        let id: u32 = digits.parse().with_context(|| {
            format!(
                "{given:?} is not #ID with a whole number from 0 to {} after #",
                vocab - 1
            )
        })?;
        if id as usize >= vocab {
            bail!(
                "token id {id} is outside the vocabulary: ids run 0–{}",
                vocab - 1
            );
        }
        return Ok(id);
    }
    if given.is_empty() {
        bail!("the token is empty: give the text of one token (\" Mary\") or its id as #ID");
    }
    let pieces = engine.tokenizer().encode(given)?;
    // A SentencePiece tokenizer puts `▁` before a text, so " Mary" reads as two pieces: its vocabulary writes
    // the word with its space as "▁Mary".
    let spelled = engine
        .tokenizer()
        .is_sentencepiece()
        .then(|| engine.tokenizer().token_id(&given.replace(' ', "▁")))
        .flatten();
    match (pieces.as_slice(), spelled) {
        (_, Some(id)) => Ok(id),
        ([one], None) => Ok(one.id),
        _ => {
            let shown: String = pieces
                .iter()
                .map(|p| format!("[{}]", token(&engine.tokenizer().text(p.id))))
                .collect();
            bail!(
                "{given:?} is {} tokens, {shown}, not one: give one token of the vocabulary (often with its leading \
                 space, \" Mary\"), or its id as #ID",
                pieces.len()
            )
        }
    }
}

/// The two differences, the heads grid and the residual grid, each cell normalised as
/// (x − corrupt) / (clean − corrupt).
fn table(p: &Patching) -> String {
    let norm = |x: f64| match p.normalised(x) {
        Some(v) => format!("{v:>6.2}"),
        None => format!("{x:>6.2}"),
    };
    let mut s = format!(
        "logit[{}] − logit[{}] at the last position: clean {:.4}, corrupt {:.4}\n",
        token(&p.answer.text),
        token(&p.wrong.text),
        p.clean_logit_diff,
        p.corrupt_logit_diff
    );
    if let Some(gap) = p.weak_gap() {
        let _ = writeln!(
            s,
            "warning: {}",
            crate::model::patching::weak_gap_warning(gap)
        );
    }
    s.push_str(if p.normalised(0.0).is_some() {
        "cells: (patched − corrupt) / (clean − corrupt): 0 restores nothing, 1 restores the clean difference\n\n"
    } else {
        "cells: the difference itself (clean and corrupt give the same, so nothing can be restored)\n\n"
    });
    s.push_str("each head's values from the clean run\n      ");
    let n_head = p.heads.first().map_or(0, Vec::len);
    for h in 0..n_head {
        let _ = write!(s, " {:>6}", format!("h{h}"));
    }
    s.push('\n');
    for (l, row) in p.heads.iter().enumerate() {
        let _ = write!(s, "{:<6}", format!("L{l}"));
        for &x in row {
            let _ = write!(s, " {}", norm(x));
        }
        s.push('\n');
    }
    s.push_str("\nthe residual stream entering each layer, one position from the clean run\n");
    for (pos, (c, k)) in p.clean_tokens.iter().zip(&p.corrupt_tokens).enumerate() {
        let label = if c.id == k.id {
            token(&c.text)
        } else {
            format!("{}/{}", token(&c.text), token(&k.text))
        };
        let _ = write!(
            s,
            "{pos:>4} {}",
            crate::format::pad(&shorten(&label, 16), 16)
        );
        for row in &p.residual {
            // Every row has a cell per position.
            let _ = write!(s, " {}", norm(row[pos]));
        }
        s.push('\n');
    }
    let _ = write!(s, "{:>4} {:<16}", "", "");
    for l in 0..p.residual.len() {
        let _ = write!(s, " {:>6}", format!("L{l}"));
    }
    s.push('\n');
    s
}
