//! Head ablation and direct logit attribution against transformers with PyTorch hooks and numpy
//! (tests/fixtures/attribution_reference.json, written by tools/make_attribution_reference.py), on three models
//! of different sizes and both key layouts, with both kernel paths, through the library and the CLI.

use attngraph::model::ablation::{ablate, sweep, Replacement};
use attngraph::model::attribution::attribute;
use attngraph::model::{Engine, HeadSet, Kernels};
use serde_json::Value;

use crate::util::{
    assert_clean_failure, assert_success, engine_named, engine_with, fixtures, heads_of, hub_model,
    ids_of, kernel_paths, prefixed_model, rel, run_cli,
};

fn reference() -> Value {
    crate::util::attribution_reference()
}

/// The reference's name for each model, with the engines that load it: tiny-gpt2 in both key layouts, the
/// demo model inside the binary, and tiny-gpt2-odd (other sizes, the Hub layout).
fn engines(kernels: Kernels) -> Vec<(&'static str, Engine)> {
    let demo = engine_named("demo", kernels);
    vec![
        ("tiny-gpt2", engine_with(&prefixed_model(), kernels)),
        ("tiny-gpt2", engine_with(&hub_model(), kernels)),
        ("demo", demo),
        (
            "tiny-gpt2-odd",
            engine_with(&fixtures().join("tiny-gpt2-odd"), kernels),
        ),
    ]
}

fn assert_logprobs(got: &[Option<f64>], want: &Value, what: &str) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}: positions");
    for (p, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w.as_f64()) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!((g - w).abs() < 1e-4, "{what} at {p}: {g} vs {w}"),
            _ => panic!("{what} at {p}: {g:?} vs {w}"),
        }
    }
}

fn assert_close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() < 1e-4, "{what}: {got} vs {want}");
}

