//! The matrix heatmap: cell (i, j) is A[i][j], row i = where token i looks; hover shows the value. The scroll
//! wheel zooms around the pointer, dragging pans, double-click shows the whole matrix again, and a click on a
//! cell selects its two tokens for the graph. The visible part is drawn from one texture with a pixel per cell,
//! made again only when the view or the matrix changes, so a 1,024-token matrix costs one image, not a million
//! rectangles a frame.

use egui::{Color32, Rect, Sense, Vec2};

use crate::graph::{AttentionGraph, Matrix};

use super::palette::{heat, intensity};

/// Labels need at least this many points per cell; with less, every k-th row and column is labelled.
const LABEL_CELL: f32 = 11.0;

/// Characters of a token written up a column, at most.
const COLUMN_CHARS: usize = 8;

/// Points per cell from which columns are labelled by token: the labels' font is then at least 10 points (at 8,
/// "m" and "n" read alike).
const TOKEN_CELL: f32 = 17.0;

/// The labels' font for cells of `cell` points.
fn label_font(cell: f32) -> egui::FontId {
    egui::FontId::monospace((cell * 0.6).clamp(8.0, 13.0))
}

/// Points per cell from which each cell shows its value.
const VALUE_CELL: f32 = 34.0;

/// The band above the cells where every column's number fits across.
const NUMBER_BAND: f32 = 24.0;

/// Where the reader has zoomed and panned, in cells.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Window {
    /// First visible row and column (fractional while panning).
    first: Vec2,
    /// Cells visible along each side.
    span: f32,
    /// The matrix's side when the reader zoomed: another text starts over with the whole matrix.
    n: usize,
}

/// The texture of the visible cells and what it was made for.
#[derive(Clone)]
struct Cached {
    key: (u64, usize, usize, usize, usize, bool, bool),
    texture: egui::TextureHandle,
}

/// Every how many columns of `cell` points a heatmap of `n` columns numbers one, so that the widest number in
/// `font` fits between two: a round step (1, 2, 5, 10, …), so the numbers read as a scale.
pub(super) fn column_number_step(n: usize, cell: f32, font: &egui::FontId) -> usize {
    let digits = n.saturating_sub(1).max(1).to_string().len() as f32;
    round_step(((digits * font.size * 0.62 + 6.0) / cell).ceil() as usize)
}

