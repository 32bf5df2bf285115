//! What heads do to predictions, as CSV (an ablation, a sweep over every head, a direct logit attribution; their
//! JSON is the structs' own serde form), and the head grid coloured by such values, as SVG.

use std::fmt::Write;

use super::escape::{csv_field, xml_escape};
use crate::model::ablation::{Ablation, Sweep};
use crate::model::attribution::Attribution;

/// A value, or an empty field where a position is not scored (the CSV spelling of JSON's `null`).
fn number(x: Option<f64>) -> String {
    match x {
        Some(x) => x.to_string(),
        None => String::new(),
    }
}

/// One row per position: `position,id,token,baseline_logprob,ablated_logprob,delta_logprob,replacement` (empty
/// where a position is not scored; `replacement` is `zero` or `mean`, the same on every row).
pub fn ablation_csv(a: &Ablation) -> String {
    let mut out = String::from(
        "position,id,token,baseline_logprob,ablated_logprob,delta_logprob,replacement\n",
    );
    for (p, token) in a.tokens.iter().enumerate() {
        let at = |v: &[Option<f64>]| number(v.get(p).copied().flatten());
        out.push_str(&format!(
            "{p},{},{},{},{},{},{}\n",
            token.id,
            csv_field(&token.text),
            at(&a.baseline_logprob),
            at(&a.ablated_logprob),
            at(&a.delta_logprob),
            a.replacement.name(),
        ));
    }
    out
}

/// One row per head and position: `layer,head,ablated_perplexity,position,id,token,delta_logprob,replacement`
/// (`replacement` as in [`ablation_csv`]).
pub fn sweep_csv(s: &Sweep) -> String {
    let mut out =
        String::from("layer,head,ablated_perplexity,position,id,token,delta_logprob,replacement\n");
    for (layer, heads) in s.sweep.iter().enumerate() {
        for (head, cell) in heads.iter().enumerate() {
            for (p, (token, delta)) in s.tokens.iter().zip(&cell.delta_logprob).enumerate() {
                out.push_str(&format!(
                    "{layer},{head},{},{p},{},{},{},{}\n",
                    cell.ablated_perplexity,
                    token.id,
                    csv_field(&token.text),
                    number(*delta),
                    s.replacement.name(),
                ));
            }
        }
    }
    out
}

/// One row per part: `part,layer,head,contribution` (layer and head empty where they do not apply), then the
/// logit they add up to.
pub fn attribution_csv(a: &Attribution) -> String {
    let mut out = String::from("part,layer,head,contribution\n");
    out.push_str(&format!("embeddings,,,{}\n", a.embeddings));
    for (layer, heads) in a.heads.iter().enumerate() {
        for (head, c) in heads.iter().enumerate() {
            out.push_str(&format!("head,{layer},{head},{c}\n"));
        }
        if let Some(b) = a.attention_bias.get(layer) {
            out.push_str(&format!("attention_bias,{layer},,{b}\n"));
        }
        if let Some(m) = a.mlp.get(layer) {
            out.push_str(&format!("mlp,{layer},,{m}\n"));
        }
    }
    out.push_str(&format!("ln_bias,,,{}\n", a.ln_bias));
    out.push_str(&format!("logit,,,{}\n", a.logit));
    out
}

/// A diverging colour for `t` in [−1, 1]: blue below 0, red above, a light grey at 0 (ColorBrewer's RdBu ends).
pub fn diverging_rgb(t: f64) -> [u8; 3] {
    let t = if t.is_nan() { 0.0 } else { t.clamp(-1.0, 1.0) };
    let (end, mid) = if t < 0.0 {
        ([33.0, 102.0, 172.0], [235.0, 235.0, 235.0])
    } else {
        ([178.0, 24.0, 43.0], [235.0, 235.0, 235.0])
    };
    let a = t.abs();
    let mix = |i: usize| (mid[i] + (end[i] - mid[i]) * a).round() as u8;
    [mix(0), mix(1), mix(2)]
}

