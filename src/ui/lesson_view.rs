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
    /// The reader opened the figure before answering: what they pick now is no prediction.
    pub shown_early: bool,
}

impl Prediction {
    /// Whether the figure may be drawn: once the reader committed to an answer, or asked to see it first.
    pub fn figure_open(&self) -> bool {
        self.checked || self.shown_early
    }
}

/// What the lesson draws from.
pub struct LessonPanel<'a> {
    /// The step shown (from 0).
    pub step: usize,
    /// The language.
    pub lang: Lang,
    /// The reader's prediction on this step.
    pub prediction: Prediction,
    /// Whether a font with Chinese characters is installed.
    pub chinese_font: bool,
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

/// The widest the lesson's prose runs, in points: about 95 characters of its prose.
const MEASURE: f32 = 760.0;

/// The size of the lesson's prose, in points.
const BODY_SIZE: f32 = 15.0;

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
                    // Without a Chinese font the language's own name would be boxes: name it in English.
                    let name = match lang {
                        Lang::ZhHant if !p.chinese_font => "Traditional Chinese",
                        _ => lang.name(),
                    };
                    if ui.selectable_label(p.lang == lang, name).clicked() && lang != p.lang {
                        commands.push(Command::LessonLang(lang));
                    }
                }
            });
            if !p.chinese_font {
                ui.colored_label(
                    Color32::from_rgb(230, 85, 13),
                    "No installed font has Chinese characters, so the Chinese lesson and Chinese tokens would be \
                     boxes. Install one: fonts-noto-cjk or fonts-wqy-microhei (Debian, Ubuntu), \
                     google-noto-sans-cjk-fonts (Fedora).",
                );
            }
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
            format!("（使用注意力頭 {l}.{h}：可在「Matrix」選單切換注意力頭）")
        } else {
            format!("(head {l}.{h}: change it in the Matrix menu)")
        });
    });
    // The prose and the question at a readable measure: lines across a wide window are hard to follow. The
    // figure below takes the whole width.
    ui.scope(|ui| {
        ui.set_max_width(ui.available_width().min(MEASURE));
        ui.heading(text.title);
        // Reading text a size above the interface's labels, a little apart.
        for sentence in text.body {
            ui.label(RichText::new(*sentence).size(BODY_SIZE));
            ui.add_space(2.0);
        }
        ui.add_space(4.0);
        let report = p.facts.as_ref().map(|f| steps::step(p.lang, step, f));
        egui::Frame::group(ui.style()).show(ui, |ui| {
            ui.set_width(ui.available_width());
            ui.strong(if zh { "試試看" } else { "Try this" });
            ui.label(RichText::new(text.question).size(BODY_SIZE));
            ui.horizontal_wrapped(|ui| {
                for (i, choice) in text.choices.iter().enumerate() {
                    if ui
                        .radio(
                            p.prediction.choice == Some(i),
                            RichText::new(*choice).size(BODY_SIZE),
                        )
                        .clicked()
                    {
                        commands.push(Command::LessonChoose(i));
                    }
                }
            });
            if let Some(reason) = report.as_ref().and_then(|r| r.reason.as_ref()) {
                ui.label(
                    RichText::new(reason)
                        .size(BODY_SIZE)
                        .color(Color32::from_rgb(230, 85, 13)),
                );
            }
            let answer = report.as_ref().and_then(|r| r.answer);
            let check = if zh {
                "用我的文字檢查"
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
                if let (Some(answer), Some(r)) = (answer, report.as_ref()) {
                    let right = p.prediction.choice == Some(answer);
                    let verdict = match (right, p.prediction.shown_early, zh) {
                        (true, false, false) => "✓ Right.",
                        (false, false, false) => "✗ Not quite.",
                        (true, false, true) => "✓ 答對了。",
                        (false, false, true) => "✗ 不太對。",
                        (_, true, false) => "You saw the figure first, so this was no prediction:",
                        (_, true, true) => "你先看了圖，所以這不算預測：",
                    };
                    let colour = match (right, p.prediction.shown_early) {
                        (_, true) => Color32::GRAY,
                        (true, false) => Color32::from_rgb(26, 152, 80),
                        (false, false) => Color32::from_rgb(215, 48, 39),
                    };
                    ui.label(
                        RichText::new(verdict)
                            .size(BODY_SIZE)
                            .color(colour)
                            .strong(),
                    );
                    if p.prediction.shown_early || !right {
                        // The right choice, named, where the reader did not pick it or did not predict.
                        if let Some(choice) = text.choices.get(answer) {
                            ui.label(
                                RichText::new(if zh {
                                    format!("答案：{choice}")
                                } else {
                                    format!("The answer: {choice}")
                                })
                                .size(BODY_SIZE),
                            );
                        }
                    }
                    if let Some(reveal) = &r.reveal {
                        ui.label(RichText::new(reveal).size(BODY_SIZE));
                    }
                    if let Some(note) = &r.note {
                        ui.label(
                            RichText::new(note)
                                .size(BODY_SIZE)
                                .color(Color32::from_rgb(230, 85, 13)),
                        );
                    }
                }
            }
            if report.is_none() {
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
    });
    ui.separator();
    if p.prediction.figure_open() {
        commands.extend(figure(ui, steps::FIGURES[step]));
    } else {
        // The figure holds the answer: it stays closed until the reader commits, or asks to see it anyway.
        ui.weak(if zh {
            "圖裡有答案：先選一個答案並檢查，圖就會出現。"
        } else {
            "The figure holds the answer: pick one and check it, and the figure opens."
        });
        if ui
            .button(if zh {
                "先給我看圖（不算預測）"
            } else {
                "Show me the figure first (then it is no prediction)"
            })
            .clicked()
        {
            commands.push(Command::LessonShowFigure);
        }
    }
    commands
}
