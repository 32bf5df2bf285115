//! The graph and Markov layer against numpy (tests/fixtures/markov_reference.json, written by
//! tools/make_markov_reference.py from the transformers attention in reference.json).

use attngraph::graph::{self, heads, Selection};
use attngraph::markov;
use attngraph::model::Attentions;
use serde_json::Value;

use crate::util::ids_of;

fn load() -> (Value, Attentions, Vec<u32>) {
    let reference = crate::util::fixture_json("markov_reference.json");
    let all: Value = crate::util::fixture_json("reference.json");
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == reference["text"] && c["with_bos"] == true)
        .unwrap();
    let layers = case["attentions"].as_array().unwrap();
    let n_head = layers[0].as_array().unwrap().len();
    let n = layers[0][0].as_array().unwrap().len();
    let mut att = Attentions::with_shape(layers.len(), n_head, n);
    for layer in layers {
        let dense: Vec<f32> = layer
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|h| {
                h.as_array().unwrap().iter().flat_map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap() as f32)
                })
            })
            .collect();
        att.push_layer_dense(&dense).unwrap();
    }
    let ids = ids_of(&reference["ids"]);
    (reference, att, ids)
}

/// Relative error 1e-6, with an absolute floor of 1e-9 for entries that are 0 in the reference.
fn close(ours: f64, want: f64, what: &str) {
    assert!(
        (ours - want).abs() <= 1e-6 * want.abs() + 1e-9,
        "{what}: {ours} vs numpy {want}"
    );
}

fn close_all(ours: &Value, want: &Value, what: &str) {
    match (ours, want) {
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{what}: shapes differ");
            for (x, y) in a.iter().zip(b) {
                close_all(x, y, what);
            }
        }
        _ => close(ours.as_f64().unwrap(), want.as_f64().unwrap(), what),
    }
}

#[test]
fn statistics_match_numpy_for_heads_aggregates_and_rollout() {
    let (reference, att, _) = load();
    let teleport = reference["teleport"].as_f64().unwrap();
    let steps = reference["steps"].as_u64().unwrap() as usize;
    let selections = [
        ("head_1_2", Selection::Head { layer: 1, head: 2 }),
        ("layer_mean_1", Selection::LayerMean(1)),
        ("all_mean", Selection::AllMean),
        ("rollout", Selection::Rollout),
    ];
    for (name, selection) in selections {
        let want = &reference["selections"][name];
        let matrix = graph::select(&att, selection).unwrap();
        close_all(
            &serde_json::to_value(matrix.rows()).unwrap(),
            &want["matrix"],
            name,
        );
        let r = serde_json::to_value(markov::report(&matrix, teleport, steps)).unwrap();
        assert_eq!(r["absorbing_states"], want["absorbing_states"], "{name}");
        assert_eq!(r["is_dag_without_self_loops"], true, "{name}");
        assert_eq!(r["row0_is_e0"], true, "{name}");
        for key in [
            "row_sums",
            "absorption_probabilities",
            "expected_steps",
            "row_entropy_bits",
            "effective_attended",
            "sink_mass",
            "teleport_ranking",
            "k_step",
        ] {
            close_all(&r[key], &want[key], &format!("{name} {key}"));
        }
    }
}

#[test]
fn head_scores_match_numpy() {
    let (reference, att, ids) = load();
    let ours = heads::score_heads(&att, &ids, heads::Exclusions::default());
    let want = reference["head_scores"].as_array().unwrap();
    assert_eq!(ours.len(), want.len());
    for (s, w) in ours.iter().zip(want) {
        let s = serde_json::to_value(s).unwrap();
        for key in [
            "previous_token",
            "duplicate_token",
            "induction",
            "sink",
            "self_attention",
        ] {
            close(s[key].as_f64().unwrap(), w[key].as_f64().unwrap(), key);
        }
    }
}

