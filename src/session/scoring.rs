//! Scoring a text file, or the text being analysed, with sliding windows for the app's Perplexity tab, and
//! the token texts to show beside each window's numbers.

use crate::model::perplexity::{PerplexityError, PerplexityReport, WindowOptions};
use crate::model::tokenizer::{display_form, visible_whitespace};
use crate::model::{Engine, EngineError};

/// A finished scoring with the token texts for display.
#[derive(Debug)]
pub struct ScoredText {
    /// What was scored: a file, or the text being analysed as it was then.
    pub source: ScoreSource,
    /// The model that scored it.
    pub model: String,
    /// Window length used.
    pub max_length: usize,
    /// Stride used.
    pub stride: usize,
    /// The report.
    pub report: PerplexityReport,
    /// Every token's label (BOS included when prepended), as the app shows tokens: whitespace made visible,
    /// and a character split over tokens whole on each of them, marked ‹ where it began in an earlier token
    /// and › where it ends in a later one.
    pub tokens: Vec<String>,
    /// Positions of the tokens that end a line of the text (hold a newline): where its display breaks.
    pub line_ends: Vec<usize>,
    /// Whether BOS was put first (then the first token is scored too).
    pub bos: bool,
    /// Bits per byte over the bytes of the scored tokens.
    pub bits_per_byte: f64,
}

impl ScoredText {
    /// How the tab names what was scored: the file's path, or "the text above".
    pub fn name(&self) -> &str {
        match &self.source {
            ScoreSource::File(path) => path,
            ScoreSource::Text(_) => "the text above",
        }
    }
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
    /// The tokenizer's byte spans do not fit the text or the windows: a bug, said as one.
    #[error("internal error: the tokens' byte spans do not fit the text ({0}); please report it with the text")]
    Spans(String),
}

/// Every token's label, BOS first when it is prepended: position i of the result is position i of the
/// scoring. Labels are the app's (see [`ScoredText::tokens`]); a token whose span is empty (one the tokenizer
/// adds, holding no byte of the text) is labelled by its vocabulary entry.
pub fn token_labels(
    engine: &Engine,
    text: &str,
    ids: &[u32],
    spans: &[crate::model::engine::Span],
    bos: bool,
) -> Result<Vec<String>, ScoringError> {
    let mut tokens: Vec<String> = Vec::with_capacity(spans.len() + 1);
    if bos {
        let id = engine.bos_token().ok_or(EngineError::NoBosToken)?;
        tokens.push(visible_whitespace(&engine.tokenizer().text(id)));
    }
    for (&id, &(start, end)) in ids.iter().zip(spans) {
        let label = match display_form(text, start, end) {
            Some(label) => label,
            None if start == end => visible_whitespace(&engine.tokenizer().text(id)),
            None => {
                return Err(ScoringError::Spans(format!(
                    "bytes {start}..{end} of {}",
                    text.len()
                )))
            }
        };
        tokens.push(label);
    }
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

/// Scores `source` with windows of `max_length` tokens (0: the model's context) every `stride` tokens (0: half
/// the window), calling `progress(scored, total)` as windows finish.
pub fn score(
    engine: &Engine,
    source: ScoreSource,
    max_length: usize,
    stride: usize,
    bos: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<ScoredText, ScoringError> {
    let file;
    let text = match &source {
        ScoreSource::File(path) => {
            file = read_file(path)?;
            file.as_str()
        }
        ScoreSource::Text(text) => text.as_str(),
    };
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
    // The spans are the text's own, one per token of the report less BOS: anything else is a bug.
    let bits_per_byte = report
        .scored_bytes(text.len(), &spans, bos)
        .map(|bytes| report.bits_per_byte(bytes))
        .ok_or_else(|| {
            ScoringError::Spans(format!(
                "{} spans for {} tokens of {} bytes",
                spans.len(),
                report.tokens,
                text.len()
            ))
        })?;
    let lead = usize::from(bos);
    let line_ends = spans
        .iter()
        .enumerate()
        // Spans are byte ranges of `text`.
        .filter(|(_, &(start, end))| text.as_bytes()[start..end].contains(&b'\n'))
        .map(|(i, _)| i + lead)
        .collect();
    let tokens = token_labels(engine, text, &ids, &spans, bos)?;
    // The text's last use is above: the result keeps the source, which holds the text only where it is the
    // text (a file is not copied).
    Ok(ScoredText {
        source,
        model: engine.name().to_string(),
        max_length,
        stride,
        report,
        tokens,
        line_ends,
        bos,
        bits_per_byte,
    })
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
