//! The window's body: the head grid on the left, the token panel on the right, and the view chosen (graph,
//! matrix, heads, Markov, perplexity) in the centre; before the first analysis, the download or a spinner.

use std::sync::Arc;

use super::command::Command;
use super::effects_panel::{self, EffectsPanel};
use super::head_grid::{grid_panel_ui, GridPanel};
use super::markov_panel::{markov_panel_ui, MarkovCommand};
use super::perplexity_panel::{PerplexityCommand, PerplexityTab};
use super::settings::{Settings, View};
use super::view_state::GridColour;
use super::view_state::ViewState;
use super::{graph_view, lesson_view, matrix_view, status, token_panel};

use crate::model::Analysis;
use crate::session::Session;
use crate::session::SideTask;

/// What the body draws from.
pub struct Body<'a> {
    /// The model side.
    pub session: &'a Session,
    /// The settings.
    pub settings: &'a Settings,
    /// The snapshot and graph on screen.
    pub view: &'a mut ViewState,
    /// The Perplexity tab.
    pub perplexity: &'a mut PerplexityTab,
}

/// Draws the side panels and the central view; returns the central area's rectangle (PNG exports save it)
/// and the commands.
pub fn body_ui(ui: &mut egui::Ui, mut b: Body<'_>) -> (egui::Rect, Vec<Command>) {
    let mut commands = Vec::new();
    let analysis = b.session.analysis().cloned();
    if let Some(a) = &analysis {
        if !matches!(
            b.settings.view,
            View::Heads | View::Perplexity | View::Lesson
        ) {
            egui::Panel::left("grid")
                .resizable(true)
                .default_size(300.0)
                .show(ui, |ui| {
                    // Cells as wide as the panel allows (up to 64 points), so the patterns can be read.
                    commands.extend(grid_ui(ui, &mut b, a, 64.0, false))
                });
        }
        // The Heads view keeps the probabilities beside it: a click there picks the prediction its colours explain.
        if !matches!(b.settings.view, View::Perplexity | View::Lesson) {
            let focus = b.view.focus();
            let baseline = b.session.baseline().map(|b| &**b);
            let predicted = b.view.predicted;
            let clicked = egui::Panel::right("tokens")
                .resizable(true)
                .default_size(420.0)
                .max_size(ui.available_width() * 0.4)
                .show(ui, |ui| {
                    token_panel::token_panel_ui(ui, a, baseline, focus, predicted)
                })
                .inner;
            commands.extend(clicked);
        }
    }
    let central = egui::CentralPanel::default().show(ui, |ui| {
        commands.extend(status::prefetch_banner_ui(ui, b.session));
        commands.extend(status::load_error_ui(ui, b.session));
        let model = b.settings.model.as_str();
        match &analysis {
            None => commands.extend(status::waiting_ui(ui, b.session, model)),
            Some(a) => commands.extend(view_ui(ui, &mut b, a)),
        }
    });
    (central.response.rect, commands)
}

/// Says so above the graph, matrix and Markov views when heads are knocked out.
fn knocked_out_ui(ui: &mut egui::Ui, a: &Analysis, selection: crate::graph::Selection) {
    if a.ablated.is_empty() {
        return;
    }
    let orange = egui::Color32::from_rgb(230, 85, 13);
    let mut line = format!(
        "Knocked out: {}. Every matrix and probability here is the model without them.",
        a.ablated
    );
    if let crate::graph::Selection::Head { layer, head } = selection {
        if a.ablated.contains(layer, head) {
            line.push_str(&format!(
                " Head {layer}.{head} is one of them: it still looks where it would, but what it reads is dropped."
            ));
        }
    }
    ui.colored_label(orange, line);
}

