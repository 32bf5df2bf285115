//! The logit lens (`attngraph lens`) against transformers: `ln_f` and the LM head applied in float64 to
//! `output_hidden_states` (tests/fixtures/lens_reference.json, written by tools/make_lens_reference.py), and its
//! last row against `attngraph analyze`.

use serde_json::Value;

use attngraph::model::Kernels;

use crate::util::{
    assert_clean_failure, assert_success, case_input, cli_json, engine_named, fixtures, num as f,
    run_cli,
};

#[test]
fn the_lens_equals_transformers_on_every_layer_and_position() {
    let reference: Value = crate::util::fixture_json("lens_reference.json");
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 4);
    for case in cases {
        let (model, text, bos, what) = case_input(case);
        let text = text.as_str();
        let got = cli_json(&[
            "lens", "--model", &model, "--text", text, bos, "--format", "json",
        ]);
        let ids: Vec<u64> = got["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap())
            .collect();
        let want_ids: Vec<u64> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        assert_eq!(ids, want_ids, "{what}: ids");
        let (got_layers, want_layers) = (
            got["layers"].as_array().unwrap(),
            case["layers"].as_array().unwrap(),
        );
        assert_eq!(got_layers.len(), want_layers.len(), "{what}: rows");
        for (l, (g_row, w_row)) in got_layers.iter().zip(want_layers).enumerate() {
            for (p, (g, w)) in g_row
                .as_array()
                .unwrap()
                .iter()
                .zip(w_row.as_array().unwrap())
                .enumerate()
            {
                let at = format!("{what}: layer {l} position {p}");
                match (g["next_logprob"].as_f64(), w["next_logprob"].as_f64()) {
                    (Some(a), Some(b)) => {
                        assert!((a - b).abs() < 1e-4, "{at}: ln p(next) {a} vs {b}")
                    }
                    (None, None) => {}
                    other => panic!("{at}: next_logprob {other:?}"),
                }
                assert!(
                    (f(&g["entropy_bits"]) - f(&w["entropy_bits"])).abs() < 1e-4,
                    "{at}: entropy"
                );
                // The top guesses: the same probabilities in order (ids may swap only between near-equal ones).
                let top = g["top_k"].as_array().unwrap();
                assert_eq!(top.len(), 5, "{at}");
                for (k, (guess, want_p)) in top
                    .iter()
                    .zip(w["top_probs"].as_array().unwrap())
                    .enumerate()
                {
                    let (a, b) = (f(&guess["prob"]), f(want_p));
                    assert!((a - b).abs() < 1e-4, "{at}: guess {k} p {a} vs {b}");
                }
                assert_eq!(top[0]["id"], w["top_ids"][0], "{at}: top guess");
            }
        }
        // The last row is the model's own output: analyze's log-probabilities.
        let analysis = cli_json(&[
            "analyze", "--model", &model, "--text", text, bos, "--format", "json",
        ]);
        let last = got_layers.last().unwrap().as_array().unwrap();
        for (p, token) in analysis["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .skip(1)
        {
            let (a, b) = (f(&last[p - 1]["next_logprob"]), f(&token["logprob"]));
            assert!(
                (a - b).abs() < 1e-6,
                "{what}: position {p}: lens {a} vs analyze {b}"
            );
        }
    }
}

#[test]
fn one_column_of_the_lens_equals_transformers_at_its_position() {
    // What the lesson reads: every layer at one position, against the same reference as the whole lens.
    let reference: Value = crate::util::fixture_json("lens_reference.json");
    for case in reference["cases"].as_array().unwrap() {
        let engine = engine_named(case["model"].as_str().unwrap(), Kernels::default());
        let (_, text, _, what) = case_input(case);
        let bos = case["bos"] == true;
        let want = case["layers"].as_array().unwrap();
        let n = want[0].as_array().unwrap().len();
        let none = attngraph::model::HeadSet::default();
        let zero = attngraph::model::ablation::Replacement::Zero;
        let column_at = |p| attngraph::model::lens::column(&engine, &text, bos, 1, &none, zero, p);
        let middle = column_at(n / 2).unwrap();
        for p in [0, n / 2, n - 1] {
            let column = column_at(p).unwrap();
            assert_eq!(column.len(), want.len(), "{what}: layers");
            for (l, (cell, row)) in column.iter().zip(want).enumerate() {
                let w = &row[p];
                let at = format!("{what}: layer {l} position {p}");
                match (cell.next_logprob, w["next_logprob"].as_f64()) {
                    (Some(a), Some(b)) => assert!((a - b).abs() < 1e-4, "{at}: {a} vs {b}"),
                    (None, None) => {}
                    other => panic!("{at}: next_logprob {other:?}"),
                }
                assert!(
                    (cell.entropy_bits - f(&w["entropy_bits"])).abs() < 1e-4,
                    "{at}"
                );
                assert_eq!(
                    u64::from(cell.top_k[0].id),
                    w["top_ids"][0].as_u64().unwrap(),
                    "{at}: top guess"
                );
            }
        }
        // The whole lens's cells at the middle position (what the app's lesson reads): the column's, to rounding.
        let whole = attngraph::model::lens::lens(&engine, &text, bos, 1, &none, zero).unwrap();
        let at = whole.at(n / 2).unwrap();
        for (a, b) in at.iter().zip(&middle) {
            assert!((a.entropy_bits - b.entropy_bits).abs() < 1e-6, "{what}");
            assert_eq!(a.top_k[0].id, b.top_k[0].id, "{what}");
        }
        assert!(whole.at(n).is_none(), "{what}: past the text");
        // Past the text: an error, not an empty column.
        assert!(column_at(n).is_err(), "{what}");
    }
}

#[test]
fn the_lens_of_a_mean_ablated_run_ends_on_transformers_probabilities() {
    // tools/make_attribution_reference.py: head 2.1 of tiny-gpt2 mean-ablated on "I love tennis." with BOS;
    // the lens's last row is that run's output, so its p of each next token is the reference's.
    let reference = crate::util::attribution_reference();
    let case = crate::util::tennis_without_2_1(&reference, "tiny-gpt2");
    let model = fixtures().join("tiny-gpt2-hub").display().to_string();
    let args = [
        "lens",
        "--model",
        &model,
        "--text",
        "I love tennis.",
        "--bos",
        "--heads",
        "2.1",
        "--replace-with",
        "mean",
    ];
    let json = cli_json(&[&args[..], &["--format", "json"]].concat());
    let output = json["layers"].as_array().unwrap().last().unwrap();
    let mut checked = 0;
    for (pos, cell) in output.as_array().unwrap().iter().enumerate() {
        if let Some(got) = cell["next_logprob"].as_f64() {
            let want = case["mean"]["ablated_logprob"][pos + 1].as_f64().unwrap();
            assert!((got - want).abs() < 1e-4, "at {pos}: {got} vs {want}");
            checked += 1;
        }
    }
    assert_eq!(checked, 4);
    let table = run_cli(&args, &[]);
    assert_success(&table);
    assert!(String::from_utf8(table.stdout)
        .unwrap()
        .starts_with("heads 2.1 mean-ablated"));
    // Without --heads there is nothing to replace: refused.
    let bad = run_cli(
        &[
            "lens",
            "--model",
            &model,
            "--text",
            "a",
            "--replace-with",
            "mean",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--heads"));
}

#[test]
fn the_lens_of_a_knocked_out_run_is_its_own_and_formats_read() {
    let model = fixtures().join("tiny-gpt2-hub").display().to_string();
    let text = "I love tennis. I love tennis.";
    let intact = cli_json(&[
        "lens", "--model", &model, "--text", text, "--format", "json",
    ]);
    let ablated = cli_json(&[
        "lens", "--model", &model, "--text", text, "--heads", "1.2", "--format", "json",
    ]);
    // Rows 0 and 1 read the stream before block 1: unchanged; the output (row 3 of this 3-layer model) changes.
    assert_eq!(intact["layers"].as_array().unwrap().len(), 4);
    assert_eq!(intact["layers"][0], ablated["layers"][0]);
    assert_eq!(intact["layers"][1], ablated["layers"][1]);
    assert_ne!(intact["layers"][3], ablated["layers"][3]);
    let csv = run_cli(
        &[
            "lens", "--model", &model, "--text", text, "--top-k", "2", "--format", "csv",
        ],
        &[],
    );
    assert_success(&csv);
    let csv = String::from_utf8(csv.stdout).unwrap();
    // A header and (layers + 1) × tokens × 2 rows.
    let layers = intact["layers"].as_array().unwrap().len();
    let tokens = intact["tokens"].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), 1 + layers * tokens * 2);
    let table = run_cli(&["lens", "--model", &model, "--text", text], &[]);
    assert_success(&table);
    assert!(String::from_utf8(table.stdout)
        .unwrap()
        .contains("output: the model's own, after L2"));
    let bad = run_cli(&["lens", "--model", &model, "--text", ""], &[]);
    assert_clean_failure(&bad, "empty");
}
