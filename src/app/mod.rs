//! The eframe app, wired from its parts: the [`Session`] (the model worker and what it answered), the
//! [`ViewState`] (the snapshot and graph on screen), [`Exports`] (exports, dialogs, screenshots), the settings
//! and the notices. Each frame the app polls the parts, draws the panels in `ui/`, and applies the
//! [`Command`]s they return in [`AttnApp::apply`], the one place where the app changes in answer to the reader.

mod exports;
mod notice;
mod view;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use exports::Exports;
pub use notice::Notice;
pub use view::ViewState;

use crate::export::Format;
use crate::graph::{self, Selection};
use crate::model::loader;
use crate::model::{AnalyzeOptions, HubOptions, DEFAULT_MODEL, DEMO_MODEL};
use crate::session::{Event, Session};
use crate::ui::command::Command;
use crate::ui::controls::{controls_ui, Controls};
use crate::ui::dialogs::{DialogRequest, Kind, Purpose};
use crate::ui::head_grid::{grid_panel_ui, GridPanel};
use crate::ui::markov_panel::{markov_panel_ui, MarkovCommand};
use crate::ui::perplexity_panel::{PerplexityCommand, PerplexityTab};
use crate::ui::settings::{self, Settings, View};
use crate::ui::{fonts, graph_view, matrix_view, status, token_panel};

/// Typing pauses this long before the text is analysed.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// How the app was started from the command line.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Model to open instead of the remembered one.
    pub model: Option<String>,
    /// Text to show instead of the remembered one.
    pub text: Option<String>,
    /// Matrix to select.
    pub selection: Option<Selection>,
    /// View to show.
    pub view: Option<View>,
    /// Save a PNG of the window once the analysis is drawn, then exit.
    pub screenshot: Option<PathBuf>,
    /// Start from default settings, ignoring the saved ones.
    pub fresh: bool,
    /// Where window exports go (default `attngraph-exports` in the working folder).
    pub export_dir: Option<PathBuf>,
    /// A file to score in the Perplexity tab once the model is loaded.
    pub score_file: Option<PathBuf>,
    /// The Hub cache to look in on a first run (else the one the environment names).
    pub hub_cache: Option<PathBuf>,
    /// The Hub to fetch GPT-2 from on a first run (else HF_ENDPOINT, else huggingface.co).
    pub hub_endpoint: Option<String>,
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
    /// Score the Perplexity tab's file as soon as a model is loaded (`--score-file`).
    score_when_loaded: bool,
    /// `--score-file` was given: a `--screenshot` waits for its result too.
    scoring_at_launch: bool,
    /// Where the central view was drawn last frame (PNG exports save that region).
    central_rect: Option<egui::Rect>,
    /// The demo model stands in for GPT-2 because GPT-2 was not in the cache; the settings keep GPT-2, so
    /// the next start opens it once it is there (or fetches it again).
    demo_stands_in: bool,
}