fn view_ui(ui: &mut egui::Ui, b: &mut Body<'_>, a: &Analysis) -> Vec<Command> {
    let mut commands = Vec::new();
    if matches!(b.settings.view, View::Graph | View::Matrix | View::Markov) {
        knocked_out_ui(ui, a, b.settings.selection);
    }
    match b.settings.view {
        View::Perplexity => match b.perplexity.ui(ui, b.session.model_name().is_some()) {
            PerplexityCommand::Run => commands.push(Command::ScoreFile),
            PerplexityCommand::Browse => commands.push(Command::BrowseTextFile),
            PerplexityCommand::None => {}
        },
        View::Heads => commands.extend(grid_ui(ui, b, a, 160.0, true)),
        View::Layers => {
            let panel = super::layers_view::LayersPanel {
                lens: b.session.lensed(&b.view.knocked_out),
                colour: b.view.lens_colour,
                column: b.view.lens_column,
                failure: b.session.text_key().and_then(|key| {
                    b.session.failure(&crate::session::SideTask::Lens(
                        key,
                        b.view.knocked_out.clone(),
                    ))
                }),
                knocked_out: if b.view.knocked_out.is_empty() {
                    String::new()
                } else {
                    format!(" · heads {} knocked out", b.view.knocked_out)
                },
            };
            commands.extend(super::layers_view::layers_ui(ui, panel));
        }
        View::Lesson => commands.extend(lesson_ui(ui, b, a)),
        View::Matrix => {
            if let Some(shown) = b.view.shown() {
                ui.strong(format!(
                    "{} — row i: where token i looks",
                    shown.snapshot.title()
                ));
                let clicked = matrix_view::matrix_ui(
                    ui,
                    &shown.snapshot.matrix,
                    &shown.snapshot.graph,
                    b.settings.log_scale,
                    shown.serial,
                    true,
                );
                // A cell selects both its tokens for the graph: the query pinned, the key highlighted.
                if let Some((query, key)) = clicked {
                    commands.push(Command::Focus {
                        hovered: Some(key),
                        pinned: Some(query),
                    });
                }
            }
        }
        View::Graph => commands.extend(graph_ui(ui, b)),
        View::Markov => {
            let steps = b.settings.markov_steps;
            let panel = egui::Panel::bottom("markov_panel")
                .resizable(true)
                .default_size(260.0)
                .show(ui, |ui| {
                    b.view
                        .shown()
                        .map(|d| markov_panel_ui(ui, &d.snapshot.markov, &d.snapshot.graph, steps))
                });
            if let Some(MarkovCommand::Steps(k)) = panel.inner {
                commands.push(Command::MarkovSteps(k));
            }
            commands.extend(graph_ui(ui, b));
        }
    }
    commands
}

fn grid_ui(
    ui: &mut egui::Ui,
    b: &mut Body<'_>,
    a: &Analysis,
    max_cell: f32,
    fit_height: bool,
) -> Vec<Command> {
    b.view
        .thumbnails
        .update(ui.ctx(), &a.attentions, b.session.shown_generation());
    let attribution = b.session.attribution();
    let sweep = b.session.sweep_result().map(|s| &**s);
    let overlay =
        effects_panel::overlay(b.view.grid_colour, b.view.predicted, a, attribution, sweep);
    grid_panel_ui(
        ui,
        GridPanel {
            attentions: &a.attentions,
            thumbnails: &b.view.thumbnails,
            text_scores: b.session.head_scores(),
            probe_scores: b.session.probe_scores(),
            badges_from_probe: b.view.badges_from_probe,
            selected: b.settings.selection,
            max_cell,
            fit_height,
            overlay: overlay.as_ref(),
            // Crossed out: the heads the analysis on screen was made without.
            knocked_out: &a.ablated,
            effects: EffectsPanel {
                analysis: a,
                colour: b.view.grid_colour,
                predicted: b.view.predicted,
                attribution,
                attribution_pending: b.session.attribution_pending(),
                sweep,
                sweep_progress: b.session.sweep_progress(),
                overlay: overlay.as_ref(),
                knocked_out: &b.view.knocked_out,
                selected: b.settings.selection,
                failure: b.session.text_key().and_then(|key| {
                    let task = match b.view.grid_colour {
                        GridColour::KnockOut => SideTask::Sweep(key),
                        _ => SideTask::Attribute(key, b.view.predicted?.checked_sub(1)?),
                    };
                    b.session.failure(&task)
                }),
            },
        },
    )
}

fn graph_ui(ui: &mut egui::Ui, b: &mut Body<'_>) -> Option<Command> {
    let focus = (b.view.hovered, b.view.pinned);
    let window = b.view.window;
    let shown = b.view.shown_mut()?;
    graph_view::graph_panel_ui(
        ui,
        &mut shown.graph,
        &shown.snapshot,
        b.settings.layout,
        b.settings.log_scale,
        focus,
        window,
    )
}

/// The lesson, with its figures drawn by the app's own panels on the text and head on screen.
fn lesson_ui(ui: &mut egui::Ui, b: &mut Body<'_>, a: &Analysis) -> Vec<Command> {
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
    let facts = explained.map(|e| Facts {
        analysis: a,
        explanation: &e.explanation,
        head_scores: session.head_scores(),
        attribution: session.attribution().filter(|at| at.position + 1 == last),
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
                        "head {}.{}, the last token's row: attention weight α (left bar) and share of what the head moves, α‖f(x_j)‖ (right bar)",
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
                            ui.monospace(format!("{:.3e}", s.logprob.exp()));
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
        Figure::Heads => commands.extend(grid_ui(ui, b, a, 60.0, true)),
    }
    commands
}
