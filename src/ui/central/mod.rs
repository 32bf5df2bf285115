//! The window's body: the head grid on the left, the token panel on the right, and the view chosen (graph,
//! matrix, heads, layers, Markov, perplexity, lesson) in the centre; before the first analysis, the download or a
//! spinner. `panels.rs` draws the grid and graph both use, `lesson.rs` the lesson with its figures.

mod body;
mod lesson;
mod panels;

use crate::ui::head_grid::OnClick;
pub use body::Body;
use lesson::lesson_ui;
use panels::{graph_ui, grid_ui};

use super::command::Command;
use super::markov_panel::{markov_panel_ui, MarkovCommand};
use super::perplexity_panel::PerplexityCommand;
use super::settings::View;
use super::{matrix_view, status, token_panel};
use crate::model::Analysis;

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
                    commands.extend(grid_ui(ui, &mut b, a, 64.0, false, OnClick::Select))
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
        commands.extend(status::too_long_ui(
            ui,
            b.session,
            &b.settings.text,
            b.whole_text,
            b.perplexity.progress.is_some(),
        ));
        let model = b.settings.model.as_str();
        match &analysis {
            // The Perplexity tab needs a model, not an analysis: it scores a text too long to analyse.
            _ if b.settings.view == View::Perplexity && b.session.model_name().is_some() => {
                commands.extend(perplexity_ui(ui, &mut b));
            }
            None => commands.extend(status::waiting_ui(ui, b.session, model)),
            Some(a) => commands.extend(view_ui(ui, &mut b, a)),
        }
    });
    (central.response.rect, commands)
}

/// The Perplexity tab.
fn perplexity_ui(ui: &mut egui::Ui, b: &mut Body<'_>) -> Option<Command> {
    let now = super::perplexity_panel::Now {
        model: b.session.model_name(),
        text: &b.settings.text,
    };
    match b.perplexity.ui(ui, now) {
        PerplexityCommand::Run => Some(Command::ScoreFile),
        PerplexityCommand::RunText => Some(Command::ScoreText),
        PerplexityCommand::SaveCsv => Some(Command::ExportPerToken),
        PerplexityCommand::Browse => Some(Command::BrowseTextFile),
        PerplexityCommand::None => None,
    }
}

/// Says so above the graph, matrix and Markov views when heads are knocked out.
fn knocked_out_ui(ui: &mut egui::Ui, a: &Analysis, selection: crate::graph::Selection) {
    if a.ablated.is_empty() {
        return;
    }
    let orange = egui::Color32::from_rgb(230, 85, 13);
    let one = a.ablated.len() == 1;
    let mut line = match a.replacement {
        crate::model::ablation::Replacement::Zero => format!(
            "Knocked out: {}. Every matrix and probability here is the model without {}.",
            a.ablated,
            if one { "it" } else { "them" }
        ),
        crate::model::ablation::Replacement::Mean => format!(
            "Mean-ablated: {}. Every matrix and probability here is the model with {} values set to their means over the positions read.",
            a.ablated,
            if one { "its" } else { "their" },
        ),
    };
    if let crate::graph::Selection::Head { layer, head } = selection {
        if a.ablated.contains(layer, head) {
            let which = if one {
                "It is the head on screen".to_string()
            } else {
                format!("Head {layer}.{head} is one of them")
            };
            line.push_str(&format!(
                " {which}: it still looks where it would, but what it reads is {}.",
                match a.replacement {
                    crate::model::ablation::Replacement::Zero => "dropped",
                    crate::model::ablation::Replacement::Mean => "replaced by its means",
                }
            ));
        }
    }
    ui.colored_label(orange, line);
}

/// The matrix on screen as a heatmap under `title`. A cell selects both its tokens for the graph: the query
/// pinned, the key highlighted.
fn heatmap_ui(
    ui: &mut egui::Ui,
    shown: &super::view_state::Shown,
    title: &str,
    log_scale: bool,
) -> Option<Command> {
    ui.strong(title);
    let (query, key) = matrix_view::matrix_ui(
        ui,
        &shown.snapshot.matrix,
        &shown.snapshot.graph,
        log_scale,
        shown.serial,
        true,
    )?;
    Some(Command::Focus {
        hovered: Some(key),
        pinned: Some(query),
    })
}

