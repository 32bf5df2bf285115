//! Files the app writes and reads through the reader: exports of the selection, what a file dialog
//! answered, the text or file scored in the Perplexity tab, and the closing screenshot.

use std::path::PathBuf;

use super::{AttnApp, Exports};
use crate::export::Format;
use crate::session::scoring::ScoreSource;
use crate::ui::dialogs::Purpose;
use crate::ui::notice::Notice;
use crate::ui::settings::View;

impl AttnApp {
    pub(super) fn export_file_name(&self, format: Format) -> String {
        // The Overlay's SVG is a whole layer, not the selected matrix.
        if self.settings.view == View::Overlay && format == Format::Svg {
            let layer = crate::ui::overlay_view::layer_of(self.settings.selection);
            return Exports::file_name(Some(&format!("overlay layer {layer}")), format);
        }
        Exports::file_name(
            self.view.shown().map(|s| s.snapshot.title()).as_deref(),
            format,
        )
    }

    pub(super) fn export_to(&mut self, path: PathBuf, format: Format, ctx: &egui::Context) {
        // The Overlay view's SVG is the overlay as shown; its other formats are the selected matrix's.
        if self.settings.view == View::Overlay && format == Format::Svg {
            self.notice = Some(self.export_overlay(path, ctx));
            return;
        }
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

    pub(super) fn score_file(&mut self) {
        self.score(ScoreSource::File(self.perplexity.path.trim().to_string()));
    }

    /// Scores the text being analysed in the Perplexity tab.
    pub(super) fn score_text(&mut self) {
        self.score(ScoreSource::Text(self.settings.text.clone()));
    }

    fn score(&mut self, source: ScoreSource) {
        // One scoring at a time: a second asked for meanwhile (the banner's button stays live) is not queued
        // behind it, where the first one's end would report the tab idle while the second still ran.
        if self.perplexity.progress.is_some() {
            return;
        }
        self.perplexity.progress = Some((0, 1));
        self.perplexity.error = None;
        self.session.score(
            source,
            self.perplexity.max_length,
            self.perplexity.stride,
            self.settings.bos,
        );
    }

    /// Saves the `--screenshot` once the picture is what it will be, and says what the window shows instead
    /// of what was asked for.
    pub(super) fn screenshot_step(&mut self, ui: &egui::Ui) {
        let scored = !self.scoring_at_launch
            || self.perplexity.result.is_some()
            || self.perplexity.error.is_some();
        // Ready when the picture is what it will be: the analysis drawn, or an error on screen instead.
        let ready = (self.session.analysis().is_some() && !self.busy() && scored)
            || self.session.load_error().is_some()
            || (self.session.analyze_error().is_some() && !self.busy() && scored);
        // What the window shows instead of what was asked for: a closing screenshot saves it, and says so. Made
        // only when a picture arrives.
        let (session, perplexity, refused) = (&self.session, &self.perplexity, &self.refused);
        // The Perplexity tab showing a text scored in windows is what was asked for, though the text is too
        // long for the views that analyse it at once.
        let scored_text_shown = self.settings.view == View::Perplexity
            && perplexity.result.is_some()
            && perplexity.error.is_none();
        let shown_error = || {
            session
                .load_error()
                .map(|e| e.to_string())
                .or_else(|| {
                    session
                        .analyze_error()
                        .filter(|_| !scored_text_shown)
                        .map(|e| e.to_string())
                })
                .or_else(|| perplexity.error.clone())
                .or_else(|| refused.clone())
        };
        if let Some(notice) = self.exports.screenshot_step(ui, ready, shown_error) {
            self.notice = Some(notice);
        }
    }

    /// Saves the Perplexity tab's scoring, one row per scored token, in the quick-export folder.
    pub(super) fn export_per_token(&mut self, ctx: &egui::Context) {
        let Some(r) = &self.perplexity.result else {
            self.notice = Some(Notice::failed(
                "nothing to save: score a file or the text in the Perplexity tab first",
            ));
            return;
        };
        let csv = crate::export::per_token_csv(&r.report, &r.tokens).ok_or_else(|| {
            format!(
                "{} token labels for a scoring of {} tokens",
                r.tokens.len(),
                r.report.tokens
            )
        });
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        let name = format!("perplexity_per_token-{stamp}.csv");
        self.notice = Some(
            self.exports
                .write_file(name, move || csv.map(String::into_bytes), ctx),
        );
    }
}

impl AttnApp {
    /// Writes the Overlay view as shown (its heads, the threshold, log colours and the pinned query) as SVG.
    fn export_overlay(&mut self, path: PathBuf, ctx: &egui::Context) -> Notice {
        use crate::graph::overlay::{Focus, ALL_LINES_UP_TO};
        let Some(analysis) = self.session.analysis().cloned() else {
            return Notice::failed("nothing to export yet: the text is still being read");
        };
        let att = &analysis.attentions;
        let (n_head, n) = (att.n_head(), att.n_tokens());
        // The view's rule: switches of another shape (none yet, or another model's) are all on.
        let switches = &self.view.overlay_heads;
        let heads: Vec<usize> = (0..n_head)
            .filter(|&h| switches.len() != n_head || switches[h])
            .collect();
        if heads.is_empty() {
            return Notice::failed("no head is shown: switch one on to export the overlay");
        }
        let focus = self.view.pinned.filter(|&q| q < n).map(Focus::Query);
        if focus.is_none() && n > ALL_LINES_UP_TO {
            return Notice::failed(format!(
                "{n} tokens: every line of more than {ALL_LINES_UP_TO} would cover the picture; pin a token (click it) to export its lines"
            ));
        }
        let layer = crate::ui::overlay_view::layer_of(self.settings.selection);
        let threshold = self.settings.pruning.threshold as f32;
        let log_scale = self.settings.log_scale;
        let model = self.settings.model.clone();
        self.exports.write_file_at(
            path,
            move || {
                let drawn = crate::export::draw_overlay(
                    &analysis, &model, layer, &heads, threshold, focus, log_scale,
                );
                Ok(drawn.svg.into_bytes())
            },
            ctx,
        )
    }
}
