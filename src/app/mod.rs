//! The eframe app, wired from its parts: the [`Session`] (the model worker and what it answered), the
//! [`ViewState`] (the snapshot and graph on screen), [`Exports`] (exports, dialogs, screenshots), the settings
//! and the notices. Each frame the app polls the parts, draws the panels in `ui/`, and applies the
//! [`Command`](crate::ui::command::Command)s they return in [`AttnApp::apply`] (`apply.rs`), the one place
//! where the app changes in answer to the reader.

mod apply;
mod effects;
mod exports;
mod files;
mod launch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use exports::Exports;
pub use launch::{window_icon, Launch};

use crate::model::loader;
use crate::model::{AnalyzeOptions, KeepScores, DEFAULT_MODEL, DEMO_MODEL};
use crate::session::Session;
use crate::ui::central::{body_ui, Body};
use crate::ui::controls::{controls_ui, Controls};
use crate::ui::head_grid::arrow_keys;
use crate::ui::notice::Notice;
use crate::ui::perplexity_panel::PerplexityTab;
use crate::ui::settings::{self, Settings, View};
use crate::ui::view_state::GridColour;
use crate::ui::view_state::ViewState;
use crate::ui::{fonts, status};

/// Typing pauses this long before the text is analysed.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// What `--score-file` or `--score-text` scores once the model is loaded.
#[derive(Clone, Copy, Debug)]
enum ScoreAtLaunch {
    /// The Perplexity tab's file.
    File,
    /// The text.
    Text,
}

/// The app.
pub struct AttnApp {
    /// The persisted settings: model, text, selection, pruning, view.
    pub settings: Settings,
    /// The model side.
    pub session: Session,
    /// The snapshot and graph on screen.
    pub view: ViewState,
    /// The Perplexity tab.
    pub perplexity: PerplexityTab,
    /// Exports, dialogs, screenshots.
    pub exports: Exports,
    notice: Option<Notice>,
    /// The model field as typed; loaded when Load is pressed.
    model_field: String,
    /// When the text was last typed in, while its analysis waits for the debounce.
    edited_at: Option<Instant>,
    /// The same for the Compare view's second text.
    compare_edited_at: Option<Instant>,
    /// Score the Perplexity tab's file (`--score-file`) or the text (`--score-text`) as soon as a model is
    /// loaded.
    score_when_loaded: Option<ScoreAtLaunch>,
    /// `--score-file` or `--score-text` was given: a `--screenshot` waits for its result too.
    scoring_at_launch: bool,
    /// Where the central view was drawn last frame (PNG exports save that region).
    central_rect: Option<egui::Rect>,
    /// The demo model stands in for GPT-2 because GPT-2 was not in the cache; the settings keep GPT-2, so
    /// the next start opens it once it is there (or fetches it again).
    demo_stands_in: bool,
    /// `--colour knock-out --predict P`: run the sweep once the first analysis is there.
    sweep_at_launch: bool,
    /// `--patch`: patch from the text into the compared one once both are read.
    patch_at_launch: bool,
    /// `--pin P`: pinned once the first analysis shows the text has a token P, else refused with a notice.
    pin_at_launch: Option<usize>,
    /// What the first analysis could not show as the command line asked (a --layer, --head or --pin past the
    /// model or text), kept: a closing screenshot fails with it.
    refused: Option<String>,
    /// `--layer`/`--head`/`--aggregate` were given: the first analysis checks them against the model.
    selection_at_launch: bool,
    /// The generation of the analysis last asked for because the edges weigh what flows.
    norms_asked_at: Option<u64>,
    /// The model loaded before the one loading now.
    last_loaded: Option<String>,
    /// The text for which the lesson's last step chose the last token to explain.
    lesson_attributed: Option<crate::session::TextKey>,
    /// `--fresh`: started from defaults; the saved settings are neither read nor written.
    fresh: bool,
    /// The matrix as the app last set it itself (at launch, by picking a head, or narrowed to a smaller
    /// model); a selection that differs from it was the reader's choice.
    app_selection: crate::graph::Selection,
    /// Pick the head to show from the next analysis (a model was loaded, the reader has chosen none).
    pick_head: bool,
    /// The text and matrix the lesson's prediction was made on: another one starts the step's question over.
    lesson_for: Option<(crate::session::TextKey, crate::graph::Selection)>,
    /// The whole text, when the reader kept only its start because the model reads no more at once.
    whole_text: Option<String>,
}

