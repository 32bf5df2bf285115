//! Fonts: egui's defaults cover Latin, Greek, Cyrillic and emoji. The visible-whitespace marks (␣ ↵ ⇥), arrows,
//! and Chinese, Japanese and Korean need system fonts, added as fallbacks so tokens and the lesson never show
//! as boxes. They are found through fontdb (the system's and the user's font folders, as the PNG export uses
//! them), by the characters a face actually has, preferring well-known families.

use resvg::usvg::fontdb;

/// Characters a symbol font must have.
const SYMBOLS: &str = "␣↵⇥→";

/// Characters a CJK font must have (Traditional and Simplified Chinese, Japanese kana, Korean).
const CJK: &str = "網球注意力网球東京はハ한";

/// Families tried first, in order, for each kind.
const SYMBOL_FAMILIES: &[&str] = &[
    "DejaVu Sans",
    "Noto Sans Symbols",
    "Apple Symbols",
    "Segoe UI Symbol",
];
const CJK_FAMILIES: &[&str] = &[
    "Noto Sans CJK TC",
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Source Han Sans TC",
    "Source Han Sans SC",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "PingFang TC",
    "PingFang SC",
    "Hiragino Sans GB",
    "Microsoft JhengHei",
    "Microsoft YaHei",
];

/// Whether the face has a glyph for every character of `chars`.
fn covers(db: &fontdb::Database, id: fontdb::ID, chars: &str) -> bool {
    db.with_face_data(id, |data, index| {
        ttf_parser::Face::parse(data, index)
            .is_ok_and(|face| chars.chars().all(|c| face.glyph_index(c).is_some()))
    })
    .unwrap_or(false)
}

/// The best installed face with every character of `chars`: one of `families` in their order, else any.
fn find(db: &fontdb::Database, families: &[&str], chars: &str) -> Option<fontdb::ID> {
    let named = families.iter().flat_map(|family| {
        db.faces()
            .filter(move |f| f.families.iter().any(|(name, _)| name == family))
            .map(|f| f.id)
    });
    let mut candidates = named.chain(db.faces().map(|f| f.id));
    candidates.find(|&id| covers(db, id, chars))
}

/// Adds the best installed symbol font and CJK font as fallbacks to every family; returns their names.
pub fn install_fallbacks(ctx: &egui::Context) -> Vec<String> {
    let db = crate::export::system_fonts();
    let mut fonts = egui::FontDefinitions::default();
    let mut used = Vec::new();
    for (name, families, chars) in [
        ("symbols", SYMBOL_FAMILIES, SYMBOLS),
        ("cjk", CJK_FAMILIES, CJK),
    ] {
        let Some(id) = find(&db, families, chars) else {
            continue;
        };
        let Some((bytes, index)) = db.with_face_data(id, |data, index| (data.to_vec(), index))
        else {
            continue;
        };
        let mut data = egui::FontData::from_owned(bytes);
        data.index = index;
        fonts
            .font_data
            .insert(name.into(), std::sync::Arc::new(data));
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            fonts.families.entry(family).or_default().push(name.into());
        }
        if let Some(face) = db.face(id) {
            used.push(
                face.families
                    .first()
                    .map_or_else(String::new, |(n, _)| n.clone()),
            );
        }
    }
    ctx.set_fonts(fonts);
    used
}
