//! Notices: a line for the toast above the status bar (an export's path, or what went wrong, in red).

use std::time::{Duration, Instant};

/// How long a notice stays on screen.
const TOAST: Duration = Duration::from_secs(8);

/// A message for the toast.
#[derive(Clone, Debug)]
pub struct Notice {
    text: String,
    at: Instant,
    failed: bool,
}

impl Notice {
    /// A notice of something done.
    pub fn done(text: impl Into<String>) -> Self {
        Self::new(text.into(), false)
    }

    /// A notice of a failure (drawn in red).
    pub fn failed(text: impl Into<String>) -> Self {
        Self::new(text.into(), true)
    }

    fn new(text: String, failed: bool) -> Self {
        Self {
            text,
            at: Instant::now(),
            failed,
        }
    }

    /// The message.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it reports a failure.
    pub fn is_failure(&self) -> bool {
        self.failed
    }

    /// Floats the notice above the status bar until its time is up.
    pub fn toast(&self, ctx: &egui::Context) {
        let left = TOAST.saturating_sub(self.at.elapsed());
        if left.is_zero() {
            return;
        }
        ctx.request_repaint_after(left);
        egui::Area::new(egui::Id::new("toast"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    let text = egui::RichText::new(self.text.as_str());
                    ui.label(if self.failed {
                        text.color(super::status::ERROR_RED)
                    } else {
                        text
                    });
                });
            });
    }
}
