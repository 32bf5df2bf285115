//! The probability table's cells that say more than a number: a probability's change coloured by its size, and
//! the model's top guesses, as many whole ones as fit.

use egui::Color32;

use crate::model::tokenizer::visible_whitespace;

/// Where a probability went up, and down, with heads knocked out.
const UP: Color32 = Color32::from_rgb(26, 152, 80);
const DOWN: Color32 = Color32::from_rgb(215, 48, 39);

/// The colour of a probability that moved by `delta` in ln p: green where it rose, red where it fell, as
/// strong as the change (full at a factor of e, a quarter of the way from the text colour at 0.01), the text
/// colour below 0.01.
pub(super) fn change_colour(delta: f64, text: Color32) -> Color32 {
    if delta.abs() <= 0.01 {
        return text;
    }
    let towards = if delta > 0.0 { UP } else { DOWN };
    let t = (0.25 + 0.75 * delta.abs().min(1.0)) as f32;
    text.lerp_to_gamma(towards, t)
}

/// The model's top guesses for a token: the first at the table's size, the others smaller, the token that
/// came underlined (green is taken: it means a probability that rose, and low surprisal). Probabilities are
/// percentages, whole ones here and as the p column gives them on hover. Only whole guesses are shown, as many as fit the column,
/// then "+k" for those left out; the whole list shows on hover, one per line.
pub(super) fn alternatives_ui(ui: &mut egui::Ui, top_k: &[crate::model::Alternative], actual: u32) {
    let style = ui.style();
    let normal = egui::TextStyle::Monospace.resolve(style);
    let small = egui::FontId::monospace(egui::TextStyle::Small.resolve(style).size);
    let colour = ui.visuals().text_color();
    let weak = ui.visuals().weak_text_color();
    let format = |font: &egui::FontId, colour: Color32, came: bool| egui::TextFormat {
        font_id: font.clone(),
        color: colour,
        underline: if came {
            egui::Stroke::new(1.5, colour)
        } else {
            egui::Stroke::NONE
        },
        valign: egui::Align::Center,
        ..Default::default()
    };
    // Some vocabulary entries are runs of 30+ symbols: keep the table narrow, and the percentages whole (the
    // hover gives them as the p column does).
    let texts: Vec<String> = top_k
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                crate::ui::shorten(&visible_whitespace(&a.text), 12),
                crate::format::whole_percent(a.prob)
            )
        })
        .collect();
    // Whole guesses only: the likeliest always, each next one while it and the count of those left out fit.
    let width = ui.available_width();
    let mut job = egui::text::LayoutJob::default();
    let mut shown = 0;
    for (i, (a, text)) in top_k.iter().zip(&texts).enumerate() {
        let mut next = job.clone();
        let (font, gap) = if i == 0 {
            (&normal, 0.0)
        } else {
            (&small, 10.0)
        };
        next.append(text, gap, format(font, colour, a.id == actual));
        let left = top_k.len() - i - 1;
        let mut measured = next.clone();
        if left > 0 {
            measured.append(&format!("+{left}"), 8.0, format(&small, weak, false));
        }
        let fits = ui.fonts_mut(|f| f.layout_job(measured)).size().x <= width;
        if i > 0 && !fits {
            break;
        }
        job = next;
        shown += 1;
    }
    if shown < top_k.len() {
        job.append(
            &format!("+{}", top_k.len() - shown),
            8.0,
            format(&small, weak, false),
        );
    }
    let lines: Vec<String> = top_k
        .iter()
        .map(|a| {
            let text = format!(
                "{} {}",
                visible_whitespace(&a.text),
                crate::format::percent(a.prob.ln())
            );
            if a.id == actual {
                format!("{text} (the token that came)")
            } else {
                text
            }
        })
        .collect();
    ui.add(egui::Label::new(job).truncate())
        .on_hover_text(lines.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_probabilitys_colour_grows_with_its_change() {
        let text = Color32::from_gray(200);
        assert_eq!(change_colour(0.005, text), text);
        assert_eq!(change_colour(-0.005, text), text);
        assert_eq!(change_colour(-2.0, text), DOWN);
        assert_eq!(change_colour(1.5, text), UP);
        // A small fall is nearer the text colour than a large one.
        let distance = |c: Color32| (i32::from(c.r()) - 215).abs() + (i32::from(c.g()) - 48).abs();
        assert!(distance(change_colour(-0.05, text)) > distance(change_colour(-0.5, text)));
        assert!(distance(change_colour(-0.5, text)) > distance(DOWN));
    }
}
