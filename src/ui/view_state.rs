//! What the app shows of the analysis beyond the settings: the snapshot of the selected matrix (computed on the
//! snapshot thread), the graph built from it, the heads' thumbnails, the hovered and pinned tokens, and where
//! the grid's badges come from.

use std::sync::Arc;

pub use super::command::GridColour;
use super::graph_view::{self, ViewGraph};
use super::notice::Notice;
use super::settings::{GraphLayout, Settings, View};
use super::thumbnails::Thumbnails;
use crate::export::Snapshot;
use crate::graph::EdgeWeight;
use crate::model::flow::FlowParts;
use crate::model::{Analysis, HeadSet};
use crate::session::deriver::{DeriveRequest, Deriver, SnapshotKey};

/// What the graph was built for: rebuilt (cheap: only the kept edges) when any of it changes.
#[derive(Clone, Copy, Debug, PartialEq)]
struct GraphKey {
    layout: GraphLayout,
    log_scale: bool,
    focus: Option<usize>,
    window: Option<(usize, usize)>,
}

/// The snapshot on screen and the graph drawn from it.
pub struct Shown {
    key: SnapshotKey,
    graph_key: GraphKey,
    /// The snapshot, shared with export threads.
    pub snapshot: Arc<Snapshot>,
    /// The graph the view draws.
    pub graph: ViewGraph,
    /// Counts the snapshots shown: a new number for each, so pictures cached from one are never shown for
    /// another.
    pub serial: u64,
}

/// The view's state.
pub struct ViewState {
    deriver: Deriver,
    /// The snapshot whose computation failed (reported once, not asked for again until something changes).
    failed: Option<SnapshotKey>,
    shown: Option<Shown>,
    /// The token under the graph's pointer.
    pub hovered: Option<usize>,
    /// The token clicked in the graph.
    pub pinned: Option<usize>,
    /// The heads' thumbnails.
    pub thumbnails: Thumbnails,
    /// Whether the grid's badges come from the induction probe rather than the text.
    pub badges_from_probe: bool,
    /// What the head grid's cells are coloured by.
    pub grid_colour: GridColour,
    /// The token whose prediction the grid's colours explain (clicked in the probability panel; ≥ 1).
    pub predicted: Option<usize>,
    /// The heads knocked out: the analysis is of the model without them.
    pub knocked_out: HeadSet,
    /// What the knocked-out heads' values become (and each head's in the sweep): zeros or their means.
    pub knock_out_by: crate::model::ablation::Replacement,
    /// The reader's answer on the lesson's current step.
    pub prediction: super::lesson_view::Prediction,
    /// What the Layers view's cells are coloured by.
    pub lens_colour: super::command::LensColour,
    /// The Layers view's column whose climb is plotted.
    pub lens_column: Option<usize>,
    /// Whether a font with Chinese characters was found (else the Chinese lesson would show boxes).
    pub chinese_font: bool,
    /// The queries the graph shows (first, last); `None` for all.
    pub window: Option<(usize, usize)>,
    /// The tokens the reader chose to measure patching by, for the two texts it names.
    pub patch_choice: Option<crate::session::PatchKey>,
    /// Which heads of the layer the Overlay view draws (all, for a model not seen yet).
    pub overlay_heads: Vec<bool>,
}

impl ViewState {
    /// The heads knocked out and what their values become, as the lens is asked for and kept.
    pub fn knock_out(&self) -> crate::model::ablation::KnockOut {
        crate::model::ablation::KnockOut {
            heads: self.knocked_out.clone(),
            replacement: self.replacement(),
        }
    }

    /// What the knocked-out heads' values become in a reading: the choice, or zero ablation where no head is
    /// knocked out (the intact model, however it would be knocked out), so that a choice alone reads nothing
    /// again.
    pub fn replacement(&self) -> crate::model::ablation::Replacement {
        if self.knocked_out.is_empty() {
            Default::default()
        } else {
            self.knock_out_by
        }
    }

    /// The tokens activation patching measures for texts `a` and `b`: the reader's choice where it was made on
    /// these two texts, else the default for them.
    pub fn patch_key(&self, a: &Analysis, b: &Analysis) -> Option<crate::session::PatchKey> {
        super::compare_view::patch_key(a, b, self.patch_choice.as_ref())
    }

