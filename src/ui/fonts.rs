//! Fonts: egui's defaults cover Latin, Greek, Cyrillic and emoji. The visible-whitespace marks (␣ ↵ ⇥), arrows,
//! and Chinese, Japanese and Korean need system fonts, added as fallbacks so tokens and the lesson never show
//! as boxes. They are found through fontdb (the system's and the user's font folders, as the PNG export uses
//! them), by the characters a face actually has, preferring well-known families.

use resvg::usvg::fontdb;

/// Characters a symbol font must have.
const SYMBOLS: &str = "␣↵⇥→";

/// Characters a Chinese face must have: Traditional ones the lesson uses, and Simplified ones of tokens. A face
/// with these is enough for the Chinese lesson, whether or not it also has Japanese or Korean.
pub const CHINESE: &str = "網球注意力詞元連鎖律困惑度繁體中文网球东京";

/// Japanese kana and Korean hangul, for tokens of those languages: from a second face where the Chinese one
/// lacks them.
const KANA_HANGUL: &str = "はハ한";

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

/// The fallback faces found, by family name; `None` where no installed face has the characters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstalledFonts {
    /// For the visible-whitespace marks and arrows.
    pub symbols: Option<String>,
    /// For Chinese: the lesson in Traditional Chinese and Chinese tokens.
    pub chinese: Option<String>,
    /// For Japanese kana and Korean hangul (the Chinese face itself when it has them).
    pub kana_hangul: Option<String>,
}

/// Adds the best installed symbol, Chinese, and kana and hangul faces of the system as fallbacks to every
/// family; says which it found.
pub fn install_fallbacks(ctx: &egui::Context) -> InstalledFonts {
    install_from(ctx, &crate::export::system_fonts())
}

/// [`install_fallbacks`] from the faces of `db`.
pub fn install_from(ctx: &egui::Context, db: &fontdb::Database) -> InstalledFonts {
    let mut fonts = egui::FontDefinitions::default();
    let mut add = |name: &str, id: fontdb::ID| -> Option<String> {
        let (bytes, index) = db.with_face_data(id, |data, index| (data.to_vec(), index))?;
        let mut data = egui::FontData::from_owned(bytes);
        data.index = index;
        fonts
            .font_data
            .insert(name.into(), std::sync::Arc::new(data));
        for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
            fonts.families.entry(family).or_default().push(name.into());
        }
        let face = db.face(id)?;
        Some(
            face.families
                .first()
                .map_or_else(|| face.post_script_name.clone(), |(n, _)| n.clone()),
        )
    };
    let symbols = find(db, SYMBOL_FAMILIES, SYMBOLS).and_then(|id| add("symbols", id));
    let chinese_id = find(db, CJK_FAMILIES, CHINESE);
    let chinese = chinese_id.and_then(|id| add("chinese", id));
    let kana_hangul = match chinese_id {
        Some(id) if covers(db, id, KANA_HANGUL) => chinese.clone(),
        _ => find(db, CJK_FAMILIES, KANA_HANGUL).and_then(|id| add("kana-hangul", id)),
    };
    ctx.set_fonts(fonts);
    InstalledFonts {
        symbols,
        chinese,
        kana_hangul,
    }
}
