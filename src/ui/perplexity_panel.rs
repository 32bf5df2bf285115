//! The Perplexity tab: score a file with sliding windows, plot each window's mean NLL, and show for a chosen
//! window which tokens are context and which are scored — the picture that makes the stride obvious.

use egui::Color32;
use egui_plot::{Line, Plot, PlotPoints, Points};

pub use crate::session::scoring::ScoredFile;

/// The tab's own state.
#[derive(Default)]
pub struct PerplexityTab {
    /// The file path typed.
    pub path: String,
    /// Stride (0: half the window).
    pub stride: usize,
    /// Window length (0: the model's context).
    pub max_length: usize,
    /// Progress (scored, total) while running.
    pub progress: Option<(usize, usize)>,
    /// The last result.
    pub result: Option<ScoredFile>,
    /// The last error.
    pub error: Option<String>,
    /// The window shown.
    pub window: usize,
}

/// A drag value's text: `auto` for 0 (the default), else the number.
fn auto_or(value: f64, auto: &str) -> String {
    if value == 0.0 {
        auto.to_string()
    } else {
        format!("{value:.0}")
    }
}

/// What the tab asks the app to do.
#[must_use]
pub enum PerplexityCommand {
    /// Nothing.
    None,
    /// Score the file.
    Run,
    /// Choose the file with a dialog.
    Browse,
}

impl PerplexityTab {
    /// Shows a scoring's result, or why it failed, in place of the progress.
    pub fn finished(&mut self, result: Result<ScoredFile, String>) {
        self.progress = None;
        match result {
            Ok(scored) => {
                self.error = None;
                self.window = 0;
                self.result = Some(scored);
            }
            Err(message) => self.error = Some(message),
        }
    }

    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, model_loaded: bool) -> PerplexityCommand {
        let mut command = PerplexityCommand::None;
        ui.horizontal(|ui| {
            ui.label("File");
            ui.add(
                egui::TextEdit::singleline(&mut self.path)
                    .desired_width(360.0)
                    .hint_text("path of a UTF-8 text file"),
            );
            if ui
                .add_enabled(self.progress.is_none(), egui::Button::new("📂 Open…"))
                .on_hover_text("Choose a text file and score it")
                .clicked()
            {
                command = PerplexityCommand::Browse;
            }
            ui.add(
                egui::DragValue::new(&mut self.max_length)
                    .range(0..=4096)
                    .prefix("window: ")
                    .custom_formatter(|v, _| auto_or(v, "model's context")),
            )
            .on_hover_text("Tokens per window; 0 (shown as \"model's context\"): 1024 for GPT-2");
            ui.add(
                egui::DragValue::new(&mut self.stride)
                    .range(0..=4096)
                    .prefix("stride: ")
                    .custom_formatter(|v, _| auto_or(v, "half the window")),
            )
            .on_hover_text(
                "Tokens between window starts; 0 (shown as \"half the window\"): as the guide",
            );
            let running = self.progress.is_some();
            if ui
                .add_enabled(
                    model_loaded && !running && !self.path.trim().is_empty(),
                    egui::Button::new("Score"),
                )
                .clicked()
            {
                command = PerplexityCommand::Run;
            }
            if let Some((done, total)) = self.progress {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .desired_width(160.0)
                        .text(format!("{done}/{total} tokens")),
                );
            }
        });
        ui.label(
            "Windows of L tokens start every S tokens. Each window scores only the tokens no earlier window scored; \
             the rest of it is context. A smaller stride gives every prediction more context, and a lower perplexity.",
        );
        if let Some(err) = &self.error {
            ui.colored_label(Color32::from_rgb(220, 80, 60), format!("⚠ {err}"));
        }
        let Some(r) = &self.result else {
            return command;
        };
        let p = &r.report.ppl;
        ui.heading(format!(
            "{}: perplexity {:.3} · {:.3} bits per byte ({})",
            r.path,
            p.token,
            r.bits_per_byte,
            if r.bos {
                "BOS first: every token scored"
            } else {
                "no BOS: the first token is context only"
            }
        ));
        ui.label(format!(
            "token-weighted (exact) {:.4} · mean of window losses (HF guide 2023–24) {:.4} · Σ loss·trg_len / end (HF guide 2022) {:.4} · {}, {} scored, {} of {}, stride {}",
            p.token, p.window_mean, p.hf_legacy, crate::format::count(r.report.tokens, "token", "tokens"), r.report.predicted_tokens, crate::format::count(r.report.windows.len(), "window", "windows"), r.max_length, r.stride
        ));
        let points: Vec<[f64; 2]> = r
            .report
            .windows
            .iter()
            .enumerate()
            .map(|(i, w)| [i as f64, w.mean_nll])
            .collect();
        let chosen: Vec<[f64; 2]> = points.get(self.window).copied().into_iter().collect();
        Plot::new("window_nll")
            .height(160.0)
            .x_axis_label("window")
            .y_axis_label("mean NLL (nats)")
            // Steps of 0.2, 1 and 5: windows of one text often differ by less than one nat, and steps of 0.1,
            // 1 and 10 would then label a single line.
            .y_grid_spacer(egui_plot::log_grid_spacer(5))
            .show(ui, |plot| {
                plot.line(Line::new("mean NLL", PlotPoints::from(points)));
                plot.points(
                    Points::new("chosen", PlotPoints::from(chosen))
                        .radius(5.0)
                        .color(Color32::from_rgb(230, 85, 13)),
                );
            });
        let last = r.report.windows.len().saturating_sub(1);
        ui.add(egui::Slider::new(&mut self.window, 0..=last).text("window"));
        let Some(w) = r.report.windows.get(self.window) else {
            return command;
        };
        let scored_from = w.end - w.n_scored;
        ui.label(format!(
            "window {}: tokens {}–{} — grey: context only, orange: scored here ({} tokens, mean NLL {:.3})",
            self.window,
            w.begin,
            w.end.saturating_sub(1),
            w.n_scored,
            w.mean_nll
        ));
        egui::ScrollArea::vertical()
            .id_salt("window_tokens")
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 1.0;
                    for (i, text) in r.tokens.iter().enumerate().take(w.end).skip(w.begin) {
                        let color = if i >= scored_from {
                            Color32::from_rgb(230, 120, 40)
                        } else {
                            Color32::from_gray(130)
                        };
                        ui.label(egui::RichText::new(text).monospace().color(color));
                    }
                });
            });
        command
    }
}
