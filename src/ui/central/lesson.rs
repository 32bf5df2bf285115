//! The Lesson view in the body: the lesson panel with its figures drawn by the app's own panels on the text
//! and head on screen.

use std::sync::Arc;

use super::body::Body;
use super::panels::{graph_ui, grid_ui};
use crate::model::Analysis;
use crate::session::SideTask;
use crate::ui::command::Command;
use crate::ui::head_grid::OnClick;
use crate::ui::markov_panel::markov_panel_ui;
use crate::ui::{lesson_view, matrix_view, token_panel};

/// The lesson, with its figures drawn by the app's own panels on the text and head on screen.
pub(super) fn lesson_ui(ui: &mut egui::Ui, b: &mut Body<'_>, a: &Analysis) -> Vec<Command> {
    use crate::lesson::steps::Facts;
    let (session, settings) = (b.session, b.settings);
    let head = match settings.selection {
        crate::graph::Selection::Head { layer, head } => (layer, head),
        _ => (0, 0),
    };
    let explained = session
        .explained()
        .filter(|e| (e.explanation.layer, e.explanation.head) == head);
    let last = a.tokens.len().saturating_sub(1);
    // The lens at the last-but-one token, what the lens step reads.
    let lens_column = session
        .lensed(&b.view.knock_out())
        .zip(a.tokens.len().checked_sub(2))
        .and_then(|(lens, pos)| lens.at(pos));
    let facts = explained.map(|e| Facts {
        analysis: a,
        explanation: &e.explanation,
        head_scores: session.head_scores(),
        attribution: session.attribution().filter(|at| at.position + 1 == last),
        lens: lens_column.as_deref(),
        carried: Some(e.carried.as_slice()),
    });
    let failure = session
        .text_key()
        .and_then(|key| session.failure(&SideTask::Explain(key, head.0, head.1)));
    let panel = lesson_view::LessonPanel {
        step: settings.lesson_step,
        lang: settings.lang,
        prediction: b.view.prediction,
        chinese_font: b.view.chinese_font,
        facts,
        head,
        failure,
    };
    lesson_view::lesson_ui(ui, panel, |ui, figure| {
        lesson_figure(ui, b, a, figure, explained)
    })
}

