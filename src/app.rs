//! The eframe app: the worker channel, the persisted settings, the panels, and the commands they return.

use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::export::{self, Format, Snapshot};
use crate::graph::{self, heads, Pruning, Selection};
use crate::model::{Analysis, AnalyzeOptions, KNOWN_MODELS};
use crate::ui::deriver::{DeriveRequest, Deriver};
use crate::ui::dialogs::{self, DialogRequest, Dialogs, Kind, Purpose};
use crate::ui::graph_view::{self, FixedLayout, FixedState, ViewGraph};
use crate::ui::markov_panel::{markov_panel_ui, MarkovCommand};
use crate::ui::perplexity_panel::PerplexityCommand;
use crate::ui::settings::{self, GraphLayout, Settings, View};
use crate::ui::worker::{Request, Response, Worker};
use crate::ui::{fonts, head_grid, matrix_view, token_panel};

/// How long a notice stays on screen.
const TOAST: Duration = Duration::from_secs(8);

/// A message for the toast: an export's path, or what went wrong (drawn in red).
struct Notice {
    text: String,
    at: Instant,
    failed: bool,
}

impl Notice {
    fn new(text: String, failed: bool) -> Self {
        Self {
            text,
            at: Instant::now(),
            failed,
        }
    }
}

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
}

/// Things derived from the analysis and the selection; rebuilt only when their inputs change.
struct Derived {
    snapshot_key: String,
    graph_key: String,
    /// Shared with export threads.
    snapshot: Arc<Snapshot>,
    graph: ViewGraph,
}

/// A screenshot on its way. `--screenshot` waits until the analysis is drawn and 8 more frames, saves the
/// window and closes it; a PNG export from the window waits 2 frames (for the menu to close) and saves the
/// central view only.
struct Screenshot {
    path: PathBuf,
    frames: u32,
    crop: Option<egui::Rect>,
    closing: bool,
}

/// Download progress shown in the window.
struct Download {
    file: String,
    done: u64,
    total: u64,
    started: Instant,
}

