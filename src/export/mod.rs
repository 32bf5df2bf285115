//! Exports of exactly what is selected: the chosen matrix, its pruned edges and a layout, as DOT, GraphML,
//! JSON, CSV or SVG; and the other things the app and the commands save (effects, the lens, patching, a
//! scoring's tokens). Files are written to a temporary sibling and renamed, so a failed export leaves no half file.
//! Plain data; never candle or egui.

mod atomic;
mod effects;
mod escape;
mod layout;
mod lens;
mod npz;
mod overlay;
mod patching;
mod picture;
mod png;
mod scoring;
mod snapshot;
mod svg;
mod text;

use std::path::Path;

pub use atomic::{check_target, note_input, write_atomic, write_atomic_with};
pub use effects::{
    ablation_csv, attribution_csv, diverging_rgb, grid_svg, lens_csv, patching_csv, sweep_csv,
    GridPicture,
};
pub use escape::csv_field;
pub use layout::{
    edge_curve, edge_style, geometry, layout, self_loop, trim_ends, Geometry, Layout,
};
pub use lens::{lens_svg, LensShade};
pub use npz::{write_analysis, NpzError};
pub use overlay::{
    draw_overlay, faintest_weight, head_rgb, intensity, line_alpha, overlay_svg, DrawnOverlay,
    OverlayPicture,
};
pub use patching::patching_svg;
pub use png::{svg_to_png, system_fonts, to_png, PngError};
pub use scoring::per_token_csv;
pub use snapshot::{Snapshot, SnapshotError, JSON_SCHEMA_VERSION};
pub use svg::{to_svg, weight_rgb};
pub use text::{to_csv, to_dot, to_graphml, to_json};

/// Export formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Graphviz DOT.
    Dot,
    /// GraphML (networkx, Gephi).
    Graphml,
    /// JSON: tokens, matrix, edges, Markov statistics.
    Json,
    /// The matrix as CSV, a header row of tokens.
    Csv,
    /// The drawing (arc or circle layout).
    Svg,
    /// The drawing rasterised (resvg), at twice the SVG's size.
    Png,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Dot => "dot",
            Self::Graphml => "graphml",
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Svg => "svg",
            Self::Png => "png",
        }
    }

    /// Every format, in the order the app lists them.
    pub const ALL: [Self; 6] = [
        Self::Svg,
        Self::Png,
        Self::Dot,
        Self::Graphml,
        Self::Json,
        Self::Csv,
    ];

    /// The format a file name's extension names (case-insensitive), if any.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        Self::ALL.into_iter().find(|f| f.extension() == ext)
    }
}

/// Renders a snapshot in `format` as bytes to write.
pub fn render_bytes(snapshot: &Snapshot, format: Format) -> Result<Vec<u8>, RenderError> {
    match format {
        Format::Png => Ok(to_png(snapshot, 2.0)?),
        text => Ok(render(snapshot, text)?.into_bytes()),
    }
}

/// Renders a snapshot in a text format (PNG is rendered by [`render_bytes`]; here it gives the SVG).
pub fn render(snapshot: &Snapshot, format: Format) -> Result<String, RenderError> {
    Ok(match format {
        Format::Dot => to_dot(snapshot),
        Format::Graphml => to_graphml(snapshot),
        Format::Json => to_json(snapshot)?,
        Format::Csv => to_csv(snapshot),
        Format::Svg | Format::Png => to_svg(snapshot),
    })
}

/// Why an export could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// Rasterising the drawing failed.
    #[error(transparent)]
    Png(#[from] PngError),
    /// Serialising the JSON failed.
    #[error("cannot write the JSON: {0}")]
    Json(#[from] serde_json::Error),
}