fn view_ui(ui: &mut egui::Ui, b: &mut Body<'_>, a: &std::sync::Arc<Analysis>) -> Vec<Command> {
    let mut commands = Vec::new();
    if matches!(
        b.settings.view,
        View::Graph | View::Matrix | View::Markov | View::Overlay
    ) {
        knocked_out_ui(ui, a, b.settings.selection);
    }
    match b.settings.view {
        View::Perplexity => commands.extend(perplexity_ui(ui, b)),
        View::Overlay => commands.extend(super::overlay_view::overlay_ui(
            ui,
            super::overlay_view::OverlayPanel {
                analysis: a,
                selection: b.settings.selection,
                shown: &mut b.view.overlay_heads,
                threshold: b.settings.pruning.threshold as f32,
                log_scale: b.settings.log_scale,
                hovered: b.view.hovered,
                pinned: b.view.pinned,
            },
        )),
        View::Heads => {
            // A grid of few heads per layer, cells fitted to the height, leaves most of the width empty: the
            // selected head's matrix takes it, large.
            let avail = ui.available_size();
            let cell = (avail.y / a.attentions.n_layer().max(1) as f32).min(160.0);
            let spare = avail.x - cell * a.attentions.n_head() as f32;
            let beside = b.view.shown().filter(|_| spare > 320.0);
            // With the matrix beside, a click on a head shows it there; without, it opens the graph.
            let on_click = match beside {
                Some(_) => OnClick::Select,
                None => OnClick::OpenGraph,
            };
            if let Some(shown) = beside {
                // The selection: a head, or a layer's mean, rollout, flow.
                let title = format!("{}, selected", shown.snapshot.title());
                let log_scale = b.settings.log_scale;
                let focus = egui::Panel::right("heads_matrix")
                    .resizable(false)
                    .exact_size(spare - 40.0)
                    .show(ui, |ui| heatmap_ui(ui, shown, &title, log_scale))
                    .inner;
                commands.extend(focus);
            }
            commands.extend(grid_ui(ui, b, a, 160.0, true, on_click));
        }
        View::Layers => {
            let panel = super::layers_view::LayersPanel {
                lens: b.session.lensed(&b.view.knock_out()),
                colour: b.view.lens_colour,
                column: b.view.lens_column,
                failure: b.session.text_key().and_then(|key| {
                    b.session
                        .failure(&crate::session::SideTask::Lens(key, b.view.knock_out()))
                }),
                knocked_out: match (b.view.knocked_out.is_empty(), b.view.knock_out_by) {
                    (true, _) => String::new(),
                    (false, crate::model::ablation::Replacement::Zero) => {
                        format!(" · heads {} knocked out", b.view.knocked_out)
                    }
                    (false, crate::model::ablation::Replacement::Mean) => {
                        format!(" · heads {} mean-ablated", b.view.knocked_out)
                    }
                },
            };
            commands.extend(super::layers_view::layers_ui(ui, panel));
        }
        View::Lesson => commands.extend(lesson_ui(ui, b, a)),
        View::Compare => {
            let session = b.session;
            let compared = session.compared();
            let key = compared.and_then(|c| b.view.patch_key(a, c));
            let panel = super::compare_view::ComparePanel {
                a,
                b: compared,
                text: &b.settings.compare_text,
                failure: session.compare_error().map(ToString::to_string),
                pending: session.compare_pending(),
                selection: b.settings.selection,
                log_scale: b.settings.log_scale,
                patch: super::compare_view::PatchState {
                    result: key.as_ref().and_then(|k| session.patched(k)).map(|p| &**p),
                    progress: key.as_ref().and_then(|k| session.patch_progress(k)),
                    failure: key.as_ref().and_then(|k| session.patch_failure(k)),
                    key,
                },
                other_head: b.settings.compare_head,
            };
            commands.extend(super::compare_view::compare_ui(ui, panel));
        }
        View::Matrix => {
            if let Some(shown) = b.view.shown() {
                let title = format!("{} — row i: where token i looks", shown.snapshot.title());
                commands.extend(heatmap_ui(ui, shown, &title, b.settings.log_scale));
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