/// The head grid coloured by one value per head.
pub struct GridPicture<'a> {
    /// [layer][head].
    pub values: &'a [Vec<f64>],
    /// What the picture shows (the first line).
    pub title: &'a str,
    /// What a value means (under the title).
    pub caption: &'a str,
    /// Heads drawn crossed out: knocked out when the values were made.
    pub crossed: &'a [(usize, usize)],
    /// Colour −value instead of the value, so that red is what helps the prediction in every grid: set for a
    /// knock-out's Δ ln p, where a head the token needs has a negative value.
    pub flip: bool,
    /// What the legend's blue and red ends mean ("against", "for").
    pub ends: (&'a str, &'a str),
}

/// The grid as SVG: one square per head coloured by [`diverging_rgb`] of its value (−value with `flip`) over the largest magnitude,
/// the value written in it, layers down and heads across, and a legend.
pub fn grid_svg(p: &GridPicture<'_>) -> String {
    const CELL: f64 = 46.0;
    const LEFT: f64 = 40.0;
    const TOP: f64 = 70.0;
    let n_layer = p.values.len();
    // No layer at all: an empty grid, the legend only.
    let n_head = p.values.iter().map(Vec::len).max().unwrap_or(0);
    let max = p
        .values
        .iter()
        .flatten()
        .fold(0.0f64, |m, v| m.max(v.abs()))
        .max(1e-12);
    // Wide enough for the legend (21 swatches of 8 and its end labels) under a grid of few heads.
    let width = (LEFT + CELL * n_head as f64 + 20.0).max(LEFT + 168.0 + 40.0);
    let height = TOP + CELL * n_layer as f64 + 50.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml_escape(p.title)
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="42" font-size="11" fill="rgb(68,68,68)">{}</text>"#,
        xml_escape(p.caption)
    );
    for h in 0..n_head {
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{}" font-size="11" text-anchor="middle">h{h}</text>"#,
            LEFT + CELL * (h as f64 + 0.5),
            TOP - 6.0
        );
    }
    for (l, row) in p.values.iter().enumerate() {
        let y = TOP + CELL * l as f64;
        let _ = writeln!(
            s,
            r#"<text x="6" y="{}" font-size="11">L{l}</text>"#,
            y + CELL / 2.0 + 4.0
        );
        for (h, &v) in row.iter().enumerate() {
            let x = LEFT + CELL * h as f64;
            let [r, g, b] = diverging_rgb(if p.flip { -v } else { v } / max);
            let ink = if (v / max).abs() > 0.6 {
                "white"
            } else {
                "black"
            };
            let _ = writeln!(
                s,
                r#"<rect x="{x}" y="{y}" width="{}" height="{}" fill="rgb({r},{g},{b})" stroke="white"/><text x="{}" y="{}" font-size="10" text-anchor="middle" fill="{ink}">{v:+.2}</text>"#,
                CELL - 2.0,
                CELL - 2.0,
                x + CELL / 2.0 - 1.0,
                y + CELL / 2.0 + 3.0
            );
            if p.crossed.contains(&(l, h)) {
                let _ = writeln!(
                    s,
                    r#"<path d="M{x} {y}L{} {}M{} {y}L{x} {}" stroke="black" stroke-width="2"/>"#,
                    x + CELL - 2.0,
                    y + CELL - 2.0,
                    x + CELL - 2.0,
                    y + CELL - 2.0
                );
            }
        }
    }
    let y = TOP + CELL * n_layer as f64 + 16.0;
    for i in 0..=20 {
        let t = -1.0 + i as f64 / 10.0;
        let [r, g, b] = diverging_rgb(t);
        let _ = writeln!(
            s,
            r#"<rect x="{}" y="{y}" width="8" height="12" fill="rgb({r},{g},{b})"/>"#,
            LEFT + 8.0 * i as f64
        );
    }
    let (blue, red) = if p.flip {
        (format!("+{max:.3}"), format!("−{max:.3}"))
    } else {
        (format!("−{max:.3}"), format!("+{max:.3}"))
    };
    let _ = writeln!(
        s,
        r#"<text x="{LEFT}" y="{}" font-size="10">{blue} {}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{red} {}</text>"#,
        y + 26.0,
        xml_escape(p.ends.0),
        LEFT + 168.0,
        y + 26.0,
        xml_escape(p.ends.1),
    );
    s.push_str("</svg>\n");
    s
}

