//! The top panel: the model field, BOS, Continue, the views, the theme, the text box, the matrix selection,
//! pruning and the export menu.

use std::path::Path;

use super::command::Command;
use super::settings::{GraphLayout, Settings, View};
use crate::export::Format;
use crate::graph::{self, Pruning, Selection};
use crate::model::{DEMO_MODEL, KNOWN_MODELS};

/// What the top panel shows besides the settings it edits.
pub struct Controls<'a> {
    /// The model field as typed (not yet loaded).
    pub model_field: &'a mut String,
    /// A model is being loaded.
    pub loading: bool,
    /// A model is loaded.
    pub model_loaded: bool,
    /// (layers, heads, tokens) of the analysis on screen, once there is one.
    pub shape: Option<(usize, usize, usize)>,
    /// The model's context length, once one is loaded.
    pub context: Option<usize>,
    /// The text's token count and the model's limit when the model refused it as too long.
    pub too_long: Option<(usize, usize)>,
    /// Where quick exports go.
    pub export_dir: &'a Path,
    /// The loaded model's BOS token: `Some(None)` when it has none, `None` while unknown.
    pub bos_token: Option<Option<String>>,
}

/// Draws the top panel; returns what the app must do.
pub fn controls_ui(ui: &mut egui::Ui, settings: &mut Settings, c: Controls<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    // On a narrow window the tabs go on to a second line rather than off the edge.
    ui.horizontal_wrapped(|ui| {
        ui.label("Model");
        let field = (ui.available_width() * 0.18).clamp(120.0, 260.0);
        ui.add(
            egui::TextEdit::singleline(c.model_field)
                .desired_width(field)
                .hint_text("demo, a Hub id or a folder"),
        );
        egui::ComboBox::from_id_salt("known_models")
            .selected_text("known and recent ▾")
            .show_ui(ui, |ui| {
                // (what goes in the field, what the list shows)
                let mut choices: Vec<(String, String)> = std::iter::once((
                    DEMO_MODEL.to_string(),
                    format!("{DEMO_MODEL} — inside attngraph, no download"),
                ))
                .chain(KNOWN_MODELS.iter().map(|m| {
                    (m.id.to_string(), format!("{} — {}, {} download", m.id, m.about, m.download))
                }))
                .collect();
                for recent in &settings.recent_models {
                    if !choices.iter().any(|(id, _)| id == recent) {
                        choices.push((recent.clone(), recent.clone()));
                    }
                }
                for (id, label) in choices {
                    if ui.selectable_label(*c.model_field == id, label).clicked() {
                        *c.model_field = id;
                    }
                }
            });
        if ui.add_enabled(!c.loading, egui::Button::new("Load")).clicked() {
            commands.push(Command::LoadModel(c.model_field.trim().to_string()));
        }
        if ui
            .add_enabled(!c.loading, egui::Button::new("📂 Folder…"))
            .on_hover_text("Open a local model folder")
            .clicked()
        {
            commands.push(Command::BrowseModelFolder);
        }
        ui.separator();
        let has_bos = !matches!(c.bos_token, Some(None));
        let bos_help = match &c.bos_token {
            Some(None) => "This model has no BOS token (its config.json names none and its tokenizer adds none), so the first token is context only.".to_string(),
            Some(Some(token)) => format!("Put the model's BOS token {token} first, so the first word gets p(x₁ | BOS): the product p(x₁)·p(x₂|x₁)·… needs a context for x₁."),
            None => "Put the model's BOS token first, so the first word gets p(x₁ | BOS): the product p(x₁)·p(x₂|x₁)·… needs a context for x₁.".to_string(),
        };
        if ui
            .add_enabled(has_bos, egui::Checkbox::new(&mut settings.bos, "BOS"))
            .on_hover_text(&bos_help)
            .on_disabled_hover_text(&bos_help)
            .changed()
        {
            commands.push(Command::Reanalyze);
        }
        if ui
            .add_enabled(c.model_loaded, egui::Button::new("Continue ▸"))
            .on_hover_text("Sample the next tokens from the model and append them")
            .clicked()
        {
            commands.push(Command::Continue);
        }
        let sampling = &mut settings.sampling;
        ui.menu_button("⚙", |ui| {
            ui.add(
                egui::Slider::new(&mut sampling.temperature, 0.0..=2.0)
                    .text("temperature (0: most likely)"),
            );
            ui.add(egui::Slider::new(&mut sampling.top_k, 0..=200).text("top-k (0: all)"));
            ui.add(egui::Slider::new(&mut sampling.top_p, 0.05..=1.0).text("top-p"));
            ui.add(egui::Slider::new(&mut sampling.max_new_tokens, 1..=64).text("tokens"));
        });
        ui.separator();
        for view in View::ALL {
            ui.selectable_value(&mut settings.view, view, view.label());
        }
        ui.separator();
        let dark = settings.dark;
        if ui
            .selectable_label(dark, if dark { "🌙" } else { "☀" })
            .on_hover_text("Dark / light theme")
            .clicked()
        {
            commands.push(Command::SetDark(!dark));
        }
    });
    // The text box keeps its height (two lines, or what its handle was dragged to) and scrolls, so a pasted
    // page never pushes the views off the window.
    let max_height = (ui.ctx().content_rect().height() * 0.45).max(60.0);
    let changed = ui
        .horizontal(|ui| {
            let counter = 130.0;
            let width = (ui.available_width() - counter).max(100.0);
            let changed = egui::Resize::default()
                .id_salt("text_box")
                .resizable([false, true])
                .default_size([width, 46.0])
                .min_size([width, 28.0])
                .max_size([width, max_height])
                .with_stroke(false)
                .show(ui, |ui| {
                    ui.set_min_width(width);
                    egui::ScrollArea::vertical()
                        .id_salt("text_scroll")
                        .stick_to_bottom(false)
                        .show(ui, |ui| {
                            ui.add(
                                egui::TextEdit::multiline(&mut settings.text)
                                    .desired_rows(2)
                                    .desired_width(width - 16.0)
                                    .hint_text("Type a sentence, e.g. I love tennis.")
                                    .id_salt("text"),
                            )
                            .changed()
                        })
                        .inner
                });
            ui.vertical(|ui| {
                match (c.shape, c.context, c.too_long) {
                    (_, _, Some((tokens, limit))) => {
                        ui.colored_label(
                            egui::Color32::from_rgb(215, 48, 39),
                            format!("{} / {} tokens: too long", super::grouped(tokens), super::grouped(limit)),
                        );
                    }
                    (Some((_, _, tokens)), Some(limit), None) => {
                        let text = format!("{} / {} tokens", super::grouped(tokens), super::grouped(limit));
                        if tokens > limit * 9 / 10 {
                            ui.colored_label(egui::Color32::from_rgb(230, 85, 13), text)
                        } else {
                            ui.label(text)
                        }
                        .on_hover_text("Tokens of the text on screen (BOS included) / the most the model reads at once; drag the box's lower edge to make it taller");
                    }
                    _ => {
                        ui.weak("— tokens");
                    }
                }
            });
            changed
        })
        .inner;
    if changed {
        commands.push(Command::TextEdited);
    }
    ui.horizontal_wrapped(|ui| {
        // Layer and head ranges are known only once a model has answered.
        if let Some(shape) = c.shape {
            selection_ui(ui, &mut settings.selection, shape);
        }
        ui.separator();
        pruning_ui(ui, settings, c.shape.map(|(_, _, tokens)| tokens));
        ui.separator();
        ui.menu_button("Export ▾", |ui| {
            commands.extend(export_menu_ui(
                ui,
                c.export_dir,
                settings.view == View::Overlay,
            ));
        })
        .response
        .on_hover_text("Save the selected matrix, the view, or every head for NumPy");
    });
    commands
}

