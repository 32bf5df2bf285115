//! The probability panel: per token p(x_t | x_<t), surprisal, rank and the top alternatives, the running
//! perplexity plotted with egui_plot, and the total perplexity. With heads knocked out it shows both readings:
//! each probability before → after, and both perplexity curves. A click on a token chooses the prediction the
//! head grid explains.

use egui::Color32;
use egui_extras::{Column, TableBuilder};
use egui_plot::{Line, Plot, PlotPoints, Points};

mod cells;

use self::cells::{alternatives_ui, change_colour};
use super::command::Command;
use crate::model::Analysis;

/// The running perplexity of the reading shown, and of the intact model beside it when heads are knocked out.
const CURVE: Color32 = Color32::from_rgb(86, 145, 220);
const BASELINE: Color32 = Color32::from_gray(150);

/// A plot of running perplexities ([`curve`]'s points) on a log axis labelled in plain numbers, each point's
/// token and PPL_t on hover; the probability panel's and the Compare view's.
pub(crate) fn running_perplexity_plot(id: &str, height: f32) -> Plot<'static> {
    Plot::new(id)
        .height(height)
        .x_axis_label("token")
        .y_axis_label("PPL_t (log)")
        .y_grid_spacer(decades)
        .y_axis_formatter(|mark, _| short_perplexity(10f64.powf(mark.value)))
        .label_formatter(|hover| match hover {
            egui_plot::HoverPosition::NearDataPoint {
                plot_name,
                position,
                ..
            } => Some(format!(
                "{plot_name}\ntoken {:.0}: PPL_t {:.2}",
                position.x,
                10f64.powf(position.y)
            )),
            egui_plot::HoverPosition::Elsewhere { .. } => None,
        })
        .allow_scroll(false)
}

/// The running perplexity of each scored token, as (position, log₁₀ PPL_t): the plot's y axis is logarithmic,
/// since the first few tokens' perplexity can be 10,000 and the rest of a long text's under 100.
pub(crate) fn curve(analysis: &Analysis) -> Vec<[f64; 2]> {
    analysis
        .tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            t.stats
                .as_ref()
                .map(|s| [i as f64, s.running_perplexity.log10()])
        })
        .collect()
}

