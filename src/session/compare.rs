//! The session's second pane ([`super::pane::ComparePane`]): asking for the compared text's analysis and for
//! activation patching between the two texts, and reading their answers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::tasks::{PatchKey, TaskError};
use super::worker::Request;
use super::Session;
use crate::model::patching::Patching;
use crate::model::{Analysis, AnalyzeOptions, EngineError};

impl Session {
    /// Asks for the analysis of the second pane's `text`, unless that is what was asked last.
    pub fn compare(&mut self, text: String, options: AnalyzeOptions) {
        let asked = Some((text.clone(), options.clone()));
        if self.pane.asked == asked {
            return;
        }
        // A patching of the texts as they were would only hold the worker up.
        self.stop_patching_unless(|key| key.corrupt == text);
        self.pane.asked = asked;
        self.pane.requested += 1;
        self.worker.send(Request::Compare {
            generation: self.pane.requested,
            text,
            options,
        });
    }

    /// The second pane's analysis, if one arrived.
    pub fn compared(&self) -> Option<&Arc<Analysis>> {
        self.pane.analysis.as_ref()
    }

    /// Why the second pane's newest text could not be read.
    pub fn compare_error(&self) -> Option<&TaskError> {
        self.pane.error.as_ref()
    }

    /// Whether the second pane's newest text is still being read.
    pub fn compare_pending(&self) -> bool {
        self.pane.requested > self.pane.shown && self.pane.error.is_none()
    }

    /// Asks for activation patching of `key`, unless it is here or running; one running on other texts stops.
    pub fn patch(&mut self, key: PatchKey) {
        if self.pane.patching.as_ref().is_some_and(|(k, _)| *k == key)
            || self.pane.running.as_ref().is_some_and(|(k, _)| *k == key)
        {
            return;
        }
        if let Some((_, cancel)) = &self.pane.running {
            cancel.store(true, Ordering::Relaxed);
        }
        let cancel = Arc::new(AtomicBool::new(false));
        self.pane.running = Some((key.clone(), Arc::clone(&cancel)));
        self.pane.progress = Some((0, 1));
        self.pane.patch_error = None;
        self.worker.send(Request::Patch { key, cancel });
    }

    /// Stops the patching running unless `keep` says it is still wanted.
    pub(super) fn stop_patching_unless(&mut self, keep: impl Fn(&PatchKey) -> bool) {
        if let Some((key, cancel)) = &self.pane.running {
            if !keep(key) {
                cancel.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Whether a patching is running.
    pub fn patch_running(&self) -> bool {
        self.pane.running.is_some()
    }

    /// The patching of `key`, if it finished.
    pub fn patched(&self, key: &PatchKey) -> Option<&Arc<Patching>> {
        self.pane
            .patching
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, p)| p)
    }

    /// Runs done and to do of the patching of `key`, while it runs.
    pub fn patch_progress(&self, key: &PatchKey) -> Option<(usize, usize)> {
        self.pane
            .running
            .as_ref()
            .filter(|(k, _)| k == key)
            .and(self.pane.progress)
    }

    /// Why the patching of `key` failed, if it did.
    pub fn patch_failure(&self, key: &PatchKey) -> Option<&str> {
        self.pane
            .patch_error
            .as_ref()
            .filter(|(k, _)| k == key)
            .map(|(_, why)| why.as_str())
    }

    /// Takes one of the second pane's answers (the others are not its own and are left alone).
    pub(super) fn pane_response(&mut self, response: super::worker::Response) {
        use super::worker::Response;
        match response {
            Response::Compared {
                generation,
                analysis,
            } if generation >= self.pane.shown => {
                self.pane.shown = generation;
                self.pane.analysis = Some(analysis);
                self.pane.error = None;
            }
            Response::CompareFailed { generation, error } if generation == self.pane.requested => {
                self.pane.shown = generation;
                self.pane.error = Some(error);
            }
            Response::PatchProgress(key, done, total)
                if self.pane.running.as_ref().is_some_and(|(k, _)| *k == key) =>
            {
                self.pane.progress = Some((done, total));
            }
            Response::Patched(key, patching) => {
                if self.pane.running.as_ref().is_some_and(|(k, _)| *k == key) {
                    self.pane.running = None;
                    self.pane.progress = None;
                }
                self.pane.patching = Some((key, patching));
            }
            Response::PatchFailed(key, error) => {
                if self.pane.running.as_ref().is_some_and(|(k, _)| *k == key) {
                    self.pane.running = None;
                    self.pane.progress = None;
                }
                if !matches!(error, TaskError::Engine(EngineError::Cancelled)) {
                    self.pane.patch_error = Some((key, error.to_string()));
                }
            }
            _ => {}
        }
    }
}