/// The smallest of 1, 2, 5, 10, 20, 50, … that is at least `k` (at least 1).
fn round_step(k: usize) -> usize {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= k {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// The heatmap's colour scale, above it: what a dark and a bright cell mean.
fn colour_scale(ui: &mut egui::Ui, log_scale: bool, causal: bool) {
    ui.horizontal_wrapped(|ui| {
        let (rect, _) = ui.allocate_exact_size(egui::vec2(120.0, 12.0), Sense::hover());
        for i in 0..24 {
            let t = i as f32 / 23.0;
            let x = rect.left() + t * (rect.width() - 5.0);
            ui.painter().rect_filled(
                Rect::from_min_size(egui::pos2(x, rect.top()), egui::vec2(5.0, 12.0)),
                0.0,
                heat(t),
            );
        }
        ui.small(match (causal, log_scale) {
            (true, false) => "A[i][j] 0 … 1 · row i: where token i looks · above the diagonal: hidden by the causal mask",
            (true, true) => "A[i][j] 0.001 … 1 (log) · row i: where token i looks · above the diagonal: hidden by the causal mask",
            (false, _) => "score, lowest … highest",
        });
    });
}

/// Draws the heatmap with row and column labels; returns the cell clicked, (query, key).
///
/// `key` identifies the matrix (the caller's snapshot serial): the texture is remade when it changes. `causal`
/// greys out the upper triangle, which the mask removes (off for the lesson's unmasked score matrix).
pub fn matrix_ui(
    ui: &mut egui::Ui,
    matrix: &Matrix,
    graph: &AttentionGraph,
    log_scale: bool,
    key: u64,
    causal: bool,
) -> Option<(usize, usize)> {
    let n = matrix.n();
    if n == 0 {
        return None;
    }
    colour_scale(ui, log_scale, causal);
    let id = ui.id().with("matrix_view");
    let full = Window {
        first: Vec2::ZERO,
        span: n as f32,
        n,
    };
    // Another head of the same text keeps the zoom; a text of another length shows its whole matrix.
    let mut window = ui
        .data(|d| d.get_temp::<Window>(id))
        .filter(|w| w.n == n)
        .unwrap_or(full);
    // Row labels are tokens, on the left. Above, each column's token written upwards where every column in
    // view has room for a line of text, else position numbers across, in a narrower band. The picture is as
    // large as the space allows, at most 48 points a cell for the whole matrix; zooming enlarges the cells up
    // to 48 points.
    let label_w = 110.0;
    let avail = ui.available_size();
    let side_under = |band: f32| {
        (avail.x - label_w)
            .min(avail.y - band)
            .max(40.0)
            .min(48.0 * n as f32)
    };
    // The token band is as tall as the longest label at the largest font, and no shorter than the numbers'.
    // Measured only where the cells can be large enough at all (not on every frame of a long text).
    let token_band = (side_under(NUMBER_BAND) / window.span >= TOKEN_CELL).then(|| {
        (0..n)
            .filter_map(|j| graph.token(j))
            // Columns of display width: a Chinese character takes two, about an em.
            .map(|t| {
                unicode_width::UnicodeWidthStr::width(
                    super::shorten(&t.text, COLUMN_CHARS).as_str(),
                )
            })
            .max()
            .map_or(NUMBER_BAND, |columns| {
                (columns as f32 * label_font(f32::MAX).size * 0.62 + 8.0).max(NUMBER_BAND)
            })
    });
    let token_band = token_band.filter(|&band| side_under(band) / window.span >= TOKEN_CELL);
    let tokens_above = token_band.is_some();
    let label_h = token_band.unwrap_or(NUMBER_BAND);
    let side = side_under(label_h);
    let min_span = (side / 48.0).clamp(1.0, n as f32);
    let (rect, response) = ui.allocate_exact_size(
        Vec2::new(label_w + side, label_h + side),
        Sense::click_and_drag(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "attention heatmap")
    });
    let area = Rect::from_min_size(rect.min + Vec2::new(label_w, label_h), Vec2::splat(side));
    let cell = side / window.span;

    // Zoom around the pointer, pan by dragging, double-click for the whole matrix.
    if let Some(pointer) = response.hover_pos().filter(|p| area.contains(*p)) {
        let scroll = ui.input(|i| i.smooth_scroll_delta.y + i.zoom_delta().ln() * 200.0);
        if scroll != 0.0 {
            let at = window.first + (pointer - area.min) / cell;
            let span = (window.span * (-scroll / 200.0).exp()).clamp(min_span, n as f32);
            let first = at - (pointer - area.min) / (side / span);
            window = Window { first, span, n };
            // The wheel zoomed the heatmap: it must not also scroll what holds it.
            ui.input_mut(|i| i.smooth_scroll_delta = Vec2::ZERO);
        }
    }
    if response.dragged() {
        window.first -= response.drag_delta() / cell;
    }
    if response.double_clicked() {
        window = full;
    }
    let max_first = (n as f32 - window.span).max(0.0);
    window.first = Vec2::new(
        window.first.x.clamp(0.0, max_first),
        window.first.y.clamp(0.0, max_first),
    );
    ui.data_mut(|d| d.insert_temp(id, window));
    let cell = side / window.span;

    // The cells in view, partly visible ones included: rows row0..row0 + rows, columns col0..col0 + cols.
    let (row0, col0) = (window.first.y as usize, window.first.x as usize);
    let end = |first: f32| ((first + window.span).ceil() as usize).min(n);
    let rows = end(window.first.y).saturating_sub(row0).max(1);
    let cols = end(window.first.x).saturating_sub(col0).max(1);
    let cache_key = (key, row0, col0, rows, cols, log_scale, causal);
    let cached: Option<Cached> = ui.data(|d| d.get_temp(id.with("texture")));
    let texture = match cached.filter(|c| c.key == cache_key) {
        Some(c) => c.texture,
        None => {
            let mut pixels = Vec::with_capacity(rows * cols);
            for i in row0..row0 + rows {
                for j in col0..col0 + cols {
                    pixels.push(if j <= i || !causal {
                        heat(intensity(matrix.get(i, j) as f32, log_scale))
                    } else {
                        Color32::from_gray(18)
                    });
                }
            }
            let image = egui::ColorImage::new([cols, rows], pixels);
            let texture = ui
                .ctx()
                .load_texture("matrix", image, egui::TextureOptions::NEAREST);
            ui.data_mut(|d| {
                d.insert_temp(
                    id.with("texture"),
                    Cached {
                        key: cache_key,
                        texture: texture.clone(),
                    },
                )
            });
            texture
        }
    };
    let painter = ui.painter_at(rect);
    let image_rect = Rect::from_min_size(
        area.min - (window.first - Vec2::new(col0 as f32, row0 as f32)) * cell,
        Vec2::new(cols as f32 * cell, rows as f32 * cell),
    );
    painter.with_clip_rect(area).image(
        texture.id(),
        image_rect,
        Rect::from_min_max(egui::pos2(0.0, 0.0), egui::pos2(1.0, 1.0)),
        Color32::WHITE,
    );
    // Cells with room for "0.42" show the value they are coloured by (those hidden by the mask stay blank): a
    // short text reads as numbers, and an attention matrix's rows visibly sum to 1. Not on the lesson's
    // unmasked score figure, whose colours are the scores rescaled to 0 … 1, not the scores.
    if causal && cell >= VALUE_CELL {
        let font = egui::FontId::monospace((cell * 0.28).clamp(9.0, 13.0));
        let values = painter.with_clip_rect(area);
        for i in row0..row0 + rows {
            for j in col0..=(col0 + cols - 1).min(i) {
                let v = matrix.get(i, j);
                let ink = if intensity(v as f32, log_scale) > 0.55 {
                    Color32::BLACK
                } else {
                    Color32::from_gray(225)
                };
                let centre = area.min
                    + (Vec2::new(j as f32, i as f32) + Vec2::splat(0.5) - window.first) * cell;
                let text = if causal {
                    format!("{v:.2}")
                } else {
                    format!("{v:.1}")
                };
                values.text(centre, egui::Align2::CENTER_CENTER, text, font.clone(), ink);
            }
        }
    }

    // Labels of the visible rows (token text) and columns (position), thinned when cells are small.
    let every = ((LABEL_CELL / cell).ceil() as usize).max(1);
    let font = label_font(cell);
    let text_color = ui.visuals().text_color();
    let labels = painter.with_clip_rect(rect);
    for i in (row0..row0 + rows).filter(|i| i % every == 0) {
        let offset = (i as f32 + 0.5 - window.first.y) * cell;
        if !(0.0..=side).contains(&offset) {
            continue;
        }
        // The lesson's score matrix can be of a newer text than the snapshot for a frame: unlabelled, not wrong.
        let text = graph.token(i).map_or("", |t| t.text.as_str());
        // Where rows are thinned, each label leads with its position, as the columns' numbers do.
        let label = if every > 1 {
            format!("{i} {}", super::shorten(text, 10))
        } else {
            super::shorten(text, 14)
        };
        labels.text(
            egui::pos2(area.min.x - 4.0, area.min.y + offset),
            egui::Align2::RIGHT_CENTER,
            label,
            font.clone(),
            text_color,
        );
    }
    // Column labels: tokens written upwards where the band was made for them and the cells (zoomed since,
    // perhaps) still have room, one a column; else numbers written across, which need room for the widest one
    // and fall on round steps.
    if tokens_above && cell >= TOKEN_CELL {
        for j in col0..col0 + cols {
            let offset = (j as f32 + 0.5 - window.first.x) * cell;
            if !(0.0..=side).contains(&offset) {
                continue;
            }
            let text = graph.token(j).map_or("", |t| t.text.as_str());
            let galley =
                labels.layout_no_wrap(super::shorten(text, COLUMN_CHARS), font.clone(), text_color);
            // Turned a quarter to the left about its top-left corner, the text runs up from just above the
            // cells, centred on its column.
            let at = egui::pos2(
                area.min.x + offset - galley.size().y / 2.0,
                area.min.y - 4.0,
            );
            labels.add(
                egui::epaint::TextShape::new(at, galley, text_color)
                    .with_angle(-std::f32::consts::FRAC_PI_2),
            );
        }
    } else {
        let col_every = column_number_step(n, cell, &font);
        for j in (col0..col0 + cols).filter(|j| j % col_every == 0) {
            let offset = (j as f32 + 0.5 - window.first.x) * cell;
            if !(0.0..=side).contains(&offset) {
                continue;
            }
            labels.text(
                egui::pos2(area.min.x + offset, area.min.y - 4.0),
                egui::Align2::CENTER_BOTTOM,
                j.to_string(),
                font.clone(),
                text_color,
            );
        }
    }

    let cell_at = |pos: egui::Pos2| -> Option<(usize, usize)> {
        if !area.contains(pos) {
            return None;
        }
        let at = window.first + (pos - area.min) / cell;
        let (i, j) = (at.y as usize, at.x as usize);
        (i < n && j < n).then_some((i, j))
    };
    let clicked = response
        .clicked()
        .then(|| response.interact_pointer_pos().and_then(cell_at))
        .flatten();
    if let Some((i, j)) = response.hover_pos().and_then(cell_at) {
        let (from, to) = (
            graph.token(i).map_or("", |t| t.text.as_str()),
            graph.token(j).map_or("", |t| t.text.as_str()),
        );
        let text = if !causal {
            format!("[{i}][{j}] = {:.4}: {from:?} and {to:?}", matrix.get(i, j))
        } else if j > i {
            format!("A[{i}][{j}] = 0: masked\n{from:?} cannot look at {to:?}, which comes later")
        } else {
            format!(
                "A[{i}][{j}] = {:.4}\n{from:?} looks at {to:?}\nclick: select both tokens for the graph · scroll: zoom · drag: pan · double-click: all",
                matrix.get(i, j)
            )
        };
        response.on_hover_text_at_pointer(text);
    }
    clicked
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_steps() {
        let steps: Vec<usize> = [0, 1, 2, 3, 5, 6, 11, 19, 21, 99, 101, 4000]
            .into_iter()
            .map(super::round_step)
            .collect();
        assert_eq!(steps, [1, 1, 2, 5, 5, 10, 20, 20, 50, 100, 200, 5000]);
    }
}
