//! The text exports: DOT, GraphML, JSON and CSV.

use std::fmt::Write;

use super::escape::{csv_field, dot_escape, xml_escape};
use super::snapshot::{Snapshot, JSON_SCHEMA_VERSION};

/// Graphviz DOT: one node per token (label = text, position, surprisal), one edge per kept entry, weight and
/// pen width by attention.
pub fn to_dot(s: &Snapshot) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "// attngraph: {} — {} (edge i -> j: token i attends to token j)",
        dot_escape(&s.model),
        dot_escape(&s.title()),
    );
    let _ = writeln!(
        out,
        "digraph attention {{\n  rankdir=LR;\n  node [shape=box, fontname=\"monospace\"];"
    );
    for t in s.graph.tokens() {
        let _ = writeln!(
            out,
            "  t{} [label=\"{}: {}\"];",
            t.position,
            t.position,
            dot_escape(&t.text)
        );
    }
    for e in s.graph.edges() {
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
        xml_escape(&s.title())
    );
    for t in s.graph.tokens() {
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
    for (idx, e) in s.graph.edges().enumerate() {
        let _ = writeln!(
            out,
            "<edge id=\"e{idx}\" source=\"t{}\" target=\"t{}\"><data key=\"weight\">{}</data></edge>",
            e.from, e.to, e.weight
        );
    }
    out.push_str("</graph>\n</graphml>\n");
    out
}

/// JSON, schema version [`JSON_SCHEMA_VERSION`], an object with `schema_version`, `model`, `text`, `selection`,
/// `tokens`, `edges` [{from, to, weight}], `matrix` (rows), `pruning`, `markov` (the `markov` command's object),
/// `layout`, `edge_convention` and `positions` ([x, y] of each token in the SVG and PNG drawings).
pub fn to_json(s: &Snapshot) -> Result<String, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct Export<'a> {
        schema_version: u32,
        selection: String,
        #[serde(flatten)]
        snapshot: &'a Snapshot,
        edge_convention: &'static str,
        positions: &'a [(f64, f64)],
    }
    let mut text = serde_json::to_string_pretty(&Export {
        schema_version: JSON_SCHEMA_VERSION,
        selection: s.title(),
        snapshot: s,
        edge_convention: "an edge from i to j carries A[i][j]: token i attends to token j",
        positions: &s.geometry.positions,
    })?;
    text.push('\n');
    Ok(text)
}

/// The unpruned matrix as CSV: a header of `query\key` and the tokens, then one row per query token.
pub fn to_csv(s: &Snapshot) -> String {
    let labels: Vec<String> = s
        .graph
        .tokens()
        .map(|t| csv_field(&format!("{}:{}", t.position, t.text)))
        .collect();
    let corner = match s.edge_weight {
        crate::graph::EdgeWeight::Attention => "query\\key".to_string(),
        weight => csv_field(&format!("query\\key ({})", weight.name())),
    };
    let mut out = format!("{corner},{}\n", labels.join(","));
    for (i, label) in labels.iter().enumerate() {
        let row: Vec<String> = s.matrix.row(i).iter().map(|w| format!("{w}")).collect();
        let _ = writeln!(out, "{label},{}", row.join(","));
    }
    out
}