impl AttnApp {
    /// Creates the app, restoring settings from eframe's storage when there are any.
    pub fn new(ctx: &egui::Context, storage: Option<&dyn eframe::Storage>, launch: Launch) -> Self {
        let stored = if launch.fresh {
            None
        } else {
            storage.and_then(|s| s.get_string(settings::SETTINGS_KEY))
        };
        let (mut settings, notice) = settings::from_stored(stored.as_deref());
        if let Some(model) = launch.model {
            settings.model = model;
        }
        if let Some(text) = launch.text {
            settings.text = text;
        }
        if let Some(selection) = launch.selection {
            settings.selection = selection;
        }
        if let Some(view) = launch.view {
            settings.view = view;
        }
        let export_dir = launch
            .export_dir
            .or_else(|| settings.export_dir.clone())
            .unwrap_or_else(|| PathBuf::from("attngraph-exports"));
        fonts::install_fallbacks(ctx);
        ctx.set_theme(if settings.dark {
            egui::Theme::Dark
        } else {
            egui::Theme::Light
        });
        let wake = ctx.clone();
        let mut session = Session::spawn(move || wake.request_repaint());
        // First run: GPT-2 is not in the cache. Open the demo model at once and fetch GPT-2 meanwhile, so the
        // reader sees real heads straight away, with or without a network.
        let hub = HubOptions {
            cache_dir: launch.hub_cache.clone(),
            endpoint: launch.hub_endpoint.clone(),
            ..HubOptions::from_env(false)
        };
        let demo_stands_in = settings.model == DEFAULT_MODEL
            && !loader::is_cached(DEFAULT_MODEL, hub.cache_dir.as_deref());
        if demo_stands_in {
            settings.model = DEMO_MODEL.to_string();
            session.start_prefetch(DEFAULT_MODEL, hub);
        }
        let wake = ctx.clone();
        let view = ViewState::spawn(move || wake.request_repaint());
        let mut perplexity = PerplexityTab::default();
        if let Some(path) = &launch.score_file {
            perplexity.path = path.display().to_string();
        }
        let mut app = Self {
            model_field: settings.model.clone(),
            settings,
            session,
            view,
            perplexity,
            exports: Exports::new(export_dir, launch.screenshot),
            notice: notice.map(Notice::done),
            edited_at: None,
            score_when_loaded: launch.score_file.is_some(),
            scoring_at_launch: launch.score_file.is_some(),
            central_rect: None,
            demo_stands_in,
        };
        app.load_model(app.settings.model.clone());
        app
    }

