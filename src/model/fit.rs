//! The longest prefix of a text that a model reads at once: what the app offers to read when a text is too long.

use super::engine::Span;
use super::{Engine, EngineError};

impl Engine {
    /// Bytes of the longest prefix of `text` cut at the end of one of its first tokens (`spans`, from
    /// [`Engine::tokenize`] with `bos`) that reads as at most `limit` tokens, BOS included; `None` where not even
    /// the first token does. A prefix may tokenize differently from the whole at its end (a word cut in two), so
    /// each cut is read again until one fits. (A cut past the whole text's first `limit` tokens is not tried,
    /// though the prefix might read as fewer.)
    pub fn fitting_prefix(
        &self,
        text: &str,
        spans: &[Span],
        bos: bool,
        limit: usize,
    ) -> Result<Option<usize>, EngineError> {
        // The ends of the tokens, BOS's empty span left out, from the longest prefix that could fit down.
        let ends = spans
            .iter()
            .skip(usize::from(bos))
            .take(limit.saturating_sub(usize::from(bos)))
            .map(|&(_, end)| end)
            .rev();
        for end in ends {
            // A span's end lies on a character boundary of the text it came from; one that does not is skipped.
            let Some(prefix) = text.get(..end).filter(|p| !p.is_empty()) else {
                continue;
            };
            if self.tokenize(prefix, bos)?.0.len() <= limit {
                return Ok(Some(end));
            }
        }
        Ok(None)
    }
}
