//! The head grid's pictures: one small texture per head, owned by the view state that keeps them between
//! frames and drawn by the head grid.

use egui::Color32;

use super::palette::{heat, intensity};
use crate::graph::EdgeWeight;
use crate::model::flow::FlowParts;
use crate::model::Attentions;

/// At most this many samples per side of a head's thumbnail: enough to see the pattern.
const THUMB: usize = 24;

/// One small texture per head, made once per analysis: drawing 144 images is far cheaper than 144 × 300
/// rectangles every frame.
#[derive(Default)]
pub struct Thumbnails {
    key: Option<u64>,
    textures: Vec<egui::TextureHandle>,
}

impl Thumbnails {
    /// Remakes the textures when `key` (the analysis generation, what the edges weigh and the colour scale)
    /// changed; `log_scale` colours as the heatmap's "log colours" do. With
    /// `flow`, each cell weighs what flows, α_ij ‖f(x_j)‖, relative to the head's largest sampled cell
    /// ([`EdgeWeight::Norm`]) or as its row's share ([`EdgeWeight::NormShare`]), as the graph does.
    pub fn update(
        &mut self,
        ctx: &egui::Context,
        att: &Attentions,
        flow: Option<(&FlowParts, EdgeWeight)>,
        log_scale: bool,
        key: u64,
    ) {
        if self.key == Some(key) {
            return;
        }
        let n = att.n_tokens();
        if n == 0 {
            return;
        }
        let shown = n.clamp(1, THUMB);
        let mut textures = Vec::with_capacity(att.n_layer() * att.n_head());
        for layer in 0..att.n_layer() {
            for head in 0..att.n_head() {
                let mut pixels = vec![Color32::from_gray(20); shown * shown];
                let norms = flow
                    .and_then(|(parts, weight)| Some((parts.value_norms(layer, head)?, weight)));
                // A sampled cell's weight: attention, or what flows through it.
                let cell = |q: usize, k: usize| -> f32 {
                    let a = att.get(layer, head, q, k);
                    match norms {
                        // k < n, the analysis's tokens, which its norms were made for, one value each.
                        Some((vn, _)) => a * vn[k] as f32,
                        None => a,
                    }
                };
                let scale = match norms {
                    None => 1.0,
                    Some((_, EdgeWeight::NormShare)) => 1.0,
                    Some(_) => (0..shown)
                        .flat_map(|qi| (0..=qi).map(move |ki| (qi * n / shown, ki * n / shown)))
                        .fold(0.0f32, |m, (q, k)| m.max(cell(q, k))),
                };
                for qi in 0..shown {
                    let q = qi * n / shown;
                    // Each row's share of what flows into it, when that is the weight.
                    let row_sum = match norms {
                        Some((_, EdgeWeight::NormShare)) => {
                            (0..=q).map(|k| cell(q, k)).sum::<f32>()
                        }
                        _ => scale,
                    };
                    for ki in 0..=qi {
                        let w = cell(q, ki * n / shown) / row_sum.max(f32::MIN_POSITIVE);
                        // Square-root colours from 0.01, or the heatmap's log colours from 0.001 (where
                        // attention spreads thin over a long text, every weight is under 0.01).
                        let colour = if log_scale {
                            (w > 0.001).then(|| heat(intensity(w, true)))
                        } else {
                            (w > 0.01).then(|| heat(w.sqrt()))
                        };
                        if let (Some(colour), Some(p)) = (colour, pixels.get_mut(qi * shown + ki)) {
                            *p = colour;
                        }
                    }
                }
                let image = egui::ColorImage::new([shown, shown], pixels);
                textures.push(ctx.load_texture(
                    format!("head-{layer}-{head}"),
                    image,
                    egui::TextureOptions::NEAREST,
                ));
            }
        }
        self.textures = textures;
        self.key = Some(key);
    }

    /// The texture of head `index` (layer × heads + head), once made.
    pub fn get(&self, index: usize) -> Option<&egui::TextureHandle> {
        self.textures.get(index)
    }
}
