//! Activation patching as a picture: the heads grid and the layers × positions grid of the residual stream, each
//! cell coloured by (patched − corrupt) / (clean − corrupt) on a diverging scale and its value written in it.

use std::fmt::Write;

use super::effects::diverging_rgb;
use super::escape::xml_escape;
use super::picture::svg_start;
use crate::format::{shorten, token};
use crate::model::patching::Patching;

/// The two grids as SVG, with `title` and `caption` above them and a legend below.
pub fn patching_svg(p: &Patching, title: &str, caption: &str) -> String {
    const CELL: f64 = 34.0;
    const TOP: f64 = 96.0;
    const LEFT: f64 = 40.0;
    let n_layer = p.heads.len();
    // No layer at all: an empty picture, the legend only.
    let n_head = p.heads.iter().map(Vec::len).max().unwrap_or(0);
    let t = p.clean_tokens.len();
    let residual_left = LEFT + CELL * n_head as f64 + 60.0;
    let width = (residual_left + CELL * t as f64 + 20.0).max(520.0);
    let height = TOP + CELL * n_layer as f64 + 110.0;
    let largest = p
        .heads
        .iter()
        .chain(&p.residual)
        .flatten()
        .fold(1e-12f64, |m, v| m.max(v.abs()));
    let shade = |x: f64| match p.normalised(x) {
        Some(v) => v,
        // Clean and corrupt give one difference: the raw value, over the largest.
        None => x / largest,
    };
    let mut s = svg_start(width, height, title, caption);
    let _ = writeln!(
        s,
        r#"<text x="10" y="60" font-size="11">logit[{}] − logit[{}] at the last position: clean {:.3}, corrupt {:.3}</text>"#,
        xml_escape(&token(&p.answer.text)),
        xml_escape(&token(&p.wrong.text)),
        p.clean_logit_diff,
        p.corrupt_logit_diff
    );
    let cell = |s: &mut String, x: f64, y: f64, value: f64| {
        let v = shade(value);
        let [r, g, b] = diverging_rgb(v);
        let ink = if v.abs() > 0.6 { "white" } else { "black" };
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="{y}" width="{}" height="{}" fill="rgb({r},{g},{b})" stroke="white"/><text x="{}" y="{}" font-size="9" text-anchor="middle" fill="{ink}">{v:.2}</text>"#,
            CELL - 2.0,
            CELL - 2.0,
            x + CELL / 2.0 - 1.0,
            y + CELL / 2.0 + 3.0
        );
    };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="11">each head's values from the clean text</text>"#,
        TOP - 22.0
    );
    for h in 0..n_head {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="10" text-anchor="middle">h{h}</text>"#,
            LEFT + CELL * (h as f64 + 0.5),
            TOP - 6.0
        );
    }
    for (l, row) in p.heads.iter().enumerate() {
        let y = TOP + CELL * l as f64;
        let _ = writeln!(
            s,
            r#"<text x="8" y="{}" font-size="10">L{l}</text>"#,
            y + CELL / 2.0 + 3.0
        );
        for (h, &x) in row.iter().enumerate() {
            cell(&mut s, LEFT + CELL * h as f64, y, x);
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{residual_left}" y="{}" font-size="11">the residual stream entering each layer, at each position, from the clean text</text>"#,
        TOP - 22.0
    );
    for (l, row) in p.residual.iter().enumerate() {
        let y = TOP + CELL * l as f64;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="10">L{l}</text>"#,
            residual_left - 24.0,
            y + CELL / 2.0 + 3.0
        );
        for (pos, &x) in row.iter().enumerate() {
            cell(&mut s, residual_left + CELL * pos as f64, y, x);
        }
    }
    let label_y = TOP + CELL * n_layer as f64 + 12.0;
    for (pos, (c, k)) in p.clean_tokens.iter().zip(&p.corrupt_tokens).enumerate() {
        let label = if c.id == k.id {
            token(&c.text)
        } else {
            format!("{}/{}", token(&c.text), token(&k.text))
        };
        let x = residual_left + CELL * (pos as f64 + 0.5);
        let _ = writeln!(
            s,
            r#"<text x="{x}" y="{label_y}" font-size="10" text-anchor="end" transform="rotate(-60 {x} {label_y})">{}</text>"#,
            xml_escape(&shorten(&label, 14))
        );
    }
    let legend_y = height - 24.0;
    for i in 0..=20 {
        let [r, g, b] = diverging_rgb(f64::from(i) / 10.0 - 1.0);
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{legend_y}" width="8" height="10" fill="rgb({r},{g},{b})"/>"#,
            10.0 + 8.0 * f64::from(i)
        );
    }
    let legend = if p.normalised(0.0).is_some() {
        "−1 … +1: (patched − corrupt) / (clean − corrupt); 0 restores nothing, 1 the clean difference"
    } else {
        "clean and corrupt give one difference: the raw value, over the largest"
    };
    let _ = writeln!(
        s,
        r#"<text x="184" y="{}" font-size="10">{legend}</text>"#,
        legend_y + 9.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ablation::TokenText;

    #[test]
    fn both_grids_are_drawn_and_the_picture_renders() {
        let tok = |id: u32, text: &str| TokenText {
            id,
            text: text.into(),
        };
        let p = Patching {
            clean_tokens: vec![tok(1, "I"), tok(2, " love")],
            corrupt_tokens: vec![tok(1, "I"), tok(3, " hate")],
            answer: tok(4, " tennis"),
            wrong: tok(5, " <them>"),
            clean_logit_diff: 2.0,
            corrupt_logit_diff: -1.0,
            heads: vec![vec![-1.0, 0.5, 2.0], vec![0.0, 1.0, -1.0]],
            residual: vec![vec![-1.0, 2.0], vec![-1.0, 0.5]],
        };
        let svg = patching_svg(&p, "t", "c");
        // 6 heads, 4 residual cells, 21 legend swatches and the background.
        assert_eq!(svg.matches("<rect ").count(), 6 + 4 + 21 + 1);
        assert!(
            svg.contains("␣love/␣hate") && svg.contains("␣&lt;them&gt;"),
            "{svg}"
        );
        // 2.0 is the clean difference: 1.00; −1.0 the corrupt one: 0.00.
        assert!(svg.contains(">1.00<") && svg.contains(">0.00<"));
        let png = crate::export::svg_to_png(&svg, 1.0).unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }
}
