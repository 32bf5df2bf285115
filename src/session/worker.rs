//! The worker thread: downloads, loads and runs the model so the UI thread never waits. The app sends requests
//! and polls responses each frame; the worker calls `wake` (the app's `request_repaint`) when a response lands.
//! Stale analysis requests are dropped: only the newest text is analysed.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

pub use super::messages::{Request, Response};
use super::scoring::score;
use super::tasks::explained;
pub use super::tasks::{Explained, PatchKey, SideTask, TaskError, TextKey};
use crate::graph::heads;
use crate::model::{ablation, attribution};
use crate::model::{AnalyzeOptions, DeviceKind, Engine, EngineError, HubOptions, ModelSource};

/// Guesses per layer and position the Layers view keeps (its hover list).
const LENS_TOP_K: usize = 5;

/// The UI's handle on the worker thread.
pub struct Worker {
    requests: Sender<Request>,
    responses: Receiver<Response>,
}

impl Worker {
    /// Starts the worker thread. `wake` is called after each response (the app passes `request_repaint`).
    pub fn spawn(wake: impl Fn() + Send + Sync + 'static) -> Self {
        let (requests, inbox) = mpsc::channel::<Request>();
        let (outbox, responses) = mpsc::channel::<Response>();
        let wake: Arc<dyn Fn() + Send + Sync> = Arc::new(wake);
        let spawned = std::thread::Builder::new()
            .name("attngraph-worker".into())
            .spawn(move || run(&inbox, &outbox, &wake));
        if let Err(err) = spawned {
            // Without a worker nothing can load: the first poll reports it as a failed load.
            let (dead_tx, dead_rx) = mpsc::channel();
            let _ = dead_tx.send(Response::LoadFailed(TaskError::NoThread(err)));
            return Self {
                requests,
                responses: dead_rx,
            };
        }
        Self {
            requests,
            responses,
        }
    }

    /// Sends a request (ignored if the worker is gone).
    pub fn send(&self, request: Request) {
        let _ = self.requests.send(request);
    }

    /// The responses that arrived since the last call.
    pub fn poll(&self) -> Vec<Response> {
        let mut out = Vec::new();
        loop {
            match self.responses.try_recv() {
                Ok(r) => out.push(r),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => return out,
            }
        }
    }
}

