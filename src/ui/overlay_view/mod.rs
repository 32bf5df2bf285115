//! The Overlay view: every head of one layer at once, as BertViz's head view draws them. The tokens stand in two
//! columns, queries on the left and keys on the right; a line runs from each query to each key it attends to,
//! one colour per head, as opaque as the weight. Hovering a token keeps only its lines: a query's (where it
//! looks) on the left, a key's (who looks at it) on the right; a click pins a query.

use egui::{Color32, Sense, Stroke};

pub use crate::graph::overlay::{overlay_lines, Focus, OverlayLine, ALL_LINES_UP_TO};
use crate::graph::overlay::{strongest, token_of};

use super::command::Command;
use super::palette::{head_colour, FOCUS};
use crate::graph::Selection;
use crate::model::Analysis;

/// What the view draws from.
pub struct OverlayPanel<'a> {
    /// The analysis on screen.
    pub analysis: &'a Analysis,
    /// The selection, whose layer is shown (rollout, flow and the all-layer mean span every layer: layer 0).
    pub selection: Selection,
    /// Which of the layer's heads are drawn; made as long as the layer has heads.
    pub shown: &'a mut Vec<bool>,
    /// Lines below this weight are left out (the pruning threshold).
    pub threshold: f32,
    /// Opacity on a log scale from 0.001 to 1 ("log colours"), else linear.
    pub log_scale: bool,
    /// The query the app has as hovered: the grid's strips follow it.
    pub hovered: Option<usize>,
    /// The pinned query.
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