/// The logit lens as CSV: one row per layer, position and guess.
pub fn lens_csv(lens: &crate::model::lens::Lens) -> String {
    let mut s =
        String::from("layer,position,token,rank,guess_id,guess,prob,next_logprob,entropy_bits\n");
    for (layer, row) in lens.layers.iter().enumerate() {
        for (position, (cell, tok)) in row.iter().zip(&lens.tokens).enumerate() {
            for (rank, guess) in cell.top_k.iter().enumerate() {
                let _ = writeln!(
                    s,
                    "{layer},{position},{},{},{},{},{:.6e},{},{:.6}",
                    csv_field(&tok.text),
                    rank + 1,
                    guess.id,
                    csv_field(&guess.text),
                    guess.prob,
                    cell.next_logprob
                        .map_or_else(String::new, |v| format!("{v:.6}")),
                    cell.entropy_bits
                );
            }
        }
    }
    s
}

/// Activation patching as CSV: one row per patched piece, `kind` `head` (index = head) or `residual` (index =
/// position), with the metric and its normalised value (empty when the clean and corrupt differences are equal).
pub fn patching_csv(p: &crate::model::patching::Patching) -> String {
    let mut s = String::from("kind,layer,index,token,logit_diff,normalised\n");
    let normalised = |x: f64| {
        p.normalised(x)
            .map_or_else(String::new, |v| format!("{v:.6}"))
    };
    for (layer, row) in p.heads.iter().enumerate() {
        for (head, &x) in row.iter().enumerate() {
            let _ = writeln!(s, "head,{layer},{head},,{x:.6},{}", normalised(x));
        }
    }
    for (layer, row) in p.residual.iter().enumerate() {
        for (position, (&x, tok)) in row.iter().zip(&p.clean_tokens).enumerate() {
            let _ = writeln!(
                s,
                "residual,{layer},{position},{},{x:.6},{}",
                csv_field(&tok.text),
                normalised(x)
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diverging_colours_run_blue_grey_red() {
        assert_eq!(diverging_rgb(-1.0), [33, 102, 172]);
        assert_eq!(diverging_rgb(0.0), [235, 235, 235]);
        assert_eq!(diverging_rgb(1.0), [178, 24, 43]);
        assert_eq!(diverging_rgb(7.0), diverging_rgb(1.0));
    }

    #[test]
    fn the_grid_picture_has_a_cell_per_head_and_parses() {
        let values = vec![vec![0.5, -1.0, 0.0], vec![2.0, 0.1, -0.2]];
        let svg = grid_svg(&GridPicture {
            values: &values,
            title: "contributions <to> ' tennis'",
            caption: "direct effect",
            crossed: &[(1, 2)],
            flip: false,
            ends: ("against", "for"),
        });
        assert_eq!(svg.matches("<rect x=").count(), 6 + 21);
        // The largest magnitude (2.0) is the full red.
        assert!(svg.contains("fill=\"rgb(178,24,43)\""));
        assert!(svg.contains("−2.000 against") && svg.contains("+2.000 for"));
        assert!(svg.contains("&lt;to&gt;"));
        assert!(svg.contains("<path d="));
        let tree = resvg::usvg::Tree::from_str(&svg, &resvg::usvg::Options::default());
        assert!(tree.is_ok());
        // A knock-out's grid: the most negative value (a head the token needs) is the full red.
        let knock_out = vec![vec![-2.0, 1.0]];
        let flipped = grid_svg(&GridPicture {
            values: &knock_out,
            title: "knock-out",
            caption: "",
            crossed: &[],
            flip: true,
            ends: ("in the way", "needed"),
        });
        let cell = |v: &str| {
            let at = flipped.find(&format!(">{v}</text>")).unwrap();
            let fill = flipped[..at].rfind("fill=\"rgb(").unwrap();
            flipped[fill + 6..].split('"').next().unwrap().to_string()
        };
        assert_eq!(cell("-2.00"), "rgb(178,24,43)");
        // +1 of a largest 2 is half the way to blue: in the way.
        let [r, g, b] = diverging_rgb(-0.5);
        assert_eq!(cell("+1.00"), format!("rgb({r},{g},{b})"));
        assert!(b > r);
        assert!(flipped.contains("+2.000 in the way") && flipped.contains("−2.000 needed"));
    }
}
