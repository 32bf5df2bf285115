//! The graph view: egui_graphs drawing the selected matrix with a custom edge shape whose width and colour
//! follow the weight, arcs for the arc layout, self-loops, arrows, and node colour by surprisal.

use egui::Pos2;
use egui_graphs::Graph;
use petgraph::graph::NodeIndex;
use petgraph::stable_graph::StableGraph;

mod shapes;

use super::palette::{intensity, ramp, ramp_with_phrase, surprisal_color};
use shapes::SPACING;
pub use shapes::{EdgeData, FixedLayout, FixedState, TokenShape, WeightEdge};

use crate::export::{Geometry, Layout};
use crate::graph::{AttentionGraph, AUTO_TOP_K, AUTO_TOP_K_ABOVE};

/// The egui_graphs graph type of the view: node payload = token position.
pub type ViewGraph = Graph<
    usize,
    EdgeData,
    petgraph::Directed,
    petgraph::stable_graph::DefaultIx,
    TokenShape,
    WeightEdge,
>;

/// Builds the view graph from the snapshot's petgraph graph and node positions, laid out as `kind` (the
/// snapshot's; force layout starts from the circle), edges with their drawing data. `focus` highlights one node's row and column. `window` (first, last) shows
/// only the queries first..=last, spread over the drawing; the earlier tokens they look at are squeezed, faded
/// and unlabelled into the left seventh, and later tokens are left out.
pub fn build(
    attention: &AttentionGraph,
    geometry: &Geometry,
    kind: Layout,
    log_scale: bool,
    focus: Option<usize>,
    window: Option<(usize, usize)>,
) -> ViewGraph {
    let n = attention.token_count();
    let (first, last) = match window {
        Some((a, b)) if a <= b && b < n => (a, b),
        _ => (0, n.saturating_sub(1)),
    };
    let mut positions = match (window, kind) {
        // The shown tokens around a whole circle of their own.
        (Some(_), Layout::Circle) => crate::export::geometry(Layout::Circle, last + 1).positions,
        _ => geometry.positions.clone(),
    };
    if first > 0 && kind == Layout::Arc {
        // Queries spread over six sevenths of a drawing as wide as the window alone would be; the context
        // before them packed into the first seventh.
        let width = f64::from(SPACING) * (last + 1 - first).max(4) as f64;
        let band = width / 7.0;
        for (i, p) in positions.iter_mut().enumerate() {
            p.0 = if i < first {
                band * (i as f64 + 0.5) / first as f64
            } else {
                band + (width - band) * ((i - first) as f64 + 0.5) / (last + 1 - first) as f64
            };
        }
    }
    // Tokens after the window are left out, and with them every edge they take part in; edges from queries
    // before the window too. Keeping a prefix of the nodes keeps node index = position.
    let petgraph = attention.petgraph();
    let shown: petgraph::graph::DiGraph<usize, EdgeData> = petgraph.filter_map(
        |node, token| (node.index() <= last).then_some(token.position),
        |edge, &weight| {
            let (from, to) = petgraph.edge_endpoints(edge)?;
            let weight = weight as f32;
            ((first..=last).contains(&from.index())).then(|| EdgeData {
                weight,
                intensity: intensity(weight, log_scale),
                highlight: focus.is_some_and(|f| f == from.index() || f == to.index()),
                on_a_line: kind == Layout::Arc,
            })
        },
    );
    let mut graph = ViewGraph::from(&StableGraph::from(shown));
    for (i, (token, &(x, y))) in attention
        .tokens()
        .zip(&positions)
        .take(last + 1)
        .enumerate()
    {
        if let Some(view) = graph.node_mut(NodeIndex::new(i)) {
            let context = i < first;
            // The context squeezed before the window is named once, under its first token.
            view.set_label(match (context, i) {
                (true, 0) => format!("0–{} context", first - 1),
                (true, _) => String::new(),
                (false, _) => token.text.clone(),
            });
            view.set_location(Pos2::new(x as f32, y as f32));
            let colour = surprisal_color(token.surprisal_bits);
            view.set_color(if context {
                colour.gamma_multiply(0.35)
            } else {
                colour
            });
        }
    }
    graph
}

