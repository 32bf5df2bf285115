//! The snapshot thread: the selected matrix, its pruned edges, the Markov report and A^k are computed here,
//! not on the UI thread (rollout or the absorption statistics of a 1,024-token text take longer than a frame).
//! It is separate from the model worker so that changing a control never waits behind a running analysis.
//! Only the newest request is computed; older ones still queued are dropped.

use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;

use crate::export::{Layout, Snapshot, SnapshotError};
use crate::graph::{EdgeWeight, Pruning, Selection};
use crate::model::flow::FlowParts;
use crate::model::Analysis;

/// Everything a snapshot depends on; two requests with equal keys give the same snapshot.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnapshotKey {
    /// The generation of the analysis (see [`super::Session::shown_generation`]).
    pub analysis: u64,
    /// The matrix.
    pub selection: Selection,
    /// Edge pruning.
    pub pruning: Pruning,
    /// Whether `pruning`'s top-k was added automatically for a long text ([`Pruning::shown`]).
    pub automatic_top_k: bool,
    /// Node positions.
    pub layout: Layout,
    /// Teleport α of the ranking.
    pub teleport: f64,
    /// k of A^k drawn (1: A itself).
    pub steps: usize,
    /// What the edges weigh.
    pub weight: EdgeWeight,
}

/// A snapshot to compute.
#[derive(Clone, Debug)]
pub struct DeriveRequest {
    /// What it depends on; comes back with the snapshot.
    pub key: SnapshotKey,
    /// The analysis of generation `key.analysis`.
    pub analysis: Arc<Analysis>,
    /// Model name for the snapshot.
    pub model: String,
    /// What each head moves from each token of the analysed text, when edges weigh what flows.
    pub flow: Option<Arc<FlowParts>>,
}

/// A finished snapshot, or why the selection cannot be shown, with the key it was asked for.
pub type Derived = (SnapshotKey, Result<Snapshot, SnapshotError>);

/// The UI's handle on the snapshot thread.
pub struct Deriver {
    requests: Option<Sender<DeriveRequest>>,
    answers: Receiver<Derived>,
    /// An answer computed on the UI thread because the thread could not be started.
    local: Option<Derived>,
    pending: Option<SnapshotKey>,
}

impl Deriver {
    /// Starts the thread; `wake` is called after each answer.
    pub fn spawn(wake: impl Fn() + Send + 'static) -> Self {
        let (requests, inbox) = mpsc::channel::<DeriveRequest>();
        let (outbox, answers) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("attngraph-snapshot".into())
            .spawn(move || {
                while let Ok(mut request) = inbox.recv() {
                    // Skip to the newest request.
                    while let Ok(newer) = inbox.try_recv() {
                        request = newer;
                    }
                    if outbox.send((request.key, derive(&request))).is_err() {
                        return;
                    }
                    wake();
                }
            });
        Self {
            requests: spawned.ok().map(|_| requests),
            answers,
            local: None,
            pending: None,
        }
    }

    /// Asks for the snapshot of `request` unless it is the one already asked for.
    pub fn request(&mut self, request: DeriveRequest) {
        if self.pending == Some(request.key) {
            return;
        }
        self.pending = Some(request.key);
        let unsent = match &self.requests {
            Some(sender) => sender.send(request).err().map(|e| e.0),
            None => Some(request),
        };
        // No thread (it could not be started or has stopped): compute here rather than show nothing.
        if let Some(request) = unsent {
            let answer = derive(&request);
            self.local = Some((request.key, answer));
        }
    }

    /// The newest finished snapshot, if one arrived since the last call.
    pub fn poll(&mut self) -> Option<Derived> {
        let mut newest = self.local.take();
        while let Ok(answer) = self.answers.try_recv() {
            newest = Some(answer);
        }
        if let Some((key, _)) = &newest {
            if self.pending.as_ref() == Some(key) {
                self.pending = None;
            }
        }
        newest
    }

    /// Whether a snapshot was asked for and has not arrived yet.
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }
}

/// The snapshot of a request; with `steps > 1` the edges are those of A^k and the statistics stay those of A.
pub fn derive(r: &DeriveRequest) -> Result<Snapshot, SnapshotError> {
    let k = &r.key;
    let mut snapshot = Snapshot::weighted(
        &r.model,
        &r.analysis,
        k.selection,
        k.pruning,
        k.layout,
        k.teleport,
        1,
        k.weight,
        r.flow.as_deref(),
    )?;
    snapshot.automatic_top_k = k.automatic_top_k;
    if k.steps > 1 {
        snapshot.with_power_edges(k.steps)
    } else {
        Ok(snapshot)
    }
}
