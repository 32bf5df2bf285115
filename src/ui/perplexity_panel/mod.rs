//! The Perplexity tab: score a file, or the text being analysed, with sliding windows; plot each window's mean
//! NLL; and show for a chosen window which tokens are context and which are scored, each scored token coloured
//! by its surprisal — the picture that makes the stride obvious, and shows where the text surprised the model.

mod window_text;

use egui::{Color32, Rangef};
use egui_plot::{Line, Plot, PlotPoints, Points};

use crate::session::scoring::ScoreSource;
pub use crate::session::scoring::ScoredText;

/// Tokens listed as the most surprising of a scoring.
const SURPRISING: usize = 8;

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
    pub result: Option<ScoredText>,
    /// The last error.
    pub error: Option<String>,
    /// The window shown.
    pub window: usize,
    /// Each token's score by position; `None` for a token no window scores.
    scored_at: Vec<Option<TokenScore>>,
    /// The most surprising tokens of the result, (position, nll), the most surprising first.
    pub surprising: Vec<(usize, f64)>,
    /// The token chosen from the most surprising, marked in the window text.
    pub marked: Option<usize>,
    /// Whether the window text still has to scroll the marked token into view.
    scroll_to_marked: bool,
}

/// How one token was scored.
#[derive(Clone, Copy, Debug)]
struct TokenScore {
    /// Its negative log-likelihood in nats.
    nll: f64,
    /// The window that scored it.
    window: usize,
}

/// What the tab needs of the window's state beside its own.
#[derive(Clone, Copy)]
pub struct Now<'a> {
    /// The model loaded, if any.
    pub model: Option<&'a str>,
    /// The text in the box above.
    pub text: &'a str,
}

/// Which tokens of a scoring were scored, in words derived from the report.
fn what_is_scored(r: &ScoredText) -> String {
    let unscored = r.report.tokens - r.report.predicted_tokens;
    match (r.bos, unscored) {
        (true, 1) => "BOS first: every token of the text scored".to_string(),
        (false, 1) => "no BOS: the first token is context only".to_string(),
        (bos, _) => format!(
            "{} of the text not scored: each window's first has nothing before it in its window, where the stride equals the window{}",
            crate::format::count(unscored - usize::from(bos), "token", "tokens"),
            if bos { "" } else { " (the text's first among them)" }
        ),
    }
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
    /// Score the text being analysed.
    RunText,
    /// Save one CSV row per scored token in the quick-export folder.
    SaveCsv,
    /// Choose the file with a dialog.
    Browse,
}

impl PerplexityTab {
    /// Shows a scoring's result, or why it failed, in place of the progress.
    pub fn finished(&mut self, result: Result<ScoredText, String>) {
        self.progress = None;
        match result {
            Ok(scored) => {
                self.error = None;
                self.window = 0;
                self.marked = None;
                self.scored_at = vec![None; scored.report.tokens];
                for (window, w) in scored.report.windows.iter().enumerate() {
                    for (position, nll) in w.scored() {
                        // Windows score positions below the text's length, BOS counted: `report.tokens`.
                        self.scored_at[position] = Some(TokenScore { nll, window });
                    }
                }
                self.surprising = scored.report.most_surprising(SURPRISING);
                self.result = Some(scored);
            }
            Err(message) => self.error = Some(message),
        }
    }

    /// Shows the token at `position`: its window, marked and scrolled into view.
    pub fn show_token(&mut self, position: usize) {
        if let Some(window) = self
            .result
            .as_ref()
            .and_then(|r| r.report.window_scoring(position))
        {
            self.window = window;
            self.marked = Some(position);
            self.scroll_to_marked = true;
        }
    }

    /// Forgets the result: another model was loaded, whose scores these are not.
    pub fn clear(&mut self) {
        self.result = None;
        self.error = None;
        self.window = 0;
        self.scored_at.clear();
        self.surprising.clear();
        self.marked = None;
        self.scroll_to_marked = false;
    }

    /// Draws the tab.
    pub fn ui(&mut self, ui: &mut egui::Ui, now: Now<'_>) -> PerplexityCommand {
        let mut command = self.controls_ui(ui, now);
        ui.label(
            "Windows of L tokens start every S tokens. Each window scores only the tokens no earlier window scored; \
             the rest of it is context. A smaller stride gives every prediction more context, and a lower perplexity.",
        );
        if let Some(err) = &self.error {
            ui.colored_label(Color32::from_rgb(220, 80, 60), format!("⚠ {err}"));
        }
        if self.result_ui(ui, now) {
            command = PerplexityCommand::SaveCsv;
        }
        command
    }

