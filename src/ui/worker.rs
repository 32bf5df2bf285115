//! The worker thread: downloads, loads and runs the model so the UI thread never waits. The UI sends requests
//! and polls responses each frame; the worker wakes the UI with `request_repaint` when a response lands.
//! Stale analysis requests are dropped: only the newest text is analysed.

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::Instant;

use crate::model::generate::SamplingOptions;
use crate::model::{Analysis, AnalyzeOptions, DeviceKind, Engine, HubOptions, ModelSource};

/// What the UI asks for.
#[derive(Debug)]
pub enum Request {
    /// Load a model (a Hub id or a folder).
    Load {
        /// The `--model` string.
        model: String,
        /// Use only the cache.
        offline: bool,
        /// Set by the UI to abandon the download.
        cancel: Arc<std::sync::atomic::AtomicBool>,
    },
    /// Analyse a text with the loaded model.
    Analyze {
        /// Increases with every request; responses carry it back so the UI can drop stale ones.
        generation: u64,
        /// The text.
        text: String,
        /// Options.
        options: AnalyzeOptions,
    },
    /// Score a file with sliding windows.
    Perplexity {
        /// The file.
        path: String,
        /// Window length (0: the model's context).
        max_length: usize,
        /// Stride (0: half the window).
        stride: usize,
        /// Prepend BOS.
        bos: bool,
    },
    /// Score every head on the induction probe (a random token sequence repeated).
    Probe,
    /// Sample tokens after a text.
    Continue {
        /// The text.
        text: String,
        /// Prepend BOS.
        bos: bool,
        /// Sampling settings.
        options: SamplingOptions,
    },
}

/// What the worker reports.
#[derive(Debug)]
pub enum Response {
    /// Bytes arriving for a file.
    Progress {
        /// File name.
        file: String,
        /// Bytes so far.
        done: u64,
        /// Total bytes.
        total: u64,
    },
    /// A model is ready.
    Loaded {
        /// Its name.
        name: String,
    },
    /// Loading failed; the previous model (if any) stays loaded.
    LoadFailed(String),
    /// An analysis finished.
    Analyzed {
        /// The request's generation.
        generation: u64,
        /// The result.
        analysis: Arc<Analysis>,
        /// Head-type scores of every head on this text (computed here, not on the UI thread).
        head_scores: Vec<crate::graph::heads::HeadScores>,
        /// How long it took, in milliseconds.
        millis: f64,
    },
    /// Head-type scores on the induction probe.
    ProbeScores(Vec<crate::graph::heads::HeadScores>),
    /// Tokens scored so far of a file.
    PerplexityProgress(usize, usize),
    /// A file was scored.
    PerplexityDone(Box<crate::ui::perplexity_panel::ScoredFile>),
    /// Scoring a file failed.
    PerplexityFailed(String),
    /// The text with sampled tokens appended.
    Continued(String),
    /// An analysis failed (empty text, too long, …); the previous result stays on screen.
    AnalyzeFailed {
        /// The request's generation.
        generation: u64,
        /// Why.
        message: String,
    },
}

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
            // Without a worker nothing can load; the UI reports it through the channel's closed state.
            let (dead_tx, dead_rx) = mpsc::channel();
            let _ = dead_tx.send(Response::LoadFailed(format!(
                "cannot start the worker thread: {err}"
            )));
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
        for (idx, request) in batch.into_iter().enumerate() {
            match request {
                Request::Load {
                    model,
                    offline,
                    cancel,
                } => {
                    let progress_out = outbox.clone();
                    let progress_wake = wake.clone();
                    let hub = HubOptions {
                        offline: offline || HubOptions::from_env(false).offline,
                        cancel: Some(cancel),
                        cache_dir: None,
                        endpoint: None,
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
                        .map_err(|e| e.to_string())
                        .and_then(|source| {
                            let device = DeviceKind::Cpu.open().map_err(|e| e.to_string())?;
                            Engine::load(&source, &hub, &device)
                                .map_err(|e| format!("cannot load {model}: {e}"))
                        });
                    match loaded {
                        Ok(e) => {
                            let name = e.name().to_string();
                            engine = Some(e);
                            cache = crate::model::engine::PrefixCache::default();
                            send(Response::Loaded { name });
                        }
                        Err(message) => send(Response::LoadFailed(message)),
                    }
                }
                Request::Perplexity {
                    path,
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
                        match score_file(engine, &path, max_length, stride, bos, &mut progress) {
                            Ok(scored) => send(Response::PerplexityDone(Box::new(scored))),
                            Err(message) => send(Response::PerplexityFailed(message)),
                        }
                    }
                    None => send(Response::PerplexityFailed("no model is loaded yet".into())),
                },
                Request::Probe => match &engine {
                    Some(engine) => match probe(engine) {
                        Ok(scores) => send(Response::ProbeScores(scores)),
                        Err(message) => send(Response::AnalyzeFailed {
                            generation: u64::MAX,
                            message,
                        }),
                    },
                    None => send(Response::AnalyzeFailed {
                        generation: u64::MAX,
                        message: "no model is loaded yet".into(),
                    }),
                },
                Request::Continue { text, bos, options } => match &engine {
                    Some(engine) => match engine.continue_text(&text, bos, &options) {
                        Ok(text) => send(Response::Continued(text)),
                        Err(err) => send(Response::AnalyzeFailed {
                            generation: u64::MAX,
                            message: err.to_string(),
                        }),
                    },
                    None => send(Response::AnalyzeFailed {
                        generation: u64::MAX,
                        message: "no model is loaded yet".into(),
                    }),
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
                            message: "no model is loaded yet".into(),
                        });
                        continue;
                    };
                    let start = Instant::now();
                    match engine.analyze_cached(&text, &options, &mut cache) {
                        Ok(analysis) => {
                            let millis = start.elapsed().as_secs_f64() * 1e3;
                            let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
                            let head_scores = crate::graph::heads::score_heads(
                                &analysis.attentions,
                                &ids,
                                crate::graph::heads::Exclusions::default(),
                            );
                            send(Response::Analyzed {
                                generation,
                                analysis,
                                head_scores,
                                millis,
                            })
                        }
                        Err(err) => send(Response::AnalyzeFailed {
                            generation,
                            message: err.to_string(),
                        }),
                    }
                }
            }
        }
    }
}

