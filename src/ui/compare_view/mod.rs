//! The Compare view: the text on screen (A) beside a second text (B). The same head of both as heatmaps, each
//! token's probability in both, both running perplexities on one plot, and where the two have the same number
//! of tokens the difference ΔA = A(B) − A(A) and activation patching: the corrupt text B with one piece of the
//! clean text A put back — one head's values, or the residual stream at one layer and position — and how much
//! of A's answer returns.

use std::sync::Arc;

use egui::{Color32, Vec2};
use egui_plot::{Legend, Line, PlotPoints};

mod difference;
mod matrices;
mod patch;
mod tokens;

use self::difference::difference_ui;
use self::matrices::matrix_of;
use self::patch::patch_ui;
pub use self::patch::PatchState;
pub use self::tokens::{candidates, copied_pair, default_tokens, patch_key};
use super::command::Command;
use super::matrix_view;
use crate::format::{percent, shorten, token};
use crate::graph::{self, AttentionGraph, Selection};
use crate::model::Analysis;

/// What the view draws from.
pub struct ComparePanel<'a> {
    /// The text on screen.
    pub a: &'a Arc<Analysis>,
    /// The compared text's analysis, once it arrived.
    pub b: Option<&'a Arc<Analysis>>,
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
        // The quickest way to two texts of one length: A's own text, to change a word of.
        if ui
            .add_enabled(p.text != p.a.text, egui::Button::new("copy A").small())
            .on_hover_text(
                "Put A's text here, then change one word of it: the difference and patching need two texts of the same number of tokens",
            )
            .clicked()
        {
            commands.push(Command::CompareText(p.a.text.clone()));
        }
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
                    matrix_of(left.ctx(), a, p.selection),
                    matrix_of(left.ctx(), b, p.selection),
                ) {
                    difference_ui(left, &ma.matrix, &mb.matrix, a, b);
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
    analysis: &Arc<Analysis>,
    selection: Selection,
    log_scale: bool,
) {
    ui.label(format!("{name}: {}", shorten(&analysis.text, 60)));
    match matrix_of(ui.ctx(), analysis, selection) {
        Ok(kept) => match AttentionGraph::new(graph::token_nodes(analysis), &[]) {
            Ok(labels) => {
                // The texture is remade when the matrix does: each one made has a serial of its own.
                let (key, matrix) = (kept.serial, kept.matrix);
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
            matrix_of(ui.ctx(), a, p.selection),
            matrix_of(ui.ctx(), a, other),
        ) {
            difference_ui(ui, &ma.matrix, &mb.matrix, a, a);
        }
    });
    commands
}

/// Both running perplexities on one plot.
fn perplexity_plot(ui: &mut egui::Ui, a: &Analysis, b: &Analysis) {
    ui.strong("running perplexity of both texts");
    // The main panel's log axis: the two curves often differ by a factor, and a linear axis labelled only 0.
    use crate::ui::token_panel::{curve, running_perplexity_plot};
    running_perplexity_plot("compare_perplexity", 150.0)
        .legend(Legend::default())
        .allow_drag(false)
        .allow_zoom(false)
        .show(ui, |plot| {
            plot.line(Line::new("A", PlotPoints::from(curve(a))));
            plot.line(Line::new("B", PlotPoints::from(curve(b))));
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