    /// The row of controls: the file, the window and stride, and the two ways to score.
    fn controls_ui(&mut self, ui: &mut egui::Ui, now: Now<'_>) -> PerplexityCommand {
        let mut command = PerplexityCommand::None;
        let running = self.progress.is_some();
        // Why a button is off, said on its hover: the first reason that holds.
        let why_not = |missing: Option<&'static str>| {
            if now.model.is_none() {
                Some("Load a model first")
            } else if running {
                Some("A scoring is running: wait for it to finish")
            } else {
                missing
            }
        };
        ui.horizontal(|ui| {
            ui.label("File");
            ui.add(
                egui::TextEdit::singleline(&mut self.path)
                    .desired_width(360.0)
                    .hint_text("path of a UTF-8 text file"),
            );
            if ui
                .add_enabled(!running, egui::Button::new("📂 Open…"))
                .on_hover_text("Choose a text file and score it")
                .on_disabled_hover_text("A scoring is running: wait for it to finish")
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
            let no_path = self
                .path
                .trim()
                .is_empty()
                .then_some("Type a file's path, or choose one with Open…");
            if let Some(why) = why_not(no_path) {
                ui.add_enabled(false, egui::Button::new("Score file"))
                    .on_disabled_hover_text(why);
            } else if ui.button("Score file").clicked() {
                command = PerplexityCommand::Run;
            }
            let no_text = now
                .text
                .is_empty()
                .then_some("Type a text in the box above");
            if let Some(why) = why_not(no_text) {
                ui.add_enabled(false, egui::Button::new("Score the text above"))
                    .on_disabled_hover_text(why);
            } else if ui
                .button("Score the text above")
                .on_hover_text("The text in the box above, in the same windows, however long it is")
                .clicked()
            {
                command = PerplexityCommand::RunText;
            }
            if let Some((done, total)) = self.progress {
                ui.add(
                    egui::ProgressBar::new(done as f32 / total.max(1) as f32)
                        .desired_width(160.0)
                        .text(format!("{done}/{total} tokens")),
                );
            }
        });
        command
    }

    /// The result: the perplexities, the windows' losses, the most surprising tokens and one window's text;
    /// whether the reader asked to save it.
    fn result_ui(&mut self, ui: &mut egui::Ui, now: Now<'_>) -> bool {
        let Some(r) = &self.result else {
            return false;
        };
        let p = &r.report.ppl;
        ui.heading(format!(
            "{}: perplexity {:.3} · {:.3} bits per byte",
            r.name(),
            p.token,
            r.bits_per_byte,
        ));
        let mut save = false;
        ui.horizontal_wrapped(|ui| {
            ui.label(format!("scored by {}; {}", r.model, what_is_scored(r)));
            save = ui
                .button("Save per-token CSV")
                .on_hover_text("One row per scored token (position, token, nll, bits, p, window), in the quick-export folder")
                .clicked();
        });
        if matches!(&r.source, ScoreSource::Text(scored) if scored != now.text) {
            ui.colored_label(
                Color32::from_rgb(230, 85, 13),
                "The text above has changed since it was scored: these are the scores of the text as it was. \
                 Score the text above again for the text as it is.",
            );
        }
        ui.label(format!(
            "token-weighted (exact) {:.4} · mean of window losses (HF guide 2023–24) {:.4} · Σ loss·trg_len / end (HF guide 2022) {:.4} · {}, {} scored, {} of {}, stride {}",
            p.token, p.window_mean, p.hf_legacy, crate::format::count(r.report.tokens, "token", "tokens"), r.report.predicted_tokens, crate::format::count(r.report.windows.len(), "window", "windows"), r.max_length, r.stride
        ));
        let points: Vec<[f64; 2]> = r
            .report
            .windows
            .iter()
            .enumerate()
            // In bits, as the tokens below are coloured.
            .map(|(i, w)| [i as f64, bits(w.mean_nll)])
            .collect();
        let chosen: Vec<[f64; 2]> = points.get(self.window).copied().into_iter().collect();
        let last = r.report.windows.len().saturating_sub(1);
        // One window has no curve to show: say so rather than plot a lone point on a meaningless axis.
        if last == 0 {
            ui.label("One window: the whole text fits in it, and every token scored is scored with all the tokens before it.");
        } else {
            // A click picks a window: dragging, zooming and scrolling would move the plot off its windows
            // instead, and keep it there for the next result.
            let plot = Plot::new("window_nll")
                .height(160.0)
                .allow_drag(false)
                .allow_zoom(false)
                .allow_scroll(false)
                .x_axis_label("window (click one to show its text)")
                .y_axis_label("bits a token")
                // Windows of one text often differ by a bit or two, where powers of 10 (or 5) would label a
                // single line: labelled steps of 1, 2 or 5 times a power of 10, at least LABEL_GAP apart.
                .grid_spacing(Rangef::new(GRID_MIN, 300.0))
                .y_grid_spacer(egui_plot::uniform_grid_spacer(|input| {
                    grid_steps(input.base_step_size / f64::from(GRID_MIN) * LABEL_GAP)
                }))
                // As many decimals as the step needs: 0.5 has one (egui_plot's default rounds it to none).
                .y_axis_formatter(|mark, _| {
                    let decimals = (-mark.step_size.log10()).ceil().max(0.0) as usize;
                    format!("{:.*}", decimals, mark.value)
                })
                .show(ui, |plot| {
                    plot.line(Line::new(
                        "mean surprisal (bits a token)",
                        PlotPoints::from(points),
                    ));
                    plot.points(
                        Points::new("chosen", PlotPoints::from(chosen))
                            .radius(5.0)
                            .color(Color32::from_rgb(230, 85, 13)),
                    );
                    plot.pointer_coordinate()
                });
            if plot.response.clicked() {
                if let Some(at) = plot.inner {
                    // Rounded to the nearest window and kept within them: the cast cannot wrap.
                    self.window = at.x.round().clamp(0.0, last as f64) as usize;
                    self.marked = None;
                }
            }
        }
        if let Some(position) = self.surprising_ui(ui) {
            self.show_token(position);
        }
        if last > 0
            && ui
                .add(egui::Slider::new(&mut self.window, 0..=last).text("window"))
                .changed()
        {
            self.marked = None;
        }
        self.window_text_ui(ui);
        save
    }
}