/// Grid lines of a log₁₀ axis: every decade (the thickest); within each, 2× and 5× when at most three decades are
/// in view, every multiple (2×, 3×, … 9×) when at most one is, and every tenth (1.1×, 1.2×, …) within a factor of
/// two, so that a curve that stays near one value still has numbers beside it.
fn decades(input: egui_plot::GridInput) -> Vec<egui_plot::GridMark> {
    let (low, high) = input.bounds;
    if !(low.is_finite() && high.is_finite()) || high <= low {
        return Vec::new();
    }
    // Within a factor of two (138 to 154, say) the whole multiples may be none: tenths of them, 110, 120, ….
    let tenths: Vec<f64>;
    let multiples: &[f64] = match high - low {
        span if span <= 0.3 => {
            tenths = (11..100).map(|m| f64::from(m) / 10.0).collect();
            &tenths
        }
        span if span <= 1.0 => &[2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        span if span <= 3.0 => &[2.0, 5.0],
        _ => &[],
    };
    let mut marks = Vec::new();
    for decade in (low.floor() as i64)..=(high.ceil() as i64) {
        let decade = decade as f64;
        marks.push(egui_plot::GridMark {
            value: decade,
            step_size: 1.0,
        });
        // Each multiple's step is its distance to the next mark up (the decade after the last): egui_plot
        // leaves out the numbers of marks closer than it can write them, so 9.8× and 9.9× do not overlap.
        let ups = multiples.iter().skip(1).chain(std::iter::once(&10.0));
        for (multiple, up) in multiples.iter().zip(ups) {
            marks.push(egui_plot::GridMark {
                value: decade + multiple.log10(),
                step_size: (up / multiple).log10(),
            });
        }
    }
    marks.retain(|m| (low..=high).contains(&m.value));
    marks
}

/// A perplexity for the axis: 1, 2.5, 20, 500, 1.5k, 2k, 10k, 3M.
fn short_perplexity(value: f64) -> String {
    // Below 10 of a unit, a tenth where there is one: 1.5k, not 2k.
    let short = |v: f64| {
        if v >= 10.0 || (v - v.round()).abs() < 1e-6 {
            format!("{v:.0}")
        } else {
            format!("{v:.1}")
        }
    };
    match value {
        v if v >= 1e6 => format!("{}M", short(v / 1e6)),
        v if v >= 1e3 => format!("{}k", short(v / 1e3)),
        v => short(v),
    }
}

/// What the knocked-out run is, for the heading and the curve's name: "without 0.3", or "with 0.3 mean-ablated".
fn without(analysis: &Analysis) -> String {
    match analysis.replacement {
        crate::model::ablation::Replacement::Zero => format!("without {}", analysis.ablated),
        crate::model::ablation::Replacement::Mean => {
            format!("with {} mean-ablated", analysis.ablated)
        }
    }
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
            "Perplexity {before:.2} → {ppl:.2} {}",
            without(analysis)
        )),
        (Some(ppl), None) => ui.heading(format!("Perplexity {ppl:.2}")),
        (None, _) => ui.heading("Perplexity: nothing scored"),
    };
    ui.label(
        "PPL = exp(−mean ln p(x_t | x_<t)): the inverse geometric mean of the probabilities below. \
         1 only if every prediction is certain.",
    );
    // Byte-level tokenizers split some characters (Chinese, emoji) over tokens: say what the marks mean.
    // A token whose byte range starts or ends inside a character (not a token that shows a real ‹ or ›).
    let inside = |at: usize| !analysis.text.is_char_boundary(at);
    if let Some(piece) = analysis
        .tokens
        .iter()
        .find(|t| inside(t.start) || inside(t.end))
    {
        ui.small(format!(
            "{}: part of a character that the tokenizer split over tokens; › marks its first bytes, ‹ its last",
            piece.display
        ));
    }
    let points = curve(analysis);
    let plot = running_perplexity_plot("running_perplexity", 140.0);
    if baseline.is_some() {
        // The legend above the plot, not in it: a knocked-out curve climbs into any corner.
        ui.horizontal(|ui| {
            for (colour, name) in [
                (BASELINE, "every head".to_string()),
                (CURVE, without(analysis)),
            ] {
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(18.0, 10.0), egui::Sense::hover());
                ui.painter().line_segment(
                    [rect.left_center(), rect.right_center()],
                    egui::Stroke::new(2.0, colour),
                );
                ui.small(name);
            }
        });
    }
    plot.show(ui, |plot| {
        if let Some(b) = baseline {
            plot.line(Line::new("every head", PlotPoints::from(curve(b))).color(BASELINE));
        }
        let name = if baseline.is_some() {
            without(analysis)
        } else {
            "running perplexity".to_string()
        };
        // The line and its points one colour, so that the legend's entry for the name matches both.
        plot.line(Line::new(name.clone(), PlotPoints::from(points.clone())).color(CURVE));
        plot.points(
            Points::new(name, PlotPoints::from(points))
                .radius(3.0)
                .color(CURVE),
        );
    });
    ui.separator();
    // Only the rows in view are laid out (a 1,024-token text has 1,024 rows). The guesses take the width that
    // is left: as many whole ones as fit, then "+k"; their hover shows all five.
    let row_height = ui.spacing().interact_size.y;
    TableBuilder::new(ui)
        .id_salt("tokens")
        .striped(true)
        .auto_shrink([false, false])
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::auto().at_least(90.0))
        .column(Column::auto().at_least(64.0))
        .column(Column::auto().at_least(36.0))
        .column(Column::auto().at_least(36.0))
        .column(Column::remainder().at_least(80.0).clip(true))
        .header(row_height, |mut header| {
            header.col(|ui| {
                ui.strong("token").on_hover_text(
                    "Click a scored token: the head grid shows which heads its prediction rests on",
                );
            });
            header.col(|ui| {
                ui.strong(if baseline.is_some() { "p before → after" } else { "p" });
            });
            header.col(|ui| {
                let header = ui.strong("bits");
                if baseline.is_some() {
                    header.on_hover_text("With the heads knocked out, as the p column's right side");
                }
            });
            header.col(|ui| {
                let header = ui.strong("rank");
                if baseline.is_some() {
                    header.on_hover_text("With the heads knocked out, as the p column's right side");
                }
            });
            header.col(|ui| {
                ui.strong("top 5 guesses").on_hover_text(
                    "The model's five likeliest tokens at each position, the likeliest first; the token that came is underlined",
                );
            });
        })
        .body(|body| {
            body.rows(row_height, analysis.tokens.len(), |mut row| {
                let pos = row.index();
                // `rows` hands out indices below the count it was given.
                let token = &analysis.tokens[pos];
                row.col(|ui| {
                    let label = format!("{pos} {}", token.display);
                    let mut text = egui::RichText::new(label).monospace();
                    if focus == Some(pos) {
                        text = text.color(Color32::from_rgb(230, 85, 13));
                    }
                    let response = ui.selectable_label(predicted == Some(pos), text);
                    if token.stats.is_some() && response.clicked() {
                        clicked = Some(Command::Predict(pos));
                    }
                });
                match &token.stats {
                    Some(s) => {
                        let before = baseline
                            .and_then(|b| b.tokens.get(pos))
                            .and_then(|t| t.stats.as_ref());
                        row.col(|ui| match before {
                            Some(b) => {
                                let delta = s.logprob - b.logprob;
                                let colour = change_colour(delta, ui.visuals().text_color());
                                ui.colored_label(
                                    colour,
                                    egui::RichText::new(format!(
                                        "{} → {}",
                                        crate::format::percent(b.logprob),
                                        crate::format::percent(s.logprob)
                                    ))
                                    .monospace(),
                                )
                                .on_hover_text(format!("Δ ln p = {delta:+.3}"));
                            }
                            None => {
                                ui.monospace(crate::format::percent(s.logprob));
                            }
                        });
                        row.col(|ui| {
                            ui.monospace(format!("{:.2}", s.surprisal_bits));
                        });
                        row.col(|ui| {
                            ui.monospace(format!("{}", s.rank));
                        });
                        row.col(|ui| {
                            alternatives_ui(ui, &s.top_k, token.id);
                        });
                    }
                    None => {
                        row.col(|ui| {
                            ui.weak(if token.is_bos { "BOS" } else { "context" });
                        });
                        row.col(|ui| {
                            ui.weak("—");
                        });
                        row.col(|ui| {
                            ui.weak("—");
                        });
                        row.col(|ui| {
                            ui.weak("not scored").on_hover_text(if token.is_bos {
                                "Nothing comes before it: it is the context the model reads x₁ from"
                            } else {
                                "Nothing comes before it to predict it from"
                            });
                        });
                    }
                }
            });
        });
    clicked
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_axis_marks_decades_and_reads_them_back() {
        let marks = |low: f64, high: f64| {
            decades(egui_plot::GridInput {
                bounds: (low, high),
                base_step_size: 0.01,
            })
            .iter()
            .map(|m| (short_perplexity(10f64.powf(m.value)), m.step_size))
            .collect::<Vec<_>>()
        };
        // 1 to 1,000: each decade, and 2× and 5× between.
        let fine: Vec<String> = marks(0.0, 3.0)
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        assert_eq!(
            fine,
            ["1", "2", "5", "10", "20", "50", "100", "200", "500", "1k"]
        );
        // 1 to 10⁶: decades only.
        let coarse = marks(0.0, 6.0);
        assert_eq!(coarse.len(), 7);
        assert!(coarse.iter().all(|(_, step)| *step == 1.0));
        assert_eq!(coarse[6].0, "1M");
        assert!(marks(f64::NAN, 1.0).is_empty());
        // Inside one decade (a random model near 60,000): every multiple.
        let near: Vec<String> = marks(4.6, 4.9)
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        assert_eq!(near, ["40k", "50k", "60k", "70k"]);
        // Within a factor of two (a two-token text at 138 and 154): tenths of the decade.
        let close: Vec<String> = marks(138f64.log10(), 154f64.log10())
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        assert_eq!(close, ["140", "150"]);
        let thousands: Vec<String> = marks(1500f64.log10(), 1800f64.log10())
            .into_iter()
            .map(|(label, _)| label)
            .collect();
        assert_eq!(thousands, ["1.5k", "1.6k", "1.7k", "1.8k"]);
        // A mark's step is its distance to the next: 9.9× is 0.0044 from the decade, 1.1× 0.038 from 1.2×.
        let steps = decades(egui_plot::GridInput {
            bounds: (1.9, 2.1),
            base_step_size: 0.01,
        });
        let step_at = |v: f64| {
            steps
                .iter()
                .find(|m| (m.value - v.log10()).abs() < 1e-9)
                .map(|m| m.step_size)
                .unwrap()
        };
        assert!((step_at(99.0) - (100.0f64 / 99.0).log10()).abs() < 1e-12);
        assert!((step_at(110.0) - (12.0f64 / 11.0).log10()).abs() < 1e-12);
        assert_eq!(step_at(100.0), 1.0);
    }
}
