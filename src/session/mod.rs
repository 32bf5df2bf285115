//! The app's session, without egui: the model worker and what it answered (the loaded model, the analysis on
//! screen, head scores, errors, download progress), the snapshot thread, and file scoring. The app sends
//! requests through [`Session`] and, once a frame, applies what [`Session::poll`] reports.
//!
//! Generations: every analysis request gets the next number ([`Session::requested_generation`]); an answer
//! replaces the analysis on screen only if it is at least as new as the one shown
//! ([`Session::shown_generation`]), so a slow answer to an old text never overwrites a newer one.

mod compare;
pub mod deriver;
mod events;
mod messages;
mod pane;
mod prefetch;
pub mod scoring;
mod side_tasks;
mod tasks;
mod too_long;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use crate::graph::heads::HeadScores;
use crate::model::ablation::Sweep;
use crate::model::attribution::Attribution;
use crate::model::generate::SamplingOptions;
use crate::model::{Analysis, AnalyzeOptions};
use events::PrefetchMessage;
pub use events::{Download, Event, Prefetch, ReadablePart};
use scoring::ScoreSource;
pub use worker::{Explained, PatchKey, SideTask, TextKey};
use worker::{Request, Response, TaskError, Worker};

/// The model side of the app.
pub struct Session {
    worker: Worker,
    /// The name of the loaded model.
    model_name: Option<String>,
    loading: bool,
    download: Option<Download>,
    cancel_download: Arc<AtomicBool>,
    load_error: Option<TaskError>,
    analyze_error: Option<TaskError>,
    analysis: Option<Arc<Analysis>>,
    /// With heads knocked out, the intact model's reading of the same text.
    baseline: Option<Arc<Analysis>>,
    attribution: Option<(TextKey, Box<Attribution>)>,
    /// The newest attribution asked for (text, position), while it is on its way.
    attribution_pending: Option<(TextKey, usize)>,
    sweep: Option<(TextKey, Arc<Sweep>)>,
    /// The text of the sweep running, and its stop flag.
    sweep_running: Option<(
        TextKey,
        crate::model::ablation::Replacement,
        Arc<AtomicBool>,
    )>,
    explained: Option<Box<Explained>>,
    /// The logit lens: its text and knocked-out heads, and the lens.
    lens: Option<(
        TextKey,
        crate::model::ablation::KnockOut,
        Arc<crate::model::lens::Lens>,
    )>,
    /// The newest lens asked for, while it is on its way.
    lens_pending: Option<(TextKey, crate::model::ablation::KnockOut)>,
    /// The second pane: the compared text and patching.
    pane: pane::ComparePane,
    /// The newest explanation asked for (text, layer, head), while it is on its way.
    explain_pending: Option<(TextKey, usize, usize)>,
    /// Attributions, explanations and sweeps of the text on screen that failed, with why: not asked again for
    /// the same input; the panels show the reason instead.
    failed: Vec<(SideTask, String)>,
    /// Heads done and in all, while a sweep runs.
    sweep_progress: Option<(usize, usize)>,
    head_scores: Vec<HeadScores>,
    probe_scores: Option<Vec<HeadScores>>,
    last_millis: Option<f64>,
    requested_generation: u64,
    shown_generation: u64,
    /// The generation of the last analysis that failed: it answered, with an error.
    failed_generation: u64,
    /// The text of the newest analysis asked for.
    requested_text: String,
    prefetch: Option<(String, Prefetch)>,
    prefetch_inbox: Option<mpsc::Receiver<PrefetchMessage>>,
    prefetch_cancel: Arc<AtomicBool>,
    /// Where loads look for the Hub cache and the Hub (`None`: as the environment says).
    hub_cache: Option<std::path::PathBuf>,
    hub_endpoint: Option<String>,
    wake: Arc<dyn Fn() + Send + Sync>,
}

impl Session {
    /// Starts the worker; `wake` is called whenever it answers (the app passes `request_repaint`).
    pub fn spawn(wake: impl Fn() + Send + Sync + 'static) -> Self {
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let worker_wake = Arc::clone(&wake);
        Self {
            worker: Worker::spawn(move || worker_wake()),
            prefetch: None,
            prefetch_inbox: None,
            prefetch_cancel: Arc::new(AtomicBool::new(false)),
            hub_cache: None,
            hub_endpoint: None,
            wake,
            model_name: None,
            loading: false,
            download: None,
            cancel_download: Arc::new(AtomicBool::new(false)),
            load_error: None,
            analyze_error: None,
            analysis: None,
            baseline: None,
            attribution: None,
            attribution_pending: None,
            sweep: None,
            sweep_running: None,
            explained: None,
            explain_pending: None,
            lens: None,
            lens_pending: None,
            pane: pane::ComparePane::default(),
            failed: Vec::new(),
            sweep_progress: None,
            head_scores: Vec::new(),
            probe_scores: None,
            last_millis: None,
            requested_generation: 0,
            shown_generation: 0,
            failed_generation: 0,
            requested_text: String::new(),
        }
    }