fn export_menu_ui(ui: &mut egui::Ui, export_dir: &Path, overlay: bool) -> Option<Command> {
    let mut command = None;
    if ui
        .button("Save as…")
        .on_hover_text("Choose the file; its extension picks the format")
        .clicked()
    {
        command = Some(Command::SaveAs);
    }
    ui.separator();
    ui.label(format!("Quick save to {}", export_dir.display()));
    ui.horizontal(|ui| {
        for format in Format::ALL {
            let hover = if format == Format::Png {
                "the view as shown".to_string()
            } else if overlay && format == Format::Svg {
                "the overlay: its heads, threshold, log colours and pinned query".to_string()
            } else {
                format!("the selected matrix as {}", format.extension())
            };
            if ui
                .button(format.extension().to_uppercase())
                .on_hover_text(hover)
                .clicked()
            {
                command = Some(Command::QuickExport(format));
            }
        }
    });
    ui.horizontal(|ui| {
        ui.label("Every head, for NumPy:");
        if ui
            .button("NPZ")
            .on_hover_text(
                "every head's attention (layer, head, query, key) and each token's statistics, as \
                 np.load reads them",
            )
            .clicked()
        {
            command = Some(Command::ExportNpz);
        }
    });
    if ui.button("Change folder…").clicked() {
        command = Some(Command::BrowseExportFolder);
    }
    if command.is_some() {
        ui.close();
    }
    command
}