impl AttnApp {
    /// Creates the app, restoring settings from eframe's storage when there are any.
    pub fn new(ctx: &egui::Context, storage: Option<&dyn eframe::Storage>, launch: Launch) -> Self {
        let stored = storage
            .filter(|_| !launch.fresh)
            .and_then(|s| s.get_string(settings::SETTINGS_KEY));
        let (mut settings, notice) = launch.settings(stored.as_deref());
        let export_dir = launch
            .export_dir
            .or_else(|| settings.export_dir.clone())
            .unwrap_or_else(|| PathBuf::from("attngraph-exports"));
        let fonts_found = fonts::install_fallbacks(ctx);
        crate::ui::palette::install_style(ctx);
        ctx.set_theme(if settings.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let wake = ctx.clone();
        let mut session = Session::spawn(move || wake.request_repaint());
        // First run: GPT-2 is not in the cache. Open the demo model at once and fetch GPT-2 meanwhile, so the
        // reader sees real heads straight away, with or without a network.
        // A model named on the command line is opened as asked.
        session.set_hub(launch.hub_cache.clone(), launch.hub_endpoint.clone());
        let demo_stands_in = launch.model.is_none()
            && settings.model == DEFAULT_MODEL
            && !loader::is_cached(DEFAULT_MODEL, launch.hub_cache.as_deref());
        if demo_stands_in {
            settings.model = DEMO_MODEL.to_string();
            session.start_prefetch(DEFAULT_MODEL);
        }
        let wake = ctx.clone();
        let mut view = ViewState::spawn(move || wake.request_repaint());
        view.knocked_out = launch.knock_out.clone();
        view.knock_out_by = launch.knock_out_by;
        view.chinese_font = fonts_found.chinese.is_some();
        view.predicted = launch.predict;
        view.window = launch.window;
        view.grid_colour = launch.colour.unwrap_or(if launch.predict.is_some() {
            GridColour::Contribution
        } else {
            GridColour::Patterns
        });
        let sweep_at_launch = view.grid_colour == GridColour::KnockOut && launch.predict.is_some();
        let mut perplexity = PerplexityTab::default();
        if let Some(path) = &launch.score_file {
            perplexity.path = path.display().to_string();
        }
        let score_at_launch = match (&launch.score_file, launch.score_text) {
            (Some(_), _) => Some(ScoreAtLaunch::File),
            (None, true) => Some(ScoreAtLaunch::Text),
            (None, false) => None,
        };
        let settings_selection = settings.selection;
        let mut app = Self {
            model_field: settings.model.clone(),
            settings,
            session,
            view,
            perplexity,
            exports: Exports::new(
                export_dir,
                launch.screenshot,
                launch.screenshot_failure.clone(),
            ),
            notice: notice.map(Notice::done),
            edited_at: None,
            compare_edited_at: None,
            score_when_loaded: score_at_launch,
            scoring_at_launch: score_at_launch.is_some(),
            central_rect: None,
            demo_stands_in,
            sweep_at_launch,
            patch_at_launch: launch.patch,
            pin_at_launch: launch.pin,
            refused: None,
            selection_at_launch: launch.selection.is_some(),
            norms_asked_at: None,
            last_loaded: None,
            lesson_attributed: None,
            fresh: launch.fresh,
            app_selection: settings_selection,
            pick_head: true,
            lesson_for: None,
            whole_text: None,
        };
        app.load_model(app.settings.model.clone());
        app
    }

    /// The message shown above the status bar (exports, notices), if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(Notice::text)
    }

