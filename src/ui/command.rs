//! What a panel asks the app to do. Panels draw and edit their own state; anything that reaches beyond it
//! (the worker, a dialog, an export, another panel) comes back as a [`Command`], and the app applies every
//! command in one place (`AttnApp::apply`).

use crate::export::Format;
use crate::graph::Selection;

/// What the head grid's cells are coloured by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum GridColour {
    /// Each head's attention pattern, as a thumbnail.
    #[default]
    Patterns,
    /// Each head's direct contribution to the logit of the chosen token (direct logit attribution).
    Contribution,
    /// How much the chosen token's log-probability drops when the head alone is knocked out.
    KnockOut,
}

impl GridColour {
    /// The button's label in the window, the same word as the command line's `--colour` value.
    pub fn label(self) -> &'static str {
        match self {
            Self::Patterns => "patterns",
            Self::Contribution => "contribution",
            Self::KnockOut => "knock-out",
        }
    }
}

/// What the Layers view's cells are coloured by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LensColour {
    /// The top guess's probability.
    #[default]
    TopGuess,
    /// The probability of the token that actually comes next.
    NextToken,
}

/// What to export of the heads' effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EffectExport {
    /// The direct logit attribution, as CSV.
    AttributionCsv,
    /// The direct logit attribution, as JSON.
    AttributionJson,
    /// The knock-out sweep, as CSV.
    SweepCsv,
    /// The knock-out sweep, as JSON.
    SweepJson,
    /// The grid as coloured now, as SVG.
    GridSvg,
    /// The grid as coloured now, as PNG.
    GridPng,
    /// The logit lens of the text on screen, as CSV.
    LensCsv,
    /// The logit lens of the text on screen, as JSON.
    LensJson,
    /// The Layers view's grid as coloured now, as SVG.
    LensSvg,
    /// The Layers view's grid as coloured now, as PNG.
    LensPng,
}

/// What to save of a patching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PatchExport {
    /// One row per head and per (layer, position).
    Csv,
    /// `attngraph patch --format json`'s object.
    Json,
    /// The two grids as SVG.
    Svg,
    /// The two grids as PNG.
    Png,
}

/// A request from a panel.
#[must_use = "a panel's command does nothing until the app applies it"]
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// Load this model (a Hub id or a folder).
    LoadModel(String),
    /// Ask for a model folder with a file dialog.
    BrowseModelFolder,
    /// Abandon the download in progress.
    CancelDownload,
    /// Hide the line about the model fetched in the background.
    DismissPrefetch,
    /// The text was typed in; analyse it after the debounce.
    TextEdited,
    /// Keep the first this many bytes of a text too long for the model, the whole kept to put back.
    CutText(usize),
    /// Put back the whole text that [`Command::CutText`] cut.
    UncutText,
    /// Analyse the text now (BOS was switched).
    Reanalyze,
    /// Sample tokens after the text and append them.
    Continue,
    /// Switch between the dark and light theme.
    SetDark(bool),
    /// Show this matrix; `open_graph` also switches from the Heads view to the graph.
    Select {
        /// The matrix.
        selection: Selection,
        /// Leave the Heads view for the graph.
        open_graph: bool,
    },
    /// Badges in the head grid from the induction probe (true) or from the text (false).
    ProbeBadges(bool),
    /// The token the graph's pointer is over and the one clicked, if any.
    Focus {
        /// Under the pointer.
        hovered: Option<usize>,
        /// Clicked.
        pinned: Option<usize>,
    },
    /// Draw A^k in the Markov view.
    MarkovSteps(usize),
    /// Export the selection with a save dialog.
    SaveAs,
    /// Export the selection to the quick-export folder.
    QuickExport(Format),
    /// Choose the quick-export folder with a dialog.
    BrowseExportFolder,
    /// Save the analysis on screen for NumPy (.npz) in the quick-export folder.
    ExportNpz,
    /// Score the file named in the Perplexity tab.
    ScoreFile,
    /// Score the text being analysed in the Perplexity tab.
    ScoreText,
    /// Put back the whole text of which the part the model reads was kept, and score it in the Perplexity tab.
    ScoreWholeText,
    /// Choose the file to score with a dialog.
    BrowseTextFile,
    /// Save the Perplexity tab's scoring, one CSV row per scored token, in the quick-export folder.
    ExportPerToken,
    /// Explain the prediction of the token at this position (clicked in the probability panel).
    Predict(usize),
    /// Colour the head grid by this.
    GridColour(GridColour),
    /// Knock out this head, or bring it back, and read the text again.
    ToggleKnockOut {
        /// Layer.
        layer: usize,
        /// Head.
        head: usize,
    },
    /// Bring back every knocked-out head.
    RestoreHeads,
    /// Knock heads out with zeros or with their means from now on (the knock-out and the sweep read again).
    KnockOutBy(crate::model::ablation::Replacement),
    /// Knock out every head alone, in turn, to see which ones the chosen prediction needs.
    Sweep,
    /// Save the heads' effects to the quick-export folder.
    ExportEffects(EffectExport),
    /// Show only these queries (first, last) in the graph; `None` for all.
    TokenWindow(Option<(usize, usize)>),
    /// Switch to this view.
    ShowView(super::settings::View),
    /// Show this step of the lesson (from 0).
    LessonStep(usize),
    /// Teach in this language.
    LessonLang(crate::lesson::steps::Lang),
    /// The reader picked this answer to the step's question.
    LessonChoose(usize),
    /// Check the reader's answer on their text.
    LessonCheck,
    /// The compared text was edited; read it after the debounce.
    CompareText(String),
    /// Patch from the text on screen into the compared one.
    Patch(crate::session::PatchKey),
    /// Save the patching on screen.
    ExportPatch(PatchExport),
    /// Measure the patching of these two texts by these two tokens (the reader's choice).
    PatchTokens(crate::session::PatchKey),
    /// Compare another matrix of the same text (`Some`) or another text (`None`).
    CompareHead(Option<Selection>),
    /// Colour the Layers view's cells by this.
    LensColour(LensColour),
    /// Plot this column's climb in the Layers view (`None`: close the plot).
    LensColumn(Option<usize>),
    /// Open the lesson's figure before answering (the answer then counts as no prediction).
    LessonShowFigure,
}
