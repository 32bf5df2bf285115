//! Which heads matter: the controls above the head grid that colour it by each head's direct contribution to
//! one token's logit, or by how much that token's probability drops without the head (a sweep that knocks
//! out each head alone), with a legend, the other parts' contributions, exports, and the knock-out toggle that
//! reads the text again without chosen heads.

use egui::{Color32, RichText};

use super::command::GridColour;
use super::command::{Command, EffectExport};
use super::palette::diverging;
use crate::format::percent;
use crate::graph::Selection;
use crate::model::ablation::{Replacement, Sweep};
use crate::model::attribution::Attribution;
use crate::model::tokenizer::visible_whitespace;
use crate::model::{Analysis, HeadSet};

/// The grid's colouring: one value per head and what it means.
pub struct Overlay {
    /// [layer][head].
    pub values: Vec<Vec<f64>>,
    /// The largest magnitude: the ends of the colour scale.
    pub max_abs: f64,
    /// What is coloured.
    pub kind: GridColour,
    /// The token whose prediction the values explain, as shown.
    pub token: String,
    /// For a knock-out colouring, ln p of that token with every head (for the before → after) and how the
    /// sweep knocked each head out; `None` for a contribution.
    pub sweep: Option<(Option<f64>, Replacement)>,
}

impl Overlay {
    /// Red where a head helps the prediction, in both colourings: a contribution for it, or a knock-out that
    /// lowers it (a negative Δ ln p); blue where it works against it.
    pub fn colour(&self, value: f64) -> Color32 {
        diverging(self.helps(value), self.max_abs)
    }

    /// `value` signed so that helping the prediction is positive.
    fn helps(&self, value: f64) -> f64 {
        if self.flip() {
            -value
        } else {
            value
        }
    }

    /// Whether red is a negative value: a knock-out's Δ ln p, where a head the token needs lowers it.
    pub fn flip(&self) -> bool {
        self.kind == GridColour::KnockOut
    }

    /// What the colour scale's blue and red ends mean.
    pub fn ends(&self) -> (&'static str, &'static str) {
        if self.flip() {
            ("in the way", "needed")
        } else {
            ("against", "for")
        }
    }

    /// The value of one head.
    pub fn value(&self, layer: usize, head: usize) -> Option<f64> {
        self.values.get(layer)?.get(head).copied()
    }

    /// What one head's value says, for its tooltip.
    pub fn describe(&self, layer: usize, head: usize) -> String {
        let Some(v) = self.value(layer, head) else {
            return format!("layer {layer} head {head}");
        };
        let Some((baseline, replacement)) = self.sweep else {
            return format!(
                "head {layer}.{head} adds {v:+.3} to the logit of {} (directly, through the final norm)",
                self.token
            );
        };
        let without = match replacement {
            Replacement::Zero => format!("without head {layer}.{head}"),
            Replacement::Mean => format!("with head {layer}.{head} mean-ablated"),
        };
        match baseline {
            Some(base) => format!(
                "{without}, ln p({}) changes by {v:+.3}: {} → {}",
                self.token,
                percent(base),
                percent(base + v)
            ),
            None => format!("{without}, ln p({}) changes by {v:+.3}", self.token),
        }
    }
}

fn token_label(analysis: &Analysis, position: usize) -> Option<String> {
    analysis
        .tokens
        .get(position)
        .map(|t| format!("'{}'", visible_whitespace(&t.text)))
}

/// The colouring the grid shows now, if its data is there for the text on screen.
pub fn overlay(
    colour: GridColour,
    predicted: Option<usize>,
    analysis: &Analysis,
    attribution: Option<&Attribution>,
    sweep: Option<&Sweep>,
) -> Option<Overlay> {
    let position = predicted?;
    let token = token_label(analysis, position)?;
    let (values, swept) = match colour {
        GridColour::Patterns => return None,
        // The attribution answers for the logits at position − 1, which predict this token.
        GridColour::Contribution => {
            let a = attribution.filter(|a| a.position + 1 == position)?;
            (a.heads.clone(), None)
        }
        GridColour::KnockOut => {
            let s = sweep?;
            let values = s
                .sweep
                .iter()
                .map(|heads| {
                    heads
                        .iter()
                        .map(|c| c.delta_logprob.get(position).copied().flatten())
                        .collect::<Option<Vec<f64>>>()
                })
                .collect::<Option<Vec<_>>>()?;
            let baseline = s.baseline_logprob.get(position).copied().flatten();
            (values, Some((baseline, s.replacement)))
        }
    };
    let max_abs = values.iter().flatten().fold(0.0f64, |m, v| m.max(v.abs()));
    Some(Overlay {
        values,
        max_abs,
        kind: colour,
        token,
        sweep: swept,
    })
}

