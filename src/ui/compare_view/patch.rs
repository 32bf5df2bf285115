//! Activation patching in the Compare view: the button, the progress, and the heads and residual grids coloured
//! by how much of the clean answer each piece brings back.

use egui::{Color32, Rect, Sense, Vec2};

use super::difference::legend;
use crate::export::diverging_rgb;
use crate::format::token;
use crate::model::patching::Patching;
use crate::model::Analysis;
use crate::session::PatchKey;
use crate::ui::command::{Command, PatchExport};

/// Activation patching between the two texts.
pub struct PatchState<'a> {
    /// What would be patched (`None` when the texts cannot be: different lengths, no analysis yet).
    pub key: Option<PatchKey>,
    /// Its result, once it arrived.
    pub result: Option<&'a Patching>,
    /// Runs done and to do while it runs.
    pub progress: Option<(usize, usize)>,
    /// Why it failed.
    pub failure: Option<&'a str>,
}

/// The patching button, its progress, and its two pictures.
pub(super) fn patch_ui(
    ui: &mut egui::Ui,
    a: &Analysis,
    b: &Analysis,
    p: &PatchState<'_>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    ui.strong("Activation patching: which heads and positions carry the difference");
    let Some(key) = &p.key else {
        ui.label(if a.ablated.is_empty() {
            "Patching needs two texts of the same number of tokens, each with a prediction after it."
        } else {
            "Patching runs the whole model: bring back the knocked-out heads to patch."
        });
        return commands;
    };
    let candidates = super::tokens::candidates(a, b);
    let name = |id: u32| {
        candidates
            .iter()
            .find(|(c, _)| *c == id)
            .map_or_else(|| format!("#{id}"), |(_, text)| text.clone())
    };
    // The two tokens measured, each a menu of A's and B's guesses and the tokens the texts differ in.
    ui.label("Run B (corrupt), put back one piece of A (clean), and measure at the last position:");
    ui.horizontal(|ui| {
        ui.label("logit[");
        for (salt, which) in [("patch_answer", true), ("patch_wrong", false)] {
            // Each menu leaves out the other's token: the same token twice measures nothing.
            let (current, other) = if which {
                (key.answer, key.wrong)
            } else {
                (key.wrong, key.answer)
            };
            egui::ComboBox::from_id_salt(salt)
                .selected_text(egui::RichText::new(name(current)).monospace())
                .show_ui(ui, |ui| {
                    for (id, text) in candidates.iter().filter(|(id, _)| *id != other) {
                        if ui
                            .selectable_label(*id == current, egui::RichText::new(text).monospace())
                            .clicked()
                            && *id != current
                        {
                            let mut chosen = key.clone();
                            if which {
                                chosen.answer = *id;
                            } else {
                                chosen.wrong = *id;
                            }
                            commands.push(Command::PatchTokens(chosen));
                        }
                    }
                })
                .response
                .widget_info(|| {
                    egui::WidgetInfo::labeled(
                        egui::WidgetType::ComboBox,
                        true,
                        if which { "answer token" } else { "wrong token" },
                    )
                });
            ui.label(if which { "] − logit[" } else { "]" });
        }
    });
    let pair = Some((key.answer, key.wrong));
    ui.small(if pair == super::tokens::copied_pair(a, b) {
        "The texts differ in one token, which the model expects next: a copying task, measured by A's token there against B's."
    } else if pair == super::tokens::default_tokens(a, b) {
        "A's top guess after its last token against B's (B's second where both are the same)."
    } else {
        "The tokens you chose."
    });
    ui.horizontal(|ui| {
        let running = p.progress.is_some();
        if ui
            .add_enabled(!running, egui::Button::new("Patch from A into B"))
            .on_hover_text("Every head's values and every layer × position of the residual stream, one at a time; each run starts at the patched layer")
            .clicked()
        {
            commands.push(Command::Patch(key.clone()));
        }
        if let Some((done, total)) = p.progress {
            ui.add(
                egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                    .desired_width(200.0)
                    .text(format!("{done} / {total} runs")),
            );
        }
        if let Some(why) = p.failure {
            ui.colored_label(Color32::from_rgb(215, 48, 39), format!("⚠ {why}"));
        }
    });
    let Some(result) = p.result else {
        return commands;
    };
    ui.label(format!(
        "clean (A) {:.3}, corrupt (B) {:.3}; cells are (patched − corrupt) / (clean − corrupt): 0 restores nothing, 1 restores A's difference (the raw value on hover)",
        result.clean_logit_diff, result.corrupt_logit_diff
    ));
    if let Some(gap) = result.weak_gap() {
        ui.colored_label(
            crate::ui::palette::FOCUS,
            format!("⚠ {}.", crate::model::patching::weak_gap_warning(gap)),
        );
    }
    // Above the grids, which may run past the bottom of the window.
    ui.horizontal(|ui| {
        ui.label("save");
        for (label, what) in [
            ("CSV", PatchExport::Csv),
            ("JSON", PatchExport::Json),
            ("SVG", PatchExport::Svg),
            ("PNG", PatchExport::Png),
        ] {
            if ui.small_button(label).clicked() {
                commands.push(Command::ExportPatch(what));
            }
        }
    });
    legend(ui, "−1", "+1");
    ui.small("each head's values from A (layers down, heads across)");
    grid(ui, "patch_heads", &result.heads, result, "h", |l, h| {
        format!("head {l}.{h}")
    });
    ui.small("the residual stream entering each layer (rows), at each position (columns), from A");
    grid(
        ui,
        "patch_residual",
        &result.residual,
        result,
        "",
        |l, pos| {
            let t = result
                .clean_tokens
                .get(pos)
                .map_or_else(String::new, |t| token(&t.text));
            format!("layer {l}, position {pos} ({t})")
        },
    );
    commands
}