fn selection_ui(
    ui: &mut egui::Ui,
    sel: &mut Selection,
    (n_layer, n_head, n_tokens): (usize, usize, usize),
) {
    let mut layer = match *sel {
        Selection::Head { layer, .. }
        | Selection::LayerMean(layer)
        | Selection::LayerMax(layer) => layer,
        _ => 0,
    };
    let mut head = match *sel {
        Selection::Head { head, .. } => head,
        _ => 0,
    };
    ui.label("Matrix");
    egui::ComboBox::from_id_salt("matrix_kind")
        .selected_text(sel.label())
        .show_ui(ui, |ui| {
            ui.selectable_value(sel, Selection::Head { layer, head }, "one head");
            ui.selectable_value(sel, Selection::LayerMean(layer), "layer mean");
            ui.selectable_value(sel, Selection::LayerMax(layer), "layer max");
            ui.selectable_value(sel, Selection::AllMean, "all-head mean");
            ui.selectable_value(sel, Selection::Rollout, "rollout");
            ui.add_enabled_ui(n_tokens <= graph::FLOW_MAX_TOKENS, |ui| {
                ui.selectable_value(sel, Selection::Flow, "flow")
                    .on_disabled_hover_text(format!(
                        "flow is limited to {} tokens",
                        graph::FLOW_MAX_TOKENS
                    ));
            });
        });
    let has_layer = matches!(
        sel,
        Selection::Head { .. } | Selection::LayerMean(_) | Selection::LayerMax(_)
    );
    if has_layer
        && ui
            .add(
                egui::DragValue::new(&mut layer)
                    .range(0..=n_layer.saturating_sub(1))
                    .prefix("layer "),
            )
            .changed()
    {
        *sel = match *sel {
            Selection::Head { head, .. } => Selection::Head { layer, head },
            Selection::LayerMean(_) => Selection::LayerMean(layer),
            _ => Selection::LayerMax(layer),
        };
    }
    if matches!(sel, Selection::Head { .. })
        && ui
            .add(
                egui::DragValue::new(&mut head)
                    .range(0..=n_head.saturating_sub(1))
                    .prefix("head "),
            )
            .changed()
    {
        *sel = Selection::Head { layer, head };
    }
}

/// Which of the pruning row's controls change what a view draws.
#[derive(Clone, Copy)]
struct Applies {
    /// Threshold, top-k, mass and dropping token 0: the graph's edges.
    edges: bool,
    /// The threshold alone (the Overlay's lines).
    threshold: bool,
    /// What an edge weighs: the graph and the heatmaps.
    weight: bool,
    /// The graph's layout.
    layout: bool,
    /// Log colours: every view that colours attention weights.
    log: bool,
}

impl Applies {
    fn to(view: View) -> Self {
        let all = Self {
            edges: true,
            threshold: true,
            weight: true,
            layout: true,
            log: true,
        };
        let none = Self {
            edges: false,
            threshold: false,
            weight: false,
            layout: false,
            log: true,
        };
        match view {
            // The Lesson's figures include the graph and the Markov panel.
            View::Graph | View::Markov | View::Lesson => all,
            // The head grid beside these views draws with what an edge weighs and the log colours.
            View::Matrix | View::Heads | View::Compare | View::Layers => Self {
                weight: true,
                ..none
            },
            View::Overlay => Self {
                threshold: true,
                weight: true,
                ..none
            },
            View::Perplexity => Self { log: false, ..none },
        }
    }
}

/// What top-k 0 means on a text of `tokens` tokens (`None`: no analysis yet): every edge, or on a long text
/// with no mass limit the automatic [`crate::graph::AUTO_TOP_K`] ([`Pruning::shown`]).
fn top_k_label(pruning: &Pruning, tokens: Option<usize>) -> String {
    match pruning.top_k {
        0 if tokens.is_some_and(|n| pruning.shown(n).1) => {
            format!("top-k auto ({})", crate::graph::AUTO_TOP_K)
        }
        0 => "top-k all".to_string(),
        k => format!("top-k {k}"),
    }
}

