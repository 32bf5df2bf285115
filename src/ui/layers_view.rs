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
            "· each column's residual stream through the final norm and the unembedding: embed, the embeddings alone; after Ln, the stream leaving block n; output, the model's own (after L{}){}",
            layers.saturating_sub(2),
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
        ui.small("p 0 … 100 % (√ scale)");
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
    let label_width = 130.0;
    let gap = ui.spacing().item_spacing.x;
    let columns = Columns::fitting(ui.available_width() - label_width - gap, layers, gap);
    let max_height = (ui.available_height() - plot_height).max(120.0);
    // Header and rows scroll sideways together (a model too deep for the window); inside, only the rows in view
    // are built (a 1,024-token text has 1,024 rows of cells).
    egui::ScrollArea::horizontal()
        .id_salt("lens_sideways")
        .show(ui, |ui| {
            grid(
                ui,
                lens,
                &p,
                &columns,
                label_width,
                max_height,
                &mut commands,
            );
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
                let rows = lens.layers.len();
                Plot::new("lens_climb")
                    .height(150.0)
                    .include_y(0.0)
                    .include_y(1.0)
                    .x_axis_label("residual stream")
                    .x_axis_formatter(move |mark, _| row_label(mark.value, rows))
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

/// The header and the rows of the lens grid, a token per row and a layer per column; only the rows in view are
/// built.
fn grid(
    ui: &mut egui::Ui,
    lens: &Lens,
    p: &LayersPanel<'_>,
    columns: &Columns,
    label_width: f32,
    max_height: f32,
    commands: &mut Vec<Command>,
) {
    let layers = lens.layers.len();
    let cell = Vec2::new(columns.width, 20.0);
    ui.horizontal(|ui| {
        // Each row is what comes after its token, as the probability panel's rows are the token that came.
        ui.add_sized(
            [label_width, 18.0],
            egui::Label::new(egui::RichText::new("after token").weak()),
        );
        for layer in 0..layers {
            let text = crate::model::lens::row_name(layer, layers);
            ui.add_sized(
                [cell.x, 18.0],
                egui::Label::new(egui::RichText::new(text).strong()),
            );
        }
    });
    egui::ScrollArea::vertical()
        .max_height(max_height)
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
                            if columns.with_prob {
                                format!(
                                    "{} {}",
                                    shorten(&token(&top.text), columns.token_chars),
                                    crate::format::whole_percent(top.prob)
                                )
                            } else {
                                shorten(&token(&top.text), columns.token_chars)
                            },
                            egui::FontId::monospace(columns.font_size),
                            text_colour,
                        );
                        // Built only while hovered.
                        let response = response.on_hover_ui(|ui| {
                            ui.label(format!(
                                "token {position} · {}:",
                                crate::model::lens::row_name(layer, layers)
                            ));
                            for g in &c.top_k {
                                ui.monospace(format!(
                                    "{} {}",
                                    token(&g.text),
                                    crate::format::percent(g.prob.ln())
                                ));
                            }
                            if let Some(lp) = c.next_logprob {
                                ui.label(format!(
                                    "actual next token: p {}",
                                    crate::format::percent(lp)
                                ));
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
}

/// The lens grid's columns: as wide as the panel allows for every layer to show (the demo model's ten beside
/// the side panels), between [`Columns::NARROWEST`] and [`Columns::WIDEST`] points; a narrower column gets a
/// smaller font and a shorter token (the whole token is on hover). Deeper models scroll sideways.
struct Columns {
    width: f32,
    font_size: f32,
    /// Characters of the top guess, ellipsis included.
    token_chars: usize,
    /// The guess's probability after it (" 97%"); in a narrow column the colour and the hover give it, and
    /// the token has the room.
    with_prob: bool,
}

impl Columns {
    const WIDEST: f32 = 118.0;
    const NARROWEST: f32 = 60.0;

    fn fitting(available: f32, layers: usize, gap: f32) -> Self {
        let fit = available / layers.max(1) as f32 - gap;
        let width = fit.clamp(Self::NARROWEST, Self::WIDEST);
        let font_size = if width >= 100.0 { 12.0 } else { 10.0 };
        // A monospace character is about 0.6 em wide; " 0.97" takes five, and 6 points of margin.
        let chars = ((width - 6.0) / (0.6 * font_size)) as usize;
        let with_prob = width >= 100.0;
        Self {
            width,
            font_size,
            token_chars: chars
                .saturating_sub(if with_prob { 5 } else { 0 })
                .clamp(3, 9),
            with_prob,
        }
    }
}

/// A lens plot's x-axis label at `value`: the row's name at whole rows, nothing between or past them.
pub(crate) fn row_label(value: f64, rows: usize) -> String {
    let row = value.round();
    if (value - row).abs() > 1e-6 || row < 0.0 || row >= rows as f64 {
        return String::new();
    }
    // 0 ≤ row < rows, a whole number: the cast keeps it.
    crate::model::lens::row_name(row as usize, rows)
}

#[cfg(test)]
mod tests {
    use super::Columns;

    #[test]
    fn columns_fill_the_panel_then_scroll() {
        // Wide enough for GPT-2 small's 13 columns at full width: the widest cells, the 9-character tokens
        // and their probabilities.
        let wide = Columns::fitting(13.0 * 126.0, 13, 8.0);
        assert_eq!(
            (wide.width, wide.font_size, wide.token_chars, wide.with_prob),
            (118.0, 12.0, 9, true)
        );
        // The demo model's 10 columns (nine layers and the output) in the 700 points the default window leaves
        // them: all of them, narrower, in a smaller font, with the guesses' 9 characters and no probability.
        let demo = Columns::fitting(700.0, 10, 8.0);
        assert!(
            demo.width * 10.0 + 8.0 * 10.0 <= 700.0 + 0.01,
            "{}",
            demo.width
        );
        assert_eq!(
            (demo.font_size, demo.token_chars, demo.with_prob),
            (10.0, 9, false)
        );
        // Too many to fit: the narrowest cells, and the grid scrolls sideways.
        let deep = Columns::fitting(660.0, 25, 8.0);
        assert_eq!(deep.width, Columns::NARROWEST);
        assert!(deep.token_chars >= 3);
        // No layers is no division by zero.
        assert_eq!(Columns::fitting(660.0, 0, 8.0).width, Columns::WIDEST);
    }
}
