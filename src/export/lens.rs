//! The logit lens as a picture: the Layers view's grid as SVG, a row per token and a column per layer, each cell
//! the top guess for the next token with its probability, coloured by that probability or by the probability the
//! layer gives the token that actually comes next.

use std::fmt::Write;

use super::escape::xml_escape;
use super::picture::svg_start;
use super::svg::weight_rgb;
use crate::format::{shorten, token};
use crate::model::lens::Lens;

/// What the cells are coloured by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LensShade {
    /// The top guess's probability.
    TopGuess,
    /// The probability of the token that actually comes next (no colour at the last position).
    NextToken,
}

/// The lens grid as SVG, with `title` and `caption` above it and a legend below. Colours run light blue to deep
/// violet over √p, so the small probabilities of early layers stay visible.
pub fn lens_svg(lens: &Lens, shade: LensShade, title: &str, caption: &str) -> String {
    const CELL_W: f64 = 112.0;
    const CELL_H: f64 = 22.0;
    const LEFT: f64 = 150.0;
    const TOP: f64 = 74.0;
    let layers = lens.layers.len();
    let rows = lens.tokens.len();
    let width = LEFT + CELL_W * layers as f64 + 16.0;
    let height = TOP + CELL_H * rows as f64 + 48.0;
    let mut s = svg_start(width, height, title, caption);
    for layer in 0..layers {
        let label = crate::model::lens::row_name(layer, layers);
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">{label}</text>"#,
            LEFT + CELL_W * (layer as f64 + 0.5),
            TOP - 8.0
        );
    }
    for (position, tok) in lens.tokens.iter().enumerate() {
        let y = TOP + CELL_H * position as f64;
        let _ = writeln!(
            s,
            r#"<text x="10" y="{}" font-size="11">{position} {}</text>"#,
            y + CELL_H / 2.0 + 4.0,
            xml_escape(&shorten(&token(&tok.text), 16))
        );
        for (layer, row) in lens.layers.iter().enumerate() {
            let Some(cell) = row.get(position) else {
                continue;
            };
            let x = LEFT + CELL_W * layer as f64;
            let top = cell.top_k.first();
            let p = match shade {
                LensShade::TopGuess => top.map(|g| g.prob),
                LensShade::NextToken => cell.next_logprob.map(f64::exp),
            };
            let fill = match p {
                Some(p) => {
                    let (r, g, b) = weight_rgb(p.sqrt());
                    format!("rgb({r},{g},{b})")
                }
                None => "rgb(238,238,238)".to_string(),
            };
            let ink = if p.is_some_and(|p| p.sqrt() > 0.55) {
                "white"
            } else {
                "black"
            };
            let text = top.map_or_else(String::new, |g| {
                format!(
                    "{} {}",
                    shorten(&token(&g.text), 9),
                    crate::format::whole_percent(g.prob)
                )
            });
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="white"/><text x="{}" y="{}" font-size="10" fill="{ink}">{}</text>"#,
                CELL_W - 2.0,
                CELL_H - 2.0,
                x + 4.0,
                y + CELL_H / 2.0 + 3.5,
                xml_escape(&text)
            );
        }
    }
    let legend_y = TOP + CELL_H * rows as f64 + 18.0;
    let what = match shade {
        LensShade::TopGuess => "colour: p of the top guess",
        LensShade::NextToken => {
            "colour: p of the token that actually comes next (grey: the last position)"
        }
    };
    for i in 0..=20 {
        let (r, g, b) = weight_rgb(f64::from(i) / 20.0);
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{legend_y}" width="8" height="10" fill="rgb({r},{g},{b})"/>"#,
            10.0 + 8.0 * f64::from(i)
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="184" y="{}" font-size="10">0 … 100 % (√ scale) · {what}</text>"#,
        legend_y + 9.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ablation::TokenText;
    use crate::model::lens::{Guess, LensCell};

    fn cell(prob: f64, next: Option<f64>) -> LensCell {
        LensCell {
            top_k: vec![Guess {
                id: 7,
                text: " <a&b>".into(),
                prob,
            }],
            next_logprob: next,
            entropy_bits: 1.0,
        }
    }

    #[test]
    fn every_cell_is_drawn_escaped_and_the_picture_renders() {
        let lens = Lens {
            tokens: vec![
                TokenText {
                    id: 1,
                    text: "I".into(),
                },
                TokenText {
                    id: 2,
                    text: " love".into(),
                },
            ],
            layers: vec![
                vec![cell(0.25, Some(-3.0)), cell(0.5, None)],
                vec![cell(1.0, Some(-0.1)), cell(0.04, None)],
            ],
        };
        for shade in [LensShade::TopGuess, LensShade::NextToken] {
            let svg = lens_svg(&lens, shade, "title & more", "caption");
            assert_eq!(
                svg.matches("<rect x=").count(),
                4 + 21,
                "four cells and the legend"
            );
            assert!(svg.contains("␣&lt;a&amp;b&gt; 25%"), "{svg}");
            assert!(svg.contains(">output<") && svg.contains(">embed<"));
            assert!(svg.contains("title &amp; more"));
            // The last position has no next token: grey when coloured by it.
            assert_eq!(
                svg.contains("rgb(238,238,238)"),
                shade == LensShade::NextToken
            );
            let png = crate::export::svg_to_png(&svg, 1.0).unwrap();
            assert_eq!(&png[1..4], b"PNG");
        }
    }
}