    /// Whether a load, an analysis (typed text waiting for the debounce included), a snapshot, an export or a
    /// file dialog is pending.
    pub fn busy(&self) -> bool {
        self.session.busy()
            || self.edited_at.is_some()
            || self.view.busy()
            || self.exports.busy()
            || (self.settings.view == View::Compare
                && (self.compare_edited_at.is_some()
                    || self.session.compare_pending()
                    || self.session.patch_running()
                    || self.patch_at_launch))
    }

    fn load_model(&mut self, model: String) {
        self.session.load(model);
        self.request_analysis();
    }

    fn request_analysis(&mut self) {
        self.edited_at = None;
        self.session.analyze(
            self.settings.text.clone(),
            AnalyzeOptions {
                bos: self.settings.bos,
                top_k: 5,
                keep_scores: KeepScores::None,
                ablated: self.view.knocked_out.clone(),
                replacement: self.view.replacement(),
                norms: self.settings.edge_weight != crate::graph::EdgeWeight::Attention,
            },
        );
    }

    /// The whole window. Public so tests can drive it with egui_kittest.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        self.poll(&ctx);
        if self.edited_at.is_some_and(|t| t.elapsed() >= DEBOUNCE) {
            self.request_analysis();
        } else if let Some(t) = self.edited_at {
            ctx.request_repaint_after(DEBOUNCE.saturating_sub(t.elapsed()));
        }
        let shape = self
            .session
            .analysis()
            .map(|a| [a.model.n_layer, a.model.n_head]);
        // In the lesson the arrow keys move between steps.
        if self.settings.view != View::Lesson {
            if let Some(selection) =
                shape.and_then(|shape| arrow_keys(ui, self.settings.selection, shape))
            {
                self.settings.selection = selection;
            }
        } else {
            self.lesson_needs();
        }
        if self.settings.view == View::Layers {
            if let Some(key) = self.session.text_key() {
                self.session.lens(key, self.view.knock_out());
            }
        }
        if self.settings.view == View::Compare && self.session.model_name().is_some() {
            match self.compare_edited_at {
                Some(t) if t.elapsed() < DEBOUNCE => {
                    ctx.request_repaint_after(DEBOUNCE.saturating_sub(t.elapsed()))
                }
                _ => {
                    self.compare_edited_at = None;
                    self.session.compare(
                        self.settings.compare_text.clone(),
                        AnalyzeOptions {
                            bos: self.settings.bos,
                            top_k: 5,
                            keep_scores: KeepScores::None,
                            // Both panes are read by the same model: the heads knocked out in one are in both.
                            ablated: self.view.knocked_out.clone(),
                            replacement: self.view.replacement(),
                            norms: false,
                        },
                    );
                }
            }
        }
        if self.patch_at_launch && !self.session.compare_pending() {
            let key = self
                .session
                .analysis()
                .zip(self.session.compared())
                .and_then(|(a, b)| {
                    (a.text == self.settings.text && b.text == self.settings.compare_text)
                        .then(|| self.view.patch_key(a, b))
                        .flatten()
                });
            let both_read = self
                .session
                .analysis()
                .zip(self.session.compared())
                .is_some_and(|(a, b)| {
                    a.text == self.settings.text && b.text == self.settings.compare_text
                });
            match key {
                Some(key) => {
                    self.patch_at_launch = false;
                    self.session.patch(key);
                }
                // Both texts are read and cannot be patched (different lengths), or the second cannot be read:
                // the view says why.
                None if both_read
                    || self.session.compare_error().is_some()
                    || self.session.analyze_error().is_some() =>
                {
                    self.patch_at_launch = false
                }
                None => {}
            }
        }
        // Edges weighed by what flows need the norms, made in the analysis's own pass: read the text again once
        // when the menu asks for them and the analysis on screen has none.
        // Asked once per generation: an answer at or past the one asked for carries them (every later request
        // asks for them too), so this neither repeats nor waits on an unrelated error.
        if self.settings.edge_weight != crate::graph::EdgeWeight::Attention
            && self.edited_at.is_none()
            && self.session.analysis().is_some_and(|a| a.flow.is_none())
            && self
                .norms_asked_at
                .is_none_or(|asked| self.session.shown_generation() >= asked)
        {
            self.request_analysis();
            self.norms_asked_at = Some(self.session.requested_generation());
        }
        if let Some(analysis) = self.session.analysis().cloned() {
            let model = self
                .session
                .model_name()
                .unwrap_or(&self.settings.model)
                .to_string();
            let generation = self.session.shown_generation();
            if let Some(notice) = self.view.update(
                &analysis,
                generation,
                &model,
                &self.settings,
                analysis.flow.as_ref(),
            ) {
                self.notice = Some(notice);
            }
        }

