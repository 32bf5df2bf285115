//! Scoring a text file, or the text being analysed, with sliding windows for the app's Perplexity tab, and
//! the token texts to show beside each window's numbers.

use crate::model::perplexity::{PerplexityError, PerplexityReport, WindowOptions};
use crate::model::tokenizer::visible_whitespace;
use crate::model::{Engine, EngineError};

/// A finished scoring with the token texts for display.
#[derive(Debug)]
pub struct ScoredFile {
    /// What was scored, as the tab names it: the file's path, or "the text above".
    pub name: String,
    /// Window length used.
    pub max_length: usize,
    /// Stride used.
    pub stride: usize,
    /// The report.
    pub report: PerplexityReport,
    /// Display text of every token (BOS included when prepended), whitespace made visible.
    pub tokens: Vec<String>,
    /// Positions of the tokens that end a line of the text (hold a newline): where its display breaks.
    pub line_ends: Vec<usize>,
    /// Whether BOS was put first (then the first token is scored too).
    pub bos: bool,
    /// Bits per byte over the bytes of the scored tokens.
    pub bits_per_byte: f64,
}

/// Why a file could not be scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoringError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not UTF-8.
    #[error("{path} is not valid UTF-8: invalid byte at offset {offset}")]
    NotUtf8 {
        /// The file.
        path: String,
        /// Where the first invalid byte is.
        offset: usize,
    },
    /// The engine failed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The windows could not be scored.
    #[error(transparent)]
    Perplexity(#[from] PerplexityError),
}

/// The text of every token the windows see, BOS first when it is prepended: position i of the result is
/// position i of the scoring. A character split over tokens (an emoji's four bytes, say) is given whole on the
/// token where it ends, so the text reads as written rather than as byte escapes.
pub fn token_texts(
    engine: &Engine,
    text: &str,
    spans: &[crate::model::engine::Span],
    bos: bool,
) -> Result<Vec<String>, EngineError> {
    let mut tokens: Vec<String> = Vec::with_capacity(spans.len() + 1);
    if bos {
        let id = engine.bos_token().ok_or(EngineError::NoBosToken)?;
        tokens.push(engine.tokenizer().text(id));
    }
    tokens.extend(spans.iter().map(|&(start, end)| {
        // Both ends are rounded up to character boundaries of `text`, and start ≤ end.
        text[text.ceil_char_boundary(start)..text.ceil_char_boundary(end)].to_string()
    }));
    Ok(tokens)
}

/// What the Perplexity tab scores.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScoreSource {
    /// A UTF-8 text file, by its path.
    File(String),
    /// The text being analysed, as typed.
    Text(String),
}

/// How the tab names the text being analysed when it is what was scored.
pub const TEXT_ABOVE: &str = "the text above";

/// Scores `source` with windows of `max_length` tokens (0: the model's context) every `stride` tokens (0: half
/// the window), calling `progress(scored, total)` as windows finish.
pub fn score(
    engine: &Engine,
    source: ScoreSource,
    max_length: usize,
    stride: usize,
    bos: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoredFile, ScoringError> {
    let (name, text) = match source {
        ScoreSource::File(path) => {
            let text = read_file(&path)?;
            (path, text)
        }
        ScoreSource::Text(text) => (TEXT_ABOVE.to_string(), text),
    };
    score_text(engine, name, &text, max_length, stride, bos, progress)
}

/// The file at `path` as text.
fn read_file(path: &str) -> Result<String, ScoringError> {
    let bytes = std::fs::File::open(path)
        .and_then(crate::text_file::read)
        .map_err(|source| ScoringError::Read {
            path: path.to_string(),
            source,
        })?;
    String::from_utf8(bytes).map_err(|e| ScoringError::NotUtf8 {
        path: path.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })
}

/// Scores `text`, named `name` in the result.
fn score_text(
    engine: &Engine,
    name: String,
    text: &str,
    max_length: usize,
    stride: usize,
    bos: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoredFile, ScoringError> {
    let (ids, spans) = engine.tokenize(text, false)?;
    let max_length = if max_length == 0 {
        engine.info().n_positions
    } else {
        max_length
    };
    let stride = if stride == 0 {
        (max_length / 2).max(1)
    } else {
        stride
    };
    let options = WindowOptions {
        max_length,
        stride,
        bos,
        batch: 1,
    };
    let report = crate::model::perplexity::sliding_window(engine, &ids, options, progress)?;
    // sliding_window refuses a text with no token to score, so there are spans, and scored bytes.
    let bits_per_byte = crate::model::perplexity::scored_bytes(text, &spans, bos)
        .map(|bytes| report.bits_per_byte(bytes))
        .ok_or(crate::model::perplexity::PerplexityError::TooShort(
            ids.len(),
        ))?;
    let raw = token_texts(engine, text, &spans, bos)?;
    let line_ends = (0..raw.len()).filter(|&i| raw[i].contains('\n')).collect();
    let tokens = raw.iter().map(|t| visible_whitespace(t)).collect();
    Ok(ScoredFile {
        name,
        max_length,
        stride,
        report,
        tokens,
        line_ends,
        bos,
        bits_per_byte,
    })
}
