//! The most surprising tokens of a scoring, and one window's text: context grey, each scored token coloured by
//! its surprisal, with its probability on hover.

use egui::{Color32, RichText};

use super::{bits, PerplexityTab, TokenScore};
use crate::ui::palette::{ramp_with_phrase, surprisal_color};

impl PerplexityTab {
    /// The most surprising tokens of the whole text, each a button that shows it in its window; returns the
    /// position clicked.
    pub(super) fn surprising_ui(&self, ui: &mut egui::Ui) -> Option<usize> {
        let r = self.result.as_ref()?;
        let mut clicked = None;
        ui.horizontal_wrapped(|ui| {
            ui.label("most surprising:").on_hover_text(
                "The scored tokens the model gave the lowest probability, in the whole text",
            );
            for &(position, nll) in &self.surprising {
                // Scored positions lie below the report's token count, which `tokens` has one label each for.
                let text = &r.tokens[position];
                let label = RichText::new(format!("{text} {:.1} bits", bits(nll)))
                    .monospace()
                    .color(surprisal_color(Some(bits(nll))));
                if ui
                    .add(egui::Button::new(label).small())
                    .on_hover_text(format!(
                        "token {position}: p = {}; click to show it in its window",
                        crate::format::percent(-nll)
                    ))
                    .clicked()
                {
                    clicked = Some(position);
                }
            }
        });
        clicked
    }

    /// The chosen window's tokens.
    pub(super) fn window_text_ui(&mut self, ui: &mut egui::Ui) {
        let Some(r) = &self.result else {
            return;
        };
        let Some(w) = r.report.windows.get(self.window) else {
            return;
        };
        let scored_from = w.end - w.n_scored;
        ui.horizontal_wrapped(|ui| {
            ui.label(format!(
                "window {}: tokens {}–{}, mean surprisal {:.2} bits a token (NLL {:.3} nats). Grey: context only; the {} scored here by surprisal:",
                self.window,
                w.begin,
                w.end.saturating_sub(1),
                bits(w.mean_nll),
                w.mean_nll,
                crate::format::count(w.n_scored, "token", "tokens"),
            ));
            ramp_with_phrase(
                ui,
                80.0,
                16,
                |t| surprisal_color(Some(f64::from(t) * 20.0)),
                "0 … 20+ bits".into(),
            )
            .on_hover_text("−log₂ p(token | the tokens before it in its window): green for a token the model expected, red for one that surprised it");
        });
        let mut scrolled = false;
        egui::ScrollArea::vertical()
            .id_salt("window_tokens")
            .show(ui, |ui| {
                ui.horizontal_wrapped(|ui| {
                    ui.spacing_mut().item_spacing.x = 1.0;
                    for (i, text) in r.tokens.iter().enumerate().take(w.end).skip(w.begin) {
                        // i < w.end ≤ the report's token count, the length of `scored_at`.
                        let score = self.scored_at[i];
                        let here = i >= scored_from;
                        let color = match score {
                            Some(score) if here => surprisal_color(Some(bits(score.nll))),
                            _ => Color32::from_gray(130),
                        };
                        let mut rich = RichText::new(text).monospace().color(color);
                        if self.marked == Some(i) {
                            rich = rich
                                .background_color(Color32::from_rgb(70, 70, 110))
                                .strong();
                        }
                        let response = ui.label(rich);
                        if self.marked == Some(i) && self.scroll_to_marked {
                            response.scroll_to_me(Some(egui::Align::Center));
                            scrolled = true;
                        }
                        response.on_hover_ui(|ui| {
                            ui.label(token_hover(i, score, here, r.bos));
                        });
                        // The text's own line breaks, so a paragraph reads as one.
                        if r.line_ends.binary_search(&i).is_ok() {
                            ui.end_row();
                        }
                    }
                });
            });
        if scrolled {
            self.scroll_to_marked = false;
        }
    }
}

/// What a token's hover says: its probability, and whether this window or another scores it; for a token no
/// window scores, why.
fn token_hover(position: usize, score: Option<TokenScore>, here: bool, bos: bool) -> String {
    match (score, here) {
        (Some(s), true) => format!(
            "token {position}: p = {}, {:.2} bits, scored in this window",
            crate::format::percent(-s.nll),
            bits(s.nll)
        ),
        (Some(s), false) => format!(
            "token {position}: context here; scored in window {} (p = {}, {:.2} bits)",
            s.window,
            crate::format::percent(-s.nll),
            bits(s.nll)
        ),
        (None, _) if position == 0 && bos => {
            "token 0: BOS, which every prediction starts from; nothing predicts it".to_string()
        }
        (None, _) if position == 0 => {
            "token 0: the text's first, with nothing before it to predict it from".to_string()
        }
        (None, _) => format!(
            "token {position}: the first of its window, with nothing before it there; the stride equals the window, so no window scores it"
        ),
    }
}
