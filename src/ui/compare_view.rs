//! The Compare view: the text on screen (A) beside a second text (B). The same head of both as heatmaps, each
//! token's probability in both, both running perplexities on one plot, and where the two have the same number
//! of tokens the difference ΔA = A(B) − A(A) and activation patching: the corrupt text B with one piece of the
//! clean text A put back — one head's values, or the residual stream at one layer and position — and how much
//! of A's answer returns.

use egui::{Color32, Rect, Sense, Vec2};
use egui_plot::{Legend, Line, Plot, PlotPoints};

use super::command::{Command, PatchExport};
use super::matrix_view;
use crate::export::diverging_rgb;
use crate::format::{percent, shorten, token};
use crate::graph::{self, AttentionGraph, Selection};
use crate::model::patching::Patching;
use crate::model::Analysis;
use crate::session::PatchKey;

/// What the view draws from.
pub struct ComparePanel<'a> {
    /// The text on screen.
    pub a: &'a Analysis,
    /// The compared text's analysis, once it arrived.
    pub b: Option<&'a Analysis>,
    /// The compared text as typed.
    pub text: &'a str,
    /// Why the compared text could not be read.
    pub failure: Option<String>,
    /// The compared text is being read.
    pub pending: bool,
    /// The matrix shown for both.
    pub selection: Selection,
    /// Log colours.
    pub log_scale: bool,
    /// The patching of the two texts as they are, and its state.
    pub patch: PatchState<'a>,
    /// Compare another head of the same text instead of another text: this matrix beside `selection`.
    pub other_head: Option<Selection>,
}

/// Activation patching between the two texts.
pub struct PatchState<'a> {
    /// What would be patched (`None` when the texts cannot be: different lengths, no analysis yet).
    pub key: Option<PatchKey>,
    /// Its result, once it arrived.
    pub result: Option<&'a Patching>,
    /// Runs done and to do while it runs.
    pub progress: Option<(usize, usize)>,
    /// Why it failed.
    pub failure: Option<&'a str>,
}

/// The tokens `patch` compares by default: A's top prediction after its last token, and B's (its second when
/// both are the same token).
pub fn default_tokens(a: &Analysis, b: &Analysis) -> Option<(u32, u32)> {
    let answer = a.next_top_k.first()?.id;
    let wrong = b.next_top_k.iter().map(|t| t.id).find(|&id| id != answer)?;
    Some((answer, wrong))
}

/// What patching the two texts as they are would compute: A clean, B corrupt, A's and B's top guesses as the
/// two tokens; `None` unless both have the same number of tokens and the same BOS.
pub fn patch_key(a: &Analysis, b: &Analysis) -> Option<PatchKey> {
    // Patching runs the whole model: with heads knocked out, the answer would be another model's.
    if a.tokens.len() != b.tokens.len() || a.bos != b.bos || !a.ablated.is_empty() {
        return None;
    }
    let (answer, wrong) = default_tokens(a, b)?;
    Some(PatchKey {
        clean: a.text.clone(),
        corrupt: b.text.clone(),
        bos: a.bos,
        answer,
        wrong,
    })
}