/// The graph with its header line (selection, edge count, colour legend) and, while a token is hovered or
/// clicked, its strongest links. Returns the focus when it changed.
pub fn graph_panel_ui(
    ui: &mut egui::Ui,
    graph: &mut ViewGraph,
    snapshot: &crate::export::Snapshot,
    settings: &super::settings::Settings,
    focus: (Option<usize>, Option<usize>),
    window: Option<(usize, usize)>,
) -> Option<super::command::Command> {
    use super::settings::{GraphLayout, View};
    let (layout, log_scale) = (settings.layout, settings.log_scale);
    let mut command = None;
    let n = snapshot.graph.token_count();
    if n > AUTO_TOP_K_ABOVE {
        // The token window: which queries the graph shows.
        ui.horizontal(|ui| {
            let (mut a, mut b) = window.unwrap_or((0, n - 1));
            ui.label("queries");
            let from = ui.add(egui::DragValue::new(&mut a).range(0..=n - 1));
            ui.label("to");
            let to = ui.add(egui::DragValue::new(&mut b).range(0..=n - 1));
            if from.changed() || to.changed() {
                let (a, b) = (a.min(b), a.max(b));
                let whole = (a, b) == (0, n - 1);
                command = Some(super::command::Command::TokenWindow(
                    (!whole).then_some((a, b)),
                ));
            }
            ui.weak(format!("of {n}"));
            // Arcs of this many tokens crowd one line: the Overlay gives each token a row. Offered in the Graph
            // view only: the Markov view and the lesson draw this graph too.
            if settings.view == View::Graph
                && ui
                    .small_button("Overlay ▸")
                .on_hover_text(
                    "A long text reads better in the Overlay view: each token on a row of its own, every head of the layer at once",
                )
                .clicked()
            {
                command = Some(super::command::Command::ShowView(
                    super::settings::View::Overlay,
                ));
            }
            if window.is_some() {
                ui.weak(
                    "· the tokens before them sit faded on the left; exports hold the whole text",
                );
                if ui.small_button("all").clicked() {
                    command = Some(super::command::Command::TokenWindow(None));
                }
            }
        });
    }
    ui.horizontal_wrapped(|ui| {
        ui.strong(snapshot.title());
        ui.label(format!(
            "{} edges of {} tokens · edge i → j: token i attends to j",
            snapshot.graph.edge_count(),
            snapshot.graph.token_count()
        ));
        legend(ui, log_scale, snapshot.edge_weight);
        if snapshot.pruning.top_k > 0 {
            let label = ui.weak(format!(
                "· each token's {} strongest edges",
                snapshot.pruning.top_k
            ));
            if snapshot.automatic_top_k {
                label.on_hover_text(format!(
                    "Above {} tokens, each token keeps its {} strongest edges unless top-k or mass is set in the bar above",
                    AUTO_TOP_K_ABOVE, AUTO_TOP_K
                ));
            }
        }
    });
    let style = egui_graphs::SettingsStyle::default().with_labels_always(true);
    let interaction = egui_graphs::SettingsInteraction::default()
        .with_node_clicking_enabled(true)
        .with_node_selection_enabled(true);
    let navigation = egui_graphs::SettingsNavigation::default()
        .with_zoom_and_pan_enabled(true)
        .with_fit_to_screen_enabled(true);
    let id = Some(format!("graph-{layout:?}"));
    ui.ctx().data_mut(|d| {
        d.insert_temp(shapes::on_a_line_id(), layout == GraphLayout::Arc);
    });
    if layout == GraphLayout::Force {
        egui_graphs::GraphView::<
            egui_graphs::FruchtermanReingoldState,
            egui_graphs::LayoutForceDirected<egui_graphs::FruchtermanReingold>,
        >::new()
        .with_styles(&style)
        .with_interactions(&interaction)
        .with_navigations(&navigation)
        .with_id(id)
        .show(ui, graph);
    } else {
        egui_graphs::GraphView::<FixedState, FixedLayout>::new()
            .with_styles(&style)
            .with_interactions(&interaction)
            .with_navigations(&navigation)
            .with_id(id)
            .show(ui, graph);
    }
    let hovered = graph
        .hovered_node()
        .and_then(|n| graph.node(n))
        .map(|n| *n.payload());
    let pinned = graph
        .selected_nodes()
        .first()
        .and_then(|&n| graph.node(n))
        .map(|n| *n.payload());
    if let Some(token) = pinned.or(hovered) {
        links_popup(ui, snapshot, token);
    }
    command
        .or(((hovered, pinned) != focus)
            .then_some(super::command::Command::Focus { hovered, pinned }))
}

