//! The Lesson view: a list of steps, the current step's sentences in the reader's language, a "Try this"
//! question the reader answers before the app checks it on their own text, and the live figure the step talks
//! about (drawn by the caller, which owns the app's figures). ←/→ or Page Up/Down move between steps.

use egui::{Color32, RichText};

use super::command::Command;
use crate::lesson::steps::{self, Facts, Figure, Lang, STEPS};

/// The reader's prediction for the current step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prediction {
    /// The choice picked.
    pub choice: Option<usize>,
    /// Whether the reader asked the app to check it.
    pub checked: bool,
}

/// What the lesson draws from.
pub struct LessonPanel<'a> {
    /// The step shown (from 0).
    pub step: usize,
    /// The language.
    pub lang: Lang,
    /// The reader's prediction on this step.
    pub prediction: Prediction,
    /// The numbers the checks read, once they arrived for the text on screen.
    pub facts: Option<Facts<'a>>,
    /// The head the head-level steps use.
    pub head: (usize, usize),
    /// Why the numbers could not be made, if so.
    pub failure: Option<&'a str>,
}

/// The keys that move between steps, unless a text field has the keyboard.
fn step_keys(ui: &egui::Ui, step: usize) -> Option<usize> {
    if ui.ctx().egui_wants_keyboard_input() {
        return None;
    }
    ui.input(|i| {
        if i.key_pressed(egui::Key::ArrowRight) || i.key_pressed(egui::Key::PageDown) {
            Some((step + 1).min(STEPS - 1))
        } else if i.key_pressed(egui::Key::ArrowLeft) || i.key_pressed(egui::Key::PageUp) {
            Some(step.saturating_sub(1))
        } else {
            None
        }
    })
    .filter(|&s| s != step)
}

/// Draws the lesson; `figure` draws a step's figure and returns its commands.
pub fn lesson_ui(
    ui: &mut egui::Ui,
    p: LessonPanel<'_>,
    figure: impl FnOnce(&mut egui::Ui, Figure) -> Vec<Command>,
) -> Vec<Command> {
    let mut commands = Vec::new();
    let step = p.step.min(STEPS - 1);
    let text = steps::text(p.lang, step);
    let zh = p.lang == Lang::ZhHant;
    if let Some(s) = step_keys(ui, step) {
        commands.push(Command::LessonStep(s));
    }
    egui::Panel::left("lesson_steps")
        .resizable(true)
        .default_size(230.0)
        .show(ui, |ui| {
            ui.horizontal(|ui| {
                for lang in Lang::ALL {
                    if ui.selectable_label(p.lang == lang, lang.name()).clicked() && lang != p.lang {
                        commands.push(Command::LessonLang(lang));
                    }
                }
            });
            ui.separator();
            for i in 0..STEPS {
                if ui
                    .selectable_label(i == step, steps::text(p.lang, i).title)
                    .clicked()
                {
                    commands.push(Command::LessonStep(i));
                }
            }
            ui.separator();
            ui.small(if zh {
                "用 ←/→ 或按鈕換步驟。改動上方文字，每一步都會在新文字上重算。"
            } else {
                "←/→ or the buttons change step. Edit the text above: every step recomputes on it."
            });
            ui.small(if zh {
                "中文需要系統有 CJK 字型；若看到方框，請安裝 Noto Sans CJK（Debian/Ubuntu：fonts-noto-cjk）或文泉驛微米黑（fonts-wqy-microhei）。"
            } else {
                "Chinese needs a CJK font on the system; if you see boxes, install Noto Sans CJK (Debian/Ubuntu: fonts-noto-cjk) or WenQuanYi Micro Hei (fonts-wqy-microhei)."
            });
        });
    ui.horizontal(|ui| {
        if ui
            .add_enabled(
                step > 0,
                egui::Button::new(if zh { "◂ 上一步" } else { "◂ Back" }),
            )
            .clicked()
        {
            commands.push(Command::LessonStep(step - 1));
        }
        ui.label(format!("{} / {STEPS}", step + 1));
        if ui
            .add_enabled(
                step + 1 < STEPS,
                egui::Button::new(if zh { "下一步 ▸" } else { "Next ▸" }),
            )
            .clicked()
        {
            commands.push(Command::LessonStep(step + 1));
        }
        let (l, h) = p.head;
        ui.weak(if zh {
            format!("（使用注意力頭 {l}.{h}：在「Matrix」選單換頭）")
        } else {
            format!("(head {l}.{h}: change it in the Matrix menu)")
        });
    });
    ui.heading(text.title);
    for sentence in text.body {
        ui.label(*sentence);
    }
    ui.add_space(4.0);
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.set_width(ui.available_width());
        ui.strong(if zh { "試試看" } else { "Try this" });
        ui.label(text.question);
        ui.horizontal_wrapped(|ui| {
            for (i, choice) in text.choices.iter().enumerate() {
                if ui.radio(p.prediction.choice == Some(i), *choice).clicked() {
                    commands.push(Command::LessonChoose(i));
                }
            }
        });
        let facts = p.facts.as_ref();
        let caveat = facts.and_then(|f| steps::caveat(p.lang, step, f));
        if let Some(c) = &caveat {
            ui.colored_label(Color32::from_rgb(230, 85, 13), c);
        }
        let answer = facts.and_then(|f| steps::answer(step, f));
        let check = if zh {
            "在我的文字上檢查"
        } else {
            "Check on my text"
        };
        if ui
            .add_enabled(
                p.prediction.choice.is_some() && answer.is_some(),
                egui::Button::new(check),
            )
            .on_disabled_hover_text(match (p.prediction.choice.is_some(), zh) {
                (false, false) => "Pick an answer first",
                (false, true) => "先選一個答案",
                (true, false) => "Your text has no answer to this yet (see above)",
                (true, true) => "你的文字還無法回答這題（見上方說明）",
            })
            .clicked()
        {
            commands.push(Command::LessonCheck);
        }
        if p.prediction.checked {
            if let (Some(answer), Some(f)) = (answer, facts) {
                let right = p.prediction.choice == Some(answer);
                let verdict = match (right, zh) {
                    (true, false) => "✓ Right.",
                    (false, false) => "✗ Not quite.",
                    (true, true) => "✓ 答對了。",
                    (false, true) => "✗ 不太對。",
                };
                let colour = if right {
                    Color32::from_rgb(26, 152, 80)
                } else {
                    Color32::from_rgb(215, 48, 39)
                };
                ui.label(RichText::new(verdict).color(colour).strong());
                if let Some(text) = steps::reveal(p.lang, step, f) {
                    ui.label(text);
                }
            }
        }
        if facts.is_none() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.small(if zh {
                    "正在計算…"
                } else {
                    "computing…"
                });
            });
        }
    });
    ui.separator();
    commands.extend(figure(ui, steps::FIGURES[step]));
    commands
}
