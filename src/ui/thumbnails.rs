//! The head grid's pictures: one small texture per head, owned by the view state that keeps them between
//! frames and drawn by the head grid.

use egui::Color32;

use super::palette::heat;
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
    /// Remakes the textures when `key` (the analysis generation) changed.
    pub fn update(&mut self, ctx: &egui::Context, att: &Attentions, key: u64) {
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
                for qi in 0..shown {
                    let q = qi * n / shown;
                    for ki in 0..=qi {
                        let w = att.get(layer, head, q, ki * n / shown);
                        if w > 0.01 {
                            if let Some(p) = pixels.get_mut(qi * shown + ki) {
                                *p = heat(w.sqrt());
                            }
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
