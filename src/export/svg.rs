//! The SVG drawing: the same picture the app shows. Arc layout puts tokens on a line in reading order with each
//! edge as an arc above it (a causal head only points left, so arcs never cross the labels); circle layout puts
//! them on a circle. Edge width and colour follow the weight; self-loops are small loops above the node.

use std::fmt::Write;

use super::escape::xml_escape;
use super::layout::{edge_curve, edge_style, self_loop, trim_ends, Geometry};
use super::snapshot::Snapshot;

/// Colour of a weight in [0, 1]: light blue to deep violet.
pub fn weight_rgb(w: f64) -> (u8, u8, u8) {
    let w = w.clamp(0.0, 1.0);
    let lerp = |a: f64, b: f64| (a + (b - a) * w).round() as u8;
    (lerp(158.0, 84.0), lerp(202.0, 39.0), lerp(225.0, 143.0))
}

/// Room the header's second line takes above the drawing.
const HEADER: f64 = 24.0;

/// Renders the snapshot as a standalone SVG document.
pub fn to_svg(s: &Snapshot) -> String {
    let Geometry {
        width,
        height,
        positions: pos,
        ..
    } = &s.geometry;
    let (width, height) = (*width, *height);
    let mut out = String::new();
    let title = format!("{} — {}", s.model, s.title());
    // The title on a line of its own, the page widened to hold it (DejaVu Sans at 14 px is about 7.6 px a
    // character); the drawing keeps its place below the two lines of the header.
    // The second line: what an edge is, and the scale of its colour and width (11 px: about 5.9 a character).
    // The title names a weight other than attention already: here only its scale.
    let what = match s.edge_weight {
        crate::graph::EdgeWeight::Attention => "attention weight α",
        _ => "edge weight",
    };
    let p = &s.pruning;
    let mut kept = Vec::new();
    if p.threshold > 0.0 {
        kept.push(format!("weight ≥ {}", p.threshold));
    }
    if p.top_k > 0 {
        kept.push(format!("each token's {} strongest", p.top_k));
    }
    if p.mass < 1.0 {
        kept.push(format!("the fewest reaching {} of each row", p.mass));
    }
    if p.drop_first {
        kept.push("token 0 dropped, rows renormalised".to_string());
    }
    let legend = format!(
        "{what} 0 … 1 (colour and width) · {}{} · token i → token j: i attends to j",
        crate::format::count(s.graph.edge_count(), "edge", "edges"),
        if kept.is_empty() {
            String::new()
        } else {
            format!(" ({})", kept.join(", "))
        }
    );
    let page_width = width
        .max(20.0 + 8.0 * title.chars().count() as f64)
        .max(106.0 + 6.2 * legend.chars().count() as f64);
    let page_height = height + 30.0 + HEADER;
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{page_width}\" height=\"{page_height}\" viewBox=\"0 0 {page_width} {page_height}\" font-family=\"DejaVu Sans, Noto Sans, Noto Sans CJK TC, WenQuanYi Micro Hei, Liberation Sans, Arial, sans-serif\">"
    );
    out.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"8\" markerHeight=\"8\" markerUnits=\"userSpaceOnUse\" orient=\"auto-start-reverse\"><path d=\"M 0 0 L 10 5 L 0 10 z\" fill=\"#54278f\"/></marker>");
    let ((r0, g0, b0), (r1, g1, b1)) = (weight_rgb(0.0), weight_rgb(1.0));
    let _ = write!(
        out,
        "<linearGradient id=\"weights\"><stop offset=\"0\" stop-color=\"rgb({r0},{g0},{b0})\"/><stop offset=\"1\" stop-color=\"rgb({r1},{g1},{b1})\"/></linearGradient>"
    );
    out.push_str("</defs>\n");
    let _ = writeln!(out, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        out,
        "<text x=\"10\" y=\"20\" font-size=\"14\">{}</text>",
        xml_escape(&title)
    );
    let _ = writeln!(
        out,
        "<rect x=\"10\" y=\"31\" width=\"80\" height=\"9\" fill=\"url(#weights)\"/><text x=\"96\" y=\"40\" font-size=\"11\" fill=\"#444\">{}</text>",
        xml_escape(&legend)
    );
    // The drawing centred on a page widened for the header.
    let _ = writeln!(
        out,
        "<g transform=\"translate({:.1} {HEADER})\">",
        (page_width - width) / 2.0
    );
    // Light edges first, so heavy ones are drawn on top.
    let mut edges: Vec<_> = s.graph.edges().collect();
    edges.sort_by(|a, b| a.weight.total_cmp(&b.weight));
    for e in &edges {
        let (Some(&(x1, y1)), Some(&(x2, y2))) = (pos.get(e.from), pos.get(e.to)) else {
            continue;
        };
        let (r, g, b) = weight_rgb(e.weight);
        let (width, opacity) = edge_style(e.weight);
        let stroke = format!("stroke=\"rgb({r},{g},{b})\" stroke-width=\"{width:.2}\" stroke-opacity=\"{opacity:.2}\" fill=\"none\"");
        // The app's curves (export::layout), kept inside the picture: no higher than the space above the nodes.
        let [p0, p1, p2, p3] = if e.from == e.to {
            self_loop((x1, y1), 9.0)
        } else {
            trim_ends(
                edge_curve((x1, y1), (x2, y2), (y1.min(y2) - 20.0).max(10.0)),
                9.0,
            )
        };
        let d = format!(
            "M {:.1} {:.1} C {:.1} {:.1} {:.1} {:.1} {:.1} {:.1}",
            p0.0, p0.1, p1.0, p1.1, p2.0, p2.1, p3.0, p3.1
        );
        let _ = writeln!(out, "<path d=\"{d}\" {stroke} marker-end=\"url(#arrow)\"><title>{} → {}: {:.4}</title></path>", e.from, e.to, e.weight);
    }
    for (t, &(x, y)) in s.graph.tokens().zip(pos) {
        let _ = writeln!(
            out,
            "<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"9\" fill=\"#f4a582\" stroke=\"#333\"/>"
        );
        let _ = writeln!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"13\" text-anchor=\"middle\">{}</text>",
            y + 28.0,
            xml_escape(&t.text)
        );
        let _ = writeln!(out, "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"9\" fill=\"#666\" text-anchor=\"middle\">{}</text>", y + 42.0, t.position);
    }
    out.push_str("</g>\n</svg>\n");
    out
}
