//! The Overlay picture as SVG: every head of one layer at once, as BertViz's head view draws them, and as the
//! app's Overlay view does. The tokens stand in two columns, queries on the left and keys on the right; a line
//! runs from each query to each key it attends to, one colour per head, as opaque as the weight. The colours and
//! the opacity rule live here, and the app draws with them too.

use std::fmt::Write;

use super::escape::xml_escape;
use super::picture::svg_start;
use crate::graph::overlay::{token_of, Focus, OverlayLine};

/// Tableau's twenty colours, the ten strong ones first: a qualitative palette made to tell categories apart,
/// on white and on dark grounds.
const TABLEAU_20: [(u8, u8, u8); 20] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
    (174, 199, 232),
    (255, 187, 120),
    (152, 223, 138),
    (255, 152, 150),
    (197, 176, 213),
    (196, 156, 148),
    (247, 182, 210),
    (199, 199, 199),
    (219, 219, 141),
    (158, 218, 229),
];

/// Head `head`'s colour among `heads`: Tableau's twenty for up to twenty heads; past that, hues a golden
/// angle apart (neighbours far round the wheel) at two brightnesses, darker on a light ground (`dark` false).
pub fn head_rgb(head: usize, heads: usize, dark: bool) -> (u8, u8, u8) {
    if heads <= TABLEAU_20.len() {
        // head < heads ≤ 20.
        return TABLEAU_20[head];
    }
    let hue = (head as f32 * 0.618_034).fract();
    let value = match (dark, head.is_multiple_of(2)) {
        (true, true) => 1.0,
        (true, false) => 0.7,
        (false, true) => 0.75,
        (false, false) => 0.5,
    };
    hsv_rgb(hue, 0.85, value)
}

/// HSV (each in [0, 1]) as 8-bit RGB.
fn hsv_rgb(hue: f32, saturation: f32, value: f32) -> (u8, u8, u8) {
    let h = hue.rem_euclid(1.0) * 6.0;
    let c = value * saturation;
    let x = c * (1.0 - ((h % 2.0) - 1.0).abs());
    let (r, g, b) = match h as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = value - c;
    let byte = |v: f32| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (byte(r), byte(g), byte(b))
}

/// Maps a weight to 0..1, linearly or on a log scale from 1e-3 to 1.
pub fn intensity(weight: f32, log_scale: bool) -> f32 {
    if log_scale {
        ((weight.max(1e-3).log10() + 3.0) / 3.0).clamp(0.0, 1.0)
    } else {
        weight.clamp(0.0, 1.0)
    }
}

/// A line's alpha (of 255): as opaque as its weight; one token's few lines (`focused`) get a floor, so that the
/// lightest kept still shows.
pub fn line_alpha(weight: f32, log_scale: bool, focused: bool) -> f32 {
    let t = intensity(weight, log_scale);
    if focused {
        40.0 + 215.0 * t
    } else {
        230.0 * t
    }
}

/// The alpha (of 255) under which a line shows nothing.
const FAINTEST: f32 = 2.0;

/// The smallest weight worth looking for: without a focus a line is as opaque as its weight, and one under
/// [`FAINTEST`] of 255 shows nothing; a focused token's lines all show.
pub fn faintest_weight(focused: bool, log_scale: bool) -> f32 {
    match (focused, log_scale) {
        (true, _) => 0.0,
        (false, true) => 10f32.powf(3.0 * FAINTEST / 230.0 - 3.0),
        (false, false) => FAINTEST / 230.0,
    }
}

/// What the Overlay picture shows.
pub struct OverlayPicture<'a> {
    /// The model, for the caption.
    pub model: &'a str,
    /// Each token's label, whitespace made visible.
    pub tokens: &'a [String],
    /// The layer.
    pub layer: usize,
    /// The layer's number of heads (the colours depend on it).
    pub n_head: usize,
    /// The heads drawn.
    pub heads: &'a [usize],
    /// The lines, as [`crate::graph::overlay::overlay_lines`] gives them (lightest first).
    pub lines: &'a [OverlayLine],
    /// Weights under it were left out (the threshold asked for, or the faintest weight that shows, if higher).
    pub threshold: f32,
    /// The heads knocked out of the run, as "0.3, 1.2" (empty: none).
    pub knocked_out: String,
    /// The token whose lines alone are drawn, if any.
    pub focus: Option<Focus>,
    /// Opacity on a log scale from 0.001 to 1.
    pub log_scale: bool,
}

