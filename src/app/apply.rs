//! What changes the app: the readers' commands, applied in one place ([`AttnApp::apply`]), and what the worker,
//! the export threads and the dialogs answered ([`AttnApp::poll`]).

use std::time::Instant;

use super::AttnApp;
use crate::export::Format;
use crate::model::{HeadSet, DEMO_MODEL};
use crate::session::Event;
use crate::ui::command::Command;
use crate::ui::notice::Notice;
use crate::ui::settings::View;
use crate::ui::view_state::GridColour;

impl AttnApp {
    /// Applies a panel's command: the one place where the app changes in answer to the reader.
    pub fn apply(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::LoadModel(model) => {
                // Chosen by the reader: this is what the settings keep.
                self.demo_stands_in = false;
                self.model_field.clone_from(&model);
                self.load_model(model);
            }
            Command::BrowseModelFolder => self.exports.browse_model_folder(&self.model_field, ctx),
            Command::CancelDownload => self.session.cancel_download(),
            Command::DismissPrefetch => self.session.dismiss_prefetch(),
            Command::TextEdited => {
                // The text typed over is the reader's now: nothing cut is put back into it.
                self.whole_text = None;
                self.edited_at = Some(Instant::now());
            }
            Command::CutText(fits) => {
                if let Some(kept) = self.settings.text.get(..fits) {
                    let kept = kept.to_string();
                    let before = std::mem::replace(&mut self.settings.text, kept);
                    // Cut again (by a model that reads less): the whole text stays the one first cut.
                    if !self
                        .whole_text
                        .as_ref()
                        .is_some_and(|whole| whole.starts_with(&before))
                    {
                        self.whole_text = Some(before);
                    }
                    self.request_analysis();
                }
            }
            Command::UncutText => {
                if let Some(whole) = self.whole_text.take() {
                    self.settings.text = whole;
                    self.request_analysis();
                }
            }
            Command::CompareText(text) => {
                self.settings.compare_text = text;
                self.compare_edited_at = Some(Instant::now());
            }
            Command::Patch(key) => self.session.patch(key),
            Command::PatchTokens(key) => self.view.patch_choice = Some(key),
            Command::CompareHead(selection) => self.settings.compare_head = selection,
            Command::ExportPatch(what) => self.export_patch(what, ctx),
            Command::Reanalyze => self.request_analysis(),
            Command::Continue => {
                let s = &mut self.settings;
                self.session
                    .continue_text(s.text.clone(), s.bos, s.sampling);
                s.sampling.seed = s.sampling.seed.wrapping_add(1);
            }
            Command::SetDark(dark) => {
                self.settings.dark = dark;
                ctx.set_theme(if dark {
                    egui::Theme::Dark
                } else {
                    egui::Theme::Light
                });
            }
            Command::Select {
                selection,
                open_graph,
            } => {
                self.settings.selection = selection;
                if open_graph && self.settings.view == View::Heads {
                    self.settings.view = View::Graph;
                }
            }
            Command::ShowView(view) => self.settings.view = view,
            Command::ProbeBadges(from_probe) => {
                if !from_probe || self.session.probe_scores().is_some() {
                    self.view.badges_from_probe = from_probe;
                } else {
                    self.session.run_probe();
                }
            }
            Command::Focus { hovered, pinned } => {
                self.view.hovered = hovered;
                self.view.pinned = pinned;
            }
            Command::MarkovSteps(k) => self.settings.markov_steps = k,
            Command::SaveAs => {
                let name = self.export_file_name(Format::Svg);
                self.exports.save_as(name, ctx);
            }
            Command::QuickExport(format) => {
                let path = self.exports.dir().join(self.export_file_name(format));
                self.export_to(path, format, ctx);
            }
            Command::BrowseExportFolder => self.exports.browse_export_folder(ctx),
            Command::ExportNpz => self.export_npz(ctx),
            Command::ScoreFile => self.score_file(),
            // Asked for from the Perplexity tab, or from the banner over a text too long to analyse.
            Command::ScoreText => {
                self.settings.view = View::Perplexity;
                self.score_text();
            }
            Command::ExportPerToken => self.export_per_token(ctx),
            Command::ScoreWholeText => {
                self.apply(Command::UncutText, ctx);
                self.apply(Command::ScoreText, ctx);
            }
            Command::BrowseTextFile => self.exports.browse_text_file(ctx),
            Command::Predict(position) => {
                self.view.predicted = Some(position);
                if self.view.grid_colour == GridColour::Patterns {
                    self.view.grid_colour = GridColour::Contribution;
                }
                self.request_attribution();
            }
            Command::GridColour(colour) => {
                self.view.grid_colour = colour;
                if colour == GridColour::Contribution {
                    self.request_attribution();
                }
            }
            Command::ToggleKnockOut { layer, head } => {
                self.view.knocked_out.toggle(layer, head);
                self.request_analysis();
            }
            Command::RestoreHeads => {
                self.view.knocked_out = HeadSet::default();
                self.request_analysis();
            }
            Command::Sweep => {
                if let Some(key) = self.session.text_key() {
                    self.view.grid_colour = GridColour::KnockOut;
                    self.session.sweep(key, self.view.knock_out_by);
                }
            }
            Command::KnockOutBy(by) => {
                self.view.knock_out_by = by;
                if !self.view.knocked_out.is_empty() {
                    self.request_analysis();
                }
                // A sweep on screen, or on its way, was made the other way: make it this way.
                let swept = self.session.sweep_result().is_some()
                    || self.session.sweep_progress().is_some();
                if self.view.grid_colour == GridColour::KnockOut && swept {
                    self.apply(Command::Sweep, ctx);
                }
            }
            Command::ExportEffects(what) => self.export_effects(what, ctx),
            Command::TokenWindow(window) => self.view.window = window,
            Command::LessonStep(step) => {
                self.settings.lesson_step = step.min(crate::lesson::steps::STEPS - 1);
                self.view.prediction = Default::default();
                self.lesson_attributed = None;
            }
            Command::LessonLang(lang) => self.settings.lang = lang,
            Command::LessonChoose(choice) => {
                // A choice made after the answer was shown is no prediction any more.
                let seen = self.view.prediction.figure_open();
                self.view.prediction.choice = Some(choice);
                self.view.prediction.checked = false;
                self.view.prediction.shown_early = seen;
            }
            Command::LessonCheck => self.view.prediction.checked = true,
            Command::LessonShowFigure => self.view.prediction.shown_early = true,
            Command::LensColour(colour) => self.view.lens_colour = colour,
            Command::LensColumn(column) => self.view.lens_column = column,
        }
    }

    /// Takes in what the worker, the export threads and the dialogs answered.
    pub(super) fn poll(&mut self, ctx: &egui::Context) {
        if let Some(notice) = self.exports.poll() {
            self.notice = Some(notice);
        }
        for event in self.session.poll() {
            match event {
                Event::Loaded(name) => {
                    if !self.settings.recent_models.contains(&name) {
                        self.settings.recent_models.insert(0, name.clone());
                        self.settings.recent_models.truncate(8);
                    }
                    // The banner speaks for the demo model; any other model ends it.
                    if name != DEMO_MODEL {
                        self.session.dismiss_prefetch();
                    }
                    self.view.badges_from_probe = false;
                    // Another model has other heads and tokens (the first load keeps what the command line set).
                    if self.last_loaded.as_ref().is_some_and(|last| *last != name) {
                        self.view.knocked_out = HeadSet::default();
                        self.view.predicted = None;
                        self.view.pinned = None;
                        // Token ids of another vocabulary.
                        self.view.patch_choice = None;
                        // Another model's scores.
                        self.perplexity.clear();
                    }
                    self.last_loaded = Some(name.clone());
                    self.pick_head = true;
                    self.settings.model = name;
                    self.request_analysis();
                    match self.score_when_loaded.take() {
                        Some(super::ScoreAtLaunch::File) => self.score_file(),
                        Some(super::ScoreAtLaunch::Text) => self.score_text(),
                        None => {}
                    }
                }
                Event::Analyzed => {
                    if let Some(a) = self.session.analysis() {
                        let shape = (a.model.n_layer, a.model.n_head, a.tokens.len());
                        let asked = self.settings.selection;
                        self.settings.selection = asked.clamp(shape.0, shape.1, shape.2);
                        if std::mem::take(&mut self.pick_head) && !self.settings.selection_chosen {
                            // Open on the head that shows the clearest pattern on this text, not on 0.0
                            // (often a faint hairball).
                            if let Some(best) =
                                crate::graph::heads::clearest_head(self.session.head_scores())
                            {
                                self.settings.selection = best;
                            }
                        }
                        self.app_selection = self.settings.selection;
                        let mut refused = Vec::new();
                        // The command line's choice, checked once, against the first model that answers.
                        let from_launch = std::mem::take(&mut self.selection_at_launch);
                        let pin_refused = self.pin_at_launch.is_some_and(|p| p >= shape.2);
                        if self.settings.selection != asked && self.settings.selection_chosen {
                            // Said, not done in silence: the command line's --layer/--head, or a model
                            // with fewer layers or heads than the last one.
                            refused.push(format!(
                                "{} is not in this model (layers 0–{}, heads 0–{}, {} tokens): showing {}",
                                asked.label(),
                                shape.0.saturating_sub(1),
                                shape.1.saturating_sub(1),
                                shape.2,
                                self.settings.selection.label()
                            ));
                        }
                        if self.view.predicted.is_some_and(|p| p >= shape.2) {
                            self.view.predicted = None;
                        }
                        // A token pinned in a longer text is let go; one asked for on the command line
                        // that the text does not have is refused, and said.
                        if self.view.pinned.is_some_and(|p| p >= shape.2) {
                            self.view.pinned = None;
                        }
                        match self.pin_at_launch.take() {
                            Some(p) if p < shape.2 => self.view.pinned = Some(p),
                            Some(p) => refused.push(format!(
                                "--pin {p}: the text has tokens 0–{}, so nothing is pinned",
                                shape.2.saturating_sub(1)
                            )),
                            None => {}
                        }
                        if !refused.is_empty() {
                            let said = refused.join("; ");
                            self.notice = Some(Notice::failed(said.clone()));
                            // Kept for a closing screenshot where the command line asked for it (a saved
                            // selection a smaller model lacks is only said): the analyses that follow, the
                            // selection now in range, refuse nothing.
                            if (from_launch && self.settings.selection != asked) || pin_refused {
                                self.refused = Some(said);
                            }
                        }
                    }
                    // The text changed: explain the same position of the new one.
                    if self.view.grid_colour == GridColour::Contribution {
                        self.request_attribution();
                    }
                    if std::mem::take(&mut self.sweep_at_launch) {
                        self.apply(Command::Sweep, ctx);
                    }
                }
                Event::ProbeScored => self.view.badges_from_probe = true,
                // The answer may be to an older question: ask for what the screen wants now.
                Event::Attributed => {
                    if self.view.grid_colour == GridColour::Contribution {
                        self.request_attribution();
                    }
                }
                // Kept in the session; the views draw them from there.
                Event::Swept | Event::Explained | Event::Lensed | Event::Compared => {}
                Event::Continued(text) => {
                    self.whole_text = None;
                    self.settings.text = text;
                    self.request_analysis();
                }
                Event::ScoringProgress(done, total) => {
                    self.perplexity.progress = Some((done, total))
                }
                Event::Scored(scored) => self.perplexity.finished(Ok(*scored)),
                Event::ScoringFailed(error) => self.perplexity.finished(Err(error.to_string())),
            }
        }
        match self.exports.poll_dialog() {
            Some(Ok((purpose, path))) => self.dialog_answered(purpose, path, ctx),
            Some(Err(notice)) => self.notice = Some(notice),
            // Nothing answered yet, or cancelled: nothing changes.
            None => {}
        }
    }
}