/// `selection` moved to `layer`, of the same kind where it has a layer.
fn at_layer(selection: Selection, layer: usize) -> Selection {
    match selection {
        Selection::Head { head, .. } => Selection::Head { layer, head },
        Selection::LayerMean(_) => Selection::LayerMean(layer),
        Selection::LayerMax(_) => Selection::LayerMax(layer),
        Selection::AllMean | Selection::Rollout | Selection::Flow => {
            Selection::Head { layer, head: 0 }
        }
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
    // The app clamps the selection to the model when an analysis arrives: the layer is in range.
    let layer = layer_of(p.selection);
    header_ui(ui, &p, layer, n_layer, &mut commands);
    let selected_head = match p.selection {
        Selection::Head { head, .. } => Some(head),
        _ => None,
    };
    heads_ui(ui, p.shown, selected_head);
    let heads: Vec<usize> = (0..n_head).filter(|&h| p.shown[h]).collect();

    let id = ui.id().with("overlay_hover");
    // A hover kept from an earlier text may lie past this one's tokens (the text shrank under a still
    // pointer): it is let go, not drawn.
    let hovered: Option<Focus> = ui
        .data(|d| d.get_temp::<Option<Focus>>(id))
        .flatten()
        .filter(|&f| token_of(f) < n);
    // apply.rs lets go of a pin past the text when a shorter one arrives.
    let focus = hovered.or(p.pinned.map(Focus::Query));
    // One line, always there, so that rows never move under the pointer as the focus comes and goes.
    let line = match focus {
        _ if heads.is_empty() => "No head shown: switch one on above.".to_string(),
        Some(f) => focus_summary(p.analysis, layer, &heads, f),
        None if n > ALL_LINES_UP_TO => format!(
            "{n} tokens: hover or pin a token to draw its lines (every line of more than {ALL_LINES_UP_TO} tokens would cover the view)."
        ),
        None => "Hover a token for its lines alone (a query's on the left, a key's on the right); click a query to pin it.".to_string(),
    };
    ui.add(egui::Label::new(&line).truncate())
        .on_hover_text(&line);
    let lines = if focus.is_none() && n > ALL_LINES_UP_TO {
        Vec::new()
    } else {
        // Weights too faint to show are not looked for: at 128 tokens with no threshold that is most of GPT-2's
        // 100k weights.
        let faintest = crate::export::faintest_weight(focus.is_some(), p.log_scale);
        overlay_lines(att, layer, &heads, p.threshold.max(faintest), focus)
    };

    let mut new_hover = None;
    let mut clicked = None;
    let pin_id = ui.id().with("overlay_pin_shown");
    let pin_shown: Option<usize> = ui.data(|d| d.get_temp(pin_id)).flatten();
    let mut pin_seen = pin_shown.filter(|_| p.pinned == pin_shown);
    egui::ScrollArea::vertical()
        .id_salt("overlay")
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // Rows fill the height where there is room, up to 28 points; a long text scrolls.
            let row = (ui.available_height() / n as f32).clamp(18.0, 28.0);
            let width = ui.available_width();
            let (rect, response) =
                ui.allocate_exact_size(egui::vec2(width, row * n as f32 + 8.0), Sense::click());
            // The tests find the drawing by this name.
            response.widget_info(|| {
                egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "overlay lines")
            });
            let label_width = (width * 0.22).clamp(80.0, 180.0);
            let (left, right) = (rect.left() + label_width, rect.right() - label_width);
            let y = |i: usize| rect.top() + 4.0 + (i as f32 + 0.5) * row;
            // A newly pinned token is scrolled into view (on a long text it may lie far below), frame after
            // frame until its row shows (the area learns its height only as it draws); then the reader scrolls.
            if let Some(pin) = p.pinned.filter(|&pin| Some(pin) != pin_shown) {
                let at =
                    egui::Rect::from_center_size(egui::pos2(left, y(pin)), egui::vec2(1.0, row));
                if ui.clip_rect().contains_rect(at) {
                    pin_seen = Some(pin);
                } else {
                    ui.scroll_to_rect_animation(
                        at,
                        Some(egui::Align::Center),
                        egui::style::ScrollAnimation::none(),
                    );
                    ui.ctx().request_repaint();
                }
            }
            let painter = ui.painter_at(rect);
            // Each head's lines leave and reach a token a little apart from the other heads', so that heads
            // looking at the same token show side by side rather than one over another.
            let spread = |head: usize| {
                (head as f32 - (n_head as f32 - 1.0) / 2.0) * (row * 0.6 / n_head as f32)
            };
            let dark = ui.visuals().dark_mode;
            for line in &lines {
                let colour = head_colour(line.head, n_head, dark);
                let alpha = crate::export::line_alpha(line.weight, p.log_scale, focus.is_some());
                let width = if focus.is_some() { 2.5 } else { 1.5 };
                painter.line_segment(
                    [
                        egui::pos2(left + 6.0, y(line.query) + spread(line.head)),
                        egui::pos2(right - 6.0, y(line.key) + spread(line.head)),
                    ],
                    Stroke::new(
                        width,
                        Color32::from_rgba_unmultiplied(
                            colour.r(),
                            colour.g(),
                            colour.b(),
                            alpha as u8,
                        ),
                    ),
                );
            }
            let font = egui::FontId::monospace(12.0);
            let text = ui.visuals().text_color();
            // Only the rows in view are labelled: a long text has two labels per token.
            let clip = ui.clip_rect();
            let first = ((clip.top() - rect.top() - 4.0) / row).floor().max(0.0) as usize;
            let last = ((clip.bottom() - rect.top() - 4.0) / row).ceil().max(0.0) as usize;
            for (i, token) in p
                .analysis
                .tokens
                .iter()
                .enumerate()
                .take(last + 1)
                .skip(first)
            {
                let (left_colour, right_colour) = match focus {
                    Some(Focus::Query(q)) if q == i => (FOCUS, text),
                    Some(Focus::Key(k)) if k == i => (text, FOCUS),
                    _ => (text, text),
                };
                let shown = crate::format::shorten(&token.display, 14);
                painter.text(
                    egui::pos2(left, y(i)),
                    egui::Align2::RIGHT_CENTER,
                    format!("{shown} {i}"),
                    font.clone(),
                    left_colour,
                );
                painter.text(
                    egui::pos2(right, y(i)),
                    egui::Align2::LEFT_CENTER,
                    format!("{i} {shown}"),
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
    ui.data_mut(|d| d.insert_temp(pin_id, pin_seen));
    if new_hover != hovered {
        ui.data_mut(|d| d.insert_temp(id, new_hover));
        ui.ctx().request_repaint();
    }
    // The app's hover follows a hovered query, so the grid's strips show where it looks in every head.
    let hovered_query = match new_hover {
        Some(Focus::Query(q)) => Some(q),
        _ => None,
    };
    // A click pins a query (left); a key (right) is only hovered: a pin is where a token looks.
    let pinned = match clicked {
        Some(Focus::Query(q)) => (p.pinned != Some(q)).then_some(q),
        _ => p.pinned,
    };
    if hovered_query != p.hovered || pinned != p.pinned {
        commands.push(Command::Focus {
            hovered: hovered_query,
            pinned,
        });
    }
    commands
}

/// The first lines: the layer (to change), what the lines mean, and which of the window's controls apply.
fn header_ui(
    ui: &mut egui::Ui,
    p: &OverlayPanel<'_>,
    layer: usize,
    n_layer: usize,
    commands: &mut Vec<Command>,
) {
    ui.horizontal_wrapped(|ui| {
        let mut chosen = layer;
        ui.strong("Every head of layer");
        if ui
            .add(egui::DragValue::new(&mut chosen).range(0..=n_layer - 1))
            .on_hover_text("The layer shown (↑/↓ and the grid change it too)")
            .changed()
        {
            commands.push(Command::Select {
                selection: at_layer(p.selection, chosen),
                open_graph: false,
            });
        }
        ui.label(format!(
            "at once: a line from query i (left) to key j (right) in each head's colour, as opaque as A[i][j]{}; weights under {} (the threshold) left out.",
            if p.log_scale { " on a log scale" } else { "" },
            p.threshold
        ));
    });
    if matches!(
        p.selection,
        Selection::AllMean | Selection::Rollout | Selection::Flow
    ) {
        ui.colored_label(
            FOCUS,
            "The selection spans every layer, and the overlay shows one: layer 0. Pick a layer here or in the grid.",
        );
    }
    ui.small("The threshold and log colours apply here; top-k, mass, dropping token 0 and what flows are the graph's.");
}

/// The row of head toggles, each in its colour (an outline while off), the selected head underlined; a double
/// click shows one head alone.
fn heads_ui(ui: &mut egui::Ui, shown: &mut [bool], selected: Option<usize>) {
    let n_head = shown.len();
    let dark = ui.visuals().dark_mode;
    let mut solo = None;
    ui.horizontal_wrapped(|ui| {
        ui.label("heads:");
        for (head, on) in shown.iter_mut().enumerate() {
            let colour = head_colour(head, n_head, dark);
            // Black on the light colours, white on the dark ones (by their luma).
            let luma = 0.299 * f32::from(colour.r())
                + 0.587 * f32::from(colour.g())
                + 0.114 * f32::from(colour.b());
            let on_fill = if luma > 140.0 {
                Color32::BLACK
            } else {
                Color32::WHITE
            };
            let mut label = egui::RichText::new(format!("h{head}"))
                .monospace()
                .color(if *on { on_fill } else { colour });
            if selected == Some(head) {
                label = label.underline().strong();
            }
            let button = egui::Button::new(label)
                .fill(if *on { colour } else { Color32::TRANSPARENT })
                .stroke(Stroke::new(1.0, colour));
            let response = ui.add(button).on_hover_text(format!(
                "Head {head}: click to {} its lines, double-click to show it alone",
                if *on { "hide" } else { "show" }
            ));
            if response.clicked() {
                *on = !*on;
            }
            if response.double_clicked() {
                solo = Some(head);
            }
        }
        if ui.small_button("all").clicked() {
            shown.iter_mut().for_each(|on| *on = true);
        }
        if ui.small_button("none").clicked() {
            shown.iter_mut().for_each(|on| *on = false);
        }
    });
    if let Some(head) = solo {
        for (h, on) in shown.iter_mut().enumerate() {
            *on = h == head;
        }
    }
}

/// The focused token's strongest line in each head shown: "token 5 ␣walk looks most at: h0 → 4 ␣man 0.92, …",
/// or for a key, which token looks at it most.
fn focus_summary(a: &Analysis, layer: usize, heads: &[usize], focus: Focus) -> String {
    let att = &a.attentions;
    // Positions come from the attentions' rows, one per token of the analysis.
    let name = |i: usize| format!("{i} {}", crate::format::shorten(&a.tokens[i].display, 12));
    let parts: Vec<String> = heads
        .iter()
        .map(|&head| {
            let best = strongest(att, layer, head, focus);
            let arrow = if matches!(focus, Focus::Query(_)) {
                "→"
            } else {
                "←"
            };
            format!("h{head} {arrow} {} {:.2}", name(best.0), best.1)
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
