//! The probability panel: per token p(x_t | x_<t), surprisal, rank and the top alternatives, the running
//! perplexity plotted with egui_plot, and the total perplexity.

use egui_plot::{Line, Plot, PlotPoints, Points};

use crate::model::tokenizer::visible_whitespace;
use crate::model::Analysis;

/// Draws the panel. `focus` is the token to highlight (hovered or pinned node).
pub fn token_panel_ui(ui: &mut egui::Ui, analysis: &Analysis, focus: Option<usize>) {
    match analysis.perplexity {
        Some(ppl) => ui.heading(format!("Perplexity {ppl:.2}")),
        None => ui.heading("Perplexity: nothing scored"),
    };
    ui.label(
        "PPL = exp(−mean ln p(x_t | x_<t)): the inverse geometric mean of the probabilities below. \
         1 only if every prediction is certain.",
    );
    let points: Vec<[f64; 2]> = analysis
        .tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| t.stats.as_ref().map(|s| [i as f64, s.running_perplexity]))
        .collect();
    Plot::new("running_perplexity")
        .height(140.0)
        .x_axis_label("token")
        .y_axis_label("PPL_t")
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new(
                "running perplexity",
                PlotPoints::from(points.clone()),
            ));
            plot.points(Points::new("tokens", PlotPoints::from(points)).radius(3.0));
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
                    ui.strong("token");
                    ui.strong("p");
                    ui.strong("bits");
                    ui.strong("rank");
                    ui.strong("top 5 alternatives");
                    ui.end_row();
                    for (pos, token) in analysis.tokens.iter().enumerate() {
                        let label = format!("{pos} {}", token.display);
                        if focus == Some(pos) {
                            ui.colored_label(egui::Color32::from_rgb(230, 85, 13), label);
                        } else {
                            ui.monospace(label);
                        }
                        match &token.stats {
                            Some(s) => {
                                ui.monospace(format!("{:.2e}", s.logprob.exp()));
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
}
