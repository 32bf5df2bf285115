//! The persisted settings: one serde struct, every field defaulted, so an old or partial file still loads.

use serde::{Deserialize, Serialize};

use crate::export::Layout;
use crate::graph::{Pruning, Selection};
use crate::model::DEFAULT_MODEL;

/// The main view.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum View {
    /// The attention graph.
    Graph,
    /// The matrix as a heatmap.
    Matrix,
    /// The layer × head grid, large (the "Heads" tab; `grid`, its older name, still works).
    #[serde(alias = "Grid")]
    #[value(alias = "grid")]
    Heads,
    /// The Markov panel beside the graph of A^k.
    Markov,
    /// Sliding-window perplexity of a file (with --score-file).
    Perplexity,
    /// The lesson: the Markov reading of attention and perplexity, step by step on the text.
    Lesson,
    /// The logit lens: what each layer would predict.
    Layers,
    /// A second text beside the first: both heatmaps, the difference, and activation patching.
    Compare,
    /// Every head of one layer at once, as lines from the queries to the keys, one colour per head.
    Overlay,
}

impl View {
    /// Every view, in the order of the window's tabs.
    pub const ALL: [Self; 9] = [
        Self::Graph,
        Self::Matrix,
        Self::Overlay,
        Self::Heads,
        Self::Layers,
        Self::Compare,
        Self::Markov,
        Self::Perplexity,
        Self::Lesson,
    ];

    /// The tab's label; the command line's `--view` value is the same word in lower case.
    pub fn label(self) -> &'static str {
        match self {
            Self::Graph => "Graph",
            Self::Matrix => "Matrix",
            Self::Heads => "Heads",
            Self::Markov => "Markov",
            Self::Perplexity => "Perplexity",
            Self::Lesson => "Lesson",
            Self::Layers => "Layers",
            Self::Compare => "Compare",
            Self::Overlay => "Overlay",
        }
    }
}

/// Graph layouts in the app (the exports know arc and circle).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
pub enum GraphLayout {
    /// Tokens on a line, edges as arcs.
    Arc,
    /// Tokens on a circle.
    Circle,
    /// Force-directed, starting from the circle.
    Force,
}

impl GraphLayout {
    /// The export layout closest to this one.
    pub fn export_layout(self) -> Layout {
        match self {
            Self::Arc => Layout::Arc,
            Self::Circle | Self::Force => Layout::Circle,
        }
    }
}

/// Everything remembered between runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The model (Hub id or folder).
    pub model: String,
    /// Recently opened models, newest first.
    pub recent_models: Vec<String>,
    /// The text.
    pub text: String,
    /// Prepend `<|endoftext|>`.
    pub bos: bool,
    /// The matrix shown.
    pub selection: Selection,
    /// The reader (or the command line) chose the matrix; until then each model opens on the head with the
    /// strongest previous-token or induction pattern on the text.
    pub selection_chosen: bool,
    /// Edge pruning.
    pub pruning: Pruning,
    /// Graph layout.
    pub layout: GraphLayout,
    /// Main view.
    pub view: View,
    /// Log colour scale for edge weights.
    pub log_scale: bool,
    /// What the edges of the graph and the heatmap weigh: attention, or what flows.
    pub edge_weight: crate::graph::EdgeWeight,
    /// Dark theme.
    pub dark: bool,
    /// k of the Markov view's A^k.
    pub markov_steps: usize,
    /// Teleport α of the ranking.
    pub teleport: f64,
    /// How "Continue" samples.
    pub sampling: crate::model::generate::SamplingOptions,
    /// Folder the quick export buttons write to (`None`: `attngraph-exports` in the working folder).
    pub export_dir: Option<std::path::PathBuf>,
    /// The lesson's language.
    pub lang: crate::lesson::steps::Lang,
    /// The lesson's step (from 0).
    pub lesson_step: usize,
    /// The Compare view's second text.
    pub compare_text: String,
    /// The Compare view compares this matrix of the same text instead of a second text.
    pub compare_head: Option<Selection>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model: DEFAULT_MODEL.to_string(),
            recent_models: Vec::new(),
            export_dir: None,
            lang: crate::lesson::steps::Lang::default(),
            lesson_step: 0,
            compare_text: "I hate tennis.".to_string(),
            compare_head: None,
            text: "I love tennis.".to_string(),
            bos: true,
            selection: Selection::Head { layer: 0, head: 0 },
            selection_chosen: false,
            pruning: Pruning {
                threshold: 0.02,
                ..Pruning::default()
            },
            layout: GraphLayout::Arc,
            view: View::Graph,
            log_scale: false,
            edge_weight: crate::graph::EdgeWeight::Attention,
            dark: true,
            markov_steps: 1,
            teleport: crate::markov::DEFAULT_TELEPORT,
            sampling: crate::model::generate::SamplingOptions::default(),
        }
    }
}

/// The key under which eframe stores the settings.
pub const SETTINGS_KEY: &str = "attngraph.settings";

/// Reads settings from their stored text; a corrupt or foreign value falls back to defaults with a notice.
pub fn from_stored(text: Option<&str>) -> (Settings, Option<String>) {
    match text {
        None => (Settings::default(), None),
        Some(text) => match serde_json::from_str::<Settings>(text) {
            Ok(mut s) => {
                // Saved before the app picked a head for the reader: a selection other than the default was
                // theirs.
                if !text.contains("selection_chosen")
                    && s.selection != Settings::default().selection
                {
                    s.selection_chosen = true;
                }
                (s, None)
            }
            Err(err) => (
                Settings::default(),
                Some(format!(
                    "saved settings could not be read ({err}); using defaults"
                )),
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corrupt_and_partial_settings() {
        let (s, notice) = from_stored(Some("{ not json"));
        assert_eq!(s, Settings::default());
        assert!(notice.unwrap().contains("using defaults"));
        let (s, notice) = from_stored(Some(r#"{"text":"hello","unknown_field":3}"#));
        assert_eq!((s.text.as_str(), s.bos, notice), ("hello", true, None));
    }
}
