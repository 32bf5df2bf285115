//! What the edges carry (Kobayashi et al., 2020, "Attention is Not Only a Weight"): an attention weight says
//! how much token i looks at token j, not how much of j reaches i. Each head's edge is weighted by the norm of
//! what it moves, N_h[i][j] = ‖α_ij f_h(x_j)‖ = α_ij ‖f_h(x_j)‖, with f_h(x) = (ln_1(x) W_V^h + b_V^h) W_O^h;
//! a layer's edge by the norm of what all its heads move together, N[i][j] = ‖Σ_h α^h_ij f_h(x_j)‖.

use serde::Serialize;

use super::head_set::HeadSet;
use super::{Analysis, Engine, EngineError};
use crate::graph::Matrix;

/// The norms of one text.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Norms {
    /// [layer][head][query][key]: α_ij ‖f_h(x_j)‖ (0 where masked).
    pub norms: Vec<Vec<Vec<Vec<f64>>>>,
    /// [layer][query][key]: ‖Σ_h α^h_ij f_h(x_j)‖ (0 where masked).
    pub layer_norms: Vec<Vec<Vec<f64>>>,
    /// [layer][head][token]: ‖f_h(x_j)‖.
    pub value_norms: Vec<Vec<Vec<f64>>>,
}

/// ‖f_h(x_j)‖ of every head of one `layer` for the token ids `ids`: [head][token]. One layer's values only, so
/// it stays cheap on long texts (the lesson asks for the head it teaches with).
pub fn value_norms_of_layer(
    engine: &Engine,
    ids: &[u32],
    layer: usize,
) -> Result<Vec<Vec<f64>>, EngineError> {
    let model = engine.model();
    let trace = model.trace(ids, &HeadSet::default())?;
    let traced = trace
        .layers
        .get(layer)
        .ok_or(EngineError::Internal("the trace has no such layer"))?;
    let f = model.value_outputs(layer, &traced.input)?; // (n_head, t, n_embd)
    let norms = f.sqr()?.sum(2)?.sqrt()?; // (n_head, t)
    Ok(norms
        .to_vec2::<f32>()?
        .into_iter()
        .map(|row| row.into_iter().map(f64::from).collect())
        .collect())
}

impl Norms {
    /// The norms of an analysis made with [`crate::model::AnalyzeOptions::norms`]: every head's and layer's edge
    /// norms from its attention and [`Analysis::flow`], in the same pass as the analysis.
    pub fn of(analysis: &Analysis) -> Result<Self, EngineError> {
        let parts = analysis.flow.as_deref().ok_or(EngineError::Internal(
            "the norms of an analysis made without them",
        ))?;
        let info = &analysis.model;
        let mut out = Self {
            norms: Vec::new(),
            layer_norms: Vec::new(),
            value_norms: Vec::new(),
        };
        let missing = || EngineError::Internal("the norms and the attention disagree in size");
        for layer in 0..info.n_layer {
            let heads: Vec<Matrix> = (0..info.n_head)
                .map(|h| crate::graph::head_matrix(&analysis.attentions, layer, h))
                .collect();
            let mut head_norms = Vec::with_capacity(info.n_head);
            let mut value_norms = Vec::with_capacity(info.n_head);
            for (h, a) in heads.iter().enumerate() {
                head_norms.push(parts.head(layer, h, a).ok_or_else(missing)?.rows());
                value_norms.push(parts.value_norms(layer, h).ok_or_else(missing)?.to_vec());
            }
            out.norms.push(head_norms);
            out.layer_norms
                .push(parts.layer(layer, &heads).ok_or_else(missing)?.rows());
            out.value_norms.push(value_norms);
        }
        Ok(out)
    }
}
