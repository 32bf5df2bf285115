//! The head grid and the graph as the body draws them, shared by the views and the lesson's figures.

use super::body::Body;
use crate::model::Analysis;
use crate::session::SideTask;
use crate::ui::command::Command;
use crate::ui::effects_panel::{self, EffectsPanel};
use crate::ui::graph_view;
use crate::ui::head_grid::{grid_panel_ui, GridPanel, OnClick};
use crate::ui::view_state::GridColour;

/// The head grid with its effects controls, cells up to `max_cell` points (fitting the height if asked).
pub(super) fn grid_ui(
    ui: &mut egui::Ui,
    b: &mut Body<'_>,
    a: &Analysis,
    max_cell: f32,
    fit_height: bool,
    on_click: OnClick,
) -> Vec<Command> {
    // The thumbnails weigh what the graph's edges weigh, once the norms are here.
    let weight = b.settings.edge_weight;
    let flow = a
        .flow
        .as_deref()
        .filter(|_| weight != crate::graph::EdgeWeight::Attention)
        .map(|parts| (parts, weight));
    let key = (b.session.shown_generation() * 3
        + match flow {
            None => 0,
            Some((_, crate::graph::EdgeWeight::NormShare)) => 2,
            Some(_) => 1,
        })
        * 2
        + u64::from(b.settings.log_scale);
    b.view
        .thumbnails
        .update(ui.ctx(), &a.attentions, flow, b.settings.log_scale, key);
    let attribution = b.session.attribution();
    // A sweep made with the other replacement is not this one's: the panel offers to run it again.
    let sweep = b
        .session
        .sweep_result()
        .map(|s| &**s)
        .filter(|s| s.replacement == b.view.knock_out_by);
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
            on_click,
            overlay: overlay.as_ref(),
            // Crossed out: the heads the analysis on screen was made without.
            knocked_out: &a.ablated,
            focus: b.view.focus(),
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
                knock_out_by: b.view.knock_out_by,
                selected: b.settings.selection,
                failure: b.session.text_key().and_then(|key| {
                    let task = match b.view.grid_colour {
                        GridColour::KnockOut => SideTask::Sweep(key, b.view.knock_out_by),
                        _ => SideTask::Attribute(key, b.view.predicted?.checked_sub(1)?),
                    };
                    b.session.failure(&task)
                }),
            },
        },
    )
}

/// The graph of the snapshot on screen, with its header; the focus it changed, if any.
pub(super) fn graph_ui(ui: &mut egui::Ui, b: &mut Body<'_>) -> Option<Command> {
    let focus = (b.view.hovered, b.view.pinned);
    let window = b.view.window;
    let shown = b.view.shown_mut()?;
    graph_view::graph_panel_ui(
        ui,
        &mut shown.graph,
        &shown.snapshot,
        b.settings,
        focus,
        window,
    )
}