/// Draws the view; returns the commands.
pub fn compare_ui(ui: &mut egui::Ui, p: ComparePanel<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.horizontal(|ui| {
        ui.label("compare with");
        if ui
            .selectable_label(p.other_head.is_none(), "another text")
            .clicked()
        {
            commands.push(Command::CompareHead(None));
        }
        if ui
            .selectable_label(p.other_head.is_some(), "another head of this text")
            .clicked()
            && p.other_head.is_none()
        {
            commands.push(Command::CompareHead(Some(Selection::Head {
                layer: 0,
                head: 0,
            })));
        }
    });
    if let Some(other) = p.other_head {
        commands.extend(heads_ui(ui, &p, other));
        return commands;
    }
    ui.horizontal(|ui| {
        ui.label("B, compared with the text above (A):");
        let mut text = p.text.to_string();
        let edit = ui.add(
            egui::TextEdit::singleline(&mut text)
                .desired_width(ui.available_width() - 10.0)
                .hint_text("a second text, e.g. one word changed"),
        );
        edit.widget_info(|| {
            egui::WidgetInfo::labeled(egui::WidgetType::TextEdit, true, "compared text")
        });
        if edit.changed() {
            commands.push(Command::CompareText(text));
        }
    });
    let Some(b) = p.b else {
        match &p.failure {
            Some(why) => {
                ui.colored_label(Color32::from_rgb(215, 48, 39), format!("⚠ {why}"));
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("reading the compared text…");
                });
            }
        }
        return commands;
    };
    if let Some(why) = &p.failure {
        ui.colored_label(
            Color32::from_rgb(215, 48, 39),
            format!("⚠ {why} (showing the last text that could be read)"),
        );
    } else if p.pending {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.small("reading the compared text…");
        });
    }
    let a = p.a;
    let aligned = a.tokens.len() == b.tokens.len();
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.strong(format!("{} of both texts", p.selection.label()));
        ui.columns(2, |columns| {
            for (column, (name, analysis)) in columns.iter_mut().zip([("A", a), ("B", b)]) {
                column.push_id(name, |ui| {
                    // At most 330 points tall, so the difference and the patching show below.
                    let size = Vec2::new(ui.available_width(), 330.0);
                    ui.allocate_ui(size, |ui| {
                        ui.set_max_height(330.0);
                        heatmap(ui, name, analysis, p.selection, p.log_scale)
                    });
                });
            }
        });
        ui.separator();
        if aligned {
            // The difference beside the patching, so both show without scrolling.
            ui.columns(2, |columns| {
                let [left, right] = columns else {
                    return;
                };
                if let (Ok(ma), Ok(mb)) = (
                    graph::select(&a.attentions, p.selection),
                    graph::select(&b.attentions, p.selection),
                ) {
                    difference_ui(left, &ma, &mb, a, b);
                }
                commands.extend(patch_ui(right, a, b, &p.patch));
            });
        } else {
            ui.label(format!(
                "A is {} tokens and B {}: their matrices do not line up, so no difference is drawn and nothing is \
                 patched. Change a word for one that tokenises to as many pieces.",
                a.tokens.len(),
                b.tokens.len()
            ));
        }
        ui.separator();
        perplexity_plot(ui, a, b);
        tokens_table(ui, a, b);
    });
    commands
}

/// One text's matrix as a heatmap, titled.
fn heatmap(
    ui: &mut egui::Ui,
    name: &str,
    analysis: &Analysis,
    selection: Selection,
    log_scale: bool,
) {
    ui.label(format!("{name}: {}", shorten(&analysis.text, 60)));
    match graph::select(&analysis.attentions, selection) {
        Ok(matrix) => match AttentionGraph::new(graph::token_nodes(analysis), &[]) {
            Ok(labels) => {
                // The texture is remade when the analysis or the matrix changes.
                let key = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    std::ptr::from_ref(analysis).hash(&mut h);
                    selection.label().hash(&mut h);
                    h.finish()
                };
                let _ = matrix_view::matrix_ui(ui, &matrix, &labels, log_scale, key, true);
            }
            Err(err) => {
                ui.label(err.to_string());
            }
        },
        Err(err) => {
            ui.label(err.to_string());
        }
    }
}

/// Two heads of one text side by side, and their difference.
fn heads_ui(ui: &mut egui::Ui, p: &ComparePanel<'_>, other: Selection) -> Vec<Command> {
    let mut commands = Vec::new();
    let a = p.a;
    ui.horizontal(|ui| {
        ui.label(format!(
            "B: another matrix of the same text, beside A ({})",
            p.selection.label()
        ));
        if let Selection::Head { layer, head } = other {
            let (mut layer, mut head) = (layer, head);
            let (n_layer, n_head) = (a.model.n_layer, a.model.n_head);
            let l = ui.add(
                egui::DragValue::new(&mut layer)
                    .range(0..=n_layer.saturating_sub(1))
                    .prefix("layer "),
            );
            let h = ui.add(
                egui::DragValue::new(&mut head)
                    .range(0..=n_head.saturating_sub(1))
                    .prefix("head "),
            );
            if l.changed() || h.changed() {
                commands.push(Command::CompareHead(Some(Selection::Head { layer, head })));
            }
        }
    });
    egui::ScrollArea::vertical().show(ui, |ui| {
        ui.columns(2, |columns| {
            for (column, (name, selection)) in
                columns.iter_mut().zip([("A", p.selection), ("B", other)])
            {
                column.push_id(name, |ui| {
                    ui.strong(format!("{name}: {}", selection.label()));
                    let size = Vec2::new(ui.available_width(), 330.0);
                    ui.allocate_ui(size, |ui| {
                        ui.set_max_height(330.0);
                        heatmap(ui, name, a, selection, p.log_scale)
                    });
                });
            }
        });
        ui.separator();
        if let (Ok(ma), Ok(mb)) = (
            graph::select(&a.attentions, p.selection),
            graph::select(&a.attentions, other),
        ) {
            difference_ui(ui, &ma, &mb, a, a);
        }
    });
    commands
}

