//! The text exports: DOT, GraphML, JSON and CSV.

use std::fmt::Write;

use super::{Snapshot, JSON_SCHEMA_VERSION};

/// Escapes a string for a DOT double-quoted ID.
fn dot_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {
                let _ = write!(out, "\\\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Escapes a string for XML text and attributes; drops characters XML 1.0 forbids.
pub(super) fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Graphviz DOT: one node per token (label = text, position, surprisal), one edge per kept entry, weight and
/// pen width by attention.
pub fn to_dot(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// attngraph: {} — {} (edge i -> j: token i attends to token j)",
        dot_escape(&s.model),
        dot_escape(&s.selection),
    );
    let _ = writeln!(
        out,
        "digraph attention {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];"
    );
    for t in &s.tokens {
        let _ = writeln!(
            out,
            "  t{} [label=\"{}: {}\"];",
            t.position,
            t.position,
            dot_escape(&t.text)
        );
    }
    for e in &s.edges {
        let _ = writeln!(
            out,
            "  t{} -> t{} [weight={:.6}, penwidth={:.3}, label=\"{:.3}\"];",
            e.from,
            e.to,
            e.weight,
            0.5 + 4.0 * e.weight,
            e.weight
        );
    }
    out.push_str("}\n");
    out
}

/// GraphML with node attributes `text`, `position`, `token_id`, `surprisal_bits` and edge attribute `weight`.
pub fn to_graphml(s: &Snapshot) -> String {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<graphml xmlns=\"http://graphml.graphdrawing.org/xmlns\">\n\
         <key id=\"text\" for=\"node\" attr.name=\"text\" attr.type=\"string\"/>\n\
         <key id=\"position\" for=\"node\" attr.name=\"position\" attr.type=\"int\"/>\n\
         <key id=\"token_id\" for=\"node\" attr.name=\"token_id\" attr.type=\"int\"/>\n\
         <key id=\"surprisal_bits\" for=\"node\" attr.name=\"surprisal_bits\" attr.type=\"double\"/>\n\
         <key id=\"weight\" for=\"edge\" attr.name=\"weight\" attr.type=\"double\"/>\n",
    );
    let _ = writeln!(
        out,
        "<graph id=\"{}\" edgedefault=\"directed\">",
        xml_escape(&s.selection)
    );
    for t in &s.tokens {
        let _ = write!(
            out,
            "<node id=\"t{p}\"><data key=\"text\">{}</data><data key=\"position\">{p}</data><data key=\"token_id\">{}</data>",
            xml_escape(&t.text),
            t.id,
            p = t.position
        );
        if let Some(bits) = t.surprisal_bits {
            let _ = write!(out, "<data key=\"surprisal_bits\">{bits}</data>");
        }
        out.push_str("</node>\n");
    }
    for (idx, e) in s.edges.iter().enumerate() {
        let _ = writeln!(
            out,
            "<edge id=\"e{idx}\" source=\"t{}\" target=\"t{}\"><data key=\"weight\">{}</data></edge>",
            e.from, e.to, e.weight
        );
    }
    out.push_str("</graph>\n</graphml>\n");
    out
}

/// JSON, schema version [`JSON_SCHEMA_VERSION`]: `schema_version`, `model`, `text`, `selection`, `tokens`,
/// `matrix` (rows), `pruning`, `edges` [{from, to, weight}], `markov` (the `markov` command's object), `layout`,
/// `positions` ([x, y] of each token in the SVG and PNG drawings).
pub fn to_json(s: &Snapshot) -> String {
    let mut value = serde_json::to_value(s).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("schema_version".into(), JSON_SCHEMA_VERSION.into());
        obj.insert(
            "matrix".into(),
            serde_json::to_value(s.matrix.rows()).unwrap_or_default(),
        );
        obj.insert(
            "edge_convention".into(),
            "an edge from i to j carries A[i][j]: token i attends to token j".into(),
        );
        let geometry = super::svg::geometry(s.layout, s.tokens.len());
        obj.insert(
            "positions".into(),
            serde_json::to_value(geometry.positions).unwrap_or_default(),
        );
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) || s.starts_with(' ') || s.ends_with(' ') {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The unpruned matrix as CSV: a header of `query\key` and the tokens, then one row per query token.
pub fn to_csv(s: &Snapshot) -> String {
    let labels: Vec<String> = s
        .tokens
        .iter()
        .map(|t| csv_field(&format!("{}:{}", t.position, t.text)))
        .collect();
    let mut out = format!("query\\key,{}\n", labels.join(","));
    for (i, label) in labels.iter().enumerate() {
        let row: Vec<String> = s.matrix.row(i).iter().map(|w| format!("{w}")).collect();
        let _ = writeln!(out, "{label},{}", row.join(","));
    }
    out
}
