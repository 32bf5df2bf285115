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
