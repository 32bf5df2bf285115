//! The status bar: the model, a download in progress, the last analysis' time and shape, and an analysis error.

use super::command::Command;
use crate::session::{Prefetch, Session};

/// Red for failures.
pub const ERROR_RED: egui::Color32 = egui::Color32::from_rgb(220, 80, 60);

/// Draws the status bar for `session`; `model` is the model being loaded or shown.
pub fn status_ui(ui: &mut egui::Ui, session: &Session, model: &str) -> Option<Command> {
    let mut command = None;
    ui.horizontal(|ui| {
        match (session.model_name(), session.loading()) {
            (_, true) => ui.label(format!("loading {model}…")),
            (Some(name), false) => ui.label(name),
            (None, false) => ui.label("no model loaded"),
        };
        if let Some(d) = session.download() {
            ui.separator();
            ui.label(format!(
                "downloading {}: {:.1} / {:.1} MB",
                d.file,
                d.done as f64 / 1e6,
                d.total as f64 / 1e6
            ));
            if ui.small_button("Cancel").clicked() {
                command = Some(Command::CancelDownload);
            }
        }
        if let Some(ms) = session.last_millis() {
            ui.separator();
            ui.label(format!("last analysis {ms:.0} ms"));
        }
        if let Some(a) = session.analysis() {
            ui.separator();
            ui.label(format!(
                "{} tokens · {} layers × {} heads",
                a.tokens.len(),
                a.model.n_layer,
                a.model.n_head
            ));
        }
        if let Some(err) = session.analyze_error() {
            ui.separator();
            let message = format!("⚠ {err}");
            let shown = if session.analysis().is_some() {
                " (showing the previous result)"
            } else {
                ""
            };
            ui.colored_label(ERROR_RED, format!("{message}{shown}"));
        }
    });
    command
}

/// The central area before the first analysis arrives: the download's progress, or a spinner while loading.
pub fn waiting_ui(ui: &mut egui::Ui, session: &Session, model: &str) -> Option<Command> {
    if let Some(d) = session.download() {
        let secs = d.started.elapsed().as_secs_f64().max(0.1);
        let fraction = if d.total > 0 {
            d.done as f32 / d.total as f32
        } else {
            0.0
        };
        ui.label(format!(
            "Downloading {}: {:.1} / {:.1} MB at {:.1} MB/s",
            d.file,
            d.done as f64 / 1e6,
            d.total as f64 / 1e6,
            d.done as f64 / 1e6 / secs
        ));
        ui.add(egui::ProgressBar::new(fraction).show_percentage());
        if ui.button("Cancel").clicked() {
            return Some(Command::CancelDownload);
        }
    } else if session.loading() {
        ui.spinner();
        ui.label(format!("Loading {model}…"));
    }
    None
}

/// The load error above the central area, with a way to open a folder instead.
pub fn load_error_ui(ui: &mut egui::Ui, session: &Session) -> Option<Command> {
    let err = session.load_error()?;
    ui.colored_label(ERROR_RED, format!("⚠ {err}"));
    ui.label("Pick a model above, or open a local folder holding config.json, model.safetensors and tokenizer.json (or vocab.json + merges.txt).");
    let browse = ui.button("📂 Open a local model folder…").clicked();
    ui.separator();
    browse.then_some(Command::BrowseModelFolder)
}

/// Above the views when the text is more than the model reads at once: how much, and a button that keeps the
/// part it reads; after a cut, what was cut and a button that puts it back. `whole` is the text before the
/// The banners' "Score all of it in windows", off while a scoring runs (the Perplexity tab scores one text at a
/// time); whether it was clicked.
fn score_all_button(ui: &mut egui::Ui, scoring: bool, hover: &str) -> bool {
    ui.add_enabled(!scoring, egui::Button::new("Score all of it in windows"))
        .on_hover_text(hover)
        .on_disabled_hover_text("A scoring is running in the Perplexity tab: wait for it to finish")
        .clicked()
}

