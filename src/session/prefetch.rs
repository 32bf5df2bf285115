//! GPT-2 fetched into the Hub cache in the background while a first run shows the demo model, on a thread of
//! its own so that the worker keeps analysing meanwhile.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

use super::{Download, Prefetch, PrefetchMessage, Session};
use crate::model::loader::{self, LoadError};
use crate::model::{HubOptions, ModelSource};

impl Session {
    /// Fetches the Hub model `repo` into the cache on a thread of its own, without loading it; its state is
    /// [`Session::prefetch`]. The cache and the Hub are those of [`Session::set_hub`].
    pub fn start_prefetch(&mut self, repo: &str) {
        let mut hub = HubOptions::from_env(false);
        hub.cache_dir = self.hub_cache.clone();
        hub.endpoint = self.hub_endpoint.clone();
        let (outbox, inbox) = mpsc::channel();
        let (progress_out, progress_wake) = (outbox.clone(), Arc::clone(&self.wake));
        hub.progress = Some(Arc::new(move |file: &str, done, total| {
            let _ = progress_out.send(PrefetchMessage::Progress(file.to_string(), done, total));
            progress_wake();
        }));
        self.prefetch_cancel = Arc::new(AtomicBool::new(false));
        hub.cancel = Some(Arc::clone(&self.prefetch_cancel));
        let (source, wake) = (ModelSource::parse(repo), Arc::clone(&self.wake));
        let spawned = std::thread::Builder::new()
            .name("attngraph-prefetch".into())
            .spawn(move || {
                let result = source
                    .and_then(|source| loader::resolve(&source, &hub))
                    .map(|_| ());
                let _ = outbox.send(PrefetchMessage::Done(result));
                wake();
            });
        self.prefetch = Some((
            repo.to_string(),
            match spawned {
                Ok(_) => Prefetch::Downloading(None),
                Err(err) => Prefetch::Failed(LoadError::Download {
                    repo: repo.to_string(),
                    file: "(all)".into(),
                    endpoint: String::new(),
                    message: format!("cannot start a download thread: {err}"),
                }),
            },
        ));
        self.prefetch_inbox = Some(inbox);
    }

    /// The model being fetched in the background and how far it got.
    pub fn prefetch(&self) -> Option<(&str, &Prefetch)> {
        self.prefetch
            .as_ref()
            .map(|(repo, state)| (repo.as_str(), state))
    }

    /// Forgets the background fetch (its model was loaded, or the reader dismissed the offer), stopping its
    /// download if it still runs (the partial file stays in the cache for a later resume).
    pub fn dismiss_prefetch(&mut self) {
        self.prefetch_cancel.store(true, Ordering::Relaxed);
        self.prefetch = None;
        self.prefetch_inbox = None;
    }

    pub(super) fn poll_prefetch(&mut self) {
        let (Some(inbox), Some((repo, state))) = (&self.prefetch_inbox, &mut self.prefetch) else {
            return;
        };
        while let Ok(message) = inbox.try_recv() {
            *state = match message {
                PrefetchMessage::Progress(file, done, total) => {
                    let started = match state {
                        Prefetch::Downloading(Some(d)) if d.file == file => d.started,
                        _ => Instant::now(),
                    };
                    Prefetch::Downloading(Some(Download {
                        file,
                        done,
                        total,
                        started,
                    }))
                }
                PrefetchMessage::Done(Ok(())) => Prefetch::Ready(repo.clone()),
                PrefetchMessage::Done(Err(err)) => Prefetch::Failed(err),
            };
        }
    }
}