/// Rows of values as squares coloured by their normalised value, the raw value and what it is on hover. The
/// rows are layers, labelled L0, L1, … on the left; the columns are numbered above, after `prefix` (h0, h1, …
/// for heads; positions bare), as often as there is room.
fn grid(
    ui: &mut egui::Ui,
    id: &str,
    rows: &[Vec<f64>],
    result: &Patching,
    prefix: &str,
    what: impl Fn(usize, usize) -> String,
) {
    // No row at all: an empty picture.
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    // Where clean and corrupt give one difference nothing can be restored: colour by the raw value instead.
    let largest = rows.iter().flatten().fold(1e-12f64, |m, v| m.max(v.abs()));
    let (label_w, label_h) = (28.0, 14.0);
    let cell = ((ui.available_width() - label_w).min(420.0) / cols.max(1) as f32).clamp(6.0, 24.0);
    let (whole, response) = ui.allocate_exact_size(
        Vec2::new(
            label_w + cell * cols as f32,
            label_h + cell * rows.len() as f32,
        ),
        Sense::hover(),
    );
    response.widget_info(|| egui::WidgetInfo::labeled(egui::WidgetType::Other, true, id));
    let rect = Rect::from_min_max(whole.min + Vec2::new(label_w, label_h), whole.max);
    let (font, colour) = (
        egui::FontId::proportional(10.0),
        ui.visuals().weak_text_color(),
    );
    let labels = ui.painter_at(whole);
    for r in 0..rows.len() {
        let y = rect.top() + (r as f32 + 0.5) * cell;
        labels.text(
            egui::pos2(rect.left() - 4.0, y),
            egui::Align2::RIGHT_CENTER,
            format!("L{r}"),
            font.clone(),
            colour,
        );
    }
    // A number every `every` columns, so that numbers of up to four characters do not touch.
    let every = (24.0 / cell).ceil().max(1.0) as usize;
    for c in (0..cols).step_by(every) {
        let x = rect.left() + (c as f32 + 0.5) * cell;
        labels.text(
            egui::pos2(x, rect.top() - 2.0),
            egui::Align2::CENTER_BOTTOM,
            format!("{prefix}{c}"),
            font.clone(),
            colour,
        );
    }
    let painter = ui.painter_at(rect);
    for (r, row) in rows.iter().enumerate() {
        for (c, &x) in row.iter().enumerate() {
            let shade = match result.normalised(x) {
                Some(v) => v,
                None => x / largest,
            };
            let [red, g, b] = diverging_rgb(shade);
            let min = rect.min + Vec2::new(c as f32 * cell, r as f32 * cell);
            painter.rect_filled(
                Rect::from_min_size(min, Vec2::splat(cell - 1.0)),
                1.0,
                Color32::from_rgb(red, g, b),
            );
        }
    }
    // Over the cells only: the labels' band would read as row or column 0.
    if let Some(pointer) = response.hover_pos().filter(|p| rect.contains(*p)) {
        let (r, c) = (
            ((pointer.y - rect.top()) / cell) as usize,
            ((pointer.x - rect.left()) / cell) as usize,
        );
        if let Some(&x) = rows.get(r).and_then(|row| row.get(c)) {
            let norm = result
                .normalised(x)
                .map_or_else(String::new, |v| format!(", normalised {v:.2}"));
            response.on_hover_text(format!("{}: logit difference {x:.4}{norm}", what(r, c)));
        }
    }
}