fn lesson_figure(
    ui: &mut egui::Ui,
    b: &mut Body<'_>,
    a: &Analysis,
    figure: crate::lesson::steps::Figure,
    explained: Option<&crate::session::Explained>,
) -> Vec<Command> {
    use crate::lesson::steps::Figure;
    use egui_plot::{Line, Plot, PlotPoints, Points};
    let mut commands = Vec::new();
    // Every figure but the tokens' reads the snapshot's labels; until it arrives, nothing is drawn.
    let Some(snapshot) = b.view.shown().map(|s| Arc::clone(&s.snapshot)) else {
        ui.spinner();
        return commands;
    };
    match figure {
        Figure::Tokens => {
            ui.horizontal_wrapped(|ui| {
                for (i, t) in a.tokens.iter().enumerate() {
                    egui::Frame::group(ui.style()).show(ui, |ui| {
                        ui.vertical(|ui| {
                            ui.label(egui::RichText::new(&t.display).monospace().size(20.0));
                            ui.small(format!("#{i} · id {}", t.id));
                        });
                    });
                }
            });
        }
        Figure::Scores => {
            if let Some(e) = explained {
                // Scores are any real number: shown from their minimum (dark) to their maximum (bright).
                let s = &e.scores;
                let (lo, hi) = s
                    .iter_rows()
                    .flatten()
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                        (lo.min(v), hi.max(v))
                    });
                let mut scaled = crate::graph::Matrix::zeros(s.n());
                for i in 0..s.n() {
                    for j in 0..s.n() {
                        scaled.set(i, j, (s.get(i, j) - lo) / (hi - lo).max(1e-12));
                    }
                }
                ui.small(format!(
                    "S = QKᵀ/√d, unmasked: from {lo:.2} (dark) to {hi:.2} (bright)"
                ));
                // A key of its own: the text, head and model the scores were made for.
                let key = {
                    use std::hash::{Hash, Hasher};
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    (
                        &e.key.text,
                        e.key.bos,
                        e.explanation.layer,
                        e.explanation.head,
                    )
                        .hash(&mut h);
                    b.session.model_name().hash(&mut h);
                    h.finish()
                };
                let _ = matrix_view::matrix_ui(ui, &scaled, &snapshot.graph, false, key, false);
            }
        }
        Figure::Attention => {
            // What the head passes on: for the last token, each token's attention weight beside its share of
            // what the head moves, α_ij ‖f_h(x_j)‖ — a token can take much attention and carry little.
            if let Some(e) = explained {
                let weights = a.attentions.n_tokens().checked_sub(1).map(|last| {
                    (0..a.attentions.n_tokens())
                        .map(|j| {
                            f64::from(a.attentions.get(
                                e.explanation.layer,
                                e.explanation.head,
                                last,
                                j,
                            ))
                        })
                        .collect::<Vec<f64>>()
                });
                let total: f64 = e.carried.iter().sum();
                if let (Some(weights), true) = (weights, total > 0.0) {
                    ui.small(format!(
                        "head {}.{}, the last token's row: attention weight α (left bar) and share of what the head moves, α||f(x_j)|| (right bar)",
                        e.explanation.layer, e.explanation.head
                    ));
                    let attention = egui_plot::BarChart::new(
                        "attention weight α",
                        weights
                            .iter()
                            .enumerate()
                            .map(|(j, &w)| egui_plot::Bar::new(j as f64 - 0.2, w).width(0.4))
                            .collect(),
                    );
                    let moved = egui_plot::BarChart::new(
                        "share of what is moved",
                        e.carried
                            .iter()
                            .enumerate()
                            .map(|(j, &c)| {
                                egui_plot::Bar::new(j as f64 + 0.2, c / total).width(0.4)
                            })
                            .collect(),
                    );
                    Plot::new("lesson_values")
                        .height(140.0)
                        .include_y(0.0)
                        .include_y(1.0)
                        .x_axis_label("token")
                        .legend(egui_plot::Legend::default())
                        .show(ui, |plot| {
                            plot.bar_chart(attention);
                            plot.bar_chart(moved);
                        });
                }
            }
            if let Some(shown) = b.view.shown() {
                ui.small(shown.snapshot.title());
                let _ = matrix_view::matrix_ui(
                    ui,
                    &shown.snapshot.matrix,
                    &shown.snapshot.graph,
                    b.settings.log_scale,
                    shown.serial,
                    true,
                );
            }
        }
        Figure::Graph => commands.extend(graph_ui(ui, b)),
        Figure::Markov => {
            if let Some(shown) = b.view.shown() {
                let _ = markov_panel_ui(ui, &shown.snapshot.markov, &shown.snapshot.graph, 1);
            }
        }
        Figure::Powers => {
            if let Some(e) = explained {
                let points: Vec<[f64; 2]> = e
                    .explanation
                    .mass_on_token0
                    .iter()
                    .enumerate()
                    .map(|(k, &m)| [k as f64 + 1.0, m])
                    .collect();
                // Beside it, a uniform causal matrix of the same size: every causal matrix drains into token 0;
                // a sink only drains faster.
                let uniform: Vec<[f64; 2]> = e
                    .explanation
                    .uniform_mass_on_token0
                    .iter()
                    .enumerate()
                    .map(|(k, &m)| [k as f64 + 1.0, m])
                    .collect();
                Plot::new("lesson_powers")
                    .height(220.0)
                    .x_axis_label("k")
                    .y_axis_label("mean (A^k)[i][0]")
                    .include_y(0.0)
                    .include_y(1.0)
                    .legend(egui_plot::Legend::default())
                    .show(ui, |plot| {
                        plot.line(Line::new("this head", PlotPoints::from(points.clone())));
                        plot.points(Points::new("this head", PlotPoints::from(points)).radius(3.0));
                        plot.line(Line::new(
                            "uniform causal matrix",
                            PlotPoints::from(uniform),
                        ));
                    });
            }
        }
        Figure::Probabilities => {
            let focus = b.view.focus();
            commands.extend(token_panel::token_panel_ui(
                ui,
                a,
                None,
                focus,
                b.view.predicted,
            ));
        }
        Figure::Perplexity => {
            let points: Vec<[f64; 2]> = a
                .tokens
                .iter()
                .enumerate()
                .filter_map(|(i, t)| t.stats.as_ref().map(|s| [i as f64, s.running_perplexity]))
                .collect();
            Plot::new("lesson_perplexity")
                .height(220.0)
                .x_axis_label("token")
                .y_axis_label("PPL_t")
                .show(ui, |plot| {
                    plot.line(Line::new(
                        "running perplexity",
                        PlotPoints::from(points.clone()),
                    ));
                    plot.points(Points::new("tokens", PlotPoints::from(points)).radius(3.0));
                });
        }
        Figure::Bits => {
            egui::ScrollArea::vertical().show(ui, |ui| {
                egui::Grid::new("lesson_bits").striped(true).show(ui, |ui| {
                    ui.strong("token");
                    ui.strong("p");
                    ui.strong("bits = −log₂ p");
                    ui.end_row();
                    for t in &a.tokens {
                        if let Some(s) = &t.stats {
                            ui.monospace(&t.display);
                            ui.monospace(crate::format::percent(s.logprob));
                            ui.monospace(format!("{:.2}", s.surprisal_bits));
                            ui.end_row();
                        }
                    }
                    if let Some(e) = explained {
                        ui.strong("Σ");
                        ui.label(format!("{} bytes", e.explanation.scored_bytes));
                        let bpb = e
                            .explanation
                            .bits_per_byte
                            .map_or_else(|| "—".to_string(), |b| format!("{b:.2}"));
                        ui.strong(format!("{:.1} bits · {bpb} bits/byte", e.explanation.bits));
                        ui.end_row();
                    }
                });
            });
        }
        Figure::Heads => commands.extend(grid_ui(ui, b, a, 60.0, true, OnClick::Select)),
        Figure::Lens => {
            let pos = a.tokens.len().checked_sub(2);
            // The same column of the lens the step's check reads.
            let column = pos.and_then(|pos| b.session.lensed(&b.view.knock_out())?.at(pos));
            match (column, pos) {
                (Some(column), Some(pos)) => {
                    let next = crate::format::token(&a.tokens[pos + 1].display);
                    let points: Vec<[f64; 2]> = column
                        .iter()
                        .enumerate()
                        .filter_map(|(l, cell)| Some([l as f64, cell.next_logprob?.exp()]))
                        .collect();
                    ui.label(format!(
                        "p({next}) after {}, layer by layer (embed: the embeddings alone; output: the model's own); each layer's top guess below",
                        crate::format::token(&a.tokens[pos].display)
                    ));
                    let rows = column.len();
                    Plot::new("lesson_lens")
                        .height(150.0)
                        .include_y(0.0)
                        .include_y(1.0)
                        .x_axis_label("residual stream")
                        .x_axis_formatter(move |mark, _| {
                            crate::ui::layers_view::row_label(mark.value, rows)
                        })
                        .y_axis_label("p")
                        .allow_drag(false)
                        .allow_zoom(false)
                        .allow_scroll(false)
                        .show(ui, |plot| {
                            plot.line(Line::new("p", PlotPoints::from(points.clone())));
                            plot.points(
                                Points::new("layers", PlotPoints::from(points)).radius(4.0),
                            );
                        });
                    ui.horizontal_wrapped(|ui| {
                        for (l, cell) in column.iter().enumerate() {
                            if let Some(g) = cell.top_k.first() {
                                ui.label(format!(
                                    "{}: {}",
                                    crate::model::lens::row_name(l, column.len()),
                                    crate::format::token(&g.text)
                                ));
                            }
                        }
                    });
                }
                (None, Some(_)) => {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label("reading every layer's prediction…");
                    });
                }
                (_, None) => {
                    ui.label("One token: nothing before it predicts it.");
                }
            }
        }
    }
    commands
}