/// Height of a token's row.
const ROW: f64 = 20.0;
/// Width of a column of labels.
const LABELS: f64 = 160.0;
/// Width between the columns, where the lines run.
const LINES: f64 = 340.0;
/// The first row's top: below the title, the caption and the heads' legend.
const TOP: f64 = 78.0;
/// The focused token's colour (the app's).
const FOCUS_RGB: &str = "rgb(230,85,13)";

/// The picture as a standalone SVG document, on white.
pub fn overlay_svg(p: &OverlayPicture<'_>) -> String {
    let n = p.tokens.len();
    let heads: Vec<String> = p.heads.iter().map(|h| format!("h{h}")).collect();
    let title = format!(
        "{} — layer {}: {} of its {} heads at once",
        p.model,
        p.layer,
        if p.heads.len() == p.n_head {
            "all".to_string()
        } else {
            heads.join(", ")
        },
        p.n_head
    );
    let whose = match p.focus {
        Some(Focus::Query(q)) => format!("; only token {q}'s lines: where it looks"),
        Some(Focus::Key(k)) => format!("; only token {k}'s lines: who looks at it"),
        None => String::new(),
    };
    let caption = format!(
        "a line from query i (left) to key j (right) in its head's colour, as opaque as A[i][j]{}; weights under {} left out{whose}{}",
        if p.log_scale { " (log scale)" } else { "" },
        p.threshold,
        if p.knocked_out.is_empty() {
            String::new()
        } else {
            format!("; heads {}", p.knocked_out)
        }
    );
    let width = 20.0 + 2.0 * LABELS + LINES;
    let height = TOP + ROW * n as f64 + 16.0;
    // The page as wide as the title (bold 15 px, under 9 a character) and the caption (11 px, about 6) need,
    // the drawing centred on it.
    let page = width
        .max(20.0 + 9.0 * title.chars().count() as f64)
        .max(20.0 + 6.0 * caption.chars().count() as f64)
        .max(20.0 + 44.0 * p.heads.len() as f64);
    let x0 = (page - width) / 2.0;
    let mut s = svg_start(page, height, &title, &caption);
    // The heads' legend.
    for (i, &head) in p.heads.iter().enumerate() {
        let (r, g, b) = head_rgb(head, p.n_head, false);
        let x = 10.0 + 44.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="52" width="10" height="10" fill="rgb({r},{g},{b})"/><text x="{}" y="61" font-size="11">h{head}</text>"#,
            x + 13.0
        );
    }
    let (left, right) = (x0 + 10.0 + LABELS, x0 + 10.0 + LABELS + LINES);
    let y = |i: usize| TOP + (i as f64 + 0.5) * ROW;
    let spread = |head: usize| {
        (head as f64 - (p.n_head as f64 - 1.0) / 2.0) * (ROW * 0.6 / p.n_head.max(1) as f64)
    };
    let label = |i: usize| {
        p.tokens
            .get(i)
            .map_or_else(String::new, |t| crate::format::shorten(t, 14))
    };
    let focused = p.focus.is_some();
    for line in p.lines {
        let (r, g, b) = head_rgb(line.head, p.n_head, false);
        let alpha = line_alpha(line.weight, p.log_scale, focused) / 255.0;
        let _ = writeln!(
            s,
            r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="rgb({r},{g},{b})" stroke-opacity="{alpha:.3}" stroke-width="{}"><title>h{}: {} {} → {} {} {:.4}</title></line>"#,
            left + 6.0,
            y(line.query) + spread(line.head),
            right - 6.0,
            y(line.key) + spread(line.head),
            if focused { 2.5 } else { 1.5 },
            line.head,
            line.query,
            xml_escape(&label(line.query)),
            line.key,
            xml_escape(&label(line.key)),
            line.weight
        );
    }
    let focus = p.focus.map(|f| (matches!(f, Focus::Query(_)), token_of(f)));
    for i in 0..n {
        let (query_colour, key_colour) = match focus {
            Some((true, t)) if t == i => (FOCUS_RGB, "black"),
            Some((false, t)) if t == i => ("black", FOCUS_RGB),
            _ => ("black", "black"),
        };
        let text = xml_escape(&label(i));
        let _ = writeln!(
            s,
            r#"<text x="{left}" y="{:.1}" font-size="12" font-family="DejaVu Sans Mono, Noto Sans Mono CJK TC, monospace" text-anchor="end" dominant-baseline="middle" fill="{query_colour}">{text} {i}</text>"#,
            y(i)
        );
        let _ = writeln!(
            s,
            r#"<text x="{right}" y="{:.1}" font-size="12" font-family="DejaVu Sans Mono, Noto Sans Mono CJK TC, monospace" dominant-baseline="middle" fill="{key_colour}">{i} {text}</text>"#,
            y(i)
        );
    }
    s.push_str("</svg>\n");
    s
}

