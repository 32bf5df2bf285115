//! The difference of two matrices of one size: a diverging heatmap with the values on hover, and the same as a
//! graph of arcs by gain or loss; and the diverging legend both use.

use egui::{Color32, Rect, Sense, Vec2};

use crate::export::diverging_rgb;
use crate::format::{shorten, token};
use crate::graph;
use crate::model::Analysis;

/// ΔA = B − A, diverging colours, the value on hover; then the same as a graph, edges by gain or loss.
pub(super) fn difference_ui(
    ui: &mut egui::Ui,
    ma: &graph::Matrix,
    mb: &graph::Matrix,
    a: &Analysis,
    b: &Analysis,
) {
    let n = ma.n();
    // Each matrix is of its analysis, a row per token: below, k < n indexes both token lists.
    if mb.n() != n || a.tokens.len() != n || b.tokens.len() != n {
        return;
    }
    let largest = (0..n)
        .flat_map(|i| (0..=i).map(move |j| (i, j)))
        .fold(1e-12f64, |m, (i, j)| {
            m.max((mb.get(i, j) - ma.get(i, j)).abs())
        });
    ui.strong("ΔA = B − A: red where B looks more, blue where it looks less");
    legend(ui, &format!("−{largest:.3}"), &format!("+{largest:.3}"));
    // Rows are labelled by token, in orange where the texts differ ("A→B"); columns by position at round
    // steps, with an orange mark above the positions that differ.
    let differs = |k: usize| a.tokens.get(k).map(|t| t.id) != b.tokens.get(k).map(|t| t.id);
    let row_label = |k: usize| {
        // k < n, which both texts' token counts equal (checked above).
        let (ta, tb) = (token(&a.tokens[k].display), token(&b.tokens[k].display));
        if differs(k) {
            shorten(&format!("{ta}→{tb}"), 16)
        } else {
            shorten(&tb, 10)
        }
    };
    let width = ui.available_width().min(440.0);
    let font_for = |cell: f32| egui::FontId::monospace((cell * 0.75).clamp(8.0, 11.0));
    // The label band is measured at the largest font: the cells follow from what is left.
    let band = (0..n)
        .map(|k| {
            let galley =
                ui.painter()
                    .layout_no_wrap(row_label(k), font_for(f32::MAX), Color32::PLACEHOLDER);
            galley.size().x
        })
        .fold(0.0f32, f32::max)
        + 6.0;
    let cell = ((width - band) / n.max(1) as f32).clamp(3.0, 13.0);
    let top = 16.0;
    let (outer, response) = ui.allocate_exact_size(
        Vec2::new(band + cell * n as f32, top + cell * n as f32),
        Sense::hover(),
    );
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "difference heatmap")
    });
    let rect = Rect::from_min_size(
        outer.min + Vec2::new(band, top),
        Vec2::splat(cell * n as f32),
    );
    let painter = ui.painter_at(outer);
    for i in 0..n {
        for j in 0..=i {
            let d = mb.get(i, j) - ma.get(i, j);
            let [r, g, bl] = diverging_rgb(d / largest);
            let min = rect.min + Vec2::new(j as f32 * cell, i as f32 * cell);
            painter.rect_filled(
                Rect::from_min_size(min, Vec2::splat(cell)),
                0.0,
                Color32::from_rgb(r, g, bl),
            );
        }
    }
    let (font, text_colour) = (font_for(cell), ui.visuals().text_color());
    let changed = Color32::from_rgb(230, 85, 13);
    let every = ((11.0 / cell).ceil() as usize).max(1);
    for i in 0..n {
        if i % every == 0 || differs(i) {
            painter.text(
                egui::pos2(rect.left() - 4.0, rect.top() + (i as f32 + 0.5) * cell),
                egui::Align2::RIGHT_CENTER,
                row_label(i),
                font.clone(),
                if differs(i) { changed } else { text_colour },
            );
        }
    }
    let col_every = super::super::matrix_view::column_number_step(n, cell, &font);
    for j in 0..n {
        let x = rect.left() + (j as f32 + 0.5) * cell;
        if j % col_every == 0 {
            painter.text(
                egui::pos2(x, rect.top() - 3.0),
                egui::Align2::CENTER_BOTTOM,
                j.to_string(),
                font.clone(),
                text_colour,
            );
        }
        if differs(j) {
            painter.rect_filled(
                Rect::from_center_size(
                    egui::pos2(x, rect.top() - 1.5),
                    Vec2::new(cell.max(3.0), 3.0),
                ),
                0.0,
                changed,
            );
        }
    }
    // Over the cells only: the labels' band would read as row or column 0.
    if let Some(pointer) = response.hover_pos().filter(|p| rect.contains(*p)) {
        let (i, j) = (
            ((pointer.y - rect.top()) / cell) as usize,
            ((pointer.x - rect.left()) / cell) as usize,
        );
        if i < n && j <= i {
            // i and j are below n: inside both matrices and both token lists.
            let label = |x: &Analysis, k: usize| token(&x.tokens[k].display);
            response.on_hover_text(format!(
                "row {i} → column {j}: A {:.3} ({} → {}), B {:.3} ({} → {}), Δ {:+.3}",
                ma.get(i, j),
                label(a, i),
                label(a, j),
                mb.get(i, j),
                label(b, i),
                label(b, j),
                mb.get(i, j) - ma.get(i, j)
            ));
        }
    }
    difference_graph(ui, ma, mb, b, largest);
}

