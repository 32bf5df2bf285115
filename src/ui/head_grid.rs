//! The layer × head grid: a small heatmap of every head with its type badge; a click selects the head.

use egui::{Color32, Rect, Sense, Vec2};

use crate::graph::heads::HeadScores;
use crate::graph::Selection;
use crate::model::Attentions;

use super::matrix_view::heat;

/// Draws the grid with cells of `cell` points; returns the head clicked, if any.
pub fn head_grid_ui(
    ui: &mut egui::Ui,
    att: &Attentions,
    scores: &[HeadScores],
    selected: Selection,
    cell: f32,
) -> Option<Selection> {
    let mut clicked = None;
    let n = att.n_tokens();
    // Draw at most 24 × 24 samples per head: enough to see the pattern.
    let shown = n.min(24);
    egui::Grid::new("head_grid")
        .spacing(Vec2::splat(3.0))
        .show(ui, |ui| {
            ui.label("");
            for head in 0..att.n_head() {
                ui.small(format!("h{head}"));
            }
            ui.end_row();
            for layer in 0..att.n_layer() {
                ui.small(format!("L{layer}"));
                for head in 0..att.n_head() {
                    let (rect, response) =
                        ui.allocate_exact_size(Vec2::splat(cell), Sense::click());
                    response.widget_info(|| {
                        egui::WidgetInfo::labeled(
                            egui::WidgetType::Button,
                            true,
                            format!("layer {layer} head {head}"),
                        )
                    });
                    let painter = ui.painter_at(rect);
                    painter.rect_filled(rect, 0.0, Color32::from_gray(20));
                    let px = cell / shown.max(1) as f32;
                    for qi in 0..shown {
                        let q = qi * n / shown.max(1);
                        for ki in 0..=qi {
                            let k = ki * n / shown.max(1);
                            let w = att.get(layer, head, q, k);
                            if w > 0.01 {
                                let min = rect.min + Vec2::new(ki as f32 * px, qi as f32 * px);
                                painter.rect_filled(
                                    Rect::from_min_size(min, Vec2::splat(px)),
                                    0.0,
                                    heat(w.sqrt()),
                                );
                            }
                        }
                    }
                    let is_selected = selected == Selection::Head { layer, head };
                    if is_selected {
                        painter.rect_stroke(
                            rect,
                            0.0,
                            egui::Stroke::new(2.0, Color32::from_rgb(230, 85, 13)),
                            egui::StrokeKind::Inside,
                        );
                    }
                    let badge = scores
                        .iter()
                        .find(|s| s.layer == layer && s.head == head)
                        .and_then(|s| s.badge(0.4));
                    if let Some(badge) = badge {
                        painter.text(
                            rect.left_bottom(),
                            egui::Align2::LEFT_BOTTOM,
                            short(badge),
                            egui::FontId::proportional(9.0),
                            Color32::WHITE,
                        );
                    }
                    let response = response.on_hover_text(match badge {
                        Some(b) => format!("layer {layer} head {head}: {b} head"),
                        None => format!("layer {layer} head {head}"),
                    });
                    if response.clicked() {
                        clicked = Some(Selection::Head { layer, head });
                    }
                }
                ui.end_row();
            }
        });
    clicked
}

fn short(badge: &str) -> &'static str {
    match badge {
        "induction" => "ind",
        "previous" => "prev",
        "duplicate" => "dup",
        "self" => "self",
        _ => "sink",
    }
}