        let mut commands = Vec::new();
        egui::Panel::top("controls").show(ui, |ui| {
            let controls = Controls {
                model_field: &mut self.model_field,
                loading: self.session.loading(),
                model_loaded: self.session.model_name().is_some(),
                shape: self
                    .session
                    .analysis()
                    .map(|a| (a.model.n_layer, a.model.n_head, a.tokens.len())),
                context: self.session.analysis().map(|a| a.model.n_positions),
                too_long: match self.session.analyze_error() {
                    Some(crate::session::worker::TaskError::Engine(
                        crate::model::EngineError::TooLong { tokens, limit, .. },
                    )) => Some((*tokens, *limit)),
                    _ => None,
                },
                export_dir: self.exports.dir(),
                bos_token: self.session.analysis().map(|a| a.model.bos_token.clone()),
            };
            commands.extend(controls_ui(ui, &mut self.settings, controls));
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            commands.extend(status::status_ui(ui, &self.session, &self.settings.model));
        });
        let body = Body {
            session: &self.session,
            settings: &self.settings,
            view: &mut self.view,
            perplexity: &mut self.perplexity,
            whole_text: self.whole_text.as_deref(),
        };
        let (central, body_commands) = body_ui(ui, body);
        self.central_rect = Some(central);
        commands.extend(body_commands);
        for command in commands {
            self.apply(command, &ctx);
        }
        // A matrix the app did not set itself was chosen by the reader (a click in the grid, the arrow keys,
        // the selection controls): remembered, and no longer picked for them.
        // A prediction checked on one text or head is no answer for another: the question starts over.
        let lesson_for = self
            .session
            .text_key()
            .map(|key| (key, self.settings.selection));
        if lesson_for != self.lesson_for {
            if self.lesson_for.is_some() {
                self.view.prediction = Default::default();
            }
            self.lesson_for = lesson_for;
        }
        if self.settings.selection != self.app_selection {
            self.settings.selection_chosen = true;
            self.app_selection = self.settings.selection;
        }
        if let Some(notice) = &self.notice {
            notice.toast(&ctx);
        }
        self.screenshot_step(ui);
    }
}

impl eframe::App for AttnApp {
    fn persist_egui_memory(&self) -> bool {
        !self.fresh
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn raw_input_hook(&mut self, _ctx: &egui::Context, raw_input: &mut egui::RawInput) {
        // A `--screenshot` run shows the window as it opens: wherever the window system's pointer happens to
        // be (the middle of a virtual screen), it hovers nothing and opens no tooltip.
        if self.exports.taking_screenshot() {
            raw_input.events.retain(|event| {
                !matches!(
                    event,
                    egui::Event::PointerMoved(_)
                        | egui::Event::PointerButton { .. }
                        | egui::Event::MouseMoved(_)
                        | egui::Event::MouseWheel { .. }
                )
            });
        }
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if self.fresh {
            // A `--fresh` run leaves what the person saved as it was.
            return;
        }
        let mut settings = self.settings.clone();
        if self.demo_stands_in && settings.model == DEMO_MODEL {
            settings.model = DEFAULT_MODEL.to_string();
        }
        if let Ok(text) = serde_json::to_string(&settings) {
            storage.set_string(settings::SETTINGS_KEY, text);
        }
    }
}