/// A negative log-likelihood in nats as bits.
fn bits(nll: f64) -> f64 {
    nll / std::f64::consts::LN_2
}

/// The plot's thinnest grid lines are at least this many points apart.
const GRID_MIN: f32 = 8.0;

/// Points between labelled lines on the window-loss plot's y axis: egui_plot labels lines 20 points apart faintly,
/// 30 fully.
const LABEL_GAP: f64 = 32.0;

/// The y axis's grid steps, `[thin, labelled, thick]`: the labelled step is the smallest of 1, 2 or 5 times a
/// power of 10 that is at least `span`, and every step is 1, 2 or 5 times a power of 10, so that its labels need
/// no more decimals than it has. Steps of 1 where `span` is not a positive number (a plot with no height yet).
fn grid_steps(span: f64) -> [f64; 3] {
    if !(span.is_finite() && span > 0.0) {
        return [0.2, 1.0, 10.0];
    }
    let power = 10f64.powf(span.log10().floor());
    // power ≤ span < 10 · power, up to rounding in log10: 2 is halved, 1 and 5 split in five.
    let (step, thin) = if span <= power {
        (power, power / 5.0)
    } else if span <= 2.0 * power {
        (2.0 * power, power)
    } else if span <= 5.0 * power {
        (5.0 * power, power)
    } else {
        (10.0 * power, 2.0 * power)
    };
    [thin, step, 10.0 * step]
}

#[cfg(test)]
mod tests {
    use super::grid_steps;

    #[test]
    fn grid_steps_are_one_two_or_five_times_a_power_of_ten() {
        for (span, step, thin) in [
            (0.13, 0.2, 0.1),
            (0.2, 0.2, 0.1),
            (0.21, 0.5, 0.1),
            (0.7, 1.0, 0.2),
            (1.0, 1.0, 0.2),
            (3.0, 5.0, 1.0),
            (12.0, 20.0, 10.0),
            (0.0, 1.0, 0.2),
            (f64::NAN, 1.0, 0.2),
        ] {
            let [t, s, thick] = grid_steps(span);
            let close = |a: f64, b: f64| (a - b).abs() < 1e-12 * b;
            assert!(
                close(s, step) && close(t, thin) && close(thick, 10.0 * step),
                "{span} → {t} {s} {thick}"
            );
        }
    }
}