/// cut, while the text is still its start.
pub fn too_long_ui(
    ui: &mut egui::Ui,
    session: &Session,
    text: &str,
    whole: Option<&str>,
    scoring: bool,
) -> Option<Command> {
    let mut command = None;
    // A text refused again after a cut (by a model that reads less) offers its own cut first.
    let readable = session
        .readable_part(text)
        .and_then(|part| Some((part, text.get(..part.fits)?)))
        .filter(|(_, kept)| !kept.is_empty() && kept.len() < text.len());
    if let Some((part, kept)) = readable {
        ui.horizontal_wrapped(|ui| {
            let why = if part.memory {
                format!(
                    "every head's attention is kept for at most {} tokens of this model",
                    super::grouped(part.limit)
                )
            } else {
                format!("the model reads {} at once", super::grouped(part.limit))
            };
            ui.colored_label(
                ERROR_RED,
                format!("⚠ The text is {} tokens: {why}.", super::grouped(part.tokens)),
            );
            // The end of the part kept, to say where the cut falls.
            let tail: String = {
                let chars: Vec<char> = kept.trim_end().chars().collect();
                chars[chars.len().saturating_sub(24)..].iter().collect()
            };
            if ui
                .button("Read the part that fits")
                .on_hover_text(format!(
                    "Cut the text after “…{tail}”, between two tokens (the whole text is kept: a button puts it back)."
                ))
                .clicked()
            {
                command = Some(Command::CutText(part.fits));
            }
            if score_all_button(ui, scoring, "The Perplexity tab: the whole text in sliding windows, each token scored with up to a window of the text before it; after the first window, at least the window less the stride") {
                command = Some(Command::ScoreText);
            }
        });
        ui.separator();
        return command;
    }
    let whole =
        whole.filter(|w| !text.is_empty() && w.len() > text.len() && w.starts_with(text))?;
    ui.horizontal_wrapped(|ui| {
        ui.label(format!(
            "ℹ Showing the first {} of the text's {} characters: the rest is more than the model reads at once.",
            super::grouped(text.chars().count()),
            super::grouped(whole.chars().count())
        ));
        if ui.button("Put the whole text back").clicked() {
            command = Some(Command::UncutText);
        }
        if score_all_button(
            ui,
            scoring,
            "Put the whole text back and score it in the Perplexity tab, in sliding windows",
        ) {
            command = Some(Command::ScoreWholeText);
        }
    });
    ui.separator();
    command
}

/// One line above the views while the demo model stands in for GPT-2 on a first run: GPT-2's download in the
/// background, the offer to switch once it is in the cache, or why it could not be fetched and how to get it.
pub fn prefetch_banner_ui(ui: &mut egui::Ui, session: &Session) -> Option<Command> {
    let (repo, state) = session.prefetch()?;
    let mut command = None;
    ui.horizontal_wrapped(|ui| {
        ui.label("ℹ This is the demo model, a small GPT-2 trained on English and Chinese novels, verse and everyday sentences, not GPT-2.");
        match state {
            Prefetch::Downloading(None) => {
                ui.label(format!("{repo} is downloading in the background…"));
            }
            Prefetch::Downloading(Some(d)) => {
                ui.label(format!(
                    "{repo} is downloading in the background: {} {:.1} / {:.1} MB",
                    d.file,
                    d.done as f64 / 1e6,
                    d.total as f64 / 1e6
                ));
            }
            Prefetch::Ready(_) => {
                ui.label(format!("{repo} is downloaded."));
                if ui.button(format!("Switch to {repo}")).clicked() {
                    command = Some(Command::LoadModel(repo.to_string()));
                }
            }
            Prefetch::Failed(err) => {
                ui.label(format!(
                    "{repo} could not be fetched: with a network, pick it in the ▾ list and press Load, or run `huggingface-cli download {repo}`."
                ))
                .on_hover_text(err.to_string());
            }
        }
        if ui.small_button("✖").on_hover_text("Hide this line").clicked() {
            command = Some(Command::DismissPrefetch);
        }
    });
    ui.separator();
    command
}