    /// Loads and background fetches use this Hub cache and this Hub (`None`: as the environment says).
    pub fn set_hub(&mut self, cache: Option<std::path::PathBuf>, endpoint: Option<String>) {
        self.hub_cache = cache;
        self.hub_endpoint = endpoint;
    }

    /// Loads `model` (a `--model` string) on the worker; the current model stays until it is ready. A sweep
    /// running on the current model stops first.
    pub fn load(&mut self, model: String) {
        if let Some((_, _, cancel)) = self.sweep_running.take() {
            cancel.store(true, Ordering::Relaxed);
            self.sweep_progress = None;
        }
        self.stop_patching_unless(|_| false);
        self.loading = true;
        self.load_error = None;
        self.download = None;
        // A fresh flag per load: cancelling one download must not cancel the next.
        self.cancel_download = Arc::new(AtomicBool::new(false));
        self.worker.send(Request::Load {
            model,
            offline: false,
            cancel: self.cancel_download.clone(),
            cache_dir: self.hub_cache.clone(),
            endpoint: self.hub_endpoint.clone(),
        });
    }

    /// Abandons the download in progress.
    pub fn cancel_download(&self) {
        self.cancel_download.store(true, Ordering::Relaxed);
    }

    /// Asks for the analysis of `text`. A sweep running on another text stops: its answer would be stale.
    pub fn analyze(&mut self, text: String, options: AnalyzeOptions) {
        if let Some((key, _, cancel)) = &self.sweep_running {
            if key.text != text || key.bos != options.bos {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        self.stop_patching_unless(|key| key.clean == text);
        self.requested_generation += 1;
        self.requested_text.clone_from(&text);
        self.worker.send(Request::Analyze {
            generation: self.requested_generation,
            text,
            options,
        });
    }

    /// Asks for head-type scores on the induction probe.
    pub fn run_probe(&self) {
        self.worker.send(Request::Probe);
    }

    /// Asks for tokens sampled after `text`.
    pub fn continue_text(&self, text: String, bos: bool, options: SamplingOptions) {
        self.worker.send(Request::Continue { text, bos, options });
    }

    /// Asks for the sliding-window perplexity of a file or a text.
    pub fn score(&self, source: ScoreSource, max_length: usize, stride: usize, bos: bool) {
        self.worker.send(Request::Perplexity {
            source,
            max_length,
            stride,
            bos,
        });
    }

    /// Takes in what the worker answered since the last call; returns what the app must act on.
    pub fn poll(&mut self) -> Vec<Event> {
        self.poll_prefetch();
        let mut events = Vec::new();
        for response in self.worker.poll() {
            match response {
                // The second pane's answers are its own.
                response @ (Response::Compared { .. }
                | Response::CompareFailed { .. }
                | Response::PatchProgress(..)
                | Response::Patched(..)
                | Response::PatchFailed(..)) => {
                    self.pane_response(response);
                    events.push(Event::Compared);
                }
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
                    self.model_name = Some(name.clone());
                    self.probe_scores = None;
                    // What the previous model answered is not this one's.
                    self.baseline = None;
                    self.attribution = None;
                    self.sweep = None;
                    self.explained = None;
                    self.lens = None;
                    // The second pane starts over, its generations counting on, so an answer sent before the
                    // load is never taken for a newer one.
                    self.pane = pane::ComparePane {
                        requested: self.pane.requested,
                        shown: self.pane.shown,
                        ..pane::ComparePane::default()
                    };
                    self.failed.clear();
                    events.push(Event::Loaded(name));
                }
                Response::LoadFailed(error) => {
                    self.loading = false;
                    self.download = None;
                    self.load_error = Some(error);
                }
                Response::Analyzed {
                    generation,
                    analysis,
                    head_scores,
                    baseline,
                    millis,
                } => {
                    if generation >= self.shown_generation {
                        // Failures of side tasks for another text no longer concern anyone.
                        let key = TextKey {
                            text: analysis.text.clone(),
                            bos: analysis.bos,
                        };
                        self.failed.retain(|(t, _)| t.key() == Some(&key));
                        self.head_scores = head_scores;
                        self.analysis = Some(analysis);
                        self.baseline = baseline;
                        self.shown_generation = generation;
                        self.last_millis = Some(millis);
                        self.analyze_error = None;
                        events.push(Event::Analyzed);
                    }
                }
                Response::ProbeScores(scores) => {
                    self.probe_scores = Some(scores);
                    events.push(Event::ProbeScored);
                }
                Response::PerplexityProgress(done, total) => {
                    events.push(Event::ScoringProgress(done, total));
                }
                Response::PerplexityDone(scored) => events.push(Event::Scored(scored)),
                Response::PerplexityFailed(error) => events.push(Event::ScoringFailed(error)),
                Response::Continued(text) => events.push(Event::Continued(text)),
                Response::Attributed(key, attribution) => {
                    let answered = (key.clone(), attribution.position);
                    if self.attribution_pending.as_ref() == Some(&answered) {
                        self.attribution_pending = None;
                    }
                    self.attribution = Some((key, attribution));
                    events.push(Event::Attributed);
                }
                Response::SweepProgress(key, replacement, done, total) => {
                    if self
                        .sweep_running
                        .as_ref()
                        .is_some_and(|(k, r, _)| *k == key && *r == replacement)
                    {
                        self.sweep_progress = Some((done, total));
                    }
                }
                Response::Explained(e) => {
                    let answered = Some((e.key.clone(), e.explanation.layer, e.explanation.head));
                    if self.explain_pending == answered {
                        self.explain_pending = None;
                    }
                    self.explained = Some(e);
                    events.push(Event::Explained);
                }
                Response::Lensed(key, ablated, lens) => {
                    if self.lens_pending.as_ref() == Some(&(key.clone(), ablated.clone())) {
                        self.lens_pending = None;
                    }
                    self.lens = Some((key, ablated, lens));
                    events.push(Event::Lensed);
                }
                Response::Swept(key, sweep) => {
                    if self
                        .sweep_running
                        .as_ref()
                        .is_some_and(|(k, r, _)| *k == key && *r == sweep.replacement)
                    {
                        self.sweep_progress = None;
                        self.sweep_running = None;
                    }
                    self.sweep = Some((key, sweep));
                    events.push(Event::Swept);
                }
                Response::AnalyzeFailed { generation, error } => {
                    if generation == self.requested_generation && self.model_name.is_some() {
                        self.analyze_error = Some(error);
                        self.failed_generation = generation;
                    }
                }
                Response::SideTaskFailed(task, error) => self.side_task_failed(task, error),
            }
        }
        events
    }

    /// The name of the loaded model.
    pub fn model_name(&self) -> Option<&str> {
        self.model_name.as_deref()
    }

    /// Whether a model is being loaded.
    pub fn loading(&self) -> bool {
        self.loading
    }

    /// The download in progress.
    pub fn download(&self) -> Option<&Download> {
        self.download.as_ref()
    }

    /// The analysis on screen.
    pub fn analysis(&self) -> Option<&Arc<Analysis>> {
        self.analysis.as_ref()
    }

    /// With heads knocked out, the intact model's reading of the text on screen.
    pub fn baseline(&self) -> Option<&Arc<Analysis>> {
        self.baseline.as_ref()
    }

    /// The text and BOS of the analysis on screen.
    pub fn text_key(&self) -> Option<TextKey> {
        self.analysis.as_ref().map(|a| TextKey {
            text: a.text.clone(),
            bos: a.bos,
        })
    }

    /// Head-type scores of every head on the analysed text.
    pub fn head_scores(&self) -> &[HeadScores] {
        &self.head_scores
    }

    /// Head-type scores on the induction probe, once asked for and answered.
    pub fn probe_scores(&self) -> Option<&[HeadScores]> {
        self.probe_scores.as_deref()
    }

    /// How long the last analysis took, in milliseconds.
    pub fn last_millis(&self) -> Option<f64> {
        self.last_millis
    }

    /// Why the model did not load.
    pub fn load_error(&self) -> Option<&TaskError> {
        self.load_error.as_ref()
    }

    /// Why the newest analysis (or the probe, or Continue) failed; the previous analysis stays on screen.
    pub fn analyze_error(&self) -> Option<&TaskError> {
        self.analyze_error.as_ref()
    }

    /// The generation of the newest analysis asked for: how many were asked for so far.
    pub fn requested_generation(&self) -> u64 {
        self.requested_generation
    }

    /// The generation of the analysis on screen (0: none yet).
    pub fn shown_generation(&self) -> u64 {
        self.shown_generation
    }

    /// Whether an analysis was asked for and has not arrived (nor failed).
    pub fn analysis_pending(&self) -> bool {
        self.requested_generation > self.shown_generation.max(self.failed_generation)
            && self.load_error.is_none()
    }

    /// Whether the worker still owes an answer: a load, or the newest analysis (unless an error ended it).
    pub fn busy(&self) -> bool {
        self.loading
            || self.attribution_pending.is_some()
            || self.explain_pending.is_some()
            || self.lens_pending.is_some()
            || self.sweep_progress.is_some()
            || self.analysis_pending()
    }
}
