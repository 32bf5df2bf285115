//! The logit lens (nostalgebraist, 2020): what the model would predict if it stopped before each block. Row l of
//! the lens is the residual stream entering block l (row 0: the embeddings) put through the final LayerNorm and
//! the unembedding; the last row is the model's own output, as `analyze` gives it.

use serde::Serialize;

use super::ablation::{ids_in_context, token_texts, TokenText};
use super::head_set::{HeadSet, Replacement};
use super::{Engine, EngineError};

/// One of a cell's top guesses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Guess {
    /// Vocabulary id.
    pub id: u32,
    /// The piece of text it stands for.
    pub text: String,
    /// Its probability.
    pub prob: f64,
}

/// What the lens reads at one layer and position.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LensCell {
    /// The most probable next tokens, most probable first.
    pub top_k: Vec<Guess>,
    /// ln p of the text's actual next token; `None` at the last position.
    pub next_logprob: Option<f64>,
    /// Entropy of the whole distribution, in bits.
    pub entropy_bits: f64,
}

/// The lens of one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Lens {
    /// The tokens, BOS included when prepended.
    pub tokens: Vec<TokenText>,
    /// [layer 0..=n_layer][position]: row l < n_layer reads the stream entering block l, the last row the
    /// model's output.
    pub layers: Vec<Vec<LensCell>>,
}

impl Lens {
    /// Each layer's cell at `position`, or `None` past the text: what [`column`] gives, to rounding (the whole
    /// lens takes its logits in products of 64 rows, the column one row at a time, which sums in another order).
    pub fn at(&self, position: usize) -> Option<Vec<LensCell>> {
        self.layers
            .iter()
            .map(|row| row.get(position).cloned())
            .collect()
    }
}

/// Row `row` of a lens of `rows` rows, as every view, export and the lesson name it: `embed`, the stream entering
/// block 0 (the embeddings alone); `after L{l}`, the stream leaving block l; `output`, the last row, the model's
/// own prediction.
pub fn row_name(row: usize, rows: usize) -> String {
    match row {
        0 => "embed".to_string(),
        r if r + 1 >= rows => "output".to_string(),
        r => format!("after L{}", r - 1),
    }
}

/// The lens of `text` (BOS prepended if `bos`) with the heads in `ablated` knocked out (their values replaced as
/// `replacement` says), `top_k` guesses a cell.
pub fn lens(
    engine: &Engine,
    text: &str,
    bos: bool,
    top_k: usize,
    ablated: &HeadSet,
    replacement: Replacement,
) -> Result<Lens, EngineError> {
    let ids = ids_in_context(engine, text, bos)?;
    let t = ids.len();
    let layers = rows_of(engine, &ids, top_k, (ablated, replacement), 0..t)?;
    if layers.iter().any(|row| row.len() != t) {
        return Err(EngineError::Internal("a lens row without a cell per token"));
    }
    Ok(Lens {
        tokens: token_texts(engine, &ids),
        layers,
    })
}

/// The lens at one position of `text`: each layer's cell there, in the order of [`Lens::layers`] (the stream
/// entering block 0 first, the model's output last). What the lesson reads, at the cost of one forward pass and
/// one row of logits a layer, where a whole lens takes a row of logits for every position of every layer (for
/// 900 tokens of GPT-2 small, 13 × 900 rows of 50,257). An error for a position past the text.
pub fn column(
    engine: &Engine,
    text: &str,
    bos: bool,
    top_k: usize,
    ablated: &HeadSet,
    replacement: Replacement,
    position: usize,
) -> Result<Vec<LensCell>, EngineError> {
    let ids = ids_in_context(engine, text, bos)?;
    let last = ids.len() - 1; // ids_in_context returns at least one id
    if position > last {
        return Err(EngineError::Position { position, last });
    }
    rows_of(
        engine,
        &ids,
        top_k,
        (ablated, replacement),
        position..position + 1,
    )?
    .into_iter()
    .map(|mut row| {
        row.pop()
            .ok_or(EngineError::Internal("a lens layer without its cell"))
    })
    .collect()
}

/// Each layer's cells at `positions` of `ids`: the streams entering each block, then the output.
fn rows_of(
    engine: &Engine,
    ids: &[u32],
    top_k: usize,
    (ablated, replacement): (&HeadSet, Replacement),
    positions: std::ops::Range<usize>,
) -> Result<Vec<Vec<LensCell>>, EngineError> {
    let model = engine.model();
    let means = model.knock_out_means(ids, ablated, replacement)?;
    let trace = model.trace_replacing(ids, ablated, means.as_deref())?;
    let mut layers = Vec::with_capacity(trace.layers.len() + 1);
    for stream in trace.layers.iter().map(|l| &l.input) {
        let rows = stream.narrow(0, positions.start, positions.len())?;
        let hidden = model.final_norm_forward(&rows)?;
        layers.push(cells(engine, &hidden, ids, top_k, positions.start)?);
    }
    let output = trace.hidden.narrow(0, positions.start, positions.len())?;
    layers.push(cells(engine, &output, ids, top_k, positions.start)?);
    Ok(layers)
}

/// Rows of logits computed at once: enough for efficient products, few enough that GPT-2's 50,257-wide rows
/// take 13 MB.
const CHUNK: usize = 64;

/// The cells of one layer from its final hidden states `hidden` (rows, n_embd) of the positions from `first`
/// on, in chunks of rows.
fn cells(
    engine: &Engine,
    hidden: &candle_core::Tensor,
    ids: &[u32],
    top_k: usize,
    first: usize,
) -> Result<Vec<LensCell>, EngineError> {
    let model = engine.model();
    let vocab = engine.info().vocab_size;
    let rows = hidden.dim(0)?;
    let mut out = Vec::with_capacity(rows);
    for start in (0..rows).step_by(CHUNK) {
        let len = CHUNK.min(rows - start);
        let logits: Vec<f32> = model.logits(hidden, start, len)?.flatten_all()?.to_vec1()?;
        // Row r predicts the token after position first + start + r; the last position has none.
        let next: Vec<Option<u32>> = (first + start..first + start + len)
            .map(|p| ids.get(p + 1).copied())
            .collect();
        // The statistics `analyze` gives each token, by the same function.
        let stats = super::analysis::row_stats(&logits, vocab, &next, top_k);
        out.extend(stats.into_iter().zip(&next).map(|(row, next)| {
            LensCell {
                top_k: row
                    .top_k
                    .into_iter()
                    .map(|(id, prob)| Guess {
                        id,
                        text: engine.tokenizer().text(id),
                        prob,
                    })
                    .collect(),
                // The text's ids are below the vocabulary size (checked against it when the model was loaded), so
                // a next token always has its logit.
                next_logprob: next.map(|_| row.logprob),
                entropy_bits: row.entropy_nats / std::f64::consts::LN_2,
            }
        }));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::row_name;

    #[test]
    fn rows_are_named_by_the_stream_they_read() {
        // A model of 3 layers has 4 rows: the embeddings, after blocks 0 and 1, and the output (after block 2).
        let names: Vec<String> = (0..4).map(|row| row_name(row, 4)).collect();
        assert_eq!(names, ["embed", "after L0", "after L1", "output"]);
        assert_eq!([row_name(0, 2), row_name(1, 2)], ["embed", "output"]);
    }
}