#[test]
fn ablating_heads_equals_transformers_with_a_hook() {
    let reference = reference();
    for kernels in kernel_paths("attribution::ablating_heads_equals_transformers_with_a_hook") {
        for (name, engine) in engines(kernels) {
            for case in reference["models"][name]["ablate"].as_array().unwrap() {
                let heads: HeadSet = heads_of(&case["heads"]);
                let text = case["text"].as_str().unwrap();
                let bos = case["bos"].as_bool().unwrap();
                // Zero ablation's numbers at the case's top level, mean ablation's under "mean" (the
                // replaced values the intact run's means over the text's positions).
                for (replacement, want) in [
                    (Replacement::Zero, case),
                    (Replacement::Mean, &case["mean"]),
                ] {
                    let what =
                        format!("{name} {kernels:?} {text:?} bos {bos} {replacement:?} {heads}");
                    let got = ablate(&engine, text, bos, &heads, replacement).unwrap();
                    assert_eq!(got.replacement, replacement);
                    let got_ids: Vec<u32> = got.tokens.iter().map(|t| t.id).collect();
                    assert_eq!(got_ids, ids_of(&case["ids"]), "{what}");
                    assert_logprobs(&got.baseline_logprob, &case["baseline_logprob"], &what);
                    assert_logprobs(&got.ablated_logprob, &want["ablated_logprob"], &what);
                    assert_logprobs(&got.delta_logprob, &want["delta_logprob"], &what);
                    for (g, w) in [
                        (got.baseline_perplexity, &case["baseline_perplexity"]),
                        (got.ablated_perplexity, &want["ablated_perplexity"]),
                    ] {
                        let w = w.as_f64().unwrap();
                        assert!(rel(g, w) < 1e-5, "{what}: perplexity {g} vs {w}");
                    }
                    // The knock-out matters: some token moves (the reference checks its hook the same way).
                    assert!(
                        got.delta_logprob.iter().flatten().any(|d| d.abs() > 1e-6),
                        "{what}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_sweep_equals_transformers_one_head_at_a_time() {
    let reference = reference();
    for kernels in kernel_paths("attribution::the_sweep_equals_transformers_one_head_at_a_time") {
        for (name, engine) in engines(kernels) {
            let case = &reference["models"][name]["sweep"][0];
            let text = case["text"].as_str().unwrap();
            for (replacement, key) in [
                (Replacement::Zero, "sweep"),
                (Replacement::Mean, "mean_sweep"),
            ] {
                let mut calls = Vec::new();
                let got = sweep(&engine, text, true, replacement, &mut |done, total| {
                    calls.push((done, total));
                    true
                })
                .unwrap();
                assert_eq!(got.replacement, replacement);
                let info = engine.info();
                assert_eq!(calls.len(), info.n_layer, "one progress call per layer");
                assert_eq!(
                    calls.last(),
                    Some(&(info.n_layer * info.n_head, info.n_layer * info.n_head))
                );
                let want = case[key].as_array().unwrap();
                assert_eq!(got.sweep.len(), want.len());
                assert_logprobs(&got.baseline_logprob, &case["baseline_logprob"], name);
                for (l, (g_layer, w_layer)) in got.sweep.iter().zip(want).enumerate() {
                    let w_layer = w_layer.as_array().unwrap();
                    assert_eq!(g_layer.len(), w_layer.len());
                    for (h, (g, w)) in g_layer.iter().zip(w_layer).enumerate() {
                        let what = format!("{name} {kernels:?} {key} {l}.{h}");
                        assert_logprobs(&g.delta_logprob, &w["delta_logprob"], &what);
                        let wp = w["ablated_perplexity"].as_f64().unwrap();
                        assert!(
                            rel(g.ablated_perplexity, wp) < 1e-5,
                            "{what}: {} vs {wp}",
                            g.ablated_perplexity
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_sweep_stops_when_its_progress_says_so() {
    let engine = engine_with(&prefixed_model(), Kernels::Auto);
    let mut calls = 0;
    let result = sweep(
        &engine,
        "I love tennis.",
        true,
        Replacement::Zero,
        &mut |_, _| {
            calls += 1;
            false
        },
    );
    assert!(matches!(
        result,
        Err(attngraph::model::EngineError::Cancelled)
    ));
    assert_eq!(calls, 1, "it stops after the first layer");
}

#[test]
fn direct_logit_attribution_equals_numpy_and_adds_up_to_the_logit() {
    let reference = reference();
    for kernels in
        kernel_paths("attribution::direct_logit_attribution_equals_numpy_and_adds_up_to_the_logit")
    {
        for (name, engine) in engines(kernels) {
            for case in reference["models"][name]["attribute"].as_array().unwrap() {
                let text = case["text"].as_str().unwrap();
                let bos = case["bos"].as_bool().unwrap();
                let position = case["position"].as_u64().unwrap() as usize;
                let target = case["target_given"]
                    .as_bool()
                    .unwrap()
                    .then(|| case["target"].as_u64().unwrap() as u32);
                let what = format!("{name} {kernels:?} {text:?} bos {bos} at {position}");
                let got = attribute(&engine, text, bos, position, target).unwrap();
                let got_ids: Vec<u32> = got.tokens.iter().map(|t| t.id).collect();
                assert_eq!(got_ids, ids_of(&case["ids"]), "{what}");
                assert_eq!(
                    u64::from(got.target.id),
                    case["target"].as_u64().unwrap(),
                    "{what}"
                );
                assert_close(got.logit, &case["logit"], &what);
                assert_close(got.logprob, &case["logprob"], &what);
                assert_close(got.embeddings, &case["embeddings"], &what);
                assert_close(got.ln_bias, &case["ln_bias"], &what);
                for (l, heads) in got.heads.iter().enumerate() {
                    for (h, &g) in heads.iter().enumerate() {
                        assert_close(g, &case["heads"][l][h], &format!("{what} head {l}.{h}"));
                    }
                    assert_close(
                        got.attention_bias[l],
                        &case["attention_bias"][l],
                        &format!("{what} bias {l}"),
                    );
                    assert_close(got.mlp[l], &case["mlp"][l], &format!("{what} mlp {l}"));
                }
                assert!(
                    (got.total() - got.logit).abs() < 1e-4,
                    "{what}: the parts add up to {}, the logit is {}",
                    got.total(),
                    got.logit
                );
            }
        }
    }
}

fn odd_model() -> String {
    fixtures().join("tiny-gpt2-odd").display().to_string()
}

fn json_of(output: &std::process::Output) -> Value {
    assert_success(output);
    serde_json::from_slice(&output.stdout).unwrap()
}

fn assert_numbers_close(got: &Value, want: &Value, what: &str) {
    match (got, want) {
        (Value::Array(g), Value::Array(w)) => {
            assert_eq!(g.len(), w.len(), "{what}");
            for (i, (g, w)) in g.iter().zip(w).enumerate() {
                assert_numbers_close(g, w, &format!("{what}[{i}]"));
            }
        }
        (Value::Null, Value::Null) => {}
        (g, w) => {
            let (g, w) = (g.as_f64().unwrap(), w.as_f64().unwrap());
            assert!((g - w).abs() < 1e-4, "{what}: {g} vs {w}");
        }
    }
}

#[test]
fn the_ablate_command_mean_ablates_as_transformers_does() {
    let reference = reference();
    let model = odd_model();
    let case = &reference["models"]["tiny-gpt2-odd"]["ablate"][1];
    let heads: Vec<String> = case["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lh| format!("{}.{}", lh[0], lh[1]))
        .collect();
    let run = |format: &str| {
        run_cli(
            &[
                "ablate",
                "--model",
                &model,
                "--text",
                case["text"].as_str().unwrap(),
                "--bos",
                "--heads",
                &heads.join(","),
                "--replace-with",
                "mean",
                "--format",
                format,
            ],
            &[],
        )
    };
    let out = json_of(&run("json"));
    assert_eq!(out["replacement"], "mean");
    let want = &case["mean"];
    for key in ["ablated_logprob", "delta_logprob"] {
        assert_numbers_close(&out[key], &want[key], key);
    }
    let (g, w) = (
        out["ablated_perplexity"].as_f64().unwrap(),
        want["ablated_perplexity"].as_f64().unwrap(),
    );
    assert!(rel(g, w) < 1e-5, "{g} vs {w}");
    // Not zero ablation's numbers: the two differ in the reference, and the command follows the means.
    let zero = case["ablated_perplexity"].as_f64().unwrap();
    assert!(rel(zero, w) > 1e-4, "zero {zero}, mean {w}");
    let table = run("table");
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.starts_with(&format!(
            "heads {} mean-ablated (their values set to their means over the positions read): perplexity",
            heads.join(",")
        )),
        "{table}"
    );
    // CSV says it on every row, as the last column, with the mean-ablated log-probabilities.
    let csv = run("csv");
    assert_success(&csv);
    let csv = String::from_utf8(csv.stdout).unwrap();
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some("position,id,token,baseline_logprob,ablated_logprob,delta_logprob,replacement")
    );
    let rows: Vec<&str> = rows.collect();
    assert_eq!(
        rows.len(),
        want["ablated_logprob"].as_array().unwrap().len()
    );
    for (row, want) in rows.iter().zip(want["ablated_logprob"].as_array().unwrap()) {
        // A token's text may hold commas (quoted), so the numbers are read from the end.
        let fields: Vec<&str> = row.rsplitn(5, ',').collect();
        assert_eq!(fields[0], "mean", "{row}");
        match want.as_f64() {
            Some(w) => assert!(rel(fields[2].parse().unwrap(), w) < 1e-5, "{row} vs {w}"),
            None => assert_eq!(fields[2], "", "{row}"),
        }
    }
    // An unknown replacement is refused by name.
    let bad = run_cli(
        &[
            "ablate",
            "--model",
            &model,
            "--text",
            "a",
            "--heads",
            "0.0",
            "--replace-with",
            "average",
        ],
        &[],
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("possible values: zero, mean"));
}

#[test]
fn the_ablate_command_prints_what_transformers_computes() {
    let reference = reference();
    let model = odd_model();
    // Heads in two layers, with BOS: the second case of the first text.
    let case = &reference["models"]["tiny-gpt2-odd"]["ablate"][1];
    assert_eq!(case["bos"], Value::Bool(true));
    let heads: Vec<String> = case["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lh| format!("{}.{}", lh[0], lh[1]))
        .collect();
    let out = json_of(&run_cli(
        &[
            "ablate",
            "--model",
            &model,
            "--text",
            case["text"].as_str().unwrap(),
            "--bos",
            "--heads",
            &heads.join(","),
            "--format",
            "json",
        ],
        &[],
    ));
    let ids: Vec<Value> = out["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(Value::Array(ids), case["ids"]);
    assert!(out["tokens"][1]["text"].is_string());
    assert_eq!(out["heads"], case["heads"]);
    for key in ["baseline_logprob", "ablated_logprob", "delta_logprob"] {
        assert_eq!(out[key][0], Value::Null, "position 0 is never scored");
        assert_numbers_close(&out[key], &case[key], key);
    }
    for key in ["baseline_perplexity", "ablated_perplexity"] {
        let (g, w) = (out[key].as_f64().unwrap(), case[key].as_f64().unwrap());
        assert!(rel(g, w) < 1e-5, "{key}: {g} vs {w}");
    }

    // The sweep over every head, with BOS.
    let case = &reference["models"]["tiny-gpt2-odd"]["sweep"][0];
    let out = json_of(&run_cli(
        &[
            "ablate",
            "--model",
            &model,
            "--text",
            case["text"].as_str().unwrap(),
            "--bos",
            "--all-heads",
            "--format",
            "json",
        ],
        &[],
    ));
    assert_eq!(
        out["tokens"].as_array().unwrap().len(),
        case["ids"].as_array().unwrap().len()
    );
    let (g, w) = (
        out["baseline_perplexity"].as_f64().unwrap(),
        case["baseline_perplexity"].as_f64().unwrap(),
    );
    assert!(rel(g, w) < 1e-5);
    let sweep = out["sweep"].as_array().unwrap();
    assert_eq!(sweep.len(), 2);
    for (l, layer) in sweep.iter().enumerate() {
        assert_eq!(layer.as_array().unwrap().len(), 5);
        for (h, cell) in layer.as_array().unwrap().iter().enumerate() {
            let want = &case["sweep"][l][h];
            assert_numbers_close(&cell["delta_logprob"], &want["delta_logprob"], "delta");
            let (g, w) = (
                cell["ablated_perplexity"].as_f64().unwrap(),
                want["ablated_perplexity"].as_f64().unwrap(),
            );
            assert!(rel(g, w) < 1e-5, "{l}.{h}: {g} vs {w}");
        }
    }

    // CSV: a header and one row per head and position.
    let csv = run_cli(
        &[
            "ablate",
            "--model",
            &model,
            "--text",
            case["text"].as_str().unwrap(),
            "--bos",
            "--all-heads",
            "--format",
            "csv",
        ],
        &[],
    );
    assert_success(&csv);
    let csv = String::from_utf8(csv.stdout).unwrap();
    let n = case["ids"].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), 1 + 2 * 5 * n);
    assert!(csv.starts_with(
        "layer,head,ablated_perplexity,position,id,token,delta_logprob,replacement\n"
    ));
    assert!(csv.lines().skip(1).all(|row| row.ends_with(",zero")));
}

#[test]
fn the_attribute_command_prints_what_numpy_computes() {
    let reference = reference();
    let model = odd_model();
    let cases = reference["models"]["tiny-gpt2-odd"]["attribute"]
        .as_array()
        .unwrap();
    // Without BOS, a target given; and with BOS at the last position (the top prediction is the target).
    let given = cases
        .iter()
        .find(|c| c["target_given"] == Value::Bool(true) && c["bos"] == Value::Bool(false))
        .unwrap();
    let last = cases
        .iter()
        .find(|c| {
            c["bos"] == Value::Bool(true)
                && c["position"].as_u64().unwrap() + 1 == c["ids"].as_array().unwrap().len() as u64
        })
        .unwrap();
    for case in [given, last] {
        let position = case["position"].to_string();
        let target = case["target"].to_string();
        let mut args = vec![
            "attribute",
            "--model",
            &model,
            "--text",
            case["text"].as_str().unwrap(),
            "--position",
            &position,
            "--format",
            "json",
        ];
        args.push(if case["bos"] == Value::Bool(true) {
            "--bos"
        } else {
            "--no-bos"
        });
        if case["target_given"] == Value::Bool(true) {
            args.extend(["--target", &target]);
        }
        let out = json_of(&run_cli(&args, &[]));
        assert_eq!(out["position"], case["position"]);
        assert_eq!(out["target"]["id"], case["target"]);
        assert!(out["target"]["text"].is_string());
        for key in [
            "logit",
            "embeddings",
            "heads",
            "attention_bias",
            "mlp",
            "ln_bias",
        ] {
            assert_numbers_close(&out[key], &case[key], key);
        }
        let sum = ["embeddings", "ln_bias"]
            .iter()
            .map(|k| out[*k].as_f64().unwrap())
            .chain(out["heads"].as_array().unwrap().iter().flat_map(|l| {
                l.as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect::<Vec<_>>()
            }))
            .chain(["attention_bias", "mlp"].iter().flat_map(|k| {
                out[*k]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect::<Vec<_>>()
            }))
            .sum::<f64>();
        assert!((sum - out["logit"].as_f64().unwrap()).abs() < 1e-4);
    }
}

#[test]
fn heads_positions_and_targets_out_of_range_are_clear_errors() {
    let model = odd_model();
    let text = "Attention is a Markov chain.";
    let base = ["--model", model.as_str(), "--text", text];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = extra[..1]
            .iter()
            .chain(&base)
            .chain(&extra[1..])
            .copied()
            .collect();
        run_cli(&args, &[])
    };
    assert_clean_failure(
        &run(&["ablate", "--heads", "2.0"]),
        "layer 2 does not exist: this model has layers 0–1",
    );
    assert_clean_failure(
        &run(&["ablate", "--heads", "0.1,1.5"]),
        "head 5 does not exist: this model has heads 0–4",
    );
    let tokens = run(&["ablate", "--heads", "0.0", "--format", "json"]);
    let n = json_of(&tokens)["tokens"].as_array().unwrap().len();
    assert_clean_failure(
        &run(&["attribute", "--position", &n.to_string()]),
        &format!(
            "position {n} is past the text: its positions are 0–{}",
            n - 1
        ),
    );
    assert_clean_failure(
        &run(&["attribute", "--position", "0", "--target", "4096"]),
        "token id 4096 is outside the vocabulary: ids run 0–4095",
    );
    let one_token = run_cli(
        &["ablate", "--model", &model, "--text", "a", "--heads", "0.0"],
        &[],
    );
    assert_clean_failure(&one_token, "no token is predicted");
    // Neither --heads nor --all-heads, and a head that is not layer.head: clap's usage errors.
    for bad in [&["ablate"][..], &["ablate", "--heads", "3"]] {
        let out = run(bad);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.contains("--heads") || stderr.contains("layer.head"),
            "{stderr}"
        );
    }
}

#[test]
fn predict_numbers_the_token_as_the_window_does() {
    // `--predict P` takes apart the prediction of the token at P, which is `--position P−1`.
    let model = crate::util::hub_model();
    let model = model.to_str().unwrap();
    let run = |how: &[&str]| {
        let mut args = vec![
            "attribute",
            "--model",
            model,
            "--text",
            "I love tennis.",
            "--bos",
            "--format",
            "json",
        ];
        args.extend_from_slice(how);
        let out = crate::util::run_cli(&args, &[]);
        crate::util::assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    assert_eq!(run(&["--predict", "3"]), run(&["--position", "2"]));
    assert_eq!(run(&["--predict", "3"])["position"], 2);
    let none = crate::util::run_cli(
        &[
            "attribute",
            "--model",
            model,
            "--text",
            "I love tennis.",
            "--predict",
            "0",
        ],
        &[],
    );
    crate::util::assert_clean_failure(&none, "--predict 1 or later");
}
