//! What the UI and the worker thread say to each other: the requests and the reports.

use std::sync::Arc;

use super::scoring::{ScoreSource, ScoredText};
use super::tasks::{Explained, PatchKey, SideTask, TaskError, TextKey};
use crate::graph::heads::HeadScores;
use crate::model::ablation::Sweep;
use crate::model::attribution::Attribution;
use crate::model::generate::SamplingOptions;
use crate::model::{Analysis, AnalyzeOptions};

/// What the UI asks for.
#[derive(Debug)]
pub enum Request {
    /// Load a model (a Hub id or a folder).
    Load {
        /// The `--model` string.
        model: String,
        /// Use only the cache.
        offline: bool,
        /// Set by the UI to abandon the download.
        cancel: Arc<std::sync::atomic::AtomicBool>,
        /// The Hub cache (`None`: the one the environment names).
        cache_dir: Option<std::path::PathBuf>,
        /// The Hub's address (`None`: HF_ENDPOINT, else huggingface.co).
        endpoint: Option<String>,
    },
    /// Analyse a text with the loaded model.
    Analyze {
        /// Increases with every request; responses carry it back so the UI can drop stale ones.
        generation: u64,
        /// The text.
        text: String,
        /// Options.
        options: AnalyzeOptions,
    },
    /// Score a file, or the text, with sliding windows.
    Perplexity {
        /// What to score.
        source: ScoreSource,
        /// Window length (0: the model's context).
        max_length: usize,
        /// Stride (0: half the window).
        stride: usize,
        /// Prepend BOS.
        bos: bool,
    },
    /// Score every head on the induction probe (a random token sequence repeated).
    Probe,
    /// Direct logit attribution of one prediction.
    Attribute {
        /// What is being asked about.
        key: TextKey,
        /// The position whose logits are taken apart (they predict the token at position + 1).
        position: usize,
    },
    /// The lesson's numbers for one head.
    Explain {
        /// The text.
        key: TextKey,
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
    },
    /// The logit lens of a text.
    Lens {
        /// The text.
        key: TextKey,
        /// Heads knocked out, and what their values become.
        ablated: crate::model::ablation::KnockOut,
    },
    /// Knock out every head alone, in turn.
    Sweep {
        /// The text.
        key: TextKey,
        /// Set by the UI to stop it (the text changed).
        cancel: Arc<std::sync::atomic::AtomicBool>,
        /// What each head's values become.
        replacement: crate::model::ablation::Replacement,
    },
    /// Read the second pane's text (compared with the one on screen); the newest such request wins.
    Compare {
        /// The request's generation, counted apart from the first pane's.
        generation: u64,
        /// The text.
        text: String,
        /// What to compute.
        options: AnalyzeOptions,
    },
    /// Activation patching between the two panes' texts.
    Patch {
        /// The texts and tokens.
        key: PatchKey,
        /// Set by the UI to stop it (a text changed).
        cancel: Arc<std::sync::atomic::AtomicBool>,
    },
    /// Sample tokens after a text.
    Continue {
        /// The text.
        text: String,
        /// Prepend BOS.
        bos: bool,
        /// Sampling settings.
        options: SamplingOptions,
    },
}

/// What the worker reports.
#[derive(Debug)]
pub enum Response {
    /// Bytes arriving for a file.
    Progress {
        /// File name.
        file: String,
        /// Bytes so far.
        done: u64,
        /// Total bytes.
        total: u64,
    },
    /// A model is ready.
    Loaded {
        /// Its name.
        name: String,
    },
    /// Loading failed; the previous model (if any) stays loaded.
    LoadFailed(TaskError),
    /// The second pane's text was read.
    Compared {
        /// The request's generation.
        generation: u64,
        /// The result.
        analysis: Arc<Analysis>,
    },
    /// Reading the second pane's text failed.
    CompareFailed {
        /// The request's generation.
        generation: u64,
        /// Why.
        error: TaskError,
    },
    /// Runs done so far of a patching.
    PatchProgress(PatchKey, usize, usize),
    /// A patching finished.
    Patched(PatchKey, Arc<crate::model::patching::Patching>),
    /// A patching failed (or was stopped).
    PatchFailed(PatchKey, TaskError),
    /// An analysis finished.
    Analyzed {
        /// The request's generation.
        generation: u64,
        /// The result.
        analysis: Arc<Analysis>,
        /// Head-type scores of every head on this text (computed here, not on the UI thread).
        head_scores: Vec<HeadScores>,
        /// With heads knocked out: the same text read by the intact model, for before → after.
        baseline: Option<Arc<Analysis>>,
        /// How long it took, in milliseconds.
        millis: f64,
    },
    /// Head-type scores on the induction probe.
    ProbeScores(Vec<HeadScores>),
    /// Tokens scored so far of a file.
    PerplexityProgress(usize, usize),
    /// A file was scored.
    PerplexityDone(Box<ScoredText>),
    /// Scoring a file failed.
    PerplexityFailed(TaskError),
    /// The text with sampled tokens appended.
    Continued(String),
    /// A direct logit attribution.
    Attributed(TextKey, Box<Attribution>),
    /// The lesson's numbers, with the head's score matrix for its figure.
    Explained(Box<Explained>),
    /// The logit lens of a text with the heads knocked out.
    Lensed(
        TextKey,
        crate::model::ablation::KnockOut,
        Arc<crate::model::lens::Lens>,
    ),
    /// Heads done so far of a sweep.
    SweepProgress(TextKey, crate::model::ablation::Replacement, usize, usize),
    /// A sweep over every head.
    Swept(TextKey, Arc<Sweep>),
    /// A task besides the analysis failed; shown like a failed analysis, whatever analysis is current.
    SideTaskFailed(SideTask, TaskError),
    /// An analysis failed (empty text, too long, …); the previous result stays on screen.
    AnalyzeFailed {
        /// The request's generation.
        generation: u64,
        /// Why.
        error: TaskError,
    },
}
