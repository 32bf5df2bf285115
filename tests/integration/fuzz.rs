//! Property tests over arbitrary text: tokenize → analyze → every matrix selection → pruning → every export
//! never panics; whatever is accepted keeps its invariants, whatever is refused gets a clear error.

use attngraph::export::{self, Format, Layout};
use attngraph::graph::{Pruning, Selection};
use attngraph::model::{AnalyzeOptions, EngineError};
use proptest::prelude::*;

use crate::util::{engine, hub_model};

/// One engine for every case: loading builds the tokenizer from vocab.json + merges.txt, the slow part.
static ENGINE: std::sync::LazyLock<attngraph::model::Engine> =
    std::sync::LazyLock::new(|| engine(&hub_model()));

/// Text built from pieces that stress tokenizers and escapes: control characters, zero-width and combining
/// marks, CJK, emoji with joiners, markup characters, long runs of spaces, and arbitrary Unicode.
fn nasty_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("\u{0}".to_string()),
        Just("\u{7}\u{1b}[31m".to_string()),
        Just("\u{200b}\u{200d}\u{feff}".to_string()),
        Just("e\u{301}\u{302}\u{303}".to_string()),
        Just("我爱网球".to_string()),
        Just("👨‍👩‍👧‍👦🇫🇷".to_string()),
        Just("<&\"'>]]>--".to_string()),
        Just("        \t\t\n\r\n".to_string()),
        Just("<|endoftext|>".to_string()),
        "\\PC{0,12}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_goes_through_every_layer_without_panicking(text in nasty_text(), bos in any::<bool>(), top_k in 0usize..4, drop_first in any::<bool>()) {
        let engine = &*ENGINE;
        let options = AnalyzeOptions { bos, top_k, ..Default::default() };
        match engine.analyze(&text, &options) {
            Err(EngineError::EmptyText) => prop_assert!(text.is_empty()),
            Err(EngineError::TooLong { tokens, limit, .. }) => prop_assert!(tokens > limit),
            Err(other) => prop_assert!(false, "unexpected error for {text:?}: {other}"),
            Ok(analysis) => {
                // Spans are consecutive and cover the text.
                let last = analysis.tokens.last().map_or(0, |t| t.end);
                prop_assert_eq!(last, text.len());
                let att = &analysis.attentions;
                for q in 0..att.n_tokens() {
                    let sum: f32 = att.row(0, 0, q).iter().sum();
                    prop_assert!((sum - 1.0).abs() < 1e-4);
                }
                let selections = [
                    Selection::Head { layer: 2, head: 3 },
                    Selection::LayerMean(1),
                    Selection::LayerMax(0),
                    Selection::AllMean,
                    Selection::Rollout,
                    Selection::Flow,
                ];
                for selection in selections {
                    let pruning = Pruning { threshold: 0.01, top_k: 3, mass: 0.9, drop_first };
                    let snapshot = match attngraph::export::Snapshot::of("fixture", &analysis, selection, pruning, Layout::Circle, 0.15, 2) {
                        Ok(s) => s,
                        Err(attngraph::export::SnapshotError::Select(attngraph::graph::SelectError::FlowTooLong(n))) => { prop_assert!(n > attngraph::graph::FLOW_MAX_TOKENS); continue; }
                        Err(other) => { prop_assert!(false, "{other}"); continue; }
                    };
                    if selection == Selection::Rollout && drop_first && top_k == 0 {
                        // PNG in about one case of eight (rasterising is the slow export): a real picture.
                        let png = export::render_bytes(&snapshot, Format::Png);
                        prop_assert!(png.as_ref().is_ok_and(|b| b.starts_with(b"\x89PNG")), "{:?}", png.err());
                    }
                    for format in [Format::Dot, Format::Graphml, Format::Json, Format::Csv, Format::Svg] {
                        let out = export::render(&snapshot, format).unwrap();
                        // Every kept edge is written once, whatever the text holds.
                        let edges = snapshot.graph.edge_count();
                        match format {
                            Format::Dot => prop_assert_eq!(out.lines().filter(|l| l.starts_with("  t") && l.contains(" -> t")).count(), edges),
                            Format::Graphml => prop_assert_eq!(out.matches("<edge id=").count(), edges),
                            Format::Svg => prop_assert!(out.contains("<svg xmlns=") && out.trim_end().ends_with("</svg>")),
                            _ => {}
                        }
                        if matches!(format, Format::Graphml | Format::Svg) {
                            // No raw control characters or unescaped markup from the text reach XML.
                            prop_assert!(!out.chars().any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r')));
                        }
                        if format == Format::Json {
                            let value: serde_json::Value = serde_json::from_str(&out).unwrap();
                            prop_assert_eq!(value["edges"].as_array().map(Vec::len), Some(edges));
                            prop_assert_eq!(value["matrix"].as_array().map(Vec::len), Some(snapshot.graph.token_count()));
                        }
                    }
                }
            }
        }
    }
}
