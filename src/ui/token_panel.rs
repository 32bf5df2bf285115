//! The probability panel: per token p(x_t | x_<t), surprisal, rank and the top alternatives, the running
//! perplexity plotted with egui_plot, and the total perplexity. With heads knocked out it shows both readings:
//! each probability before → after, and both perplexity curves. A click on a token chooses the prediction the
//! head grid explains.

use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};

use super::command::Command;
use crate::model::tokenizer::visible_whitespace;
use crate::model::Analysis;

/// Where a probability went up, and down, with heads knocked out.
const UP: Color32 = Color32::from_rgb(26, 152, 80);
const DOWN: Color32 = Color32::from_rgb(215, 48, 39);

fn curve(analysis: &Analysis) -> Vec<[f64; 2]> {
    analysis
        .tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.stats.as_ref().map(|s| [i as f64, s.running_perplexity]))
        .collect()
}

/// Draws the panel. `focus` is the token to highlight (hovered or pinned node); `predicted` the one whose
/// prediction the grid explains; `baseline`, with heads knocked out, the intact model's reading of the text.
/// Returns the token clicked.
pub fn token_panel_ui(
    ui: &mut egui::Ui,
    analysis: &Analysis,
    baseline: Option<&Analysis>,
    focus: Option<usize>,
    predicted: Option<usize>,
) -> Option<Command> {
    let mut clicked = None;
    // The intact reading belongs to this text only while the answers agree on it.
    let baseline = baseline.filter(|b| b.text == analysis.text && b.bos == analysis.bos);
    match (analysis.perplexity, baseline.and_then(|b| b.perplexity)) {
        (Some(ppl), Some(before)) => ui.heading(format!(
            "Perplexity {before:.2} → {ppl:.2} without {}",
            analysis.ablated
        )),
        (Some(ppl), None) => ui.heading(format!("Perplexity {ppl:.2}")),
        (None, _) => ui.heading("Perplexity: nothing scored"),
    };
    ui.label(
        "PPL = exp(−mean ln p(x_t | x_<t)): the inverse geometric mean of the probabilities below. \
         1 only if every prediction is certain.",
    );
    let points = curve(analysis);
    let mut plot = Plot::new("running_perplexity")
        .height(140.0)
        .x_axis_label("token")
        .y_axis_label("PPL_t")
        .allow_scroll(false);
    if baseline.is_some() {
        plot = plot.legend(Legend::default());
    }
    plot.show(ui, |plot| {
        if let Some(b) = baseline {
            plot.line(Line::new("every head", PlotPoints::from(curve(b))));
        }
        let name = if baseline.is_some() {
            format!("without {}", analysis.ablated)
        } else {
            "running perplexity".to_string()
        };
        plot.line(Line::new(name.clone(), PlotPoints::from(points.clone())));
        plot.points(Points::new(name, PlotPoints::from(points)).radius(3.0));
    });
    ui.separator();
    // Both ways: the alternatives column is wider than the panel on long texts.
    egui::ScrollArea::both()
        .auto_shrink([false, false])
        .show(ui, |ui| {
            egui::Grid::new("tokens")
                .striped(true)
                .num_columns(5)
                .show(ui, |ui| {
                    ui.strong("token").on_hover_text(
                        "Click a scored token: the head grid shows which heads its prediction rests on",
                    );
                    ui.strong(if baseline.is_some() { "p before → after" } else { "p" });
                    ui.strong("bits");
                    ui.strong("rank");
                    ui.strong("top 5 alternatives");
                    ui.end_row();
                    for (pos, token) in analysis.tokens.iter().enumerate() {
                        let label = format!("{pos} {}", token.display);
                        let mut text = egui::RichText::new(label).monospace();
                        if focus == Some(pos) {
                            text = text.color(Color32::from_rgb(230, 85, 13));
                        }
                        let response = ui.selectable_label(predicted == Some(pos), text);
                        if token.stats.is_some() && response.clicked() {
                            clicked = Some(Command::Predict(pos));
                        }
                        match &token.stats {
                            Some(s) => {
                                let before = baseline
                                    .and_then(|b| b.tokens.get(pos))
                                    .and_then(|t| t.stats.as_ref());
                                match before {
                                    Some(b) => {
                                        let delta = s.logprob - b.logprob;
                                        let colour = if delta > 0.01 {
                                            UP
                                        } else if delta < -0.01 {
                                            DOWN
                                        } else {
                                            ui.visuals().text_color()
                                        };
                                        ui.colored_label(
                                            colour,
                                            egui::RichText::new(format!(
                                                "{:.2e} → {:.2e}",
                                                b.logprob.exp(),
                                                s.logprob.exp()
                                            ))
                                            .monospace(),
                                        )
                                        .on_hover_text(format!("Δ ln p = {delta:+.3}"));
                                    }
                                    None => {
                                        ui.monospace(format!("{:.2e}", s.logprob.exp()));
                                    }
                                }
                                ui.monospace(format!("{:.2}", s.surprisal_bits));
                                ui.monospace(format!("{}", s.rank));
                                let alts: Vec<String> = s
                                    .top_k
                                    .iter()
                                    .map(|a| {
                                        // Some vocabulary entries are runs of 30+ symbols: keep the table narrow.
                                        let text = super::shorten(&visible_whitespace(&a.text), 12);
                                        format!("{text} {:.2}", a.prob)
                                    })
                                    .collect();
                                ui.small(alts.join("  "));
                            }
                            None => {
                                ui.weak(if token.is_bos { "BOS" } else { "context" });
                                ui.weak("—");
                                ui.weak("—");
                                ui.weak(if token.is_bos {
                                    "not scored: it is the context for x₁"
                                } else {
                                    "not scored: no context"
                                });
                            }
                        }
                        ui.end_row();
                    }
                });
        });
    clicked
}