/// ΔA as a graph: the tokens on a line, an arc from i back to j for every change of at least a tenth of the
/// largest, red where B looks more and blue where it looks less, as wide as the change.
fn difference_graph(
    ui: &mut egui::Ui,
    ma: &graph::Matrix,
    mb: &graph::Matrix,
    b: &Analysis,
    largest: f64,
) {
    let n = ma.n();
    ui.small("the same as a graph: an arc from each token back to the tokens it looks at more (red) or less (blue)");
    let width = ui.available_width().min(520.0);
    let step = width / n.max(1) as f32;
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 150.0), Sense::hover());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "difference graph")
    });
    let painter = ui.painter_at(rect);
    let base = rect.bottom() - 24.0;
    let x = |i: usize| rect.left() + step * (i as f32 + 0.5);
    for i in 0..n {
        for j in 0..i {
            let d = mb.get(i, j) - ma.get(i, j);
            if d.abs() < 0.1 * largest {
                continue;
            }
            let [r, g, bl] = diverging_rgb(d / largest);
            let (from, to) = (x(i), x(j));
            let height = ((from - to) / 2.0).min(base - rect.top() - 4.0);
            let mid = egui::pos2((from + to) / 2.0, base - height);
            let points: Vec<egui::Pos2> = (0..=16)
                .map(|k| {
                    let t = k as f32 / 16.0;
                    // A quadratic Bézier from the query up over to the key.
                    let p0 = egui::pos2(from, base);
                    let p2 = egui::pos2(to, base);
                    let u = 1.0 - t;
                    egui::pos2(
                        u * u * p0.x + 2.0 * u * t * mid.x + t * t * p2.x,
                        u * u * p0.y + 2.0 * u * t * (mid.y - height) + t * t * p2.y,
                    )
                })
                .collect();
            painter.add(egui::Shape::line(
                points,
                egui::Stroke::new(
                    1.0 + 4.0 * (d.abs() / largest) as f32,
                    Color32::from_rgb(r, g, bl),
                ),
            ));
        }
    }
    for i in 0..n {
        painter.circle_filled(egui::pos2(x(i), base), 3.0, ui.visuals().text_color());
        if step >= 14.0 || i % ((14.0 / step).ceil() as usize).max(1) == 0 {
            // i < n, the number of tokens of both texts here.
            painter.text(
                egui::pos2(x(i), base + 4.0),
                egui::Align2::CENTER_TOP,
                shorten(&token(&b.tokens[i].display), 8),
                egui::FontId::proportional(10.0),
                ui.visuals().text_color(),
            );
        }
    }
}

/// A diverging legend from `low` to `high`.
pub(super) fn legend(ui: &mut egui::Ui, low: &str, high: &str) {
    ui.horizontal(|ui| {
        ui.small(low);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(126.0, 10.0), Sense::hover());
        for k in 0..21 {
            let [r, g, b] = diverging_rgb(f64::from(k) / 10.0 - 1.0);
            ui.painter().rect_filled(
                Rect::from_min_size(
                    egui::pos2(rect.left() + 6.0 * k as f32, rect.top()),
                    egui::vec2(6.0, 10.0),
                ),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        ui.small(high);
    });
}
