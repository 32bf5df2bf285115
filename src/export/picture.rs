//! The start every picture of numbers shares (the lens grid, the patching grids): the SVG element sized to its
//! content, a white page, the title and the caption.

use std::fmt::Write;

use super::escape::xml_escape;

/// An SVG document `width` × `height` opened with a white page, `title` in bold and `caption` below it; the
/// caller adds the content and closes it with `</svg>`. The fonts name CJK families, for tokens in Chinese.
pub(super) fn svg_start(width: f64, height: f64, title: &str, caption: &str) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Noto Sans, Noto Sans CJK TC, WenQuanYi Micro Hei, sans-serif">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="22" font-size="15" font-weight="bold">{}</text>"#,
        xml_escape(title)
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="42" font-size="11" fill="rgb(68,68,68)">{}</text>"#,
        xml_escape(caption)
    );
    s
}