/// What the effects panel draws from.
pub struct EffectsPanel<'a> {
    /// The analysis on screen.
    pub analysis: &'a Analysis,
    /// What the grid is coloured by.
    pub colour: GridColour,
    /// The token whose prediction is explained.
    pub predicted: Option<usize>,
    /// The attribution for the text on screen, if any.
    pub attribution: Option<&'a Attribution>,
    /// Whether an attribution is on its way.
    pub attribution_pending: bool,
    /// The sweep for the text on screen, if any.
    pub sweep: Option<&'a Sweep>,
    /// Heads done and in all, while a sweep runs.
    pub sweep_progress: Option<(usize, usize)>,
    /// The colouring, as [`overlay`] made it.
    pub overlay: Option<&'a Overlay>,
    /// The heads knocked out.
    pub knocked_out: &'a HeadSet,
    /// What their values become.
    pub knock_out_by: Replacement,
    /// The selected matrix (its head can be knocked out).
    pub selected: Selection,
    /// Why the attribution or the sweep asked for failed, if it did.
    pub failure: Option<&'a str>,
}

/// Draws the controls, the legend and the other parts; returns what the reader asked for.
pub fn effects_panel_ui(ui: &mut egui::Ui, p: EffectsPanel<'_>) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.horizontal_wrapped(|ui| {
        ui.small("colour by");
        for (colour, hover) in [
            (GridColour::Patterns, "Each head's attention matrix, small"),
            (
                GridColour::Contribution,
                "Each head's direct contribution to the logit of the token clicked in the probability panel",
            ),
            (
                GridColour::KnockOut,
                "How much the clicked token's log-probability drops when the head alone is knocked out",
            ),
        ] {
            let label = colour.label();
            if ui
                .selectable_label(p.colour == colour, label)
                .on_hover_text(hover)
                .clicked()
            {
                commands.push(Command::GridColour(colour));
            }
        }
    });
    if p.colour != GridColour::Patterns {
        match p
            .predicted
            .and_then(|pos| Some((pos, token_label(p.analysis, pos)?)))
        {
            None => {
                ui.small(
                    "Click a token in the probability panel to choose the prediction to explain.",
                );
            }
            Some((position, token)) => match p.colour {
                GridColour::Contribution => contribution_ui(ui, &p, &token, &mut commands),
                _ => knock_out_ui(ui, &p, &token, position, &mut commands),
            },
        }
    }
    knock_out_toggle_ui(ui, &p, &mut commands);
    commands
}

/// The colour scale from blue to red, its ends labelled: `blue` and `red` say what each end means.
fn legend_ui(ui: &mut egui::Ui, blue: &str, red: &str) {
    ui.horizontal(|ui| {
        ui.small(blue);
        let (rect, _) = ui.allocate_exact_size(egui::vec2(100.0, 10.0), egui::Sense::hover());
        let painter = ui.painter_at(rect);
        for i in 0..20 {
            let t = -1.0 + (i as f64 + 0.5) / 10.0;
            let x = rect.left() + rect.width() * i as f32 / 20.0;
            painter.rect_filled(
                egui::Rect::from_min_size(
                    egui::pos2(x, rect.top()),
                    egui::vec2(rect.width() / 20.0 + 0.5, rect.height()),
                ),
                0.0,
                diverging(t, 1.0),
            );
        }
        ui.small(red);
    });
}

fn export_buttons(
    ui: &mut egui::Ui,
    csv: EffectExport,
    json: EffectExport,
    commands: &mut Vec<Command>,
) {
    ui.horizontal(|ui| {
        ui.small("save");
        for (label, what) in [
            ("CSV", csv),
            ("JSON", json),
            ("SVG", EffectExport::GridSvg),
            ("PNG", EffectExport::GridPng),
        ] {
            if ui.small_button(label).clicked() {
                commands.push(Command::ExportEffects(what));
            }
        }
    });
}

fn contribution_ui(
    ui: &mut egui::Ui,
    p: &EffectsPanel<'_>,
    token: &str,
    commands: &mut Vec<Command>,
) {
    let Some(a) = p
        .attribution
        .filter(|a| Some(a.position + 1) == p.predicted)
    else {
        if let Some(why) = p.failure {
            ui.colored_label(
                Color32::from_rgb(215, 48, 39),
                format!("cannot take the logit apart: {why}"),
            );
        } else if p.attribution_pending {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.small(format!("taking the logit of {token} apart…"));
            });
        }
        return;
    };
    ui.label(
        RichText::new(format!(
            "logit of {token}: {:.2} (p {}), the sum of",
            a.logit,
            percent(a.logprob)
        ))
        .small(),
    );
    let parts = |values: &[f64]| -> String {
        values
            .iter()
            .enumerate()
            .map(|(l, v)| format!("L{l} {v:+.2}"))
            .collect::<Vec<_>>()
            .join("  ")
    };
    let heads: f64 = a.heads.iter().flatten().sum();
    ui.small(format!(
        "heads {heads:+.2} (each head's part is its colour in the grid) · embeddings {:+.2} · ln_f bias {:+.2}",
        a.embeddings, a.ln_bias
    ));
    ui.small(format!("MLPs  {}", parts(&a.mlp)));
    ui.small(format!("attention biases  {}", parts(&a.attention_bias)))
        .on_hover_text(
            "Direct effects only: what each part adds to the logit straight through the final norm, its \
             scale frozen. What a head does through later layers is not in it; the knock-out colouring measures that.",
        );
    // The scale after the sum it colours, not inside its sentence.
    if let Some(o) = p.overlay {
        let (max, (blue, red)) = (o.max_abs, o.ends());
        legend_ui(
            ui,
            &format!("{blue} −{max:.2}"),
            &format!("+{max:.2} {red}"),
        );
    }
    export_buttons(
        ui,
        EffectExport::AttributionCsv,
        EffectExport::AttributionJson,
        commands,
    );
}

