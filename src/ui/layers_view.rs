//! The Layers view: the logit lens as a tokens × layers grid. Each cell is what the model would predict after
//! that token if it stopped before that layer (the first column is the embeddings, the last the model's
//! output), coloured by that guess's probability or by the probability of the token that actually comes next.
//! Hover a cell for its top guesses; click a token to see the actual next token's probability climb layer by
//! layer.

use egui::{Color32, Sense, Vec2};
use egui_plot::{Line, Plot, PlotPoints, Points};

use super::command::{Command, LensColour};
use super::palette::heat;
use crate::format::{shorten, token};
use crate::model::lens::Lens;

/// What the view draws from.
pub struct LayersPanel<'a> {
    /// The lens of the text on screen, once it arrived.
    pub lens: Option<&'a Lens>,
    /// What the cells are coloured by.
    pub colour: LensColour,
    /// The column whose climb is plotted.
    pub column: Option<usize>,
    /// Heads knocked out, for the title.
    pub knocked_out: String,
    /// Why the lens could not be made, if so.
    pub failure: Option<&'a str>,
}

/// Draws the view; returns the commands (a column clicked, the colouring changed).
pub fn layers_ui(ui: &mut egui::Ui, p: LayersPanel<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    let Some(lens) = p.lens else {
        match p.failure {
            Some(why) => {
                ui.colored_label(
                    Color32::from_rgb(215, 48, 39),
                    format!("⚠ the lens failed: {why}"),
                );
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("reading every layer's prediction…");
                });
            }
        }
        return commands;
    };
    let layers = lens.layers.len();
    ui.horizontal_wrapped(|ui| {
        ui.strong("What each layer would predict next");
        ui.weak(format!(
            "· column l: the residual stream entering block l through the final norm and the unembedding; the last column (layer {}) is the model's output{}",
            layers - 1,
            p.knocked_out
        ));
    });
    ui.horizontal(|ui| {
        ui.label("colour by");
        for (colour, label, hover) in [
            (
                LensColour::TopGuess,
                "top guess",
                "The probability of the guess shown in the cell",
            ),
            (
                LensColour::NextToken,
                "actual next token",
                "The probability this layer gives the token that really comes next",
            ),
        ] {
            if ui
                .selectable_label(p.colour == colour, label)
                .on_hover_text(hover)
                .clicked()
            {
                commands.push(Command::LensColour(colour));
            }
        }
        let (rect, _) = ui.allocate_exact_size(egui::vec2(100.0, 12.0), Sense::hover());
        for i in 0..20 {
            let t = i as f32 / 19.0;
            let x = rect.left() + t * (rect.width() - 5.0);
            ui.painter().rect_filled(
                egui::Rect::from_min_size(egui::pos2(x, rect.top()), egui::vec2(5.0, 12.0)),
                0.0,
                heat(t),
            );
        }
        ui.small("p 0 … 1 (√ scale)");
        ui.separator();
        ui.label("save");
        if ui
            .small_button("CSV")
            .on_hover_text("Every layer, position and top guess")
            .clicked()
        {
            commands.push(Command::ExportEffects(
                super::command::EffectExport::LensCsv,
            ));
        }
        if ui
            .small_button("JSON")
            .on_hover_text("The lens as attngraph lens --format json prints it")
            .clicked()
        {
            commands.push(Command::ExportEffects(
                super::command::EffectExport::LensJson,
            ));
        }
        for (label, what) in [
            ("SVG", super::command::EffectExport::LensSvg),
            ("PNG", super::command::EffectExport::LensPng),
        ] {
            if ui
                .small_button(label)
                .on_hover_text("The grid as coloured now, every token and layer")
                .clicked()
            {
                commands.push(Command::ExportEffects(what));
            }
        }
    });
    let plot_height = if p.column.is_some() { 180.0 } else { 0.0 };
    let cell = Vec2::new(118.0, 20.0);
    let label_width = 130.0;
    // The header, then only the rows in view (a 1,024-token text has 1,024 rows of cells).
    ui.horizontal(|ui| {
        ui.add_space(label_width + ui.spacing().item_spacing.x);
        for layer in 0..layers {
            let text = if layer + 1 == layers {
                format!("output ({layer})")
            } else {
                format!("layer {layer}")
            };
            ui.add_sized(
                [cell.x, 18.0],
                egui::Label::new(egui::RichText::new(text).strong()),
            );
        }
    });
    egui::ScrollArea::both()
        .max_height((ui.available_height() - plot_height).max(120.0))
        .show_rows(ui, cell.y + ui.spacing().item_spacing.y, lens.tokens.len(), |ui, rows| {
            for position in rows {
                // A token per row, a layer per column: the stream rises from the embeddings (left) to the
                // output (right).
                let Some(t) = lens.tokens.get(position) else {
                    continue;
                };
                ui.horizontal(|ui| {
                    let label = shorten(&token(&t.text), 12);
                    let selected = p.column == Some(position);
                    let clicked = ui
                        .add_sized(
                            [label_width, cell.y],
                            egui::Button::selectable(selected, format!("{position} {label}")),
                        )
                        .on_hover_text("Click: plot how the next token's probability climbs layer by layer")
                        .clicked();
                    if clicked {
                        commands.push(Command::LensColumn((!selected).then_some(position)));
                    }
                    for (layer, row) in lens.layers.iter().enumerate() {
                        let Some(c) = row.get(position) else {
                            continue;
                        };
                        let Some(top) = c.top_k.first() else {
                            ui.add_space(cell.x);
                            continue;
                        };
                        let value = match p.colour {
                            LensColour::TopGuess => Some(top.prob),
                            LensColour::NextToken => c.next_logprob.map(f64::exp),
                        };
                        let fill = value.map_or(Color32::from_gray(40), |v| heat(v.sqrt() as f32));
                        let text_colour = if value.is_some_and(|v| v.sqrt() > 0.55) {
                            Color32::BLACK
                        } else {
                            Color32::WHITE
                        };
                        let (rect, response) = ui.allocate_exact_size(cell, Sense::click());
                        ui.painter().rect_filled(rect, 2.0, fill);
                        ui.painter().text(
                            rect.center(),
                            egui::Align2::CENTER_CENTER,
                            format!("{} {:.2}", shorten(&token(&top.text), 9), top.prob),
                            egui::FontId::monospace(12.0),
                            text_colour,
                        );
                        // Built only while hovered.
                        let response = response.on_hover_ui(|ui| {
                            ui.label(format!("layer {layer}, after token {position}:"));
                            for g in &c.top_k {
                                ui.monospace(format!("{} {:.3}", token(&g.text), g.prob));
                            }
                            if let Some(lp) = c.next_logprob {
                                ui.label(format!("actual next token: p {:.3}", lp.exp()));
                            }
                            ui.label(format!("entropy {:.2} bits", c.entropy_bits));
                        });
                        if response.clicked() {
                            commands.push(Command::LensColumn(Some(position)));
                        }
                    }
                });
            }
        });
    if let Some(position) = p.column {
        let next = lens.tokens.get(position + 1);
        let points: Vec<[f64; 2]> = lens
            .layers
            .iter()
            .enumerate()
            .filter_map(|(l, row)| Some([l as f64, row.get(position)?.next_logprob?.exp()]))
            .collect();
        match next {
            Some(next) if !points.is_empty() => {
                ui.label(format!(
                    "p({}) after token {position}, layer by layer",
                    token(&next.text)
                ));
                Plot::new("lens_climb")
                    .height(150.0)
                    .include_y(0.0)
                    .include_y(1.0)
                    .x_axis_label("layer")
                    .y_axis_label("p(next)")
                    .show(ui, |plot| {
                        plot.line(Line::new("p(next)", PlotPoints::from(points.clone())));
                        plot.points(Points::new("p(next)", PlotPoints::from(points)).radius(3.0));
                    });
            }
            _ => {
                ui.weak("The last token has no next token in the text: click another column.");
            }
        }
    }
    commands
}
