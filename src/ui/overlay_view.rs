//! The Overlay view: every head of one layer at once, as BertViz's head view draws them. The tokens stand in two
//! columns, queries on the left and keys on the right; a line runs from each query to each key it attends to,
//! one colour per head, as opaque as the weight. Hovering a token keeps only its lines: a query's (where it
//! looks) on the left, a key's (who looks at it) on the right; a click pins a query.

use egui::{Color32, Sense, Stroke};

use super::command::Command;
use super::palette::head_colour;
use crate::graph::Selection;
use crate::model::attentions::Attentions;
use crate::model::Analysis;

/// Texts of more tokens than this draw lines only for the token in focus: all of them would be a solid wash.
pub const ALL_LINES_UP_TO: usize = 128;

/// One line: query → key in one head.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OverlayLine {
    /// The token that looks (left column).
    pub query: usize,
    /// The token looked at (right column).
    pub key: usize,
    /// The head.
    pub head: usize,
    /// A[query][key] in that head.
    pub weight: f32,
}

/// Whose lines alone are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    /// A query's row: where it looks.
    Query(usize),
    /// A key's column: which tokens look at it.
    Key(usize),
}

/// The lines of `heads` (indices into `layer`) of weight at least `threshold`: the focused token's alone, or
/// every one where there is no focus; drawn in this order, the heaviest last, on top.
///
/// # Panics
/// If the layer, a head or the focused token is past the attentions' shape: that is a bug, never an empty
/// picture.
pub fn overlay_lines(
    att: &Attentions,
    layer: usize,
    heads: &[usize],
    threshold: f32,
    focus: Option<Focus>,
) -> Vec<OverlayLine> {
    let n = att.n_tokens();
    let mut lines = Vec::new();
    for &head in heads {
        let mut keep = |query: usize, key: usize, weight: f32| {
            if weight >= threshold {
                lines.push(OverlayLine {
                    query,
                    key,
                    head,
                    weight,
                });
            }
        };
        match focus {
            Some(Focus::Query(query)) => {
                for (key, &w) in att.row(layer, head, query).iter().enumerate() {
                    keep(query, key, w);
                }
            }
            Some(Focus::Key(key)) => {
                assert!(key < n, "key {key} of {n} tokens");
                // Row q holds keys 0..=q: key is in it from q = key on.
                for query in key..n {
                    keep(query, key, att.row(layer, head, query)[key]);
                }
            }
            None => {
                for query in 0..n {
                    for (key, &w) in att.row(layer, head, query).iter().enumerate() {
                        keep(query, key, w);
                    }
                }
            }
        }
    }
    lines.sort_by(|a, b| a.weight.total_cmp(&b.weight));
    lines
}

/// What the view draws from.
pub struct OverlayPanel<'a> {
    /// The analysis on screen.
    pub analysis: &'a Analysis,
    /// The selection, whose layer is shown (rollout, flow and the all-layer mean show layer 0).
    pub selection: Selection,
    /// Which of the layer's heads are drawn; made as long as the layer has heads.
    pub shown: &'a mut Vec<bool>,
    /// Lines below this weight are left out (the pruning threshold).
    pub threshold: f32,
    /// The pinned token.
    pub pinned: Option<usize>,
}

/// The layer the overlay shows for `selection`.
pub fn layer_of(selection: Selection) -> usize {
    match selection {
        Selection::Head { layer, .. }
        | Selection::LayerMean(layer)
        | Selection::LayerMax(layer) => layer,
        Selection::AllMean | Selection::Rollout | Selection::Flow => 0,
    }
}

