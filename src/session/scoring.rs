//! Scoring a text file with sliding windows for the app's Perplexity tab, and the token texts to show beside
//! each window's numbers.

use crate::model::perplexity::{PerplexityError, PerplexityReport, WindowOptions};
use crate::model::tokenizer::visible_whitespace;
use crate::model::{Engine, EngineError};

/// A finished scoring with the token texts for display.
#[derive(Debug)]
pub struct ScoredFile {
    /// The file.
    pub path: String,
    /// Window length used.
    pub max_length: usize,
    /// Stride used.
    pub stride: usize,
    /// The report.
    pub report: PerplexityReport,
    /// Display text of every token (BOS included when prepended).
    pub tokens: Vec<String>,
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

/// Scores the file at `path` with windows of `max_length` tokens (0: the model's context) every `stride` tokens
/// (0: half the window), calling `progress(scored, total)` as windows finish.
pub fn score_file(
    engine: &Engine,
    path: &str,
    max_length: usize,
    stride: usize,
    bos: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoredFile, ScoringError> {
    let bytes = std::fs::File::open(path)
        .and_then(crate::text_file::read)
        .map_err(|source| ScoringError::Read {
            path: path.to_string(),
            source,
        })?;
    let text = String::from_utf8(bytes).map_err(|e| ScoringError::NotUtf8 {
        path: path.to_string(),
        offset: e.utf8_error().valid_up_to(),
    })?;
    let (ids, spans) = engine.tokenize(&text, false)?;
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
    let bits_per_byte = crate::model::perplexity::scored_bytes(&text, &spans, bos)
        .map(|bytes| report.bits_per_byte(bytes))
        .ok_or(crate::model::perplexity::PerplexityError::TooShort(
            ids.len(),
        ))?;
    let mut tokens: Vec<String> = Vec::with_capacity(ids.len() + 1);
    if bos {
        let id = engine.bos_token().ok_or(EngineError::NoBosToken)?;
        tokens.push(engine.tokenizer().text(id));
    }
    // A character split over tokens (an emoji's four bytes, say) is shown whole on the token where it ends, so
    // the file reads as written rather than as byte escapes.
    tokens.extend(spans.iter().map(|&(start, end)| {
        // Both ends are rounded up to character boundaries of `text`, and start ≤ end.
        visible_whitespace(&text[text.ceil_char_boundary(start)..text.ceil_char_boundary(end)])
    }));
    Ok(ScoredFile {
        path: path.to_string(),
        max_length,
        stride,
        report,
        tokens,
        bos,
        bits_per_byte,
    })
}
