//! A text longer than the model reads: the part that can be read, which the app offers to keep.

use super::events::ReadablePart;
use super::tasks::TaskError;
use super::Session;
use crate::model::EngineError;

impl Session {
    /// The part of `text` the model can read, where the newest analysis asked for was of `text` and was refused
    /// as too long; `None` otherwise (an edit or a model since, or another error), so that a cut is never made
    /// at an offset found for another text or model.
    pub fn readable_part(&self, text: &str) -> Option<ReadablePart> {
        if self.failed_generation != self.requested_generation || self.requested_text != text {
            return None;
        }
        let (tokens, limit, fits, memory) = match self.analyze_error.as_ref()? {
            TaskError::Engine(EngineError::TooLong {
                tokens,
                limit,
                fits,
                ..
            }) => (tokens, limit, fits, false),
            TaskError::Engine(EngineError::TooManyToKeep {
                tokens,
                limit,
                fits,
                ..
            }) => (tokens, limit, fits, true),
            _ => return None,
        };
        Some(ReadablePart {
            tokens: *tokens,
            limit: *limit,
            memory,
            fits: (*fits)?,
        })
    }
}