/// Draws the view.
pub fn overlay_ui(ui: &mut egui::Ui, p: OverlayPanel<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    let att = &p.analysis.attentions;
    let (n_layer, n_head, n) = (att.n_layer(), att.n_head(), att.n_tokens());
    if p.shown.len() != n_head {
        *p.shown = vec![true; n_head];
    }
    let layer = layer_of(p.selection).min(n_layer.saturating_sub(1));
    let selected_head = match p.selection {
        Selection::Head { head, .. } => head,
        _ => 0,
    };
    ui.horizontal_wrapped(|ui| {
        let mut chosen = layer;
        ui.strong("Every head of layer");
        if ui
            .add(egui::DragValue::new(&mut chosen).range(0..=n_layer.saturating_sub(1)))
            .on_hover_text("The layer shown (↑/↓ and the grid change it too)")
            .changed()
        {
            commands.push(Command::Select {
                selection: Selection::Head {
                    layer: chosen,
                    head: selected_head,
                },
                open_graph: false,
            });
        }
        ui.label(format!(
            "at once, one colour each: a line from query i (left) to key j (right), as opaque as A[i][j]; weights below {} (the threshold) left out. Hover a token for its lines alone; click a query to pin it.",
            p.threshold
        ));
    });
    heads_ui(ui, p.shown);
    let heads: Vec<usize> = (0..n_head).filter(|&h| p.shown[h]).collect();

    let id = ui.id().with("overlay_hover");
    let hovered: Option<Focus> = ui.data(|d| d.get_temp(id)).flatten();
    let focus = hovered.or(p.pinned.filter(|&q| q < n).map(Focus::Query));
    if let Some(f) = focus {
        ui.label(focus_summary(p.analysis, layer, &heads, f));
    } else if n > ALL_LINES_UP_TO {
        ui.label(format!(
            "{n} tokens: hover or pin a token to draw its lines (every line of more than {ALL_LINES_UP_TO} tokens would cover the view)."
        ));
    } else {
        ui.label(" ");
    }
    let lines = if focus.is_none() && n > ALL_LINES_UP_TO {
        Vec::new()
    } else {
        overlay_lines(att, layer, &heads, p.threshold, focus)
    };

    let mut new_hover = None;
    let mut clicked = None;
    egui::ScrollArea::vertical()
        .id_salt("overlay")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // Rows fill the height where there is room, up to 28 points; a long text scrolls.
            let row = (ui.available_height() / n.max(1) as f32).clamp(18.0, 28.0);
            let width = ui.available_width();
            let (rect, response) =
                ui.allocate_exact_size(egui::vec2(width, row * n as f32 + 8.0), Sense::click());
            let label_width = (width * 0.22).clamp(80.0, 180.0);
            let (left, right) = (rect.left() + label_width, rect.right() - label_width);
            let y = |i: usize| rect.top() + 4.0 + (i as f32 + 0.5) * row;
            let painter = ui.painter_at(rect);
            // Each head's lines leave and reach a token a little apart from the other heads', so that heads
            // looking at the same token show side by side rather than one over another.
            let spread = |head: usize| {
                (head as f32 - (n_head as f32 - 1.0) / 2.0) * (row * 0.6 / n_head.max(1) as f32)
            };
            for line in &lines {
                let colour = head_colour(line.head, n_head);
                let alpha = (line.weight.clamp(0.0, 1.0) * 230.0) as u8;
                let width = if focus.is_some() { 2.5 } else { 1.5 };
                painter.line_segment(
                    [
                        egui::pos2(left + 6.0, y(line.query) + spread(line.head)),
                        egui::pos2(right - 6.0, y(line.key) + spread(line.head)),
                    ],
                    Stroke::new(
                        width,
                        Color32::from_rgba_unmultiplied(colour.r(), colour.g(), colour.b(), alpha),
                    ),
                );
            }
            let font = egui::FontId::monospace(12.0);
            let text = ui.visuals().text_color();
            let orange = Color32::from_rgb(230, 85, 13);
            for (i, token) in p.analysis.tokens.iter().enumerate() {
                let label = format!("{} {i}", crate::format::shorten(&token.display, 14));
                let (left_colour, right_colour) = match focus {
                    Some(Focus::Query(q)) if q == i => (orange, text),
                    Some(Focus::Key(k)) if k == i => (text, orange),
                    _ => (text, text),
                };
                painter.text(
                    egui::pos2(left, y(i)),
                    egui::Align2::RIGHT_CENTER,
                    label,
                    font.clone(),
                    left_colour,
                );
                painter.text(
                    egui::pos2(right, y(i)),
                    egui::Align2::LEFT_CENTER,
                    format!("{i} {}", crate::format::shorten(&token.display, 14)),
                    font.clone(),
                    right_colour,
                );
            }
            // Which token the pointer is over: a row of the left column is a query, of the right a key.
            let at = |pos: egui::Pos2| {
                let i = ((pos.y - rect.top() - 4.0) / row).floor();
                if i < 0.0 || i >= n as f32 {
                    return None;
                }
                // 0 ≤ i < n, so the cast keeps it.
                let i = i as usize;
                if pos.x <= left + 6.0 {
                    Some(Focus::Query(i))
                } else if pos.x >= right - 6.0 {
                    Some(Focus::Key(i))
                } else {
                    None
                }
            };
            new_hover = response.hover_pos().and_then(at);
            if response.clicked() {
                clicked = response.interact_pointer_pos().and_then(at);
            }
        });
    if new_hover != hovered {
        ui.data_mut(|d| d.insert_temp(id, new_hover));
        ui.ctx().request_repaint();
    }
    if let Some(Focus::Query(i) | Focus::Key(i)) = clicked {
        commands.push(Command::Focus {
            hovered: None,
            pinned: (p.pinned != Some(i)).then_some(i),
        });
    }
    commands
}