/// How many tokens the focus box names on each of its two lines.
const LINKS_SHOWN: usize = 8;

/// Where `token` looks and what looks at it: the heaviest weights above 0.005 first, each with its token, up to
/// [`LINKS_SHOWN`] a line and how many more.
fn links_popup(ui: &egui::Ui, snapshot: &crate::export::Snapshot, token: usize) {
    let matrix = &snapshot.matrix;
    if token >= matrix.n() {
        return;
    }
    let name = |i: usize| {
        snapshot.graph.token(i).map_or_else(
            || i.to_string(),
            |t| format!("{} ({i})", crate::format::shorten(&t.text, 12)),
        )
    };
    let list = |mut links: Vec<(usize, f64)>| {
        links.sort_by(|a, b| b.1.total_cmp(&a.1));
        let more = links.len().saturating_sub(LINKS_SHOWN);
        let mut parts: Vec<String> = links
            .iter()
            .take(LINKS_SHOWN)
            .map(|&(i, w)| format!("{} {w:.3}", name(i)))
            .collect();
        if more > 0 {
            parts.push(format!("+{more} more"));
        }
        parts.join(", ")
    };
    let row = list(
        (0..matrix.n())
            .map(|j| (j, matrix.get(token, j)))
            .filter(|&(_, w)| w > 0.005)
            .collect(),
    );
    let col = list(
        (0..matrix.n())
            .map(|i| (i, matrix.get(i, token)))
            .filter(|&(_, w)| w > 0.005)
            .collect(),
    );
    egui::Area::new(egui::Id::new("focus_info"))
        .anchor(egui::Align2::LEFT_BOTTOM, egui::vec2(8.0, -36.0))
        .show(ui.ctx(), |ui| {
            egui::Frame::popup(ui.style()).show(ui, |ui| {
                ui.label(format!("{} looks at: {row}", name(token)));
                ui.label(format!("looked at by: {col}"));
            });
        });
}

/// The colour ramps of edge weights and of the tokens' surprisal, each with its range, each moving to the next line
/// whole when the row is full.
fn legend(ui: &mut egui::Ui, log_scale: bool, weight: crate::graph::EdgeWeight) {
    let what = match weight {
        crate::graph::EdgeWeight::Attention => "edge weight",
        crate::graph::EdgeWeight::Norm => "what flows, of the largest,",
        crate::graph::EdgeWeight::NormShare => "share of what flows",
    };
    let range = if log_scale {
        format!("{what} 0.001 … 1 (log)")
    } else {
        format!("{what} 0 … 1")
    };
    ramp_with_phrase(ui, 120.0, 24, ramp, range).on_hover_text(weight.describe());
    // The nodes' colour: each token's surprisal, as the probability panel gives it.
    ramp_with_phrase(
        ui,
        80.0,
        16,
        |t| surprisal_color(Some(f64::from(t) * 20.0)),
        "token surprisal 0 … 20+ bits (grey: not scored)".into(),
    )
    .on_hover_text("A node's colour is −log₂ p(token | the tokens before it): green for a token the model expected, red for one that surprised it");
}