    /// The message shown above the status bar (exports, notices), if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(Notice::text)
    }

    /// Whether a load, an analysis (typed text waiting for the debounce included) or a snapshot is pending.
    pub fn busy(&self) -> bool {
        self.session.busy() || self.edited_at.is_some() || self.view.busy()
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
                keep_scores: false,
            },
        );
    }

    fn score_file(&mut self) {
        self.perplexity.progress = Some((0, 1));
        self.perplexity.error = None;
        self.session.score_file(
            self.perplexity.path.trim().to_string(),
            self.perplexity.max_length,
            self.perplexity.stride,
            self.settings.bos,
        );
    }

    /// Applies a panel's command: the one place where the app changes in answer to the reader.
    pub fn apply(&mut self, command: Command, ctx: &egui::Context) {
        match command {
            Command::LoadModel(model) => self.load_model(model),
            Command::BrowseModelFolder => {
                let mut request = DialogRequest::new(
                    Purpose::ModelFolder,
                    Kind::OpenFolder,
                    "Open a GPT-2 model folder (config.json, model.safetensors, tokenizer.json)",
                );
                request.directory = Some(PathBuf::from(self.model_field.trim()))
                    .filter(|p| p.is_dir())
                    .or_else(|| std::env::current_dir().ok());
                self.exports.open_dialog(request, ctx);
            }
            Command::CancelDownload => self.session.cancel_download(),
            Command::DismissPrefetch => self.session.dismiss_prefetch(),
            Command::TextEdited => self.edited_at = Some(Instant::now()),
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
                if open_graph && self.settings.view == View::Grid {
                    self.settings.view = View::Graph;
                }
            }
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
                let mut request =
                    DialogRequest::new(Purpose::SaveExport, Kind::SaveFile, "Export the selection");
                request.directory = Some(self.exports.dir().to_path_buf()).filter(|d| d.is_dir());
                request.file_name = Some(self.export_file_name(Format::Svg));
                request.filters = Format::ALL
                    .iter()
                    .map(|f| {
                        (
                            f.extension().to_uppercase(),
                            vec![f.extension().to_string()],
                        )
                    })
                    .collect();
                self.exports.open_dialog(request, ctx);
            }
            Command::QuickExport(format) => {
                let path = self.exports.dir().join(self.export_file_name(format));
                self.export_to(path, format, ctx);
            }
            Command::BrowseExportFolder => {
                let mut request = DialogRequest::new(
                    Purpose::ExportFolder,
                    Kind::OpenFolder,
                    "Folder for exports",
                );
                request.directory = Some(self.exports.dir().to_path_buf()).filter(|d| d.is_dir());
                self.exports.open_dialog(request, ctx);
            }
            Command::ScoreFile => self.score_file(),
            Command::BrowseTextFile => {
                let mut request =
                    DialogRequest::new(Purpose::TextFile, Kind::OpenFile, "Score a text file");
                request.filters = vec![
                    (
                        "Text".to_string(),
                        vec!["txt".into(), "md".into(), "raw".into()],
                    ),
                    ("Any file".to_string(), vec!["*".to_string()]),
                ];
                self.exports.open_dialog(request, ctx);
            }
        }
    }

    fn export_file_name(&self, format: Format) -> String {
        Exports::file_name(
            self.view.shown().map(|s| s.snapshot.title()).as_deref(),
            format,
        )
    }

    fn export_to(&mut self, path: PathBuf, format: Format, ctx: &egui::Context) {
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

    /// Takes in what the worker, the export threads and the dialogs answered.
    fn poll(&mut self, ctx: &egui::Context) {
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
                    if self
                        .session
                        .prefetch()
                        .is_some_and(|(repo, _)| *repo == name)
                    {
                        self.session.dismiss_prefetch();
                    }
                    self.model_field = name.clone();
                    self.settings.model = name;
                    self.view.badges_from_probe = false;
                    self.request_analysis();
                    if std::mem::take(&mut self.score_when_loaded) {
                        self.score_file();
                    }
                }
                Event::Analyzed => self.clamp_selection(),
                Event::ProbeScored => self.view.badges_from_probe = true,
                Event::Continued(text) => {
                    self.settings.text = text;
                    self.request_analysis();
                }
                Event::ScoringProgress(done, total) => {
                    self.perplexity.progress = Some((done, total))
                }
                Event::Scored(scored) => {
                    self.perplexity.progress = None;
                    self.perplexity.error = None;
                    self.perplexity.window = 0;
                    self.perplexity.result = Some(*scored);
                }
                Event::ScoringFailed(error) => {
                    self.perplexity.progress = None;
                    self.perplexity.error = Some(error.to_string());
                }
            }
        }
        match self.exports.poll_dialog() {
            Some((purpose, Ok(Some(path)))) => self.dialog_answered(purpose, path, ctx),
            // Cancelled: nothing changes.
            Some((_, Ok(None))) | None => {}
            Some((purpose, Err(err))) => {
                let instead = match purpose {
                    Purpose::ModelFolder => "type the folder's path into the Model field and press Load",
                    Purpose::TextFile => "type the file's path into the File field",
                    Purpose::SaveExport | Purpose::ExportFolder => {
                        "use the quick save buttons; they write to the folder named in the Export menu"
                    }
                };
                self.notice = Some(Notice::failed(format!("{err}; {instead}")));
            }
        }
    }

    /// Keeps the selection inside the model's layers and heads, and off flow for texts too long for it.
    fn clamp_selection(&mut self) {
        let Some(a) = self.session.analysis() else {
            return;
        };
        let (last_layer, last_head) = (
            a.model.n_layer.saturating_sub(1),
            a.model.n_head.saturating_sub(1),
        );
        self.settings.selection = match self.settings.selection {
            Selection::Head { layer, head } => Selection::Head {
                layer: layer.min(last_layer),
                head: head.min(last_head),
            },
            Selection::LayerMean(layer) => Selection::LayerMean(layer.min(last_layer)),
            Selection::LayerMax(layer) => Selection::LayerMax(layer.min(last_layer)),
            Selection::Flow if a.tokens.len() > graph::FLOW_MAX_TOKENS => Selection::Rollout,
            other => other,
        };
    }

    /// Acts on a file dialog's answer.
    fn dialog_answered(&mut self, purpose: Purpose, path: PathBuf, ctx: &egui::Context) {
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

    /// The arrow keys move through the grid of heads, wrapping around.
    fn keyboard(&self, ui: &egui::Ui) -> Option<Command> {
        if ui.ctx().egui_wants_keyboard_input() {
            return None;
        }
        let a = self.session.analysis()?;
        let (n_layer, n_head) = (a.model.n_layer, a.model.n_head);
        let (mut layer, mut head) = match self.settings.selection {
            Selection::Head { layer, head } => (layer, head),
            _ => (0, 0),
        };
        // (key, head step, layer step): one step back is n − 1 steps forward.
        let steps = [
            (egui::Key::ArrowRight, 1, 0),
            (egui::Key::ArrowLeft, n_head - 1, 0),
            (egui::Key::ArrowDown, 0, 1),
            (egui::Key::ArrowUp, 0, n_layer - 1),
        ];
        let moved = ui.input(|i| {
            let mut moved = false;
            for (key, dh, dl) in steps {
                if i.key_pressed(key) {
                    head = (head + dh) % n_head;
                    layer = (layer + dl) % n_layer;
                    moved = true;
                }
            }
            moved
        });
        moved.then_some(Command::Select {
            selection: Selection::Head { layer, head },
            open_graph: false,
        })
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
        if let Some(command) = self.keyboard(ui) {
            self.apply(command, &ctx);
        }
        let mut commands = Vec::new();
        if let Some(analysis) = self.session.analysis().cloned() {
            let model = self
                .session
                .model_name()
                .unwrap_or(&self.settings.model)
                .to_string();
            let generation = self.session.shown_generation();
            if let Some(notice) = self
                .view
                .update(&analysis, generation, &model, &self.settings)
            {
                self.notice = Some(notice);
            }
        }

        egui::Panel::top("controls").show(ui, |ui| {
            let shape = self
                .session
                .analysis()
                .map(|a| (a.model.n_layer, a.model.n_head, a.tokens.len()));
            let controls = Controls {
                model_field: &mut self.model_field,
                loading: self.session.loading(),
                model_loaded: self.session.model_name().is_some(),
                shape,
                export_dir: self.exports.dir(),
            };
            commands.extend(controls_ui(ui, &mut self.settings, controls));
        });
        egui::Panel::bottom("status").show(ui, |ui| {
            commands.extend(status::status_ui(ui, &self.session, &self.settings.model));
        });
        let analysis = self.session.analysis().cloned();
        if let Some(a) = &analysis {
            if !matches!(self.settings.view, View::Grid | View::Perplexity) {
                egui::Panel::left("grid")
                    .resizable(true)
                    .default_size(300.0)
                    .show(ui, |ui| commands.extend(self.grid_ui(ui, a, 18.0, false)));
                let focus = self.view.focus();
                egui::Panel::right("tokens")
                    .resizable(true)
                    .default_size(420.0)
                    .max_size(ui.available_width() * 0.4)
                    .show(ui, |ui| token_panel::token_panel_ui(ui, a, focus));
            }
        }
        let central = egui::CentralPanel::default().show(ui, |ui| {
            commands.extend(status::prefetch_banner_ui(ui, &self.session));
            commands.extend(status::load_error_ui(ui, &self.session));
            match &analysis {
                None => {
                    commands.extend(status::waiting_ui(ui, &self.session, &self.settings.model))
                }
                Some(a) => commands.extend(self.central_ui(ui, a)),
            }
        });
        self.central_rect = Some(central.response.rect);
        for command in commands {
            self.apply(command, &ctx);
        }
        if let Some(notice) = &self.notice {
            notice.toast(&ctx);
        }
        let scored = !self.scoring_at_launch
            || self.perplexity.result.is_some()
            || self.perplexity.error.is_some();
        let ready = (self.session.analysis().is_some() && !self.busy() && scored)
            || self.session.load_error().is_some();
        if let Some(notice) = self.exports.screenshot_step(ui, ready) {
            self.notice = Some(notice);
        }
    }

    fn grid_ui(
        &mut self,
        ui: &mut egui::Ui,
        a: &crate::model::Analysis,
        max_cell: f32,
        fit_height: bool,
    ) -> Option<Command> {
        self.view
            .thumbnails
            .update(ui.ctx(), &a.attentions, self.session.shown_generation());
        grid_panel_ui(
            ui,
            GridPanel {
                attentions: &a.attentions,
                thumbnails: &self.view.thumbnails,
                text_scores: self.session.head_scores(),
                probe_scores: self.session.probe_scores(),
                badges_from_probe: self.view.badges_from_probe,
                selected: self.settings.selection,
                max_cell,
                fit_height,
            },
        )
    }

    fn central_ui(&mut self, ui: &mut egui::Ui, a: &crate::model::Analysis) -> Vec<Command> {
        let mut commands = Vec::new();
        match self.settings.view {
            View::Perplexity => match self.perplexity.ui(ui, self.session.model_name().is_some()) {
                PerplexityCommand::Run => commands.push(Command::ScoreFile),
                PerplexityCommand::Browse => commands.push(Command::BrowseTextFile),
                PerplexityCommand::None => {}
            },
            View::Grid => commands.extend(self.grid_ui(ui, a, 160.0, true)),
            View::Matrix => {
                if let Some(shown) = self.view.shown() {
                    ui.strong(format!(
                        "{} — row i: where token i looks",
                        shown.snapshot.title()
                    ));
                    matrix_view::matrix_ui(
                        ui,
                        &shown.snapshot.matrix,
                        &shown.snapshot.tokens,
                        self.settings.log_scale,
                    );
                }
            }
            View::Graph => commands.extend(self.graph_ui(ui)),
            View::Markov => {
                let steps = self.settings.markov_steps;
                let panel = egui::Panel::bottom("markov_panel")
                    .resizable(true)
                    .default_size(260.0)
                    .show(ui, |ui| {
                        self.view.shown().map(|d| {
                            markov_panel_ui(ui, &d.snapshot.markov, &d.snapshot.tokens, steps)
                        })
                    });
                if let Some(MarkovCommand::Steps(k)) = panel.inner {
                    commands.push(Command::MarkovSteps(k));
                }
                commands.extend(self.graph_ui(ui));
            }
        }
        commands
    }

    fn graph_ui(&mut self, ui: &mut egui::Ui) -> Option<Command> {
        let focus = (self.view.hovered, self.view.pinned);
        let (layout, log_scale) = (self.settings.layout, self.settings.log_scale);
        let shown = self.view.shown_mut()?;
        graph_view::graph_panel_ui(
            ui,
            &mut shown.graph,
            &shown.snapshot,
            layout,
            log_scale,
            focus,
        )
    }
}

impl eframe::App for AttnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let mut settings = self.settings.clone();
        if self.demo_stands_in && settings.model == DEMO_MODEL {
            settings.model = DEFAULT_MODEL.to_string();
        }
        if let Ok(text) = serde_json::to_string(&settings) {
            storage.set_string(settings::SETTINGS_KEY, text);
        }
    }
}

/// Opens the window and runs until it is closed.
pub fn run(launch: Launch) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1500.0, 900.0])
            .with_title("attngraph"),
        persist_window: launch.screenshot.is_none(),
        ..Default::default()
    };
    eframe::run_native(
        "attngraph",
        options,
        Box::new(move |cc| Ok(Box::new(AttnApp::new(&cc.egui_ctx, cc.storage, launch)))),
    )
    .map_err(|e| {
        anyhow::anyhow!("cannot open the window: {e}. Without a display, run under Xvfb (xvfb-run attngraph) or use the CLI")
    })
}
