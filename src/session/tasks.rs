//! What the side tasks answer about and with: the text they were asked for, the task named in a failure, and
//! the lesson's numbers with the head's scores, made on the worker.

use super::scoring::ScoringError;
use crate::graph::Matrix;
use crate::lesson::explain::{explain, Explanation};
use crate::model::{AnalyzeOptions, Engine, EngineError, KeepScores};

/// Why a request to the worker failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    /// A request that needs a model came before one was loaded.
    #[error("no model is loaded yet")]
    NoModel,
    /// Loading the model failed; the previous model (if any) stays loaded.
    #[error("cannot load {model}: {source}")]
    Load {
        /// The `--model` string.
        model: String,
        /// Why.
        source: EngineError,
    },
    /// The engine refused the text or failed on it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Scoring a file failed.
    #[error(transparent)]
    Scoring(#[from] ScoringError),
    /// The lesson's numbers could not be made.
    #[error(transparent)]
    Explain(#[from] crate::lesson::explain::ExplainError),
    /// The worker thread could not be started.
    #[error("cannot start the worker thread: {0}")]
    NoThread(std::io::Error),
}

/// A text and whether BOS was prepended: what an attribution or a sweep answers about, so an answer that
/// arrives after the text changed is not shown against the new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextKey {
    /// The text.
    pub text: String,
    /// BOS prepended.
    pub bos: bool,
}

/// Two texts and the two tokens activation patching compares: what a patching answers about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatchKey {
    /// The text whose pieces are put back (the text on screen).
    pub clean: String,
    /// The text patched (the compared one).
    pub corrupt: String,
    /// BOS first in both.
    pub bos: bool,
    /// The token the clean text leads to.
    pub answer: u32,
    /// The token the corrupt text leads to instead.
    pub wrong: u32,
}

/// The lesson's numbers for a text and head, and the head's pre-softmax scores (its figure).
#[derive(Debug)]
pub struct Explained {
    /// The text.
    pub key: TextKey,
    /// The numbers.
    pub explanation: Explanation,
    /// The head's scores QKᵀ/√d before the mask.
    pub scores: Matrix,
    /// The last token's row: what the head moves from each token, α_ij ‖f_h(x_j)‖ (see
    /// [`crate::model::norms`]), beside its attention weights α_ij.
    pub carried: Vec<f64>,
}

/// A task besides the analysis, named in its failure so that only its own state is reset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideTask {
    /// The induction probe.
    Probe,
    /// Continue ▸.
    Continue,
    /// An attribution: the text and the position.
    Attribute(TextKey, usize),
    /// The lesson's numbers: the text and the head.
    Explain(TextKey, usize, usize),
    /// A knock-out sweep.
    Sweep(TextKey, crate::model::ablation::Replacement),
    /// The logit lens of the text with these heads knocked out.
    Lens(TextKey, crate::model::ablation::KnockOut),
}

impl SideTask {
    /// The text the task was for (none for the probe and Continue).
    pub fn key(&self) -> Option<&TextKey> {
        match self {
            Self::Attribute(key, _)
            | Self::Explain(key, _, _)
            | Self::Sweep(key, _)
            | Self::Lens(key, _) => Some(key),
            Self::Probe | Self::Continue => None,
        }
    }
}

/// Reads `key`'s text with scores kept and explains head `layer`.`head`.
pub(super) fn explained(
    engine: &Engine,
    key: TextKey,
    layer: usize,
    head: usize,
) -> Result<Explained, Box<TaskError>> {
    let failed = |e: TaskError| Box::new(e);
    let analysis = engine
        .analyze(
            &key.text,
            &AnalyzeOptions {
                bos: key.bos,
                top_k: 1,
                keep_scores: KeepScores::Layer(layer),
                ..Default::default()
            },
        )
        .map_err(|e| failed(e.into()))?;
    let explanation = explain(&analysis, layer, head).map_err(|e| failed(e.into()))?;
    let scores = crate::lesson::explain::score_matrix(&analysis, layer, head)
        .ok_or_else(|| failed(crate::lesson::explain::ExplainError::NoScores.into()))?;
    let ids: Vec<u32> = analysis.tokens.iter().map(|t| t.id).collect();
    let value_norms = crate::model::norms::value_norms_of_layer(engine, &ids, layer)
        .map_err(|e| failed(e.into()))?;
    let (Some(norms), Some(last)) = (value_norms.get(head), ids.len().checked_sub(1)) else {
        return Err(failed(
            EngineError::Internal("no value norms for the explained head").into(),
        ));
    };
    // α of the last row times each token's value norm.
    let carried = norms
        .iter()
        .enumerate()
        .map(|(j, n)| f64::from(analysis.attentions.get(layer, head, last, j)) * n)
        .collect();
    Ok(Explained {
        key,
        explanation,
        scores,
        carried,
    })
}
