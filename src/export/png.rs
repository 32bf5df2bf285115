//! PNG export: the SVG drawing rasterised by resvg, with the system's fonts for the labels.

use super::snapshot::Snapshot;

/// Errors while rasterising.
#[derive(Debug, thiserror::Error)]
pub enum PngError {
    /// resvg could not read the SVG it was given.
    #[error("cannot read the drawing: {0}")]
    Svg(String),
    /// The picture would be too large.
    #[error("cannot make a {0}×{1} picture: a PNG is at most 16,384 pixels a side; export it as SVG, which has no such limit")]
    Size(u32, u32),
    /// The drawing has no area.
    #[error("the drawing is {0}×{1}: there is nothing to rasterise")]
    Empty(u32, u32),
    /// Encoding failed.
    #[error("cannot encode the PNG: {0}")]
    Encode(String),
}

/// The system's fonts, read once per process (scanning them takes longer than drawing a picture).
pub fn system_fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static FONTS: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> =
        std::sync::OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut fonts = resvg::usvg::fontdb::Database::new();
            fonts.load_system_fonts();
            // `sans-serif` maps to Arial unless told otherwise; point it at a family this system has.
            let installed = [
                "DejaVu Sans",
                "Noto Sans",
                "Liberation Sans",
                "Arial",
                "Helvetica",
            ]
            .into_iter()
            .find(|name| {
                fonts
                    .faces()
                    .any(|f| f.families.iter().any(|(family, _)| family == name))
            });
            if let Some(name) = installed {
                fonts.set_sans_serif_family(name);
            }
            std::sync::Arc::new(fonts)
        })
        .clone()
}

/// Renders the snapshot's SVG at `scale` (2.0 for sharp text on high-DPI screens) and encodes it as PNG.
pub fn to_png(snapshot: &Snapshot, scale: f32) -> Result<Vec<u8>, PngError> {
    svg_to_png(&super::svg::to_svg(snapshot), scale)
}

/// Renders an SVG drawing at `scale` and encodes it as PNG.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, PngError> {
    let options = resvg::usvg::Options {
        fontdb: system_fonts(),
        ..Default::default()
    };
    let tree =
        resvg::usvg::Tree::from_str(svg, &options).map_err(|e| PngError::Svg(e.to_string()))?;
    let size = tree.size();
    let (w, h) = (
        (size.width() * scale).ceil() as u32,
        (size.height() * scale).ceil() as u32,
    );
    // 16384² RGBA is 1 GB: beyond that the text is too long to draw as one picture.
    if w == 0 || h == 0 {
        return Err(PngError::Empty(w, h));
    }
    if w > 16_384 || h > 16_384 {
        return Err(PngError::Size(w, h));
    }
    let mut pixmap = resvg::tiny_skia::Pixmap::new(w, h).ok_or(PngError::Size(w, h))?;
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| PngError::Encode(e.to_string()))
}