/// The app.
pub struct AttnApp {
    settings: Settings,
    worker: Worker,
    deriver: Deriver,
    /// The snapshot key whose computation failed (shown as a notice, not retried every frame).
    derive_failed: Option<String>,
    dialogs: Dialogs,
    thumbnails: head_grid::Thumbnails,
    model_name: Option<String>,
    model_field: String,
    loading: bool,
    download: Option<Download>,
    load_error: Option<String>,
    analyze_error: Option<String>,
    notice: Option<Notice>,
    analysis: Option<Arc<Analysis>>,
    head_scores: Vec<heads::HeadScores>,
    probe_scores: Option<Vec<heads::HeadScores>>,
    badges_from_probe: bool,
    last_millis: Option<f64>,
    generation: u64,
    analysis_generation: u64,
    edited_at: Option<Instant>,
    derived: Option<Derived>,
    hovered: Option<usize>,
    pinned: Option<usize>,
    screenshot: Option<Screenshot>,
    central_rect: Option<egui::Rect>,
    export_dir: PathBuf,
    perplexity: crate::ui::perplexity_panel::PerplexityTab,
    score_pending: bool,
    score_requested: bool,
    cancel_download: Arc<std::sync::atomic::AtomicBool>,
    /// Text exports are rendered and written on their own threads; each sends its notice here.
    export_done: (mpsc::Sender<Notice>, mpsc::Receiver<Notice>),
    exports_running: usize,
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
        let wake_ctx = ctx.clone();
        let worker = Worker::spawn(move || wake_ctx.request_repaint());
        let wake_ctx = ctx.clone();
        let deriver = Deriver::spawn(move || wake_ctx.request_repaint());
        let mut app = Self {
            model_field: settings.model.clone(),
            settings,
            worker,
            deriver,
            derive_failed: None,
            dialogs: Dialogs::default(),
            thumbnails: head_grid::Thumbnails::default(),
            model_name: None,
            loading: false,
            download: None,
            load_error: None,
            analyze_error: None,
            notice: notice.map(|text| Notice::new(text, false)),
            analysis: None,
            head_scores: Vec::new(),
            probe_scores: None,
            badges_from_probe: false,
            last_millis: None,
            generation: 0,
            analysis_generation: 0,
            edited_at: None,
            derived: None,
            hovered: None,
            pinned: None,
            screenshot: launch.screenshot.map(|path| Screenshot {
                path,
                frames: 0,
                crop: None,
                closing: true,
            }),
            central_rect: None,
            export_done: mpsc::channel(),
            exports_running: 0,
            export_dir,
            perplexity: crate::ui::perplexity_panel::PerplexityTab {
                path: launch
                    .score_file
                    .as_ref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default(),
                ..Default::default()
            },
            score_pending: launch.score_file.is_some(),
            score_requested: launch.score_file.is_some(),
            cancel_download: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        };
        app.load_model(app.settings.model.clone());
        app
    }

    fn load_model(&mut self, model: String) {
        self.loading = true;
        self.load_error = None;
        self.download = None;
        // A fresh flag per load: cancelling one download must not cancel the next.
        self.cancel_download = Arc::new(std::sync::atomic::AtomicBool::new(false));
        self.worker.send(Request::Load {
            model,
            offline: false,
            cancel: self.cancel_download.clone(),
        });
        self.request_analysis();
    }

    fn request_analysis(&mut self) {
        self.generation += 1;
        self.edited_at = None;
        self.worker.send(Request::Analyze {
            generation: self.generation,
            text: self.settings.text.clone(),
            options: AnalyzeOptions {
                bos: self.settings.bos,
                top_k: 5,
                keep_scores: false,
            },
        });
    }

    /// The current analysis, if one has arrived.
    pub fn analysis(&self) -> Option<&Analysis> {
        self.analysis.as_deref()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Mutable settings, for tests that drive the app.
    pub fn settings_mut(&mut self) -> &mut Settings {
        &mut self.settings
    }

    /// The last load or analysis error shown.
    pub fn error(&self) -> Option<&str> {
        self.load_error.as_deref().or(self.analyze_error.as_deref())
    }

    /// Whether a load or an analysis is still pending.
    pub fn busy(&self) -> bool {
        self.loading
            || self.edited_at.is_some()
            || self.deriver.busy()
            || (self.generation > self.analysis_generation
                && self.analyze_error.is_none()
                && self.load_error.is_none())
    }

    /// Marks the text as edited now, as typing in the text box does; the analysis follows after the debounce.
    pub fn text_edited(&mut self) {
        self.edited_at = Some(Instant::now());
    }

    /// Head-type scores on the induction probe, once asked for.
    pub fn probe_scores(&self) -> Option<&[heads::HeadScores]> {
        self.probe_scores.as_deref()
    }

    /// The Perplexity tab's state.
    pub fn perplexity_tab(&self) -> &crate::ui::perplexity_panel::PerplexityTab {
        &self.perplexity
    }

    /// The message shown in the status bar (exports, notices), if any.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_ref().map(|n| n.text.as_str())
    }

    /// The number of edges the graph view shows now.
    pub fn edge_count(&self) -> Option<usize> {
        self.derived.as_ref().map(|d| d.snapshot.edges.len())
    }

    /// Answers the file dialogs with `picker` instead of the platform's dialog (tests answer them this way).
    pub fn set_picker(&mut self, picker: dialogs::Picker) {
        self.dialogs = Dialogs::with_picker(picker);
    }

    /// The file dialog being shown, if any.
    pub fn dialog_open(&self) -> Option<Purpose> {
        self.dialogs.open_purpose()
    }

    /// Where the quick export buttons write.
    pub fn export_dir(&self) -> &std::path::Path {
        &self.export_dir
    }

    /// The generation of the newest request and of the analysis on screen.
    pub fn generations(&self) -> (u64, u64) {
        (self.generation, self.analysis_generation)
    }

    fn poll(&mut self) {
        while let Ok(notice) = self.export_done.1.try_recv() {
            self.exports_running = self.exports_running.saturating_sub(1);
            self.notice = Some(notice);
        }
        for response in self.worker.poll() {
            match response {
                Response::Progress { file, done, total } => {
                    let started = self
                        .download
                        .as_ref()
                        .filter(|d| d.file == file)
                        .map_or_else(Instant::now, |d| d.started);
                    self.download = Some(Download {
                        file,
                        done,
                        total,
                        started,
                    });
                }
                Response::Loaded { name } => {
                    self.loading = false;
                    self.download = None;
                    if !self.settings.recent_models.contains(&name) {
                        self.settings.recent_models.insert(0, name.clone());
                        self.settings.recent_models.truncate(8);
                    }
                    self.settings.model = name.clone();
                    self.model_name = Some(name);
                    self.probe_scores = None;
                    self.badges_from_probe = false;
                    self.request_analysis();
                    if std::mem::take(&mut self.score_pending) {
                        self.score_file();
                    }
                }
                Response::LoadFailed(message) => {
                    self.loading = false;
                    self.download = None;
                    self.load_error = Some(message);
                }
                Response::Analyzed {
                    generation,
                    analysis,
                    head_scores,
                    millis,
                } => {
                    if generation >= self.analysis_generation {
                        self.head_scores = head_scores;
                        self.analysis = Some(analysis);
                        self.analysis_generation = generation;
                        self.last_millis = Some(millis);
                        self.analyze_error = None;
                        self.clamp_selection();
                    }
                }
                Response::ProbeScores(scores) => {
                    self.probe_scores = Some(scores);
                    self.badges_from_probe = true;
                }
                Response::PerplexityProgress(done, total) => {
                    self.perplexity.progress = Some((done, total))
                }
                Response::PerplexityDone(scored) => {
                    self.perplexity.progress = None;
                    self.perplexity.error = None;
                    self.perplexity.window = 0;
                    self.perplexity.result = Some(*scored);
                }
                Response::PerplexityFailed(message) => {
                    self.perplexity.progress = None;
                    self.perplexity.error = Some(message);
                }
                Response::Continued(text) => {
                    self.settings.text = text;
                    self.request_analysis();
                }
                Response::AnalyzeFailed {
                    generation,
                    message,
                } => {
                    if (generation == self.generation || generation == u64::MAX)
                        && self.model_name.is_some()
                    {
                        self.analyze_error = Some(message);
                    }
                }
            }
        }
    }
}

