//! The matrix heatmap: cell (i, j) is A[i][j], row i = where token i looks; hover shows the value.

use egui::{Color32, Rect, Sense, Vec2};

use crate::graph::{Matrix, TokenNode};

use super::graph_view::intensity;

/// Draws the heatmap with row and column labels.
pub fn matrix_ui(ui: &mut egui::Ui, matrix: &Matrix, tokens: &[TokenNode], log_scale: bool) {
    let n = matrix.n();
    if n == 0 {
        return;
    }
    let label_w = 110.0;
    let avail = ui.available_size();
    let cell = ((avail.x - label_w).min(avail.y - label_w) / n as f32).clamp(4.0, 48.0);
    let size = Vec2::new(label_w + cell * n as f32, label_w + cell * n as f32);
    let (rect, response) = ui.allocate_exact_size(size, Sense::hover());
    let painter = ui.painter_at(rect);
    let origin = rect.min + Vec2::splat(label_w);
    let font = egui::FontId::monospace((cell * 0.6).clamp(8.0, 13.0));
    let text_color = ui.visuals().text_color();
    for (i, t) in tokens.iter().enumerate().take(n) {
        let y = origin.y + (i as f32 + 0.5) * cell;
        painter.text(
            egui::pos2(origin.x - 4.0, y),
            egui::Align2::RIGHT_CENTER,
            &t.text,
            font.clone(),
            text_color,
        );
        let x = origin.x + (i as f32 + 0.5) * cell;
        painter.text(
            egui::pos2(x, origin.y - 4.0),
            egui::Align2::CENTER_BOTTOM,
            i.to_string(),
            font.clone(),
            text_color,
        );
    }
    for i in 0..n {
        for j in 0..n {
            let w = matrix.get(i, j) as f32;
            let min = origin + Vec2::new(j as f32 * cell, i as f32 * cell);
            let color = if j <= i {
                heat(intensity(w, log_scale))
            } else {
                Color32::from_gray(18)
            };
            painter.rect_filled(
                Rect::from_min_size(min, Vec2::splat(cell - 1.0)),
                0.0,
                color,
            );
        }
    }
    if let Some(pos) = response.hover_pos() {
        let rel = (pos - origin) / cell;
        if rel.x >= 0.0 && rel.y >= 0.0 && (rel.x as usize) < n && (rel.y as usize) < n {
            let (i, j) = (rel.y as usize, rel.x as usize);
            let (from, to) = (
                tokens.get(i).map_or("", |t| t.text.as_str()),
                tokens.get(j).map_or("", |t| t.text.as_str()),
            );
            let text = if j > i {
                format!(
                    "A[{i}][{j}] = 0: masked\n{from:?} cannot look at {to:?}, which comes later"
                )
            } else {
                format!(
                    "A[{i}][{j}] = {:.4}\n{from:?} looks at {to:?}",
                    matrix.get(i, j)
                )
            };
            response.on_hover_text_at_pointer(text);
        }
    }
}

/// Heatmap colour: dark slate for 0, bright amber for 1, readable on both themes.
pub fn heat(t: f32) -> Color32 {
    let t = t.clamp(0.0, 1.0);
    let lerp = |a: f32, b: f32| (a + (b - a) * t) as u8;
    Color32::from_rgb(lerp(40.0, 253.0), lerp(44.0, 190.0), lerp(62.0, 60.0))
}