fn run(inbox: &Receiver<Request>, outbox: &Sender<Response>, wake: &Arc<dyn Fn() + Send + Sync>) {
    let mut engine: Option<Engine> = None;
    // Keys, values and results of the last text: typing pays only for the tokens after the common prefix.
    let mut cache = crate::model::engine::PrefixCache::default();
    // The same with heads knocked out, so that typing stays cheap in both readings.
    let mut ablated_cache = crate::model::engine::PrefixCache::default();
    // The second pane reads its own text, with its own prefix cache.
    let mut compare_cache = crate::model::engine::PrefixCache::default();
    let send = |r: Response| {
        let _ = outbox.send(r);
        wake();
    };
    while let Ok(first) = inbox.recv() {
        // Take everything queued; keep every load but only the newest analysis.
        let mut batch = vec![first];
        while let Ok(more) = inbox.try_recv() {
            batch.push(more);
        }
        let newest_analysis = batch
            .iter()
            .rposition(|r| matches!(r, Request::Analyze { .. }));
        // An attribution or an explanation asked for again since answers only the newest question.
        let newest_attribution = batch
            .iter()
            .rposition(|r| matches!(r, Request::Attribute { .. }));
        let newest_explanation = batch
            .iter()
            .rposition(|r| matches!(r, Request::Explain { .. }));
        let newest_lens = batch
            .iter()
            .rposition(|r| matches!(r, Request::Lens { .. }));
        let newest_compare = batch
            .iter()
            .rposition(|r| matches!(r, Request::Compare { .. }));
        for (idx, request) in batch.into_iter().enumerate() {
            match request {
                Request::Load {
                    model,
                    offline,
                    cancel,
                    cache_dir,
                    endpoint,
                } => {
                    let progress_out = outbox.clone();
                    let progress_wake = wake.clone();
                    let hub = HubOptions {
                        offline: offline || HubOptions::from_env(false).offline,
                        cancel: Some(cancel),
                        cache_dir,
                        endpoint,
                        progress: Some(Arc::new(move |file: &str, done, total| {
                            let _ = progress_out.send(Response::Progress {
                                file: file.to_string(),
                                done,
                                total,
                            });
                            progress_wake();
                        })),
                    };
                    let loaded = ModelSource::parse(&model)
                        .map_err(EngineError::from)
                        .and_then(|source| Engine::load(&source, &hub, &DeviceKind::Cpu.open()?))
                        .map_err(|source| TaskError::Load {
                            model: model.clone(),
                            source,
                        });
                    match loaded {
                        Ok(e) => {
                            let name = e.name().to_string();
                            engine = Some(e);
                            cache = crate::model::engine::PrefixCache::default();
                            ablated_cache = crate::model::engine::PrefixCache::default();
                            compare_cache = crate::model::engine::PrefixCache::default();
                            send(Response::Loaded { name });
                        }
                        Err(error) => send(Response::LoadFailed(error)),
                    }
                }
                Request::Perplexity {
                    source,
                    max_length,
                    stride,
                    bos,
                } => match &engine {
                    Some(engine) => {
                        let progress_out = outbox.clone();
                        let progress_wake = wake.clone();
                        let mut progress = move |done: usize, total: usize| {
                            let _ = progress_out.send(Response::PerplexityProgress(done, total));
                            progress_wake();
                        };
                        let bos = engine.bos_if_any(bos);
                        match score(engine, source, max_length, stride, bos, &mut progress) {
                            Ok(scored) => send(Response::PerplexityDone(Box::new(scored))),
                            Err(error) => send(Response::PerplexityFailed(error.into())),
                        }
                    }
                    None => send(Response::PerplexityFailed(TaskError::NoModel)),
                },
                Request::Probe => match &engine {
                    Some(engine) => match heads::probe_scores(
                        engine,
                        heads::DEFAULT_PROBE_LEN,
                        heads::Exclusions::default(),
                    ) {
                        Ok(scores) => send(Response::ProbeScores(scores)),
                        Err(error) => send(Response::SideTaskFailed(SideTask::Probe, error.into())),
                    },
                    None => send(Response::SideTaskFailed(
                        SideTask::Probe,
                        TaskError::NoModel,
                    )),
                },
                Request::Attribute { key, position } => {
                    if Some(idx) != newest_attribution {
                        continue;
                    }
                    let task = SideTask::Attribute(key.clone(), position);
                    match &engine {
                        Some(engine) => {
                            match attribution::attribute(engine, &key.text, key.bos, position, None)
                            {
                                Ok(a) => send(Response::Attributed(key, Box::new(a))),
                                Err(error) => send(Response::SideTaskFailed(task, error.into())),
                            }
                        }
                        None => send(Response::SideTaskFailed(task, TaskError::NoModel)),
                    }
                }
                Request::Explain { key, layer, head } => {
                    if Some(idx) != newest_explanation {
                        continue;
                    }
                    let task = SideTask::Explain(key.clone(), layer, head);
                    match &engine {
                        Some(engine) => match explained(engine, key, layer, head) {
                            Ok(e) => send(Response::Explained(Box::new(e))),
                            Err(error) => send(Response::SideTaskFailed(task, *error)),
                        },
                        None => send(Response::SideTaskFailed(task, TaskError::NoModel)),
                    }
                }
                Request::Lens { key, ablated } => {
                    if Some(idx) != newest_lens {
                        continue;
                    }
                    let task = SideTask::Lens(key.clone(), ablated.clone());
                    // A newer text is waiting: the lens of this one would only hold it up (it unembeds every
                    // layer). Answered as cancelled, so the app asks again for the text it then shows.
                    if newest_analysis.is_some_and(|a| a > idx) {
                        send(Response::SideTaskFailed(
                            task,
                            TaskError::Engine(EngineError::Cancelled),
                        ));
                        continue;
                    }
                    match &engine {
                        Some(engine) => {
                            match crate::model::lens::lens(
                                engine,
                                &key.text,
                                key.bos,
                                LENS_TOP_K,
                                &ablated.heads,
                                ablated.replacement,
                            ) {
                                Ok(lens) => send(Response::Lensed(key, ablated, Arc::new(lens))),
                                Err(error) => send(Response::SideTaskFailed(task, error.into())),
                            }
                        }
                        None => send(Response::SideTaskFailed(task, TaskError::NoModel)),
                    }
                }
                Request::Compare {
                    generation,
                    text,
                    options,
                } => {
                    if Some(idx) != newest_compare {
                        continue;
                    }
                    let Some(engine) = &engine else {
                        send(Response::CompareFailed {
                            generation,
                            error: TaskError::NoModel,
                        });
                        continue;
                    };
                    let options = AnalyzeOptions {
                        bos: engine.bos_if_any(options.bos),
                        ..options
                    };
                    match engine.analyze_cached(&text, &options, &mut compare_cache) {
                        Ok(analysis) => send(Response::Compared {
                            generation,
                            analysis,
                        }),
                        Err(error) => send(Response::CompareFailed {
                            generation,
                            error: error.into(),
                        }),
                    }
                }
                Request::Patch { key, cancel } => match &engine {
                    Some(engine) => {
                        let progress_out = outbox.clone();
                        let progress_wake = wake.clone();
                        let patched = key.clone();
                        let mut progress = move |done: usize, total: usize| {
                            let _ = progress_out.send(Response::PatchProgress(
                                patched.clone(),
                                done,
                                total,
                            ));
                            progress_wake();
                            !cancel.load(std::sync::atomic::Ordering::Relaxed)
                        };
                        let bos = engine.bos_if_any(key.bos);
                        match crate::model::patching::patch(
                            engine,
                            &key.clean,
                            &key.corrupt,
                            bos,
                            key.answer,
                            key.wrong,
                            &mut progress,
                        ) {
                            Ok(p) => send(Response::Patched(key, Arc::new(p))),
                            Err(error) => send(Response::PatchFailed(key, error.into())),
                        }
                    }
                    None => send(Response::PatchFailed(key, TaskError::NoModel)),
                },
                Request::Sweep {
                    key,
                    cancel,
                    replacement,
                } => {
                    let task = SideTask::Sweep(key.clone(), replacement);
                    match &engine {
                        Some(engine) => {
                            let progress_out = outbox.clone();
                            let progress_wake = wake.clone();
                            let swept = key.clone();
                            let mut progress = move |done: usize, total: usize| {
                                let _ = progress_out.send(Response::SweepProgress(
                                    swept.clone(),
                                    replacement,
                                    done,
                                    total,
                                ));
                                progress_wake();
                                !cancel.load(std::sync::atomic::Ordering::Relaxed)
                            };
                            match ablation::sweep(
                                engine,
                                &key.text,
                                key.bos,
                                replacement,
                                &mut progress,
                            ) {
                                Ok(sweep) => send(Response::Swept(key, Arc::new(sweep))),
                                Err(error) => send(Response::SideTaskFailed(task, error.into())),
                            }
                        }
                        None => send(Response::SideTaskFailed(task, TaskError::NoModel)),
                    }
                }
                Request::Continue { text, bos, options } => match &engine {
                    Some(engine) => {
                        let bos = engine.bos_if_any(bos);
                        match crate::model::generate::continue_text(engine, &text, bos, &options) {
                            Ok(text) => send(Response::Continued(text)),
                            Err(error) => {
                                send(Response::SideTaskFailed(SideTask::Continue, error.into()))
                            }
                        }
                    }
                    None => send(Response::SideTaskFailed(
                        SideTask::Continue,
                        TaskError::NoModel,
                    )),
                },
                Request::Analyze {
                    generation,
                    text,
                    options,
                } => {
                    if Some(idx) != newest_analysis {
                        continue;
                    }
                    let Some(engine) = &engine else {
                        send(Response::AnalyzeFailed {
                            generation,
                            error: TaskError::NoModel,
                        });
                        continue;
                    };
                    let options = AnalyzeOptions {
                        bos: engine.bos_if_any(options.bos),
                        ..options
                    };
                    let start = Instant::now();
                    let read = if options.ablated.is_empty() {
                        engine
                            .analyze_cached(&text, &options, &mut cache)
                            .map(|a| (a, None))
                    } else {
                        // The intact reading is for before → after; the norms are the ablated run's only.
                        let intact = AnalyzeOptions {
                            ablated: Default::default(),
                            replacement: Default::default(),
                            norms: false,
                            ..options.clone()
                        };
                        engine
                            .analyze_cached(&text, &intact, &mut cache)
                            .and_then(|baseline| {
                                let ablated =
                                    engine.analyze_cached(&text, &options, &mut ablated_cache)?;
                                Ok((ablated, Some(baseline)))
                            })
                    };
                    match read {
                        Ok((analysis, baseline)) => {
                            let millis = start.elapsed().as_secs_f64() * 1e3;
                            let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
                            let head_scores = heads::score_heads(
                                &analysis.attentions,
                                &ids,
                                heads::Exclusions::default(),
                            );
                            send(Response::Analyzed {
                                generation,
                                analysis,
                                head_scores,
                                baseline,
                                millis,
                            })
                        }
                        Err(err) => send(Response::AnalyzeFailed {
                            generation,
                            error: err.into(),
                        }),
                    }
                }
            }
        }
    }
}