/// The pruning row: the controls that change the view on screen; the rest, which shape the graph and every
/// export, as one line that says what they are set to. `tokens`: the analysis on screen's, once there is one.
fn pruning_ui(ui: &mut egui::Ui, settings: &mut Settings, tokens: Option<usize>) {
    let applies = Applies::to(settings.view);
    let p: &mut Pruning = &mut settings.pruning;
    let automatic = tokens.is_some_and(|n| p.shown(n).1);
    if applies.threshold {
        ui.add(
            egui::Slider::new(&mut p.threshold, 0.0..=1.0)
                .text("threshold")
                .logarithmic(true)
                .smallest_positive(0.001),
        );
    }
    if applies.edges {
        ui.add(
            egui::DragValue::new(&mut p.top_k)
                .range(0..=64)
                .custom_formatter(move |k, _| match k as usize {
                    0 if automatic => format!("top-k auto ({})", crate::graph::AUTO_TOP_K),
                    0 => "top-k all".to_string(),
                    k => format!("top-k {k}"),
                })
                .custom_parser(|text| {
                    let text = text
                        .trim()
                        .trim_start_matches("top-k")
                        .trim_start_matches(':')
                        .trim();
                    if text == "all" || text.starts_with("auto") {
                        Some(0.0)
                    } else {
                        text.parse().ok()
                    }
                }),
        )
        .on_hover_text(format!(
            "Keep each token's k strongest edges; 0 keeps every edge, except above {} tokens with no mass limit, where each token keeps its {} strongest (auto)",
            crate::graph::AUTO_TOP_K_ABOVE,
            crate::graph::AUTO_TOP_K
        ));
        ui.add(egui::Slider::new(&mut p.mass, 0.05..=1.0).text("mass"));
        ui.checkbox(&mut p.drop_first, "drop token 0")
            .on_hover_text(
                "Hide the attention sink and renormalise each row over the other tokens",
            );
    }
    if applies.log {
        ui.checkbox(&mut settings.log_scale, "log colours");
    }
    if !applies.edges {
        let p = &settings.pruning;
        let mut set = Vec::new();
        if !applies.threshold {
            set.push(format!("threshold {:.3}", p.threshold));
        }
        set.push(top_k_label(p, tokens));
        set.push(format!("mass {:.2}", p.mass));
        if p.drop_first {
            set.push("token 0 dropped".to_string());
        }
        ui.weak(format!("graph: {}", set.join(", ")))
        .on_hover_text(
            "The graph's pruning, which this view does not use: it shapes the Graph and Markov views and the exports (SVG, PNG, DOT, GraphML, JSON, CSV). Change it in the Graph view.",
        );
    }
    if !applies.weight {
        return;
    }
    use crate::graph::EdgeWeight;
    let label = |w: EdgeWeight| match w {
        EdgeWeight::Attention => "edges: attention",
        EdgeWeight::Norm => "edges: what flows",
        EdgeWeight::NormShare => "edges: share of flow",
    };
    egui::ComboBox::from_id_salt("edge_weight")
        .selected_text(label(settings.edge_weight))
        .show_ui(ui, |ui| {
            for (weight, hover) in [
                (EdgeWeight::Attention, "The attention weight α: how much token i looks at token j. Rows sum to 1: a Markov chain."),
                (EdgeWeight::Norm, "What the edge carries, ||α·f(x_j)|| (Kobayashi et al., 2020): how much of token j reaches token i, relative to the largest edge. Heavy attention on a sink often carries almost nothing. Not a Markov chain: the Markov view stays on attention."),
                (EdgeWeight::NormShare, "Each token's share of what flows into it: ||α·f(x_j)|| divided by its row's sum, so rows sum to 1 again — a Markov reading of what flows, not of attention."),
            ] {
                ui.selectable_value(&mut settings.edge_weight, weight, label(weight))
                    .on_hover_text(hover);
            }
        })
        .response
        .on_hover_text("What the graph's and the heatmap's edges weigh (one head, or a layer's heads together)");
    if !applies.layout {
        return;
    }
    egui::ComboBox::from_id_salt("layout")
        .selected_text(format!("{:?}", settings.layout))
        .show_ui(ui, |ui| {
            ui.selectable_value(&mut settings.layout, GraphLayout::Arc, "Arc");
            ui.selectable_value(&mut settings.layout, GraphLayout::Circle, "Circle");
            ui.selectable_value(&mut settings.layout, GraphLayout::Force, "Force");
        });
}