    /// Starts the snapshot thread; `wake` is called when a snapshot is ready.
    pub fn spawn(wake: impl Fn() + Send + 'static) -> Self {
        Self {
            deriver: Deriver::spawn(wake),
            failed: None,
            shown: None,
            hovered: None,
            pinned: None,
            thumbnails: Thumbnails::default(),
            badges_from_probe: false,
            grid_colour: GridColour::default(),
            predicted: None,
            knocked_out: HeadSet::default(),
            knock_out_by: Default::default(),
            prediction: Default::default(),
            chinese_font: true,
            lens_colour: Default::default(),
            lens_column: None,
            window: None,
            patch_choice: None,
            overlay_heads: Vec::new(),
        }
    }

    /// The snapshot and graph on screen.
    pub fn shown(&self) -> Option<&Shown> {
        self.shown.as_ref()
    }

    /// The snapshot and graph on screen, to draw the graph (which keeps its interaction state).
    pub fn shown_mut(&mut self) -> Option<&mut Shown> {
        self.shown.as_mut()
    }

    /// Whether a snapshot was asked for and has not arrived.
    pub fn busy(&self) -> bool {
        self.deriver.busy()
    }

    /// The token the graph highlights: the pinned one, else the hovered one.
    pub fn focus(&self) -> Option<usize> {
        self.pinned.or(self.hovered)
    }

    /// Asks for a new snapshot when the analysis (of `generation`) or a control changed, takes the one that
    /// arrived, and rebuilds the graph when the snapshot or the focus changed. A failure comes back as a notice.
    pub fn update(
        &mut self,
        analysis: &Arc<Analysis>,
        generation: u64,
        model: &str,
        s: &Settings,
        flow: Option<&Arc<FlowParts>>,
    ) -> Option<Notice> {
        let (pruning, automatic_top_k) = s.pruning.shown(analysis.tokens.len());
        // Edges weigh what flows once its parts are here (attention until then); the Markov view is always
        // attention, the chain itself.
        let weight = match (s.edge_weight, flow, s.view) {
            (_, _, View::Markov) | (EdgeWeight::Attention, _, _) | (_, None, _) => {
                EdgeWeight::Attention
            }
            (weight, Some(_), _) => weight,
        };
        let key = SnapshotKey {
            analysis: generation,
            selection: s.selection,
            pruning,
            automatic_top_k,
            layout: s.layout.export_layout(),
            teleport: s.teleport,
            steps: if s.view == View::Markov {
                s.markov_steps
            } else {
                1
            },
            weight,
        };
        if self.shown.as_ref().map(|d| d.key) != Some(key) && self.failed != Some(key) {
            self.deriver.request(DeriveRequest {
                key,
                analysis: Arc::clone(analysis),
                model: model.to_string(),
                flow: (weight != EdgeWeight::Attention)
                    .then(|| flow.map(Arc::clone))
                    .flatten(),
            });
        }
        let graph_key = GraphKey {
            layout: s.layout,
            log_scale: s.log_scale,
            focus: self.focus(),
            window: self.window.filter(|&(_, b)| b < analysis.tokens.len()),
        };
        let pinned = self.pinned;
        let build = |snapshot: &Snapshot| {
            let mut graph = graph_view::build(
                &snapshot.graph,
                &snapshot.geometry,
                snapshot.layout,
                graph_key.log_scale,
                graph_key
                    .focus
                    .filter(|&f| f < snapshot.graph.token_count()),
                graph_key.window,
            );
            // The graph's selection is what pins a token: a rebuilt graph keeps the pinned one selected (and
            // one pinned from the command line shows as pinned).
            if let Some(node) =
                pinned.and_then(|p| graph.node_mut(petgraph::graph::NodeIndex::new(p)))
            {
                node.set_selected(true);
            }
            graph
        };
        match self.deriver.poll() {
            Some((key, Ok(snapshot))) => {
                let serial = self.shown.as_ref().map_or(0, |s| s.serial) + 1;
                self.shown = Some(Shown {
                    key,
                    graph_key,
                    graph: build(&snapshot),
                    snapshot: Arc::new(snapshot),
                    serial,
                });
                None
            }
            Some((key, Err(err))) => {
                self.failed = Some(key);
                Some(Notice::failed(format!("cannot show this matrix: {err}")))
            }
            None => {
                if let Some(d) = self.shown.as_mut().filter(|d| d.graph_key != graph_key) {
                    d.graph = build(&d.snapshot);
                    d.graph_key = graph_key;
                }
                None
            }
        }
    }
}
