//! Node positions for drawings: arc (tokens on a line in reading order) and circle.

use serde::Serialize;

/// Layout kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
pub enum Layout {
    /// Tokens left to right on a line; edges as arcs above it. The natural way to read a causal graph.
    Arc,
    /// Tokens clockwise on a circle from the top.
    Circle,
}

/// Positions of `n` nodes in a `width` × `height` box.
pub fn layout(kind: Layout, n: usize, width: f64, height: f64) -> Vec<(f64, f64)> {
    match kind {
        Layout::Arc => {
            let step = width / (n.max(1) as f64);
            (0..n)
                .map(|i| (step * (i as f64 + 0.5), height * 0.75))
                .collect()
        }
        Layout::Circle => {
            let r = 0.38 * width.min(height);
            (0..n)
                .map(|i| {
                    let angle = std::f64::consts::TAU * i as f64 / n.max(1) as f64
                        - std::f64::consts::FRAC_PI_2;
                    (
                        width / 2.0 + r * angle.cos(),
                        height / 2.0 + r * angle.sin(),
                    )
                })
                .collect()
        }
    }
}

/// The drawing's size and node positions.
#[derive(Clone, Debug, PartialEq)]
pub struct Geometry {
    /// Picture width.
    pub width: f64,
    /// Picture height (without the 30-point title band).
    pub height: f64,
    /// Empty space left and right of the nodes.
    pub margin: f64,
    /// Width of the band the nodes occupy.
    pub inner: f64,
    /// Node centres, in token order.
    pub positions: Vec<(f64, f64)>,
}

/// Size and node positions of the drawing of `n` tokens; the JSON export records the same positions.
pub fn geometry(kind: Layout, n: usize) -> Geometry {
    // A margin on each side keeps the first and last labels inside the picture.
    let margin = 60.0;
    let (inner, height) = match kind {
        Layout::Arc => ((n.max(4) * 70) as f64, 420.0),
        Layout::Circle => (640.0, 640.0),
    };
    let positions = layout(kind, n, inner, height)
        .into_iter()
        .map(|(x, y)| (x + margin, y))
        .collect();
    Geometry {
        width: inner + 2.0 * margin,
        height,
        margin,
        inner,
        positions,
    }
}

/// How far an edge bulges, as a share of the distance between its ends.
const BULGE: f64 = 0.45;

/// The cubic Bézier control points of the edge from `a` to `b`: it bulges to the left of its direction of travel
/// by 0.45 of its length, at most `max_bulge` (upwards in the arc layout, where a query sits right of the keys
/// it looks at). The app and the SVG draw the same curve.
pub fn edge_curve(a: (f64, f64), b: (f64, f64), max_bulge: f64) -> [(f64, f64); 4] {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length = dx.hypot(dy);
    if length == 0.0 {
        return [a, a, b, b];
    }
    let bulge = (BULGE * length).min(max_bulge);
    // The unit normal to the left of travel (screen coordinates, y down), times the bulge.
    let (nx, ny) = (-dy / length * bulge, dx / length * bulge);
    [a, (a.0 + nx, a.1 + ny), (b.0 + nx, b.1 + ny), b]
}

/// The curve `points` with its ends moved `r` along it, so it starts and ends on node circles of radius `r`
/// rather than at their centres (where an arrowhead would hide under the node).
pub fn trim_ends(points: [(f64, f64); 4], r: f64) -> [(f64, f64); 4] {
    let toward = |from: (f64, f64), to: (f64, f64)| {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let length = dx.hypot(dy);
        if length == 0.0 {
            from
        } else {
            (from.0 + dx / length * r, from.1 + dy / length * r)
        }
    };
    let [p0, p1, p2, p3] = points;
    [toward(p0, p1), p1, p2, toward(p3, p2)]
}

/// The control points of a self-loop on a node of radius `r` at `center`: a small loop above it.
pub fn self_loop(center: (f64, f64), r: f64) -> [(f64, f64); 4] {
    let (x, y) = center;
    [
        (x - r * 0.5, y - r),
        (x - r * 1.6, y - r * 3.2),
        (x + r * 1.6, y - r * 3.2),
        (x + r * 0.5, y - r),
    ]
}

/// An edge's stroke width (in drawing units) and opacity for an intensity in [0, 1] (the weight, or its log-scale
/// position): heavy edges are wide and opaque, light ones thin and faint against the background.
pub fn edge_style(intensity: f64) -> (f64, f64) {
    let t = intensity.clamp(0.0, 1.0);
    (0.6 + 5.0 * t, 0.24 + 0.76 * t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arcs_bulge_upwards_from_a_later_token_to_an_earlier_one() {
        // Query at x = 100 looks at the key at x = 0, both on y = 50: the arc rises (y decreases) by 45.
        let [p0, p1, p2, p3] = edge_curve((100.0, 50.0), (0.0, 50.0), f64::INFINITY);
        assert_eq!((p0, p3), ((100.0, 50.0), (0.0, 50.0)));
        assert!((p1.1 - 5.0).abs() < 1e-9 && (p2.1 - 5.0).abs() < 1e-9);
        assert!((p1.0 - 100.0).abs() < 1e-9 && p2.0.abs() < 1e-9);
        // A cap keeps long arcs inside a picture.
        let [_, q1, _, _] = edge_curve((1000.0, 50.0), (0.0, 50.0), 30.0);
        assert!((q1.1 - 20.0).abs() < 1e-9);
        assert_eq!(edge_curve((1.0, 1.0), (1.0, 1.0), 10.0), [(1.0, 1.0); 4]);
    }
}
