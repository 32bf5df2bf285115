//! What an edge weighs: the attention weight α_ij ("token i looks at token j"), or the norm of what the edge
//! carries, ‖α_ij f(x_j)‖ (Kobayashi et al., 2020: how much of token j reaches token i), either relative to the
//! largest edge of the matrix or as each row's share.

use super::matrix::Matrix;
use super::select::{head_matrix, select, SelectError, Selection};
use crate::model::flow::FlowParts;
use crate::model::Attentions;

/// What an edge's weight is.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum EdgeWeight {
    /// The attention weight α_ij: rows sum to 1, a Markov chain.
    #[default]
    Attention,
    /// ‖α_ij f(x_j)‖, what the edge carries, divided by the largest in the matrix (1 = the largest flow).
    Norm,
    /// ‖α_ij f(x_j)‖ divided by its row's sum: each token's share of what flows into it (rows sum to 1 again).
    NormShare,
}

impl EdgeWeight {
    /// How exports name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Attention => "attention",
            Self::Norm => "norm",
            Self::NormShare => "norm_share",
        }
    }

    /// What it means, for legends and file headers.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Attention => "attention weight α",
            Self::Norm => "what flows ||α·f(x)||, relative to the largest edge",
            Self::NormShare => "share of what flows into each token, ||α·f(x)|| / row sum",
        }
    }
}

/// Why a matrix cannot be weighted by what flows.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum WeightError {
    /// The attention itself could not be selected.
    #[error(transparent)]
    Select(#[from] SelectError),
    /// An aggregate with no norm of its own.
    #[error("what flows is defined for one head or one layer (its heads together); {0} has none: choose a head or a layer's mean, or weigh edges by attention")]
    Selection(String),
    /// The norms are not this text's (or have not arrived).
    #[error("the norms of what flows are not those of this text")]
    Parts,
}

/// The matrix of `selection` weighted by `weight`, and for [`EdgeWeight::Norm`] the largest raw norm the matrix
/// was divided by. `flow` must be the parts of the text `attentions` belong to.
pub fn weigh(
    attentions: &Attentions,
    selection: Selection,
    weight: EdgeWeight,
    flow: Option<&FlowParts>,
) -> Result<(Matrix, Option<f64>), WeightError> {
    if weight == EdgeWeight::Attention {
        return Ok((select(attentions, selection)?, None));
    }
    // The selection is checked (range, flow's length) before its norms are made.
    select(attentions, selection)?;
    let flow = flow.ok_or(WeightError::Parts)?;
    let raw = match selection {
        Selection::Head { layer, head } => {
            flow.head(layer, head, &head_matrix(attentions, layer, head))
        }
        Selection::LayerMean(layer) => {
            let heads: Vec<Matrix> = (0..attentions.n_head())
                .map(|h| head_matrix(attentions, layer, h))
                .collect();
            flow.layer(layer, &heads)
        }
        other => return Err(WeightError::Selection(other.label())),
    }
    .ok_or(WeightError::Parts)?;
    Ok(match weight {
        EdgeWeight::NormShare => {
            let rows: Vec<Vec<f64>> = raw
                .iter_rows()
                .map(|row| {
                    let sum: f64 = row.iter().sum();
                    row.iter()
                        .map(|v| if sum > 0.0 { v / sum } else { 0.0 })
                        .collect()
                })
                .collect();
            (Matrix::from_rows(&rows).ok_or(WeightError::Parts)?, None)
        }
        _ => {
            let max = raw.iter_rows().flatten().fold(0.0f64, |m, &v| m.max(v));
            let scale = if max > 0.0 { 1.0 / max } else { 0.0 };
            (raw.blend(scale, &raw, 0.0), Some(max))
        }
    })
}