/// An Overlay of an analysis drawn: the SVG, how many lines it has, and the cut it applied.
pub struct DrawnOverlay {
    /// The SVG document.
    pub svg: String,
    /// Lines drawn.
    pub lines: usize,
    /// Weights under this were left out: the threshold asked for, or the faintest that shows, if higher.
    pub threshold: f32,
}

/// Draws `layer` of `analysis` as the Overlay view does: the lines of `heads` at or above `threshold` (weights
/// too faint to show are left out too, and the caption says so), `focus`'s alone if given. The command line
/// and the window's export both draw through here.
///
/// # Panics
/// If the layer, a head or the focused token is past the analysis (a bug: callers check them).
pub fn draw_overlay(
    analysis: &crate::model::Analysis,
    model: &str,
    layer: usize,
    heads: &[usize],
    threshold: f32,
    focus: Option<Focus>,
    log_scale: bool,
) -> DrawnOverlay {
    let att = &analysis.attentions;
    let threshold = threshold.max(faintest_weight(focus.is_some(), log_scale));
    let lines = crate::graph::overlay::overlay_lines(att, layer, heads, threshold, focus);
    let tokens: Vec<String> = analysis.tokens.iter().map(|t| t.display.clone()).collect();
    let svg = overlay_svg(&OverlayPicture {
        model,
        tokens: &tokens,
        layer,
        n_head: att.n_head(),
        heads,
        lines: &lines,
        threshold,
        knocked_out: match (analysis.ablated.is_empty(), analysis.replacement) {
            (true, _) => String::new(),
            (false, crate::model::ablation::Replacement::Zero) => {
                format!("{} knocked out", analysis.ablated)
            }
            (false, crate::model::ablation::Replacement::Mean) => {
                format!("{} mean-ablated", analysis.ablated)
            }
        },
        focus,
        log_scale,
    });
    DrawnOverlay {
        svg,
        lines: lines.len(),
        threshold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_gives_the_primaries_and_greys() {
        assert_eq!(hsv_rgb(0.0, 1.0, 1.0), (255, 0, 0));
        assert_eq!(hsv_rgb(1.0 / 3.0, 1.0, 1.0), (0, 255, 0));
        assert_eq!(hsv_rgb(2.0 / 3.0, 1.0, 1.0), (0, 0, 255));
        assert_eq!(hsv_rgb(0.5, 0.0, 0.5), (128, 128, 128));
    }

    #[test]
    fn head_colours_are_distinct_past_twenty_heads() {
        let colours: std::collections::BTreeSet<_> =
            (0..40).map(|h| head_rgb(h, 40, false)).collect();
        assert_eq!(colours.len(), 40);
        assert_eq!(head_rgb(3, 12, true), (214, 39, 40));
    }
}