fn knock_out_ui(
    ui: &mut egui::Ui,
    p: &EffectsPanel<'_>,
    token: &str,
    position: usize,
    commands: &mut Vec<Command>,
) {
    if let Some((done, total)) = p.sweep_progress {
        ui.horizontal(|ui| {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(140.0)
                    .text(format!("{done}/{total} heads")),
            );
            ui.small("knocking out each head…");
        });
        return;
    }
    match (p.sweep, p.overlay) {
        (Some(sweep), Some(o)) => {
            ui.small(format!(
                "Δ ln p({token}) {} each head alone; perplexity {:.2} with all",
                match sweep.replacement {
                    Replacement::Zero => "without",
                    Replacement::Mean => "mean-ablating",
                },
                sweep.baseline_perplexity
            ));
            // Red is a head the token needs (its knock-out lowers ln p), as red is a head that adds to the
            // logit in the contribution colouring.
            let (max, (blue, red)) = (o.max_abs, o.ends());
            legend_ui(
                ui,
                &format!("{blue} +{max:.2}"),
                &format!("−{max:.2} {red}"),
            );
            if let Some(((l, h), d)) = sweep.most_needed_for(position) {
                ui.small(format!("{token} needs head {l}.{h} most ({d:+.3})"));
            }
            export_buttons(
                ui,
                EffectExport::SweepCsv,
                EffectExport::SweepJson,
                commands,
            );
        }
        _ => {
            if let Some(why) = p.failure {
                ui.colored_label(
                    Color32::from_rgb(215, 48, 39),
                    format!("the knock-out sweep failed: {why}"),
                );
            }
            if ui
                .button(format!("Which heads matter for {token}?"))
                .on_hover_text("Knock out every head alone, in turn, and colour each by how much the token's log-probability changes")
                .clicked()
            {
                commands.push(Command::Sweep);
            }
        }
    }
}

fn knock_out_toggle_ui(ui: &mut egui::Ui, p: &EffectsPanel<'_>, commands: &mut Vec<Command>) {
    ui.horizontal_wrapped(|ui| {
        if let Selection::Head { layer, head } = p.selected {
            let mut out = p.knocked_out.contains(layer, head);
            let hover = match p.knock_out_by {
                Replacement::Zero => "Read the text again with this head's output set to zero (its values times its columns of the output projection); the probability panel shows before → after",
                Replacement::Mean => "Read the text again with this head's values set, at every position, to their mean over the positions read (mean ablation); the probability panel shows before → after",
            };
            if ui
                .checkbox(&mut out, format!("knock out {layer}.{head}"))
                .on_hover_text(hover)
                .changed()
            {
                commands.push(Command::ToggleKnockOut { layer, head });
            }
        }
        ui.small("as");
        for (by, label, hover) in [
            (
                Replacement::Zero,
                "zeros",
                "Zero ablation: a knocked-out head adds nothing (also what it adds on average, which the layers above may rely on whatever the text)",
            ),
            (
                Replacement::Mean,
                "means",
                "Mean ablation: a knocked-out head's values become, at every position, their mean over the positions read (BOS included); it still adds what it adds on average and loses what it adds at each position",
            ),
        ] {
            if ui
                .selectable_label(p.knock_out_by == by, label)
                .on_hover_text(hover)
                .clicked()
                && p.knock_out_by != by
            {
                commands.push(Command::KnockOutBy(by));
            }
        }
    });
    // On a line of its own, so that the narrow panel does not break the heads' names.
    if p.knocked_out.is_empty() {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.colored_label(
            Color32::from_rgb(230, 85, 13),
            format!(
                "{}: {}",
                match p.knock_out_by {
                    Replacement::Zero => "knocked out",
                    Replacement::Mean => "mean-ablated",
                },
                p.knocked_out
            ),
        );
        if ui.small_button("restore all").clicked() {
            commands.push(Command::RestoreHeads);
        }
    });
}