fn score_file(
    engine: &Engine,
    path: &str,
    max_length: usize,
    stride: usize,
    bos: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<crate::ui::perplexity_panel::ScoredFile, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        format!(
            "{path} is not valid UTF-8: invalid byte at offset {}",
            e.utf8_error().valid_up_to()
        )
    })?;
    let (ids, spans) = engine.tokenize(&text, false).map_err(|e| e.to_string())?;
    let max_length = if max_length == 0 {
        engine.info().n_positions
    } else {
        max_length
    };
    let stride = if stride == 0 {
        (max_length / 2).max(1)
    } else {
        stride
    };
    let options = crate::model::perplexity::WindowOptions {
        max_length,
        stride,
        bos,
        batch: 1,
    };
    let report = engine
        .perplexity(&ids, options, progress)
        .map_err(|e| e.to_string())?;
    let mut tokens: Vec<String> = Vec::with_capacity(ids.len() + 1);
    if bos {
        tokens.push("<|endoftext|>".into());
    }
    // A character split over tokens (an emoji's four bytes, say) is shown whole on the token where it ends, so
    // the file reads as written rather than as byte escapes.
    tokens.extend(spans.iter().map(|&(start, end)| {
        let piece = text
            .get(text.ceil_char_boundary(start)..text.ceil_char_boundary(end))
            .unwrap_or_default();
        crate::model::tokenizer::visible_whitespace(piece)
    }));
    Ok(crate::ui::perplexity_panel::ScoredFile {
        path: path.to_string(),
        max_length,
        stride,
        report,
        tokens,
    })
}

/// Head-type scores on BOS + 50 random tokens repeated (or as many as the context allows), where an induction
/// head attends, in the second half, to the token after the earlier copy of the current one.
fn probe(engine: &Engine) -> Result<Vec<crate::graph::heads::HeadScores>, String> {
    use crate::graph::heads;
    let info = engine.info();
    let bos = engine
        .tokenizer()
        .end_of_text()
        .ok_or("this tokenizer has no <|endoftext|> for the probe")?;
    let len = 50.min(info.n_positions.saturating_sub(1) / 2).max(1);
    let ids = heads::induction_probe_ids(bos, len, info.vocab_size as u32, 7);
    let attentions = engine.attentions_of_ids(&ids).map_err(|e| e.to_string())?;
    Ok(heads::score_heads(
        &attentions,
        &ids,
        heads::Exclusions::default(),
    ))
}
