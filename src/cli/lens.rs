//! `attngraph lens`: the logit lens of a text — what each layer's residual stream would predict, put through the
//! final norm and the unembedding — as a table, CSV or JSON.

use std::fmt::Write as _;
use std::io::Write;

use super::args::{BosArgs, EffectFormat, ModelArgs, TextArgs};
use crate::format::{percent, shorten, token, whole_percent};
use crate::model::ablation::Replacement;
use crate::model::lens::{lens, Lens};
use crate::model::HeadSet;

/// Arguments of `attngraph lens`.
#[derive(Debug, Clone, clap::Args)]
pub struct LensArgs {
    /// Model selection.
    #[command(flatten)]
    pub model: ModelArgs,
    /// The text to read.
    #[command(flatten)]
    pub text: TextArgs,
    /// BOS (off unless --bos).
    #[command(flatten)]
    pub bos: BosArgs,
    /// Guesses per layer and position, from 1.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    pub top_k: u16,
    /// Heads to knock out first, as layer.head counting from 0: `--heads 0.3,2.1` (the lens of the ablated run).
    #[arg(long)]
    pub heads: Option<HeadSet>,
    /// What the knocked-out heads' attention-weighted values become (with --heads).
    #[arg(long, value_enum, default_value_t = Replacement::Zero, requires = "heads")]
    pub replace_with: Replacement,
    /// Output format.
    #[arg(long, value_enum, default_value_t = EffectFormat::Table)]
    pub format: EffectFormat,
}

/// Runs `attngraph lens`.
pub fn run(args: &LensArgs) -> anyhow::Result<()> {
    let text = args.text.read()?;
    let engine = args.model.load()?;
    // Without --heads nothing is knocked out: the empty set, which is what HeadSet's default is.
    let ablated = args.heads.clone().unwrap_or_default();
    let info = engine.info();
    ablated.check(info.n_layer, info.n_head)?;
    let report = lens(
        &engine,
        &text,
        args.bos.enabled(&engine, false),
        usize::from(args.top_k),
        &ablated,
        args.replace_with,
    )?;
    let mut out = std::io::stdout().lock();
    match args.format {
        EffectFormat::Json => writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?,
        EffectFormat::Csv => write!(out, "{}", crate::export::lens_csv(&report))?,
        EffectFormat::Table => {
            if !ablated.is_empty() {
                let how = match args.replace_with {
                    Replacement::Zero => "knocked out (values zeroed)",
                    Replacement::Mean => {
                        "mean-ablated (values set to their means over the positions read)"
                    }
                };
                writeln!(out, "heads {ablated} {how}")?;
            }
            write!(out, "{}", table(&report))?
        }
    }
    Ok(())
}

/// A position per line, a layer per column: each layer's top guess for the next token, and how the actual next
/// token's probability climbs.
fn table(lens: &Lens) -> String {
    let layers = lens.layers.len();
    let mut s = format!(
        "each layer's top guess for the next token (embed: the embeddings alone; after Ln: the stream leaving block n; output: the model's own, after L{}); last column: p of the actual next token by layer\n\n",
        layers.saturating_sub(2)
    );
    let _ = write!(s, "{:>4}  {:<12}", "pos", "token");
    for l in 0..layers {
        let _ = write!(s, " {:<14}", crate::model::lens::row_name(l, layers));
    }
    s.push_str(" p(next) by layer\n");
    for (position, tok) in lens.tokens.iter().enumerate() {
        let _ = write!(
            s,
            "{position:>4}  {}",
            crate::format::pad(&shorten(&token(&tok.text), 12), 12)
        );
        let mut climb = Vec::with_capacity(layers);
        for row in &lens.layers {
            // Every row has a cell per token.
            let cell = &row[position];
            let top = cell.top_k.first().map_or_else(String::new, |g| {
                format!("{} {}", shorten(&token(&g.text), 8), whole_percent(g.prob))
            });
            let _ = write!(s, " {}", crate::format::pad(&top, 14));
            if let Some(lp) = cell.next_logprob {
                climb.push(percent(lp));
            }
        }
        let _ = writeln!(
            s,
            " {}",
            if climb.is_empty() {
                "—".to_string()
            } else {
                climb.join(" → ")
            }
        );
    }
    s
}
