//! The tasks besides the analysis that panels ask the worker for: an attribution, the lesson's numbers, a
//! knock-out sweep; each asked once per input, and a failure kept for the text on screen.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::tasks::TaskError;
use super::worker::{Request, SideTask, TextKey};
use super::{Explained, Session};
use crate::model::ablation::{KnockOut, Sweep};
use crate::model::attribution::Attribution;
use crate::model::EngineError;

impl Session {
    /// Asks for the direct logit attribution of the prediction made at `position` of `key`'s text, unless it is
    /// here, on its way, or failed before.
    pub fn attribute(&mut self, key: TextKey, position: usize) {
        let have = self
            .attribution
            .as_ref()
            .is_some_and(|(k, a)| *k == key && a.position == position);
        let want = (key, position);
        if have
            || self.attribution_pending.as_ref() == Some(&want)
            || self
                .failure(&SideTask::Attribute(want.0.clone(), want.1))
                .is_some()
        {
            return;
        }
        self.attribution_pending = Some(want.clone());
        self.worker.send(Request::Attribute {
            key: want.0,
            position: want.1,
        });
    }

    /// Why a side task (an attribution, an explanation, a sweep) of the text on screen failed, if it did.
    pub fn failure(&self, task: &SideTask) -> Option<&str> {
        self.failed
            .iter()
            .find(|(t, _)| t == task)
            .map(|(_, why)| why.as_str())
    }

    /// Asks for the lesson's numbers for `key`'s text and head `layer`.`head`, unless they are here or on
    /// their way.
    pub fn explain(&mut self, key: TextKey, layer: usize, head: usize) {
        let have = self.explained.as_ref().is_some_and(|e| {
            e.key == key && (e.explanation.layer, e.explanation.head) == (layer, head)
        });
        let asked = Some((key.clone(), layer, head));
        if have
            || self.explain_pending == asked
            || self
                .failure(&SideTask::Explain(key.clone(), layer, head))
                .is_some()
        {
            return;
        }
        self.explain_pending = asked;
        self.worker.send(Request::Explain { key, layer, head });
    }

    /// Asks for the logit lens of `key`'s text with the heads in `ablated` knocked out, unless it is here or on
    /// its way.
    pub fn lens(&mut self, key: TextKey, ablated: KnockOut) {
        let asked = Some((key.clone(), ablated.clone()));
        let have = self
            .lens
            .as_ref()
            .is_some_and(|(k, a, _)| *k == key && *a == ablated);
        if have
            || self.lens_pending == asked
            || self
                .failure(&SideTask::Lens(key.clone(), ablated.clone()))
                .is_some()
        {
            return;
        }
        self.lens_pending = asked;
        self.worker.send(Request::Lens { key, ablated });
    }

    /// The logit lens, if it was made for the text on screen with these heads knocked out.
    pub fn lensed(&self, ablated: &KnockOut) -> Option<&crate::model::lens::Lens> {
        let (key, a, lens) = self.lens.as_ref()?;
        (Some(key) == self.text_key().as_ref() && a == ablated).then_some(&**lens)
    }

    /// The lesson's numbers, if they were made for the text on screen.
    pub fn explained(&self) -> Option<&Explained> {
        let e = self.explained.as_deref()?;
        (Some(&e.key) == self.text_key().as_ref()).then_some(e)
    }

    /// Asks for every head to be knocked out alone, in turn, on `key`'s text, its values replaced as
    /// `replacement` says.
    pub fn sweep(&mut self, key: TextKey, replacement: crate::model::ablation::Replacement) {
        // One sweep at a time: one asked for the other way (zeros or means) stops where it is.
        if let Some((_, _, cancel)) = self.sweep_running.take() {
            cancel.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.sweep_progress = Some((0, 1));
        self.failed
            .retain(|(t, _)| *t != SideTask::Sweep(key.clone(), replacement));
        let cancel = Arc::new(AtomicBool::new(false));
        self.sweep_running = Some((key.clone(), replacement, Arc::clone(&cancel)));
        self.worker.send(Request::Sweep {
            key,
            cancel,
            replacement,
        });
    }

    /// The latest direct logit attribution, if it was made for the text on screen.
    pub fn attribution(&self) -> Option<&Attribution> {
        let (key, attribution) = self.attribution.as_ref()?;
        (Some(key) == self.text_key().as_ref()).then_some(&**attribution)
    }

    /// Whether an attribution was asked for and has not arrived.
    pub fn attribution_pending(&self) -> bool {
        self.attribution_pending.is_some()
    }

    /// The latest sweep over every head, if it was made for the text on screen.
    pub fn sweep_result(&self) -> Option<&Arc<Sweep>> {
        let (key, sweep) = self.sweep.as_ref()?;
        (Some(key) == self.text_key().as_ref()).then_some(sweep)
    }

    /// Heads done and in all while a sweep runs.
    pub fn sweep_progress(&self) -> Option<(usize, usize)> {
        self.sweep_progress
    }

    /// A side task failed: it is no longer pending; its error is kept for the panel that asked (unless it was
    /// cancelled, or is for an older text), or shown as an analysis's for the probe and Continue.
    pub(super) fn side_task_failed(&mut self, task: SideTask, error: TaskError) {
        match &task {
            SideTask::Attribute(key, position) => {
                if self.attribution_pending.as_ref() == Some(&(key.clone(), *position)) {
                    self.attribution_pending = None;
                }
            }
            SideTask::Explain(key, layer, head) => {
                if self.explain_pending == Some((key.clone(), *layer, *head)) {
                    self.explain_pending = None;
                }
            }
            SideTask::Sweep(key, replacement) => {
                if self
                    .sweep_running
                    .as_ref()
                    .is_some_and(|(k, r, _)| k == key && r == replacement)
                {
                    self.sweep_running = None;
                    self.sweep_progress = None;
                }
            }
            SideTask::Lens(key, ablated) => {
                if self.lens_pending.as_ref() == Some(&(key.clone(), ablated.clone())) {
                    self.lens_pending = None;
                }
            }
            SideTask::Probe | SideTask::Continue => {}
        }
        let cancelled = matches!(error, TaskError::Engine(EngineError::Cancelled));
        match task {
            _ if cancelled => {}
            // The probe and Continue were asked for by a click: their error shows like an analysis's.
            SideTask::Probe | SideTask::Continue => {
                if self.model_name.is_some() {
                    self.analyze_error = Some(error);
                }
            }
            // The panels that asked show these; one for an older text is no longer anyone's.
            task => {
                if task.key() == self.text_key().as_ref() {
                    self.failed.push((task, error.to_string()));
                }
            }
        }
    }
}