/// ΔA = B − A, diverging colours, the value on hover; then the same as a graph, edges by gain or loss.
fn difference_ui(
    ui: &mut egui::Ui,
    ma: &graph::Matrix,
    mb: &graph::Matrix,
    a: &Analysis,
    b: &Analysis,
) {
    let n = ma.n();
    if mb.n() != n {
        return;
    }
    let largest = (0..n)
        .flat_map(|i| (0..=i).map(move |j| (i, j)))
        .fold(1e-12f64, |m, (i, j)| {
            m.max((mb.get(i, j) - ma.get(i, j)).abs())
        });
    ui.strong("ΔA = B − A: red where B looks more, blue where it looks less");
    legend(ui, &format!("−{largest:.3}"), &format!("+{largest:.3}"));
    let cell = (ui.available_width().min(300.0) / n.max(1) as f32).clamp(3.0, 14.0);
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(cell * n as f32), Sense::hover());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(egui::WidgetType::Other, true, "difference heatmap")
    });
    let painter = ui.painter_at(rect);
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
    if let Some(pointer) = response.hover_pos() {
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
fn legend(ui: &mut egui::Ui, low: &str, high: &str) {
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

/// Both running perplexities on one plot.
fn perplexity_plot(ui: &mut egui::Ui, a: &Analysis, b: &Analysis) {
    ui.strong("running perplexity of both texts");
    let points = |x: &Analysis| -> Vec<[f64; 2]> {
        x.tokens
            .iter()
            .enumerate()
            .filter_map(|(i, t)| Some([i as f64, t.stats.as_ref()?.running_perplexity]))
            .collect()
    };
    Plot::new("compare_perplexity")
        .height(150.0)
        .legend(Legend::default())
        .x_axis_label("token")
        .y_axis_label("PPL_t")
        .allow_drag(false)
        .allow_zoom(false)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("A", PlotPoints::from(points(a))));
            plot.line(Line::new("B", PlotPoints::from(points(b))));
        });
}

/// Each position's token and probability in both texts.
fn tokens_table(ui: &mut egui::Ui, a: &Analysis, b: &Analysis) {
    egui::CollapsingHeader::new("each token's probability in A and in B")
        .default_open(a.tokens.len() <= 40)
        .show(ui, |ui| {
            egui::Grid::new("compare_tokens")
                .striped(true)
                .show(ui, |ui| {
                    for head in ["pos", "A", "p in A", "B", "p in B"] {
                        ui.strong(head);
                    }
                    ui.end_row();
                    let p = |x: &Analysis, i: usize| {
                        x.tokens.get(i).map_or((String::new(), String::new()), |t| {
                            (
                                token(&t.display),
                                t.stats.as_ref().map_or("—".into(), |s| percent(s.logprob)),
                            )
                        })
                    };
                    for i in 0..a.tokens.len().max(b.tokens.len()) {
                        let ((ta, pa), (tb, pb)) = (p(a, i), p(b, i));
                        ui.label(i.to_string());
                        ui.label(ta);
                        ui.label(pa);
                        ui.label(tb);
                        ui.label(pb);
                        ui.end_row();
                    }
                });
        });
}