/// The row of head toggles, each in its colour, with "all" and "none".
fn heads_ui(ui: &mut egui::Ui, shown: &mut [bool]) {
    let n_head = shown.len();
    ui.horizontal_wrapped(|ui| {
        ui.label("heads:");
        for (head, on) in shown.iter_mut().enumerate() {
            let colour = head_colour(head, n_head);
            let label = egui::RichText::new(format!("h{head}"))
                .monospace()
                .color(if *on { Color32::BLACK } else { Color32::GRAY });
            let button =
                egui::Button::new(label).fill(if *on { colour } else { Color32::TRANSPARENT });
            if ui
                .add(button)
                .on_hover_text(format!(
                    "Head {head}: click to {} its lines",
                    if *on { "hide" } else { "show" }
                ))
                .clicked()
            {
                *on = !*on;
            }
        }
        if ui.small_button("all").clicked() {
            shown.iter_mut().for_each(|on| *on = true);
        }
        if ui.small_button("none").clicked() {
            shown.iter_mut().for_each(|on| *on = false);
        }
    });
}

/// The focused token's strongest line in each head shown: "token 5 ␣walk looks most at: h0 → 4 ␣man 0.92, …",
/// or for a key, which token looks at it most.
fn focus_summary(a: &Analysis, layer: usize, heads: &[usize], focus: Focus) -> String {
    let att = &a.attentions;
    let name = |i: usize| format!("{i} {}", crate::format::shorten(&a.tokens[i].display, 12));
    let parts: Vec<String> = heads
        .iter()
        .filter_map(|&head| {
            let best = match focus {
                Focus::Query(q) => att
                    .row(layer, head, q)
                    .iter()
                    .copied()
                    .enumerate()
                    .max_by(|x, y| x.1.total_cmp(&y.1)),
                Focus::Key(k) => (k..att.n_tokens())
                    .map(|q| (q, att.row(layer, head, q)[k]))
                    .max_by(|x, y| x.1.total_cmp(&y.1)),
            }?;
            let arrow = if matches!(focus, Focus::Query(_)) {
                "→"
            } else {
                "←"
            };
            Some(format!("h{head} {arrow} {} {:.2}", name(best.0), best.1))
        })
        .collect();
    match focus {
        Focus::Query(q) => format!("token {} looks most at: {}", name(q), parts.join(", ")),
        Focus::Key(k) => format!(
            "token {} is looked at most by: {}",
            name(k),
            parts.join(", ")
        ),
    }
}
