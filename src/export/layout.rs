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
