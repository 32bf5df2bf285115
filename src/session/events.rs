//! What the session reports to the app: downloads in progress, the background prefetch, and the events a poll
//! returns.

use std::time::Instant;

use super::scoring::ScoredText;
use super::tasks::TaskError;
use crate::model::loader::LoadError;

/// Bytes arriving for a file of the model being downloaded.
#[derive(Clone, Debug)]
pub struct Download {
    /// File name.
    pub file: String,
    /// Bytes so far.
    pub done: u64,
    /// Total bytes.
    pub total: u64,
    /// When this file's first bytes arrived.
    pub started: Instant,
}

/// A model fetched into the Hub cache in the background (GPT-2, while a first run shows the demo model), on a
/// thread of its own so that the worker keeps analysing meanwhile.
#[derive(Debug)]
pub enum Prefetch {
    /// Files are arriving (`None` until the first bytes).
    Downloading(Option<Download>),
    /// Every file is in the cache: loading it now is instant and needs no network.
    Ready(String),
    /// It could not be fetched (no network, offline mode, …).
    Failed(LoadError),
}

/// Messages from the prefetch thread.
pub(super) enum PrefetchMessage {
    Progress(String, u64, u64),
    Done(Result<(), LoadError>),
}

/// What the app must act on after a poll; everything else the worker said is kept in the session.
#[derive(Debug)]
pub enum Event {
    /// A model finished loading under this name.
    Loaded(String),
    /// A newer analysis is on screen.
    Analyzed,
    /// The induction probe's scores arrived.
    ProbeScored,
    /// A direct logit attribution arrived.
    Attributed,
    /// A sweep over every head arrived.
    Swept,
    /// The lesson's numbers arrived.
    Explained,
    /// The logit lens arrived.
    Lensed,
    /// The second pane's analysis or patching moved on.
    Compared,
    /// Continue ▸ sampled tokens: the text with them appended.
    Continued(String),
    /// Tokens scored so far of the file being scored.
    ScoringProgress(usize, usize),
    /// A file was scored.
    Scored(Box<ScoredText>),
    /// Scoring a file failed.
    ScoringFailed(TaskError),
}

/// Why the newest text was refused for its length, and the part of it that can be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadablePart {
    /// The text's tokens, BOS included.
    pub tokens: usize,
    /// The most that can be read: the context, or what the memory for every head's attention allows.
    pub limit: usize,
    /// Whether the memory sets the limit, not the context.
    pub memory: bool,
    /// Bytes of the text that read as at most `limit` tokens.
    pub fits: usize,
}