impl AttnApp {
    fn clamp_selection(&mut self) {
        let Some(a) = &self.analysis else { return };
        let (nl, nh) = (a.model.n_layer, a.model.n_head);
        self.settings.selection = match self.settings.selection {
            Selection::Head { layer, head } => Selection::Head {
                layer: layer.min(nl - 1),
                head: head.min(nh - 1),
            },
            Selection::LayerMean(l) => Selection::LayerMean(l.min(nl - 1)),
            Selection::LayerMax(l) => Selection::LayerMax(l.min(nl - 1)),
            Selection::Flow if a.tokens.len() > graph::FLOW_MAX_TOKENS => Selection::Rollout,
            other => other,
        };
    }

    /// Asks the snapshot thread for a new snapshot when the analysis or a control changed, takes the one that
    /// arrived, and rebuilds the view graph (cheap: only the kept edges) when the snapshot or the focus changed.
    fn derive(&mut self) {
        let Some(analysis) = self.analysis.clone() else {
            return;
        };
        let s = &self.settings;
        let steps = if s.view == View::Markov {
            s.markov_steps
        } else {
            1
        };
        let snapshot_key = format!(
            "{}|{:?}|{:?}|{:?}|{}|{steps}",
            self.analysis_generation, s.selection, s.pruning, s.layout, s.teleport
        );
        let have = self.derived.as_ref().map(|d| d.snapshot_key.as_str());
        // A selection that failed is not asked for again until something changes.
        if have != Some(snapshot_key.as_str())
            && self.derive_failed.as_deref() != Some(snapshot_key.as_str())
        {
            self.deriver.request(DeriveRequest {
                key: snapshot_key,
                analysis,
                model: self.model_name.clone().unwrap_or_default(),
                selection: s.selection,
                pruning: s.pruning,
                layout: s.layout.export_layout(),
                teleport: s.teleport,
                steps,
            });
        }
        let focus = self.pinned.or(self.hovered);
        let (layout, log_scale) = (self.settings.layout, self.settings.log_scale);
        let graph_key = format!("{layout:?}|{log_scale}|{focus:?}");
        let build = |snapshot: &Snapshot| {
            graph_view::build(
                &snapshot.tokens,
                &snapshot.edges,
                layout.export_layout(),
                log_scale,
                focus.filter(|&f| f < snapshot.tokens.len()),
            )
        };
        match self.deriver.poll() {
            Some((key, Ok(snapshot))) => {
                self.derived = Some(Derived {
                    snapshot_key: key,
                    graph_key,
                    graph: build(&snapshot),
                    snapshot: Arc::new(snapshot),
                });
            }
            Some((key, Err(err))) => {
                self.notice = Some(Notice::new(format!("cannot show this matrix: {err}"), true));
                self.derive_failed = Some(key);
            }
            None => {
                if let Some(d) = self.derived.as_mut().filter(|d| d.graph_key != graph_key) {
                    d.graph = build(&d.snapshot);
                    d.graph_key = graph_key;
                }
            }
        }
    }

    fn score_file(&mut self) {
        self.perplexity.progress = Some((0, 1));
        self.perplexity.error = None;
        self.worker.send(Request::Perplexity {
            path: self.perplexity.path.trim().to_string(),
            max_length: self.perplexity.max_length,
            stride: self.perplexity.stride,
            bos: self.settings.bos,
        });
    }

    /// A file name for the current selection: `layer_3_head_5-1764195000.svg`.
    fn export_name(&self, format: Format) -> String {
        let name = self.derived.as_ref().map_or_else(
            || "attngraph".to_string(),
            |d| {
                d.snapshot
                    .selection
                    .replace([' ', '—', '^'], "_")
                    .replace("__", "_")
            },
        );
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        format!("{name}-{stamp}.{}", format.extension())
    }

    /// Writes the current selection as `format` to `path`; PNG saves the view as shown, on the next frame.
    fn export_to(&mut self, path: PathBuf, format: Format, ctx: &egui::Context) {
        if format == Format::Png {
            self.screenshot = Some(Screenshot {
                path,
                frames: 0,
                crop: self.central_rect,
                closing: false,
            });
            ctx.request_repaint();
            return;
        }
        let Some(d) = &self.derived else { return };
        // A 1,024-token JSON holds a million matrix entries: rendered on the UI thread it would hold frames.
        let (snapshot, done, ctx) = (
            Arc::clone(&d.snapshot),
            self.export_done.0.clone(),
            ctx.clone(),
        );
        let target = path.clone();
        let spawned = std::thread::Builder::new()
            .name("attngraph-export".into())
            .spawn(move || {
                let _ = done.send(write_export(&snapshot, format, &target));
                ctx.request_repaint();
            });
        self.notice = Some(match spawned {
            Ok(_) => {
                self.exports_running += 1;
                Notice::new(format!("exporting {}…", path.display()), false)
            }
            Err(_) => write_export(&d.snapshot, format, &path),
        });
    }

