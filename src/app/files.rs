//! Files the app writes and reads through the reader: exports of the selection, and what a file dialog
//! answered.

use std::path::PathBuf;

use super::{AttnApp, Exports};
use crate::export::Format;
use crate::ui::dialogs::Purpose;
use crate::ui::notice::Notice;

impl AttnApp {
    pub(super) fn export_file_name(&self, format: Format) -> String {
        Exports::file_name(
            self.view.shown().map(|s| s.snapshot.title()).as_deref(),
            format,
        )
    }

    pub(super) fn export_to(&mut self, path: PathBuf, format: Format, ctx: &egui::Context) {
        let snapshot = self
            .view
            .shown()
            .map(|s| std::sync::Arc::clone(&s.snapshot));
        if let Some(notice) = self
            .exports
            .export_to(path, format, snapshot, self.central_rect, ctx)
        {
            self.notice = Some(notice);
        }
    }

    /// Acts on a file dialog's answer.
    pub(super) fn dialog_answered(&mut self, purpose: Purpose, path: PathBuf, ctx: &egui::Context) {
        match purpose {
            Purpose::ModelFolder => {
                self.model_field = path.display().to_string();
                self.load_model(self.model_field.clone());
            }
            Purpose::TextFile => {
                self.perplexity.path = path.display().to_string();
                if self.session.model_name().is_some() && self.perplexity.progress.is_none() {
                    self.score_file();
                }
            }
            Purpose::ExportFolder => {
                self.settings.export_dir = Some(path.clone());
                self.notice = Some(Notice::done(format!("quick exports now go to {}", path.display())));
                self.exports.set_dir(path);
            }
            Purpose::SaveExport => match Format::from_path(&path) {
                Some(format) => self.export_to(path, format, ctx),
                None if path.extension().is_none() => {
                    self.export_to(path.with_extension("svg"), Format::Svg, ctx)
                }
                None => {
                    self.notice = Some(Notice::failed(format!(
                        "not exported: {} has an extension attngraph does not write; use .svg, .png, .dot, .graphml, .json or .csv",
                        path.display()
                    )))
                }
            },
        }
    }
}