#[test]
fn the_heads_command_averages_a_file_of_texts_as_numpy_does() {
    use crate::util::{assert_clean_failure, assert_success, prefixed_model, run_cli};
    let reference = crate::util::fixture_json("markov_reference.json");
    let want = &reference["prompt_scores"];
    let texts: Vec<&str> = want["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("prompts.txt");
    // A byte-order mark, CR LF line ends and blank lines between the texts: none is part of a text.
    std::fs::write(&file, format!("\u{feff}{}\n", texts.join("\r\n\n"))).unwrap();
    let model = prefixed_model();
    let heads = |file: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "heads",
            "--model",
            model.to_str().unwrap(),
            "--prompts",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_cli(&args, &[])
    };
    let out = heads(&file, &["--format", "json"]);
    assert_success(&out);
    let ours: Value = serde_json::from_slice(&out.stdout).unwrap();
    let (ours, want) = (
        ours.as_array().unwrap(),
        want["head_scores"].as_array().unwrap(),
    );
    assert_eq!(ours.len(), want.len());
    for (s, w) in ours.iter().zip(want) {
        assert_eq!((&s["layer"], &s["head"]), (&w["layer"], &w["head"]));
        for key in [
            "previous_token",
            "duplicate_token",
            "induction",
            "sink",
            "self_attention",
        ] {
            // attngraph's own attention against transformers' (f32), averaged: absolute, as some scores are ~0.
            let (g, e) = (s[key].as_f64().unwrap(), w[key].as_f64().unwrap());
            assert!(
                (g - e).abs() < 1e-5,
                "{key} of {}.{}: {g} vs numpy {e}",
                w["layer"],
                w["head"]
            );
        }
    }
    // Not one text's scores: the first text alone scores otherwise.
    let first = dir.path().join("first.txt");
    std::fs::write(&first, texts[0]).unwrap();
    let alone: Value =
        serde_json::from_slice(&heads(&first, &["--format", "json"]).stdout).unwrap();
    assert!(
        (alone[0]["previous_token"].as_f64().unwrap()
            - ours[0]["previous_token"].as_f64().unwrap())
        .abs()
            > 1e-3
    );
    let table = heads(&file, &["--format", "table"]);
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.lines().next().unwrap().contains(&format!(
            "the mean over {} texts of {}, each read alone with BOS first",
            texts.len(),
            file.display()
        )),
        "{table}"
    );
    // A file of no text, and a line the model cannot read, are refused: the second by its number.
    let blank = dir.path().join("blank.txt");
    std::fs::write(&blank, "\n  \n").unwrap();
    assert_clean_failure(
        &heads(&blank, &["--format", "json"]),
        "holds no text: write one text a line",
    );
    let long = dir.path().join("long.txt");
    std::fs::write(&long, format!("a\n\n{}\n", "word ".repeat(100))).unwrap();
    let stderr = assert_clean_failure(
        &heads(&long, &["--format", "json"]),
        "line 3 is 102 tokens (with BOS)",
    );
    assert!(
        stderr.contains("reads at most 64: shorten the line"),
        "{stderr}"
    );
    // "a" with BOS is two tokens: excluding token 0 and each token's attention to itself leaves nothing.
    let excluded = heads(&file, &["--exclude-bos", "--exclude-current"]);
    assert_clean_failure(
        &excluded,
        "line 11 is 2 tokens: --exclude-bos and --exclude-current leave no attention",
    );
}

#[test]
fn flow_is_bounded_by_one_and_refused_on_long_texts() {
    let (_, att, _) = load();
    let flow = graph::select(&att, Selection::Flow).unwrap();
    for i in 0..flow.n() {
        for j in 0..flow.n() {
            let f = flow.get(i, j);
            assert!((0.0..=1.0 + 1e-9).contains(&f), "flow {f}");
            if j > i {
                assert_eq!(f, 0.0, "flow never goes forward in time");
            }
        }
        // Everything reaches token 0 eventually: all of token i's unit of flow can get there.
        assert!(flow.get(i, 0) > 0.0);
    }
    let long = Attentions::with_shape(1, 1, graph::FLOW_MAX_TOKENS + 1);
    assert!(matches!(
        graph::select(&long, Selection::Flow),
        Err(graph::SelectError::FlowTooLong(_))
    ));
}

#[test]
fn the_petgraph_graph_carries_the_reference_weights() {
    let (reference, att, ids) = load();
    let want = &reference["selections"]["head_1_2"]["matrix"];
    let matrix = graph::select(&att, Selection::Head { layer: 1, head: 2 }).unwrap();
    let pruning = graph::Pruning {
        threshold: 0.01,
        ..Default::default()
    };
    let edges = pruning.edges(&matrix);
    let nodes: Vec<graph::TokenNode> = ids
        .iter()
        .enumerate()
        .map(|(position, &id)| graph::TokenNode {
            position,
            id,
            text: String::new(),
            surprisal_bits: None,
        })
        .collect();
    let attention = graph::AttentionGraph::new(nodes, &edges).unwrap();
    let g = attention.petgraph();
    assert_eq!(g.node_count(), ids.len());
    assert_eq!(g.edge_count(), edges.len());
    let mut kept = 0;
    for e in g.edge_indices() {
        let (from, to) = g.edge_endpoints(e).unwrap();
        let (i, j) = (g[from].position, g[to].position);
        // Query → key: the edge from i to j carries numpy's A[i][j], and keys never lie in the future.
        close(g[e], want[i][j].as_f64().unwrap(), "edge weight");
        assert!(j <= i);
        kept += 1;
    }
    // Every entry of the reference at or above the threshold is an edge.
    let above = want
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .filter(|v| v.as_f64().unwrap() >= 0.01)
        .count();
    assert_eq!(kept, above);
    let mut without_loops = g.clone();
    without_loops.retain_edges(|g, e| g.edge_endpoints(e).is_some_and(|(a, b)| a != b));
    assert!(
        !petgraph::algo::is_cyclic_directed(&without_loops),
        "causal attention is a DAG once self-loops go"
    );
}
