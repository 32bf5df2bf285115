//! The layer × head grid: a small heatmap of every head with its type badge; a click selects the head.

use egui::{Color32, Sense, Vec2};

use crate::graph::heads::{self, HeadScores};
use crate::graph::Selection;
use crate::model::{Attentions, HeadSet};

use super::effects_panel::{effects_panel_ui, EffectsPanel, Overlay};
use super::palette::heat;
use super::thumbnails::Thumbnails;

/// Points between cells.
const GAP: f32 = 3.0;
/// Room the layer labels (column) and head labels (row) take, about.
const LABELS: f32 = 28.0;

/// The cell size that fits `n_head` columns into `room`'s width (and with `fit_height` `n_layer` rows into its
/// height), between 8 points and `max_cell`; past that the grid scrolls.
pub fn fit_cell(room: Vec2, [n_layer, n_head]: [usize; 2], max_cell: f32, fit_height: bool) -> f32 {
    let fit = |space: f32, n: usize| (space - LABELS - GAP * n as f32) / n.max(1) as f32;
    let mut cell = fit(room.x, n_head);
    if fit_height {
        cell = cell.min(fit(room.y, n_layer));
    }
    cell.clamp(8.0, max_cell.max(8.0)).floor()
}

/// What the grid's cells show.
pub struct Cells<'a> {
    /// Every head's attention.
    pub att: &'a Attentions,
    /// Thumbnails of the patterns.
    pub thumbnails: &'a Thumbnails,
    /// Head-type scores for the badges.
    pub scores: &'a [HeadScores],
    /// The selected matrix.
    pub selected: Selection,
    /// Colours by effect instead of the thumbnails.
    pub overlay: Option<&'a Overlay>,
    /// Heads drawn crossed out.
    pub knocked_out: &'a HeadSet,
    /// What their values became.
    pub replacement: crate::model::ablation::Replacement,
    /// The token pinned or hovered in the graph: each head shows where it looks, in a strip on top.
    pub focus: Option<usize>,
}

/// Where token `query` looks in one head, as a strip across the top of its cell: a column per point, each the
/// strongest weight among the keys it covers, in the heatmap's colours; keys after the query stay dark.
fn focus_strip(
    painter: &egui::Painter,
    rect: egui::Rect,
    att: &Attentions,
    head: (usize, usize),
    query: usize,
) {
    let (layer, head) = head;
    let n = att.n_tokens();
    let columns = (rect.width().floor() as usize).clamp(1, n.max(1));
    let strip = egui::Rect::from_min_size(
        rect.min,
        Vec2::new(rect.width(), (rect.height() * 0.3).max(4.0)),
    );
    painter.rect_filled(strip, 0.0, Color32::from_gray(12));
    let width = strip.width() / columns as f32;
    for c in 0..columns {
        let (from, to) = (
            c * n / columns,
            ((c + 1) * n / columns).max(c * n / columns + 1),
        );
        if from > query {
            break;
        }
        // from ≤ query < n: the keys from..=min(to − 1, query) are all inside the row.
        let strongest = (from..to.min(query + 1))
            .map(|k| att.get(layer, head, query, k))
            .fold(0.0f32, f32::max);
        painter.rect_filled(
            egui::Rect::from_min_size(
                strip.min + Vec2::new(c as f32 * width, 0.0),
                Vec2::new(width, strip.height()),
            ),
            0.0,
            heat(strongest),
        );
    }
    painter.rect_stroke(
        strip,
        0.0,
        egui::Stroke::new(1.0, Color32::from_rgb(230, 85, 13)),
        egui::StrokeKind::Inside,
    );
}