    /// Text exports still being written.
    pub fn exports_running(&self) -> usize {
        self.exports_running
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
                if self.model_name.is_some() && self.perplexity.progress.is_none() {
                    self.score_file();
                }
            }
            Purpose::ExportFolder => {
                self.settings.export_dir = Some(path.clone());
                self.export_dir = path;
                self.notice = Some(Notice::new(
                    format!("quick exports now go to {}", self.export_dir.display()),
                    false,
                ));
            }
            Purpose::SaveExport => match Format::from_path(&path) {
                Some(format) => self.export_to(path, format, ctx),
                None if path.extension().is_none() => {
                    self.export_to(path.with_extension("svg"), Format::Svg, ctx)
                }
                None => {
                    self.notice = Some(Notice::new(
                        format!(
                            "not exported: {} has an extension attngraph does not write; use .svg, .png, .dot, .graphml, .json or .csv",
                            path.display()
                        ),
                        true,
                    ))
                }
            },
        }
    }

    /// Opens a file dialog on its own thread.
    fn open_dialog(&mut self, request: DialogRequest, ctx: &egui::Context) {
        let ctx = ctx.clone();
        self.dialogs.open(request, move || ctx.request_repaint());
    }

    fn model_folder_dialog(&mut self, ctx: &egui::Context) {
        let mut request = DialogRequest::new(
            Purpose::ModelFolder,
            Kind::OpenFolder,
            "Open a GPT-2 model folder (config.json, model.safetensors, tokenizer.json)",
        );
        request.directory = Some(PathBuf::from(self.model_field.trim()))
            .filter(|p| p.is_dir())
            .or_else(|| std::env::current_dir().ok());
        self.open_dialog(request, ctx);
    }

    /// The whole window. Public so tests can drive it with egui_kittest.
    pub fn show(&mut self, ui: &mut egui::Ui) {
        self.poll();
        match self.dialogs.poll() {
            Some((purpose, Ok(Some(path)))) => self.dialog_answered(purpose, path, ui.ctx()),
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
                self.notice = Some(Notice::new(format!("{err}; {instead}"), true));
            }
        }
        if self.edited_at.is_some_and(|t| t.elapsed() >= DEBOUNCE) {
            self.request_analysis();
        } else if let Some(t) = self.edited_at {
            ui.ctx()
                .request_repaint_after(DEBOUNCE.saturating_sub(t.elapsed()));
        }
        self.keyboard(ui);
        self.derive();

        egui::Panel::top("controls").show(ui, |ui| self.controls_ui(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_ui(ui));
        if self.analysis.is_some() && !matches!(self.settings.view, View::Grid | View::Perplexity) {
            egui::Panel::left("grid")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    self.grid_ui(ui, 18.0, false);
                });
            egui::Panel::right("tokens")
                .resizable(true)
                .default_size(420.0)
                .max_size(ui.available_width() * 0.4)
                .show(ui, |ui| {
                    if let Some(a) = self.analysis.clone() {
                        token_panel::token_panel_ui(ui, &a, self.pinned.or(self.hovered));
                    }
                });
        }
        let central = egui::CentralPanel::default().show(ui, |ui| self.central_ui(ui));
        self.central_rect = Some(central.response.rect);
        self.toast(ui.ctx());
        self.screenshot_step(ui);
    }

    fn keyboard(&mut self, ui: &egui::Ui) {
        if ui.ctx().egui_wants_keyboard_input() {
            return;
        }
        let Some(a) = &self.analysis else { return };
        let (nl, nh) = (a.model.n_layer, a.model.n_head);
        let (mut layer, mut head) = match self.settings.selection {
            Selection::Head { layer, head } => (layer, head),
            _ => (0, 0),
        };
        // (key, head step, layer step), wrapping around the grid.
        let steps = [
            (egui::Key::ArrowRight, 1, 0),
            (egui::Key::ArrowLeft, nh - 1, 0),
            (egui::Key::ArrowDown, 0, 1),
            (egui::Key::ArrowUp, 0, nl - 1),
        ];
        let moved = ui.input(|i| {
            let mut moved = false;
            for (key, dh, dl) in steps {
                if i.key_pressed(key) {
                    head = (head + dh) % nh;
                    layer = (layer + dl) % nl;
                    moved = true;
                }
            }
            moved
        });
        if moved {
            self.settings.selection = Selection::Head { layer, head };
        }
    }

    fn controls_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            ui.label("Model");
            ui.add(egui::TextEdit::singleline(&mut self.model_field).desired_width(260.0).hint_text("Hub id or folder"));
            egui::ComboBox::from_id_salt("known_models").selected_text("▾").show_ui(ui, |ui| {
                let mut choices: Vec<String> = KNOWN_MODELS.iter().map(|m| m.to_string()).collect();
                choices.extend(self.settings.recent_models.iter().filter(|m| !KNOWN_MODELS.contains(&m.as_str())).cloned());
                for m in choices {
                    if ui.selectable_label(self.model_field == m, &m).clicked() {
                        self.model_field = m;
                    }
                }
            });
            if ui.add_enabled(!self.loading, egui::Button::new("Load")).clicked() {
                self.load_model(self.model_field.trim().to_string());
            }
            if ui
                .add_enabled(!self.loading, egui::Button::new("📂 Folder…"))
                .on_hover_text("Open a local model folder")
                .clicked()
            {
                self.model_folder_dialog(ui.ctx());
            }
            ui.separator();
            if ui.checkbox(&mut self.settings.bos, "BOS").on_hover_text(
                "Prepend <|endoftext|> as token 0, so the first word gets p(x₁ | BOS): the product p(x₁)·p(x₂|x₁)·… needs a context for x₁.",
            ).changed() {
                self.request_analysis();
            }
            if ui
                .add_enabled(self.model_name.is_some(), egui::Button::new("Continue ▸"))
                .on_hover_text("Sample the next tokens from the model and append them")
                .clicked()
            {
                self.worker.send(Request::Continue {
                    text: self.settings.text.clone(),
                    bos: self.settings.bos,
                    options: self.settings.sampling,
                });
                self.settings.sampling.seed = self.settings.sampling.seed.wrapping_add(1);
            }
            let sampling = &mut self.settings.sampling;
            ui.menu_button("⚙", |ui| {
                ui.add(egui::Slider::new(&mut sampling.temperature, 0.0..=2.0).text("temperature (0: most likely)"));
                ui.add(egui::Slider::new(&mut sampling.top_k, 0..=200).text("top-k (0: all)"));
                ui.add(egui::Slider::new(&mut sampling.top_p, 0.05..=1.0).text("top-p"));
                ui.add(egui::Slider::new(&mut sampling.max_new_tokens, 1..=64).text("tokens"));
            });
            ui.separator();
            for (view, label) in [(View::Graph, "Graph"), (View::Matrix, "Matrix"), (View::Grid, "Heads"), (View::Markov, "Markov"), (View::Perplexity, "Perplexity")] {
                ui.selectable_value(&mut self.settings.view, view, label);
            }
            ui.separator();
            let mut dark = self.settings.dark;
            if ui.selectable_label(dark, if dark { "🌙" } else { "☀" }).on_hover_text("Dark / light theme").clicked() {
                dark = !dark;
                self.settings.dark = dark;
                ui.ctx().set_theme(if dark { egui::Theme::Dark } else { egui::Theme::Light });
            }
        });
        let response = ui.add(
            egui::TextEdit::multiline(&mut self.settings.text)
                .desired_rows(2)
                .desired_width(f32::INFINITY)
                .hint_text("Type a sentence, e.g. I love tennis.")
                .id_salt("text"),
        );
        if response.changed() {
            self.text_edited();
        }
        ui.horizontal_wrapped(|ui| {
            if self.analysis.is_some() {
                // Layer and head ranges are known only once a model has answered.
                self.selection_ui(ui);
            }
            ui.separator();
            self.pruning_ui(ui);
            ui.separator();
            ui.menu_button("Export ▾", |ui| self.export_menu_ui(ui))
                .response
                .on_hover_text("Save the selected matrix or the view");
        });
    }

    fn export_menu_ui(&mut self, ui: &mut egui::Ui) {
        if ui
            .button("Save as…")
            .on_hover_text("Choose the file; its extension picks the format")
            .clicked()
        {
            let mut request =
                DialogRequest::new(Purpose::SaveExport, Kind::SaveFile, "Export the selection");
            request.directory = Some(self.export_dir.clone()).filter(|d| d.is_dir());
            request.file_name = Some(self.export_name(Format::Svg));
            request.filters = Format::ALL
                .iter()
                .map(|f| {
                    (
                        f.extension().to_uppercase(),
                        vec![f.extension().to_string()],
                    )
                })
                .collect();
            self.open_dialog(request, ui.ctx());
            ui.close();
        }
        ui.separator();
        ui.label(format!("Quick save to {}", self.export_dir.display()));
        ui.horizontal(|ui| {
            for format in Format::ALL {
                let hover = if format == Format::Png {
                    "the view as shown".to_string()
                } else {
                    format!("the selected matrix as {}", format.extension())
                };
                if ui
                    .button(format.extension().to_uppercase())
                    .on_hover_text(hover)
                    .clicked()
                {
                    let path = self.export_dir.join(self.export_name(format));
                    self.export_to(path, format, ui.ctx());
                    ui.close();
                }
            }
        });
        if ui.button("Change folder…").clicked() {
            let mut request = DialogRequest::new(
                Purpose::ExportFolder,
                Kind::OpenFolder,
                "Folder for exports",
            );
            request.directory = Some(self.export_dir.clone()).filter(|d| d.is_dir());
            self.open_dialog(request, ui.ctx());
            ui.close();
        }
    }

    fn selection_ui(&mut self, ui: &mut egui::Ui) {
        let (nl, nh, n) = self.analysis.as_ref().map_or((1, 1, 0), |a| {
            (a.model.n_layer, a.model.n_head, a.tokens.len())
        });
        let sel = &mut self.settings.selection;
        let layer_of = |s: &Selection| match *s {
            Selection::Head { layer, .. }
            | Selection::LayerMean(layer)
            | Selection::LayerMax(layer) => layer,
            _ => 0,
        };
        let mut layer = layer_of(sel);
        let mut head = match *sel {
            Selection::Head { head, .. } => head,
            _ => 0,
        };
        ui.label("Matrix");
        egui::ComboBox::from_id_salt("matrix_kind")
            .selected_text(sel.label())
            .show_ui(ui, |ui| {
                ui.selectable_value(sel, Selection::Head { layer, head }, "one head");
                ui.selectable_value(sel, Selection::LayerMean(layer), "layer mean");
                ui.selectable_value(sel, Selection::LayerMax(layer), "layer max");
                ui.selectable_value(sel, Selection::AllMean, "all-head mean");
                ui.selectable_value(sel, Selection::Rollout, "rollout");
                ui.add_enabled_ui(n <= graph::FLOW_MAX_TOKENS, |ui| {
                    ui.selectable_value(sel, Selection::Flow, "flow")
                        .on_disabled_hover_text(format!(
                            "flow is limited to {} tokens",
                            graph::FLOW_MAX_TOKENS
                        ));
                });
            });
        let has_layer = matches!(
            sel,
            Selection::Head { .. } | Selection::LayerMean(_) | Selection::LayerMax(_)
        );
        if has_layer
            && ui
                .add(
                    egui::DragValue::new(&mut layer)
                        .range(0..=nl - 1)
                        .prefix("layer "),
                )
                .changed()
        {
            *sel = match *sel {
                Selection::Head { head, .. } => Selection::Head { layer, head },
                Selection::LayerMean(_) => Selection::LayerMean(layer),
                _ => Selection::LayerMax(layer),
            };
        }
        if matches!(sel, Selection::Head { .. })
            && ui
                .add(
                    egui::DragValue::new(&mut head)
                        .range(0..=nh - 1)
                        .prefix("head "),
                )
                .changed()
        {
            *sel = Selection::Head { layer, head };
        }
    }

    fn pruning_ui(&mut self, ui: &mut egui::Ui) {
        let p: &mut Pruning = &mut self.settings.pruning;
        ui.add(
            egui::Slider::new(&mut p.threshold, 0.0..=1.0)
                .text("threshold")
                .logarithmic(true)
                .smallest_positive(0.001),
        );
        ui.add(
            egui::DragValue::new(&mut p.top_k)
                .range(0..=64)
                .prefix("top-k "),
        )
        .on_hover_text("0 keeps all");
        ui.add(egui::Slider::new(&mut p.mass, 0.05..=1.0).text("mass"));
        ui.checkbox(&mut p.drop_first, "drop token 0")
            .on_hover_text(
                "Hide the attention sink and renormalise each row over the other tokens",
            );
        ui.checkbox(&mut self.settings.log_scale, "log colours");
        egui::ComboBox::from_id_salt("layout")
            .selected_text(format!("{:?}", self.settings.layout))
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut self.settings.layout, GraphLayout::Arc, "Arc");
                ui.selectable_value(&mut self.settings.layout, GraphLayout::Circle, "Circle");
                ui.selectable_value(&mut self.settings.layout, GraphLayout::Force, "Force");
            });
    }

    /// The layer × head grid with cells of at most `max_cell` points, shrunk (down to 8) so every head fits the
    /// width, and with `fit_height` every layer the height; past that it scrolls.
    fn grid_ui(&mut self, ui: &mut egui::Ui, max_cell: f32, fit_height: bool) {
        let Some(a) = self.analysis.clone() else {
            return;
        };
        ui.strong("Layers × heads");
        ui.small("Click a head; ←/→ change head, ↑/↓ change layer.");
        ui.horizontal(|ui| {
            ui.small("badges from");
            ui.selectable_value(&mut self.badges_from_probe, false, "this text");
            let probe = ui
                .selectable_label(self.badges_from_probe, "induction probe")
                .on_hover_text("Score every head on a random token sequence repeated: induction heads light up in the second half");
            if probe.clicked() {
                if self.probe_scores.is_some() {
                    self.badges_from_probe = true;
                } else {
                    self.worker.send(Request::Probe);
                }
            }
        });
        self.thumbnails
            .update(ui.ctx(), &a.attentions, self.analysis_generation);
        let scores = match (&self.probe_scores, self.badges_from_probe) {
            (Some(probe), true) => probe.as_slice(),
            _ => self.head_scores.as_slice(),
        };
        let cell = head_grid::fit_cell(
            ui.available_size(),
            [a.model.n_layer, a.model.n_head],
            max_cell,
            fit_height,
        );
        let clicked = egui::ScrollArea::both()
            .id_salt("grid_scroll")
            .show(ui, |ui| {
                head_grid::head_grid_ui(
                    ui,
                    &a.attentions,
                    &self.thumbnails,
                    scores,
                    self.settings.selection,
                    cell,
                )
            })
            .inner;
        if let Some(sel) = clicked {
            self.settings.selection = sel;
            if self.settings.view == View::Grid {
                self.settings.view = View::Graph;
            }
        }
    }

    fn central_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(err) = self.load_error.clone() {
            ui.colored_label(egui::Color32::from_rgb(220, 80, 60), format!("⚠ {err}"));
            ui.label("Pick a model above, or open a local folder holding config.json, model.safetensors and tokenizer.json (or vocab.json + merges.txt).");
            if ui.button("📂 Open a local model folder…").clicked() {
                self.model_folder_dialog(ui.ctx());
            }
            ui.separator();
        }
        if self.analysis.is_none() {
            if let Some(d) = &self.download {
                let secs = d.started.elapsed().as_secs_f64().max(0.1);
                let fraction = if d.total > 0 {
                    d.done as f32 / d.total as f32
                } else {
                    0.0
                };
                ui.label(format!(
                    "Downloading {}: {:.1} / {:.1} MB at {:.1} MB/s",
                    d.file,
                    d.done as f64 / 1e6,
                    d.total as f64 / 1e6,
                    d.done as f64 / 1e6 / secs
                ));
                ui.add(egui::ProgressBar::new(fraction).show_percentage());
                if ui.button("Cancel").clicked() {
                    self.cancel_download
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            } else if self.loading {
                ui.spinner();
                ui.label(format!("Loading {}…", self.settings.model));
            }
            return;
        }
        match self.settings.view {
            View::Perplexity => match self.perplexity.ui(ui, self.model_name.is_some()) {
                PerplexityCommand::Run => self.score_file(),
                PerplexityCommand::Browse => {
                    let mut request =
                        DialogRequest::new(Purpose::TextFile, Kind::OpenFile, "Score a text file");
                    request.filters = vec![
                        (
                            "Text".to_string(),
                            vec!["txt".to_string(), "md".to_string(), "raw".to_string()],
                        ),
                        ("Any file".to_string(), vec!["*".to_string()]),
                    ];
                    self.open_dialog(request, ui.ctx());
                }
                PerplexityCommand::None => {}
            },
            View::Grid => self.grid_ui(ui, 160.0, true),
            View::Matrix => {
                if let Some(d) = &self.derived {
                    ui.strong(format!(
                        "{} — row i: where token i looks",
                        d.snapshot.selection
                    ));
                    matrix_view::matrix_ui(
                        ui,
                        &d.snapshot.matrix,
                        &d.snapshot.tokens,
                        self.settings.log_scale,
                    );
                }
            }
            View::Graph => self.graph_ui(ui),
            View::Markov => {
                let steps = self.settings.markov_steps;
                let command = egui::Panel::bottom("markov_panel")
                    .resizable(true)
                    .default_size(260.0)
                    .show(ui, |ui| {
                        self.derived.as_ref().map(|d| {
                            markov_panel_ui(ui, &d.snapshot.markov, &d.snapshot.tokens, steps)
                        })
                    });
                if let Some(MarkovCommand::Steps(k)) = command.inner {
                    self.settings.markov_steps = k;
                }
                self.graph_ui(ui);
            }
        }
    }

    fn graph_ui(&mut self, ui: &mut egui::Ui) {
        let layout = self.settings.layout;
        let Some(d) = &mut self.derived else { return };
        ui.horizontal(|ui| {
            ui.strong(&d.snapshot.selection);
            ui.label(format!(
                "{} edges of {} tokens · edge i → j: token i attends to j",
                d.snapshot.edges.len(),
                d.snapshot.tokens.len()
            ));
            legend(ui, self.settings.log_scale);
        });
        let style = egui_graphs::SettingsStyle::default().with_labels_always(true);
        let interaction = egui_graphs::SettingsInteraction::default()
            .with_node_clicking_enabled(true)
            .with_node_selection_enabled(true);
        let navigation = egui_graphs::SettingsNavigation::default()
            .with_zoom_and_pan_enabled(true)
            .with_fit_to_screen_enabled(true);
        let id = Some(format!("graph-{layout:?}"));
        if layout == GraphLayout::Force {
            egui_graphs::GraphView::<
                egui_graphs::FruchtermanReingoldState,
                egui_graphs::LayoutForceDirected<egui_graphs::FruchtermanReingold>,
            >::new()
            .with_styles(&style)
            .with_interactions(&interaction)
            .with_navigations(&navigation)
            .with_id(id)
            .show(ui, &mut d.graph);
        } else {
            egui_graphs::GraphView::<FixedState, FixedLayout>::new()
                .with_styles(&style)
                .with_interactions(&interaction)
                .with_navigations(&navigation)
                .with_id(id)
                .show(ui, &mut d.graph);
        }
        let hovered = d
            .graph
            .hovered_node()
            .and_then(|n| d.graph.node(n))
            .map(|n| *n.payload());
        let pinned = d
            .graph
            .selected_nodes()
            .first()
            .and_then(|&n| d.graph.node(n))
            .map(|n| *n.payload());
        if hovered != self.hovered || pinned != self.pinned {
            self.hovered = hovered;
            self.pinned = pinned;
        }
        if let Some(focus) = self.pinned.or(self.hovered) {
            let row: Vec<String> = (0..d.snapshot.matrix.n())
                .filter(|&j| d.snapshot.matrix.get(focus, j) > 0.005)
                .map(|j| format!("{} {:.3}", j, d.snapshot.matrix.get(focus, j)))
                .collect();
            let col: Vec<String> = (0..d.snapshot.matrix.n())
                .filter(|&i| d.snapshot.matrix.get(i, focus) > 0.005)
                .map(|i| format!("{} {:.3}", i, d.snapshot.matrix.get(i, focus)))
                .collect();
            egui::Area::new(egui::Id::new("focus_info"))
                .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(8.0, -36.0))
                .show(ui.ctx(), |ui| {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.label(format!("token {focus} looks at: {}", row.join(", ")));
                        ui.label(format!("looked at by: {}", col.join(", ")));
                    });
                });
        }
    }

    fn status_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            match (&self.model_name, self.loading) {
                (_, true) => ui.label(format!("loading {}…", self.settings.model)),
                (Some(name), false) => ui.label(name.as_str()),
                (None, false) => ui.label("no model loaded"),
            };
            if let Some(d) = &self.download {
                ui.separator();
                ui.label(format!(
                    "downloading {}: {:.1} / {:.1} MB",
                    d.file,
                    d.done as f64 / 1e6,
                    d.total as f64 / 1e6
                ));
                if ui.small_button("Cancel").clicked() {
                    self.cancel_download
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            if let Some(ms) = self.last_millis {
                ui.separator();
                ui.label(format!("last analysis {ms:.0} ms"));
            }
            if let Some(a) = &self.analysis {
                ui.separator();
                ui.label(format!(
                    "{} tokens · {} layers × {} heads",
                    a.tokens.len(),
                    a.model.n_layer,
                    a.model.n_head
                ));
            }
            if let Some(err) = &self.analyze_error {
                ui.separator();
                ui.colored_label(
                    egui::Color32::from_rgb(220, 80, 60),
                    format!("⚠ {err} (showing the previous result)"),
                );
            }
        });
    }

    /// The last notice (an export's path, a failure) floats above the status bar for a few seconds.
    fn toast(&self, ctx: &egui::Context) {
        let Some(notice) = &self.notice else {
            return;
        };
        let left = TOAST.saturating_sub(notice.at.elapsed());
        if left.is_zero() {
            return;
        }
        ctx.request_repaint_after(left);
        egui::Area::new(egui::Id::new("toast"))
            .anchor(egui::Align2::RIGHT_BOTTOM, egui::vec2(-12.0, -36.0))
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    let text = egui::RichText::new(notice.text.as_str());
                    ui.label(if notice.failed {
                        text.color(egui::Color32::from_rgb(220, 80, 60))
                    } else {
                        text
                    });
                });
            });
    }

    /// Saves a screenshot once it arrives. With `--screenshot`: wait until the analysis is drawn, ask for the
    /// screenshot, save it, close the window.
    fn screenshot_step(&mut self, ui: &egui::Ui) {
        let Some(mut shot) = self.screenshot.take() else {
            return;
        };
        let image = ui.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(image) = image {
            let image = match shot.crop {
                Some(rect) => image.region(&rect, Some(ui.ctx().pixels_per_point())),
                None => (*image).clone(),
            };
            let result = save_png(&shot.path, &image);
            let closing = shot.closing;
            self.notice = Some(match &result {
                Ok(()) => Notice::new(format!("saved {}", shot.path.display()), false),
                Err(err) => Notice::new(format!("screenshot failed: {err}"), true),
            });
            if closing {
                if let Err(err) = result {
                    eprintln!("error: {err}");
                }
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return;
        }
        let scored = !self.score_requested
            || self.perplexity.result.is_some()
            || self.perplexity.error.is_some();
        let ready = !shot.closing
            || (self.analysis.is_some() && !self.busy() && scored)
            || self.load_error.is_some();
        if ready {
            shot.frames += 1;
        }
        let ask_at = if shot.closing { 8 } else { 2 };
        if shot.frames > ask_at + 120 {
            // Some window systems never deliver the picture; say so rather than wait forever.
            let message =
                "screenshot failed: the window system did not deliver the picture".to_string();
            if shot.closing {
                eprintln!("error: {message}");
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            self.notice = Some(Notice::new(message, true));
            return;
        }
        if shot.frames == ask_at {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
        }
        ui.ctx().request_repaint();
        self.screenshot = Some(shot);
    }
}

fn legend(ui: &mut egui::Ui, log_scale: bool) {
    let (rect, _) = ui.allocate_exact_size(egui::vec2(120.0, 12.0), egui::Sense::hover());
    for i in 0..24 {
        let t = i as f32 / 23.0;
        let x = rect.left() + t * (rect.width() - 5.0);
        ui.painter().rect_filled(
            egui::Rect::from_min_size(egui::pos2(x, rect.top()), egui::vec2(5.0, 12.0)),
            0.0,
            graph_view::ramp(t),
        );
    }
    ui.small(if log_scale {
        "0.001 … 1 (log)"
    } else {
        "0 … 1"
    });
}

fn save_png(path: &std::path::Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &bytes,
        w as u32,
        h as u32,
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| format!("cannot encode PNG: {e}"))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    export::write_atomic(path, &png).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl eframe::App for AttnApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.show(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        if let Ok(text) = serde_json::to_string(&self.settings) {
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
    eframe::run_native("attngraph", options, Box::new(move |cc| Ok(Box::new(AttnApp::new(&cc.egui_ctx, cc.storage, launch)))))
        .map_err(|e| anyhow::anyhow!("cannot open the window: {e}. Without a display, run under Xvfb (xvfb-run attngraph) or use the CLI"))
}

/// Renders `snapshot` as `format` and writes it to `path` (creating its folder); the notice says which file, or
/// why not.
fn write_export(snapshot: &Snapshot, format: Format, path: &std::path::Path) -> Notice {
    let result = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            export::render_bytes(snapshot, format)
                .map_err(std::io::Error::other)
                .and_then(|bytes| export::write_atomic(path, &bytes))
        });
    match result {
        Ok(()) => Notice::new(format!("exported {}", path.display()), false),
        Err(err) => Notice::new(
            format!("export failed: cannot write {}: {err}", path.display()),
            true,
        ),
    }
}
