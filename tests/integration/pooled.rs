//! Heads knocked out over a file of texts (`ablate --all-heads --prompts`, `ablate --heads … --prompts`), against transformers with hooks
//! (tests/fixtures/pooled_sweep.json, written by tools/make_pooled_sweep_reference.py).

use attngraph::model::ablation::{self, PooledSweep, Replacement};
use attngraph::model::Kernels;
use serde_json::Value;

use crate::util::{
    assert_clean_failure, assert_success, engine_with, fixture_json, hub_model, prefixed_model,
    run_cli,
};

fn close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!(
        (got - want).abs() <= 1e-4 * want.abs().max(1.0),
        "{what}: {got} vs transformers {want}"
    );
}

fn texts(reference: &Value) -> Vec<&str> {
    reference["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

#[test]
fn a_pooled_ablation_equals_transformers_over_every_text() {
    let reference = fixture_json("pooled_sweep.json");
    let set = &reference["set"];
    let heads: attngraph::model::HeadSet = "0.0,1.1".parse().unwrap();
    let engine = engine_with(&hub_model(), Kernels::Auto);
    for (replacement, key) in [(Replacement::Zero, "zero"), (Replacement::Mean, "mean")] {
        let ablations: Vec<_> = texts(&reference)
            .iter()
            .map(|t| ablation::ablate(&engine, t, true, &heads, replacement).unwrap())
            .collect();
        let pooled = ablation::PooledAblation::of(&ablations).unwrap();
        assert_eq!((pooled.texts, pooled.replacement), (4, replacement));
        close(
            pooled.baseline_perplexity,
            &reference["baseline_perplexity"],
            "baseline",
        );
        close(
            pooled.ablated_perplexity,
            &set[key]["ablated_perplexity"],
            key,
        );
    }
    assert_eq!(ablation::PooledAblation::of(&[]), None);
}

#[test]
fn pooled_sweeps_equal_transformers_over_every_text() {
    let reference = fixture_json("pooled_sweep.json");
    for kernels in [Kernels::Auto, Kernels::Portable] {
        let engine = engine_with(&hub_model(), kernels);
        for (replacement, key) in [(Replacement::Zero, "zero"), (Replacement::Mean, "mean")] {
            let sweeps: Vec<_> = texts(&reference)
                .iter()
                .map(|t| ablation::sweep(&engine, t, true, replacement, &mut |_, _| true).unwrap())
                .collect();
            let pooled = PooledSweep::of(&sweeps).unwrap();
            assert_eq!(pooled.texts, 4);
            assert_eq!(
                pooled.scored_tokens as u64,
                reference["scored_tokens"].as_u64().unwrap()
            );
            assert_eq!(pooled.replacement, replacement);
            close(
                pooled.baseline_perplexity,
                &reference["baseline_perplexity"],
                "baseline",
            );
            let want = reference[key].as_array().unwrap();
            assert_eq!(pooled.sweep.len(), want.len());
            for (l, (heads, want)) in pooled.sweep.iter().zip(want).enumerate() {
                for (h, (cell, want)) in heads.iter().zip(want.as_array().unwrap()).enumerate() {
                    let what = format!("{key} {l}.{h} ({kernels:?})");
                    close(cell.ablated_perplexity, &want["ablated_perplexity"], &what);
                    close(cell.mean_delta_logprob, &want["mean_delta_logprob"], &what);
                }
            }
        }
    }
    assert_eq!(PooledSweep::of(&[]), None);
}

#[test]
fn the_ablate_command_sweeps_a_file_of_texts_as_transformers_does() {
    let reference = fixture_json("pooled_sweep.json");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("texts.txt");
    // Blank lines between the texts are skipped.
    std::fs::write(&file, texts(&reference).join("\n\n")).unwrap();
    let model = prefixed_model();
    let ablate = |extra: &[&str]| {
        let mut args = vec![
            "ablate",
            "--model",
            model.to_str().unwrap(),
            "--bos",
            "--prompts",
            file.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        run_cli(&args, &[])
    };
    let out = ablate(&["--all-heads", "--replace-with", "mean", "--format", "json"]);
    assert_success(&out);
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["replacement"], "mean");
    assert_eq!(got["texts"], 4);
    assert_eq!(got["scored_tokens"], reference["scored_tokens"]);
    for (l, heads) in got["sweep"].as_array().unwrap().iter().enumerate() {
        for (h, cell) in heads.as_array().unwrap().iter().enumerate() {
            let want = &reference["mean"][l][h];
            for key in ["ablated_perplexity", "mean_delta_logprob"] {
                close(
                    cell[key].as_f64().unwrap(),
                    &want[key],
                    &format!("{key} {l}.{h}"),
                );
            }
        }
    }
    // The table names the texts and the tokens scored; CSV has a row a head.
    let table = ablate(&["--all-heads"]);
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.starts_with(&format!(
            "every head alone knocked out (its values zeroed), over 4 texts of {} ({} tokens scored)",
            file.display(),
            reference["scored_tokens"]
        )),
        "{table}"
    );
    let csv = ablate(&["--all-heads", "--format", "csv"]);
    assert_success(&csv);
    let csv = String::from_utf8(csv.stdout).unwrap();
    let n = reference["zero"].as_array().unwrap().len()
        * reference["zero"][0].as_array().unwrap().len();
    assert_eq!(csv.lines().count(), 1 + n);
    assert!(csv.starts_with("layer,head,ablated_perplexity,mean_delta_logprob,replacement\n"));
    let first: Vec<&str> = csv.lines().nth(1).unwrap().split(',').collect();
    close(
        first[2].parse().unwrap(),
        &reference["zero"][0][0]["ablated_perplexity"],
        "csv",
    );
    assert_eq!(first[4], "zero");
    // A set of heads together over the file: pooled, and each text's perplexity by its line.
    let set = &reference["set"];
    for (key, extra) in [("zero", None), ("mean", Some("mean"))] {
        let mut args = vec!["--heads", "0.0,1.1", "--format", "json"];
        if let Some(r) = extra {
            args.extend(["--replace-with", r]);
        }
        let out = ablate(&args);
        assert_success(&out);
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(got["heads"], set["heads"]);
        assert_eq!(
            (&got["texts"], &got["replacement"]),
            (&Value::from(4), &Value::from(key))
        );
        assert_eq!(got["scored_tokens"], reference["scored_tokens"]);
        assert_eq!(got["per_text"].as_array().unwrap().len(), 4);
        close(
            got["baseline_perplexity"].as_f64().unwrap(),
            &reference["baseline_perplexity"],
            "set baseline",
        );
        close(
            got["ablated_perplexity"].as_f64().unwrap(),
            &set[key]["ablated_perplexity"],
            key,
        );
        for (i, text) in got["per_text"].as_array().unwrap().iter().enumerate() {
            // The texts stand on lines 1, 3, 5 and 7 (a blank line between each two).
            assert_eq!(text["line"], 2 * i + 1);
            close(
                text["baseline_perplexity"].as_f64().unwrap(),
                &set["per_text_baseline"][i],
                "text",
            );
            close(
                text["ablated_perplexity"].as_f64().unwrap(),
                &set[key]["per_text"][i],
                "text",
            );
        }
    }
    let table = ablate(&["--heads", "0.0,1.1"]);
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with(&format!(
        "heads 0.0,1.1 knocked out (their values zeroed) over 4 texts of {} ({} tokens scored): perplexity",
        file.display(),
        reference["scored_tokens"]
    )));
    // Its rows: the texts whose perplexity rises most without the heads first, as transformers' figures rank them.
    let rise = |i: usize| {
        set["zero"]["per_text"][i].as_f64().unwrap() / set["per_text_baseline"][i].as_f64().unwrap()
    };
    let mut want: Vec<usize> = (0..4).collect();
    want.sort_by(|&a, &b| rise(b).total_cmp(&rise(a)));
    let want: Vec<String> = want.iter().map(|i| (2 * i + 1).to_string()).collect();
    let got: Vec<String> = table
        .lines()
        .skip(3)
        .map(|row| row.split_whitespace().next().unwrap().to_string())
        .collect();
    assert_eq!(got, want, "{table}");
    // CSV: a row a text, by its line.
    let csv = ablate(&["--heads", "0.0,1.1", "--format", "csv"]);
    assert_success(&csv);
    let csv = String::from_utf8(csv.stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "line,baseline_perplexity,ablated_perplexity,replacement"
    );
    assert_eq!(rows.len(), 5);
    let second: Vec<&str> = rows[2].split(',').collect();
    assert_eq!((second[0], second[3]), ("3", "zero"));
    close(
        second[2].parse().unwrap(),
        &set["zero"]["per_text"][1],
        "csv",
    );
    // A head the model lacks is said of --heads, not of a line.
    let out = ablate(&["--heads", "9.0"]);
    let stderr = assert_clean_failure(&out, "layer 9");
    assert!(!stderr.contains("line 1"), "{stderr}");
    // A line too long, and a line of one token without BOS, are refused by their numbers with what to do.
    let without_bos = |text: String| {
        let path = dir.path().join("other.txt");
        std::fs::write(&path, text).unwrap();
        run_cli(
            &[
                "ablate",
                "--model",
                model.to_str().unwrap(),
                "--all-heads",
                "--prompts",
                path.to_str().unwrap(),
            ],
            &[],
        )
    };
    let long = format!("two words\n{}\n", "word ".repeat(100));
    assert_clean_failure(&without_bos(long), "line 2 is 101 tokens, and");
    // Without BOS a one-token line predicts nothing.
    assert_clean_failure(
        &without_bos("two words\nok\n".into()),
        "line 2: the text is one token",
    );
}