/// Draws the grid with cells of `cell` points; returns the head clicked, if any.
pub fn head_grid_ui(ui: &mut egui::Ui, c: &Cells<'_>, cell: f32) -> Option<Selection> {
    let Cells {
        att,
        thumbnails,
        scores,
        selected,
        overlay,
        knocked_out,
        replacement,
        focus,
    } = *c;
    // The focused token, if it is one of this analysis's.
    let focus = focus.filter(|&q| q < att.n_tokens());
    let mut clicked = None;
    egui::Grid::new("head_grid")
        .spacing(Vec2::splat(GAP))
        // egui's default minimum column width (a button's, 40 points) would space small cells far apart.
        .min_col_width(0.0)
        .min_row_height(0.0)
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
                    let value = overlay.and_then(|o| Some((o, o.value(layer, head)?)));
                    match thumbnails.get(layer * att.n_head() + head) {
                        _ if value.is_some() => {
                            if let Some((o, v)) = value {
                                painter.rect_filled(rect, 0.0, o.colour(v));
                                if cell >= 26.0 {
                                    let ink = if (v / o.max_abs.max(1e-12)).abs() > 0.6 {
                                        Color32::WHITE
                                    } else {
                                        Color32::BLACK
                                    };
                                    painter.text(
                                        rect.center(),
                                        egui::Align2::CENTER_CENTER,
                                        format!("{v:+.2}"),
                                        egui::FontId::proportional((cell / 6.0).clamp(9.0, 15.0)),
                                        ink,
                                    );
                                }
                            }
                        }
                        Some(texture) => {
                            painter.image(
                                texture.id(),
                                rect,
                                egui::Rect::from_min_max(
                                    egui::pos2(0.0, 0.0),
                                    egui::pos2(1.0, 1.0),
                                ),
                                Color32::WHITE,
                            );
                        }
                        None => {
                            painter.rect_filled(rect, 0.0, Color32::from_gray(20));
                        }
                    }
                    if let (Some(q), None) = (focus, value) {
                        focus_strip(&painter, rect, att, (layer, head), q);
                    }
                    if knocked_out.contains(layer, head) {
                        let stroke = egui::Stroke::new(2.0, Color32::from_rgb(230, 85, 13));
                        painter.line_segment([rect.left_top(), rect.right_bottom()], stroke);
                        painter.line_segment([rect.right_top(), rect.left_bottom()], stroke);
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
                    let head_scores = scores.iter().find(|s| s.layer == layer && s.head == head);
                    let badge = head_scores.and_then(|s| s.badge(heads::TYPE_MIN));
                    if let Some(badge) = badge {
                        // Light cells (the effect colours near 0) need dark letters.
                        let ink = match value {
                            Some((o, v)) if (v / o.max_abs.max(1e-12)).abs() <= 0.6 => {
                                Color32::BLACK
                            }
                            _ => Color32::WHITE,
                        };
                        painter.text(
                            rect.left_bottom(),
                            egui::Align2::LEFT_BOTTOM,
                            short(badge),
                            egui::FontId::proportional(9.0),
                            ink,
                        );
                    }
                    let mut hover = match badge {
                        Some(b) => format!("layer {layer} head {head}: {b} head"),
                        None => format!("layer {layer} head {head}"),
                    };
                    if let Some(s) = head_scores {
                        let c = s.chance;
                        hover = format!(
                            "{hover}\nprevious {:.2} · induction {:.2} · sink {:.2} · self {:.2}\n(a head spreading each row evenly: previous {:.2} · sink {:.2} · self {:.2})",
                            s.previous_token, s.induction, s.sink, s.self_attention, c.previous_token, c.sink, c.self_attention
                        );
                    }
                    if let Some((o, _)) = value {
                        hover = format!("{hover}\n{}", o.describe(layer, head));
                    }
                    if knocked_out.contains(layer, head) {
                        hover.push_str(match replacement {
                            crate::model::ablation::Replacement::Zero => {
                                "\nknocked out: the analysis is of the model without it"
                            }
                            crate::model::ablation::Replacement::Mean => {
                                "\nmean-ablated: the analysis is of the model with its values set to their means"
                            }
                        });
                    }
                    // Hovering shows the head's pattern large, whatever the cells are coloured by.
                    let preview = thumbnails.get(layer * att.n_head() + head);
                    let response = response.on_hover_ui(|ui| {
                        if let Some(texture) = preview {
                            ui.add(egui::Image::new((texture.id(), Vec2::splat(168.0))));
                        }
                        ui.label(&hover);
                        // Only while the head is hovered: its row of the focused token, scanned once.
                        if let Some(q) = focus {
                            // q < n, checked above: its row has keys 0..=q.
                            let (k, w) = (0..=q)
                                .map(|k| (k, att.get(layer, head, q, k)))
                                .fold((0, f32::MIN), |best, x| if x.1 > best.1 { x } else { best });
                            ui.label(format!("token {q} looks most at token {k} ({w:.2})"));
                        }
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

/// What a click on a head in the grid does besides selecting it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnClick {
    /// Nothing: the selected matrix is in sight (beside the grid, or in the view the grid sits beside).
    Select,
    /// Leave the Heads view for the graph: where the Heads view has no room for the matrix beside the grid.
    OpenGraph,
}

/// What the grid panel shows.
pub struct GridPanel<'a> {
    /// Every head's attention.
    pub attentions: &'a Attentions,
    /// The heads' thumbnails, made for this analysis.
    pub thumbnails: &'a Thumbnails,
    /// Scores on the text, and on the induction probe once it ran.
    pub text_scores: &'a [HeadScores],
    /// Scores on the induction probe, once it ran.
    pub probe_scores: Option<&'a [HeadScores]>,
    /// Badges from the probe rather than the text.
    pub badges_from_probe: bool,
    /// The matrix selected.
    pub selected: Selection,
    /// Cells are at most this many points.
    pub max_cell: f32,
    /// Shrink cells so every layer fits the height too (the Heads view).
    pub fit_height: bool,
    /// What a click on a head does besides selecting it.
    pub on_click: OnClick,
    /// Colours by effect instead of the thumbnails.
    pub overlay: Option<&'a Overlay>,
    /// The heads knocked out.
    pub knocked_out: &'a HeadSet,
    /// The token pinned or hovered in the graph.
    pub focus: Option<usize>,
    /// The controls that choose the colouring and knock heads out.
    pub effects: EffectsPanel<'a>,
}

/// The layer × head grid with its header: the badge source switch and the grid, its cells shrunk (down to 8
/// points) so every head fits the width; past that it scrolls.
pub fn grid_panel_ui(ui: &mut egui::Ui, p: GridPanel<'_>) -> Vec<super::command::Command> {
    use super::command::Command;
    let mut command = None;
    ui.strong("Layers × heads");
    ui.small("Click a head; ←/→ change head, ↑/↓ change layer.");
    ui.horizontal(|ui| {
        ui.small("badges from");
        if ui.selectable_label(!p.badges_from_probe, "this text").clicked() {
            command = Some(Command::ProbeBadges(false));
        }
        if ui
            .selectable_label(p.badges_from_probe, "induction probe")
            .on_hover_text("Score every head on a random token sequence repeated: induction heads light up in the second half")
            .clicked()
        {
            command = Some(Command::ProbeBadges(true));
        }
    });
    // One line, there whether or not a token is in focus, so that hovering the graph does not move the grid.
    if p.overlay.is_none() {
        let line = match p
            .focus
            .and_then(|q| Some((q, p.effects.analysis.tokens.get(q)?)))
        {
            Some((q, t)) => format!("orange strips: where {q} {} looks", t.display),
            None => "hover a token: each head shows where it looks".to_string(),
        };
        ui.add(egui::Label::new(egui::RichText::new(line).small()).truncate());
    }
    // What the crossed-out heads' values became, for their hover (the panel takes the effects next).
    let replacement = p.effects.analysis.replacement;
    let mut commands = effects_panel_ui(ui, p.effects);
    let scores = match (p.probe_scores, p.badges_from_probe) {
        (Some(probe), true) => probe,
        _ => p.text_scores,
    };
    let cell = fit_cell(
        ui.available_size(),
        [p.attentions.n_layer(), p.attentions.n_head()],
        p.max_cell,
        p.fit_height,
    );
    let clicked = egui::ScrollArea::both()
        .id_salt("grid_scroll")
        .show(ui, |ui| {
            let cells = Cells {
                att: p.attentions,
                thumbnails: p.thumbnails,
                scores,
                selected: p.selected,
                overlay: p.overlay,
                knocked_out: p.knocked_out,
                replacement,
                focus: p.focus,
            };
            head_grid_ui(ui, &cells, cell)
        })
        .inner;
    if let Some(selection) = clicked {
        command = Some(Command::Select {
            selection,
            open_graph: p.on_click == OnClick::OpenGraph,
        });
    }
    commands.extend(command);
    commands
}

/// The head the arrow keys move to from `selected` in a grid of `n_layer` × `n_head` (wrapping around; from a
/// selection that is not one head, from head 0.0), unless a text field has the keyboard.
pub fn arrow_keys(
    ui: &egui::Ui,
    selected: Selection,
    [n_layer, n_head]: [usize; 2],
) -> Option<Selection> {
    if ui.ctx().egui_wants_keyboard_input() || n_layer == 0 || n_head == 0 {
        return None;
    }
    let (mut layer, mut head) = match selected {
        Selection::Head { layer, head } => (layer, head),
        _ => (0, 0),
    };
    // (key, head step, layer step): one step back is n − 1 steps forward.
    let steps = [
        (egui::Key::ArrowRight, 1, 0),
        (egui::Key::ArrowLeft, n_head - 1, 0),
        (egui::Key::ArrowDown, 0, 1),
        (egui::Key::ArrowUp, 0, n_layer - 1),
    ];
    let moved = ui.input(|i| {
        let mut moved = false;
        for (key, dh, dl) in steps {
            if i.key_pressed(key) {
                head = (head + dh) % n_head;
                layer = (layer + dl) % n_layer;
                moved = true;
            }
        }
        moved
    });
    moved.then_some(Selection::Head { layer, head })
}
