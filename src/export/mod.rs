//! Exports of exactly what is selected: the chosen matrix, its pruned edges and a layout, as DOT, GraphML,
//! JSON, CSV or SVG. Files are written to a temporary sibling and renamed, so a failed export leaves no half file.
//! Plain data; never candle or egui.

mod layout;
mod png;
mod svg;
mod text;

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::graph::{self, Edge, Matrix, Pruning, SelectError, Selection, TokenNode};
use crate::markov::{self, MarkovReport};
use crate::model::Analysis;

pub use layout::{layout, Layout};
pub use png::{to_png, PngError};
pub use svg::{to_svg, weight_rgb};
pub use text::{to_csv, to_dot, to_graphml, to_json};

/// Version of the JSON export's schema; bumped when a field changes meaning.
pub const JSON_SCHEMA_VERSION: u32 = 1;

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

/// Everything an export shows.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// The model name.
    pub model: String,
    /// The text.
    pub text: String,
    /// Which matrix ("layer 3 head 5", "rollout", …).
    pub selection: String,
    /// The tokens (nodes).
    pub tokens: Vec<TokenNode>,
    /// The unpruned matrix.
    pub matrix: Matrix,
    /// The pruning applied to the edges.
    pub pruning: Pruning,
    /// The kept edges, query → key.
    pub edges: Vec<Edge>,
    /// Statistics of the unpruned matrix.
    pub markov: MarkovReport,
    /// Node positions.
    pub layout: Layout,
}

impl Snapshot {
    /// The snapshot of one selection of an analysis by the model called `model`: the matrix, its pruned edges,
    /// and the Markov statistics of the unpruned matrix (with teleport α and A^steps).
    pub fn of(
        model: &str,
        analysis: &Analysis,
        selection: Selection,
        pruning: Pruning,
        layout: Layout,
        teleport: f64,
        steps: usize,
    ) -> Result<Self, SelectError> {
        let matrix = graph::select(&analysis.attentions, selection)?;
        Ok(Self {
            model: model.to_string(),
            text: analysis.text.clone(),
            selection: selection.label(),
            tokens: graph::token_nodes(analysis),
            edges: pruning.edges(&matrix),
            markov: markov::report(&matrix, teleport, steps),
            matrix,
            pruning,
            layout,
        })
    }
}

/// Renders a snapshot in `format` as bytes to write.
pub fn render_bytes(snapshot: &Snapshot, format: Format) -> Result<Vec<u8>, PngError> {
    match format {
        Format::Png => to_png(snapshot, 2.0),
        text => Ok(render(snapshot, text).into_bytes()),
    }
}

/// Renders a snapshot in a text format (PNG is rendered by [`render_bytes`]; here it gives the SVG).
pub fn render(snapshot: &Snapshot, format: Format) -> String {
    match format {
        Format::Dot => to_dot(snapshot),
        Format::Graphml => to_graphml(snapshot),
        Format::Json => to_json(snapshot),
        Format::Csv => to_csv(snapshot),
        Format::Svg | Format::Png => to_svg(snapshot),
    }
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "export".into());
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
