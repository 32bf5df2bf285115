//! The tasks besides the analysis that panels ask the worker for: an attribution, the lesson's numbers, a
//! knock-out sweep; each asked once per input, and a failure kept for the text on screen.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use super::worker::{Request, SideTask, TextKey};
use super::{Explained, Session};
use crate::model::ablation::KnockOut;

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
}
