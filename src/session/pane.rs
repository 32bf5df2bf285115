//! The second pane: a text read beside the one on screen, to compare the two, and what activation patching
//! found between them. It keeps its own generations, so an edit in one pane never drops the other's analysis.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::tasks::{PatchKey, TaskError};
use crate::model::patching::Patching;
use crate::model::{Analysis, AnalyzeOptions};

/// The second pane's state.
#[derive(Default)]
pub struct ComparePane {
    /// The newest analysis of the compared text.
    pub(super) analysis: Option<Arc<Analysis>>,
    /// The newest text and options asked for, so the same question is not sent twice.
    pub(super) asked: Option<(String, AnalyzeOptions)>,
    /// The newest request's generation, and the shown analysis'.
    pub(super) requested: u64,
    pub(super) shown: u64,
    /// Why the newest request failed.
    pub(super) error: Option<TaskError>,
    /// The newest patching and what it was for.
    pub(super) patching: Option<(PatchKey, Arc<Patching>)>,
    /// The patching running, its stop flag and its progress.
    pub(super) running: Option<(PatchKey, Arc<AtomicBool>)>,
    pub(super) progress: Option<(usize, usize)>,
    /// Why the last patching failed, with what it was for.
    pub(super) patch_error: Option<(PatchKey, String)>,
}
