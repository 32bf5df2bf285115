//! The window's colour ramps, one place for all of them: edge weights (`intensity`, `ramp`), heatmap cells
//! (`heat`), signed effects (`diverging`), a token's surprisal (`surprisal_color`) and a head (`head_colour`), and the strip that
//! shows a ramp beside its phrase (`ramp_with_phrase`). A leaf: the widgets import it, it imports none of them.

use egui::Color32;

pub use crate::export::intensity;
use crate::export::{diverging_rgb, weight_rgb};

/// Colour of an intensity in [0, 1]: light blue to deep violet (the SVG export uses the same ramp).
pub fn ramp(intensity: f32) -> Color32 {
    let (r, g, b) = weight_rgb(f64::from(intensity));
    Color32::from_rgb(r, g, b)
}

/// Heatmap colour: dark slate for 0, bright amber for 1, readable on both themes.
pub fn heat(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
    Color32::from_rgb(lerp(40.0, 253.0), lerp(44.0, 190.0), lerp(62.0, 60.0))
}

/// A colour for `value` on a scale whose ends are ±`max`.
pub fn diverging(value: f64, max: f64) -> Color32 {
    let [r, g, b] = diverging_rgb(value / max.max(1e-12));
    Color32::from_rgb(r, g, b)
}

/// The colour of what is in focus (a pinned or hovered token) across the views.
pub const FOCUS: Color32 = Color32::from_rgb(230, 85, 13);

/// Head `head`'s colour among `heads` (`export::head_rgb`: the SVG draws with the same).
pub fn head_colour(head: usize, heads: usize, dark: bool) -> Color32 {
    let (r, g, b) = crate::export::head_rgb(head, heads, dark);
    Color32::from_rgb(r, g, b)
}

/// A token's colour by its surprisal −log₂ p: 0 bits green, 20 bits and more red; grey for a token not
/// scored.
pub fn surprisal_color(bits: Option<f64>) -> Color32 {
    match bits {
        None => Color32::from_gray(150),
        Some(b) => {
            let t = (b / 20.0).clamp(0.0, 1.0) as f32;
            Color32::from_rgb((60.0 + 190.0 * t) as u8, (190.0 - 120.0 * t) as u8, 90)
        }
    }
}

/// A strip `width` points wide of `steps` colours from `colour(0)` to `colour(1)`, and its phrase in small type
/// after it: one widget, so that a wrapping row moves both to the next line together.
pub fn ramp_with_phrase(
    ui: &mut egui::Ui,
    width: f32,
    steps: usize,
    colour: impl Fn(f32) -> Color32,
    phrase: String,
) -> egui::Response {
    let font = egui::TextStyle::Small.resolve(ui.style());
    let galley = ui
        .painter()
        .layout_no_wrap(phrase.clone(), font, ui.visuals().text_color());
    let gap = ui.spacing().item_spacing.x;
    let size = egui::vec2(width + gap + galley.size().x, galley.size().y.max(12.0));
    let (rect, response) = ui.allocate_exact_size(size, egui::Sense::hover());
    // Screen readers (and the UI tests) read the phrase as a label's.
    response.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Label, true, &phrase));
    let top = rect.center().y - 6.0;
    for i in 0..steps {
        let t = i as f32 / (steps - 1).max(1) as f32;
        let x = rect.left() + t * (width - 5.0);
        ui.painter().rect_filled(
            egui::Rect::from_min_size(egui::pos2(x, top), egui::vec2(5.0, 12.0)),
            0.0,
            colour(t),
        );
    }
    let text_at = egui::pos2(
        rect.left() + width + gap,
        rect.center().y - galley.size().y / 2.0,
    );
    ui.painter()
        .galley(text_at, galley, ui.visuals().text_color());
    response
}

/// The app's changes to egui's style, in both themes: scroll bars always drawn (thin, wider on hover). egui's
/// default shows them only while hovered, and nothing would tell the reader that a table or the Compare view
/// goes on past the edge.
pub fn install_style(ctx: &egui::Context) {
    ctx.all_styles_mut(|style| style.spacing.scroll = egui::style::ScrollStyle::thin());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_intensity_spans_a_thousandth_to_one() {
        assert_eq!(intensity(1e-4, true), 0.0);
        assert!((intensity(0.01, true) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(intensity(1.0, true), 1.0);
        assert_eq!(intensity(0.25, false), 0.25);
    }

    #[test]
    fn heat_runs_from_slate_to_amber() {
        assert_eq!(heat(0.0), Color32::from_rgb(40, 44, 62));
        assert_eq!(heat(1.0), Color32::from_rgb(253, 190, 60));
    }
}