/// The patching button, its progress, and its two pictures.
fn patch_ui(ui: &mut egui::Ui, a: &Analysis, b: &Analysis, p: &PatchState<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.strong("Activation patching: which heads and positions carry the difference");
    let Some(key) = &p.key else {
        ui.label(if a.ablated.is_empty() {
            "Patching needs two texts of the same number of tokens, each with a prediction after it."
        } else {
            "Patching runs the whole model: bring back the knocked-out heads to patch."
        });
        return commands;
    };
    let name = |x: &Analysis, id: u32| {
        x.next_top_k
            .iter()
            .find(|t| t.id == id)
            .map_or_else(|| format!("#{id}"), |t| token(&t.text))
    };
    ui.label(format!(
        "Run B (corrupt), put back one piece of A (clean), and measure logit[{}] − logit[{}] at the last position: A's top guess against B's.",
        name(a, key.answer),
        name(b, key.wrong)
    ));
    ui.horizontal(|ui| {
        let running = p.progress.is_some();
        if ui
            .add_enabled(!running, egui::Button::new("Patch from A into B"))
            .on_hover_text("Every head's values and every layer × position of the residual stream, one at a time; each run starts at the patched layer")
            .clicked()
        {
            commands.push(Command::Patch(key.clone()));
        }
        if let Some((done, total)) = p.progress {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(200.0)
                    .text(format!("{done} / {total} runs")),
            );
        }
        if let Some(why) = p.failure {
            ui.colored_label(Color32::from_rgb(215, 48, 39), format!("⚠ {why}"));
        }
    });
    let Some(result) = p.result else {
        return commands;
    };
    ui.label(format!(
        "clean (A) {:.3}, corrupt (B) {:.3}; cells are (patched − corrupt) / (clean − corrupt): 0 restores nothing, 1 restores A's difference (the raw value on hover)",
        result.clean_logit_diff, result.corrupt_logit_diff
    ));
    legend(ui, "−1", "+1");
    ui.small("each head's values from A (layers down, heads across)");
    grid(ui, "patch_heads", &result.heads, result, |l, h| {
        format!("head {l}.{h}")
    });
    ui.small("the residual stream entering each layer (rows), at each position (columns), from A");
    grid(ui, "patch_residual", &result.residual, result, |l, pos| {
        let t = result
            .clean_tokens
            .get(pos)
            .map_or_else(String::new, |t| token(&t.text));
        format!("layer {l}, position {pos} ({t})")
    });
    ui.horizontal(|ui| {
        ui.label("save");
        for (label, what) in [
            ("CSV", PatchExport::Csv),
            ("JSON", PatchExport::Json),
            ("SVG", PatchExport::Svg),
            ("PNG", PatchExport::Png),
        ] {
            if ui.small_button(label).clicked() {
                commands.push(Command::ExportPatch(what));
            }
        }
    });
    commands
}

/// Rows of values as squares coloured by their normalised value, the raw value and what it is on hover.
fn grid(
    ui: &mut egui::Ui,
    id: &str,
    rows: &[Vec<f64>],
    result: &Patching,
    what: impl Fn(usize, usize) -> String,
) {
    // No row at all: an empty picture.
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    // Where clean and corrupt give one difference nothing can be restored: colour by the raw value instead.
    let largest = rows.iter().flatten().fold(1e-12f64, |m, v| m.max(v.abs()));
    let cell = (ui.available_width().min(420.0) / cols.max(1) as f32).clamp(6.0, 24.0);
    let (rect, response) = ui.allocate_exact_size(
        Vec2::new(cell * cols as f32, cell * rows.len() as f32),
        Sense::hover(),
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Other, true, id));
    let painter = ui.painter_at(rect);
    for (r, row) in rows.iter().enumerate() {
        for (c, &x) in row.iter().enumerate() {
            let shade = match result.normalised(x) {
                Some(v) => v,
                None => x / largest,
            };
            let [red, g, b] = diverging_rgb(shade);
            let min = rect.min + Vec2::new(c as f32 * cell, r as f32 * cell);
            painter.rect_filled(
                Rect::from_min_size(min, Vec2::splat(cell - 1.0)),
                1.0,
                Color32::from_rgb(red, g, b),
            );
        }
    }
    if let Some(pointer) = response.hover_pos() {
        let (r, c) = (
            ((pointer.y - rect.top()) / cell) as usize,
            ((pointer.x - rect.left()) / cell) as usize,
        );
        if let Some(&x) = rows.get(r).and_then(|row| row.get(c)) {
            let norm = result
                .normalised(x)
                .map_or_else(String::new, |v| format!(", normalised {v:.2}"));
            response.on_hover_text(format!("{}: logit difference {x:.4}{norm}", what(r, c)));
        }
    }
}
