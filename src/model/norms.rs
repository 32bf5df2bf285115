//! What the edges carry (Kobayashi et al., 2020, "Attention is Not Only a Weight"): an attention weight says
//! how much token i looks at token j, not how much of j reaches i. Each head's edge is weighted by the norm of
//! what it moves, N_h[i][j] = ‖α_ij f_h(x_j)‖ = α_ij ‖f_h(x_j)‖, with f_h(x) = (ln_1(x) W_V^h + b_V^h) W_O^h;
//! a layer's edge by the norm of what all its heads move together, N[i][j] = ‖Σ_h α^h_ij f_h(x_j)‖.

use serde::Serialize;

use super::ablation::checked_ids;
use super::head_set::HeadSet;
use super::{Engine, EngineError};

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

/// The norms of `text` (BOS prepended if `bos`).
pub fn norms(engine: &Engine, text: &str, bos: bool) -> Result<Norms, EngineError> {
    let ids = checked_ids(engine, text, bos)?;
    let model = engine.model();
    let trace = model.trace(&ids, &HeadSet::default())?;
    let attentions = engine.attentions_of_ids(&ids)?;
    let t = ids.len();
    let mut out = Norms {
        norms: Vec::new(),
        layer_norms: Vec::new(),
        value_norms: Vec::new(),
    };
    for (layer, traced) in trace.layers.iter().enumerate() {
        let f = model.value_outputs(layer, &traced.input)?; // (n_head, t, n_embd)
        let (n_head, _, width) = f.dims3()?;
        let f: Vec<f64> = f
            .flatten_all()?
            .to_vec1::<f32>()?
            .into_iter()
            .map(f64::from)
            .collect();
        // f[h][j] is the slice at (h·t + j)·width.
        let vector = |h: usize, j: usize| &f[(h * t + j) * width..(h * t + j + 1) * width];
        // Per token j, the Gram matrix of its heads' vectors: ‖Σ_h a_h f_h‖² = Σ_h Σ_g a_h a_g ⟨f_h, f_g⟩.
        let gram: Vec<Vec<f64>> = (0..t)
            .map(|j| {
                (0..n_head * n_head)
                    .map(|hg| {
                        let (h, g) = (hg / n_head, hg % n_head);
                        vector(h, j)
                            .iter()
                            .zip(vector(g, j))
                            .map(|(a, b)| a * b)
                            .sum()
                    })
                    .collect()
            })
            .collect();
        let value_norms: Vec<Vec<f64>> = (0..n_head)
            .map(|h| (0..t).map(|j| gram[j][h * n_head + h].sqrt()).collect())
            .collect();
        let head_norms: Vec<Vec<Vec<f64>>> = (0..n_head)
            .map(|h| {
                (0..t)
                    .map(|i| {
                        (0..t)
                            .map(|j| {
                                let a = f64::from(attentions.get(layer, h, i, j));
                                if j > i {
                                    0.0
                                } else {
                                    a * value_norms[h][j]
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();
        let layer_norms: Vec<Vec<f64>> = (0..t)
            .map(|i| {
                (0..t)
                    .map(|j| {
                        if j > i {
                            return 0.0;
                        }
                        let a: Vec<f64> = (0..n_head)
                            .map(|h| f64::from(attentions.get(layer, h, i, j)))
                            .collect();
                        let mut square = 0.0;
                        for h in 0..n_head {
                            for g in 0..n_head {
                                square += a[h] * a[g] * gram[j][h * n_head + g];
                            }
                        }
                        square.max(0.0).sqrt()
                    })
                    .collect()
            })
            .collect();
        out.norms.push(head_norms);
        out.layer_norms.push(layer_norms);
        out.value_norms.push(value_norms);
    }
    Ok(out)
}
