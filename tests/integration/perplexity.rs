//! Sliding-window perplexity against Hugging Face's guide loop run by tools/make_reference.py
//! (tests/fixtures/perplexity_reference.json): every aggregation and every window within 1e-5 relative.

use attngraph::model::perplexity::WindowOptions;
use serde_json::Value;

use crate::util::{
    assert_clean_failure, assert_success, engine, fixtures, hub_model, rel, run_cli,
};

fn reference() -> Value {
    crate::util::fixture_json("perplexity_reference.json")
}

fn text_of(name: &str) -> String {
    match name {
        "long" => std::fs::read_to_string(fixtures().join("perplexity_text.txt")).unwrap(),
        _ => "I love tennis. It is a fine game.".to_string(),
    }
}

#[test]
fn every_case_matches_the_guide() {
    let engine = engine(&hub_model());
    let cases = reference()["cases"].as_array().unwrap().clone();
    assert!(cases.len() >= 20);
    // Every case one window at a time and three windows per forward pass: batching must not change a number.
    for (case, batch) in cases.iter().flat_map(|c| [(c, 1), (c, 3)]) {
        let (ids, _) = engine
            .tokenize(&text_of(case["text"].as_str().unwrap()), false)
            .unwrap();
        let options = WindowOptions {
            max_length: case["max_length"].as_u64().unwrap() as usize,
            stride: case["stride"].as_u64().unwrap() as usize,
            bos: case["bos"].as_bool().unwrap(),
            batch,
        };
        let report =
            attngraph::model::perplexity::sliding_window(&engine, &ids, options, &mut |_, _| {})
                .unwrap();
        let what = format!("{} {options:?}", case["text"]);
        assert_eq!(
            report.tokens as u64,
            case["tokens"].as_u64().unwrap(),
            "{what}"
        );
        assert_eq!(
            report.predicted_tokens as u64,
            case["predicted_tokens"].as_u64().unwrap(),
            "{what}"
        );
        for (key, ours) in [
            ("token", report.ppl.token),
            ("window_mean", report.ppl.window_mean),
            ("hf_legacy", report.ppl.hf_legacy),
        ] {
            let want = case["ppl"][key].as_f64().unwrap();
            assert!(rel(ours, want) <= 1e-5, "{what} {key}: {ours} vs {want}");
        }
        let windows = case["windows"].as_array().unwrap();
        assert_eq!(report.windows.len(), windows.len(), "{what}");
        for (ours, want) in report.windows.iter().zip(windows) {
            assert_eq!(
                (ours.begin as u64, ours.end as u64),
                (
                    want["begin"].as_u64().unwrap(),
                    want["end"].as_u64().unwrap()
                )
            );
            assert_eq!(
                ours.n_scored as u64,
                want["n_scored"].as_u64().unwrap(),
                "{what}"
            );
            assert!(
                rel(ours.mean_nll, want["mean_nll"].as_f64().unwrap()) <= 1e-5,
                "{what}: window {}",
                ours.begin
            );
        }
    }
}

#[test]
fn cli_json_and_per_window_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("w.csv");
    let model = hub_model();
    let text = fixtures().join("perplexity_text.txt");
    let out = run_cli(
        &[
            "perplexity",
            "--model",
            model.to_str().unwrap(),
            "--stride",
            "7",
            "--format",
            "json",
            "--per-window",
            csv.to_str().unwrap(),
            text.to_str().unwrap(),
        ],
        &[],
    );
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let want = reference()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["text"] == "long" && c["max_length"] == 64 && c["stride"] == 7 && c["bos"] == false
        })
        .unwrap()
        .clone();
    assert!(
        rel(
            v["ppl"]["token"].as_f64().unwrap(),
            want["ppl"]["token"].as_f64().unwrap()
        ) <= 1e-5
    );
    assert_eq!(
        v["windows"].as_array().unwrap().len(),
        want["windows"].as_array().unwrap().len()
    );
    let rows = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(
        rows.lines().count(),
        1 + want["windows"].as_array().unwrap().len()
    );
}

#[test]
fn bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let model = hub_model();
    let m = model.to_str().unwrap();
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, b"good text then \xff\xfe bad").unwrap();
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, bad.to_str().unwrap()], &[]),
        "invalid byte at offset 15",
    );
    let one = dir.path().join("one.txt");
    std::fs::write(&one, "a").unwrap();
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, one.to_str().unwrap()], &[]),
        "needs at least 2",
    );
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "").unwrap();
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, empty.to_str().unwrap()], &[]),
        "empty.txt is empty",
    );
    let text = fixtures().join("perplexity_text.txt");
    let t = text.to_str().unwrap();
    // An empty file beside a text is refused too: joined, it would add a blank line to be scored.
    assert_clean_failure(
        &run_cli(
            &["perplexity", "--model", m, t, empty.to_str().unwrap()],
            &[],
        ),
        "empty.txt is empty",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "-", "-"], &[]),
        "stdin can be read once",
    );
    // The per-window CSV over the text it scores: refused, and the text stays.
    let page = dir.path().join("page.txt");
    std::fs::copy(&text, &page).unwrap();
    let p = page.to_str().unwrap();
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, p, "--per-window", p], &[]),
        "read its text from",
    );
    assert_eq!(std::fs::read(&page).unwrap(), std::fs::read(&text).unwrap());
    // Said before the model is loaded (this one does not exist), not after every window is scored.
    assert_clean_failure(
        &run_cli(
            &[
                "perplexity",
                "--model",
                "/no/such/model",
                p,
                "--per-window",
                p,
            ],
            &[],
        ),
        "read its text from",
    );
    // A window of one token predicts nothing: refused, not a perfect perplexity of 1.
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "--max-length", "1", t], &[]),
        "--max-length; the Perplexity tab's \"window\") of 1 token: give 2",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "--stride", "0", t], &[]),
        "--stride; the Perplexity tab's \"stride\") of 0 tokens: give 1",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "--stride", "65", t], &[]),
        "of 65 tokens: give 1 to the window's 64",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "--max-length", "65", t], &[]),
        "of 65 tokens: give 2 (one token read, one predicted) to the model's context, 64",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "/no/such/file.txt"], &[]),
        "cannot read /no/such/file.txt",
    );
    assert_clean_failure(
        &run_cli(&["perplexity", "--model", m, "--batch", "0", t], &[]),
        "--batch 0",
    );
}

#[test]
fn batching_windows_changes_no_number() {
    let model = hub_model();
    let text = fixtures().join("perplexity_text.txt");
    let run = |batch: &str| {
        let out = run_cli(
            &[
                "perplexity",
                "--model",
                model.to_str().unwrap(),
                "--stride",
                "16",
                "--batch",
                batch,
                "--format",
                "json",
                "--quiet",
                text.to_str().unwrap(),
            ],
            &[],
        );
        assert_success(&out);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let one = run("1");
    let four = run("4");
    assert!(one["windows"].as_array().unwrap().len() > 4);
    assert_eq!(one["predicted_tokens"], four["predicted_tokens"]);
    for (a, b) in one["windows"]
        .as_array()
        .unwrap()
        .iter()
        .zip(four["windows"].as_array().unwrap())
    {
        let (a, b) = (
            a["mean_nll"].as_f64().unwrap(),
            b["mean_nll"].as_f64().unwrap(),
        );
        assert!(rel(a, b) <= 1e-6, "{a} vs {b}");
    }
}

#[test]
fn every_scored_token_matches_the_guide_loop_split_per_token() {
    // tools/make_perplexity_tokens_reference.py: the guide's loop with each window's loss split per token, and
    // the bytes of the scored tokens.
    let per_token = crate::util::fixture_json("perplexity_tokens_reference.json");
    let text = text_of("long");
    let dir = tempfile::tempdir().unwrap();
    let model = hub_model();
    let cases = per_token["cases"].as_array().unwrap();
    // Some cases leave each window's first token unscored: the stride is the window.
    assert!(cases.iter().any(|c| c["stride"] == c["max_length"]));
    for case in cases {
        let (max_length, stride) = (
            case["max_length"].as_u64().unwrap(),
            case["stride"].as_u64().unwrap(),
        );
        let bos = case["bos"].as_bool().unwrap();
        let csv = dir.path().join(format!("{max_length}-{stride}-{bos}.csv"));
        let run = |format: &str, extra: &[&str]| {
            let (max_length, stride) = (max_length.to_string(), stride.to_string());
            let file = fixtures().join("perplexity_text.txt");
            let mut args = vec![
                "perplexity",
                "--model",
                model.to_str().unwrap(),
                "--max-length",
                &max_length,
                "--stride",
                &stride,
                "--format",
                format,
                "--quiet",
                if bos { "--bos" } else { "--no-bos" },
            ];
            args.extend_from_slice(extra);
            args.push(file.to_str().unwrap());
            let out = run_cli(&args, &[]);
            assert_success(&out);
            String::from_utf8(out.stdout).unwrap()
        };
        let json: Value =
            serde_json::from_str(&run("json", &["--per-token", csv.to_str().unwrap()])).unwrap();
        let positions = case["positions"].as_array().unwrap();
        let nlls = case["nll"].as_array().unwrap();
        // Bits per byte over the scored tokens' bytes only.
        assert_eq!(
            json["scored_bytes"], case["scored_bytes"],
            "{max_length}/{stride} {bos}"
        );
        let bits: f64 =
            nlls.iter().map(|n| n.as_f64().unwrap()).sum::<f64>() / std::f64::consts::LN_2;
        let bytes = case["scored_bytes"].as_f64().unwrap();
        assert!(rel(json["bits_per_byte"].as_f64().unwrap(), bits / bytes) <= 1e-5);

        let rows = crate::util::csv_rows(&std::fs::read_to_string(&csv).unwrap());
        assert_eq!(rows[0], ["position", "token", "nll", "bits", "p", "window"]);
        let rows = &rows[1..];
        assert_eq!(rows.len(), positions.len(), "{case:?}");
        // The window that scores each position, from the guide's windows: those the stride starts, each
        // scoring what no window before it reached.
        let window_of = |position: u64| {
            let (mut begin, mut prev_end, mut w) = (0, 0, 0);
            loop {
                let end = (begin + max_length).min(json["tokens"].as_u64().unwrap());
                if position < end {
                    assert!(
                        position >= prev_end.max(begin + 1),
                        "position {position} scored by no window"
                    );
                    return w;
                }
                (begin, prev_end, w) = (begin + stride, end, w + 1);
            }
        };
        for ((row, want_position), want_nll) in rows.iter().zip(positions).zip(nlls) {
            let position: u64 = row[0].parse().unwrap();
            assert_eq!(position, want_position.as_u64().unwrap());
            let (nll, want) = (row[2].parse::<f64>().unwrap(), want_nll.as_f64().unwrap());
            assert!(
                (nll - want).abs() <= 1e-5 * want.abs().max(1.0),
                "position {position}: {nll} vs {want}"
            );
            assert!(rel(row[3].parse().unwrap(), want / std::f64::consts::LN_2) <= 1e-5);
            assert!(rel(row[4].parse().unwrap(), (-want).exp()) <= 1e-4);
            assert_eq!(
                row[5],
                window_of(position).to_string(),
                "position {position}"
            );
        }
        // Every token scored (stride below the window): the labels read as the text, less its first token
        // without BOS.
        if stride < max_length {
            let read = crate::util::read_labels(rows.iter().map(|r| r[1].as_str()));
            let visible = attngraph::model::tokenizer::visible_whitespace(&text);
            if bos {
                assert_eq!(read, visible);
            } else {
                assert!(
                    visible.ends_with(&read)
                        && read.len() < visible.len()
                        && read.len() + 8 > visible.len()
                );
            }
        }

        // The table's last line: the five highest losses of the reference, in order, by position.
        let table = run("table", &[]);
        let line = table
            .lines()
            .find(|l| l.starts_with("most surprising: "))
            .unwrap();
        let listed: Vec<u64> = line
            .split("(token ")
            .skip(1)
            .map(|part| part.split(')').next().unwrap().parse().unwrap())
            .collect();
        let mut by_loss: Vec<(u64, f64)> = positions
            .iter()
            .zip(nlls)
            .map(|(p, n)| (p.as_u64().unwrap(), n.as_f64().unwrap()))
            .collect();
        by_loss.sort_by(|a, b| b.1.total_cmp(&a.1));
        let want: Vec<u64> = by_loss.iter().take(5).map(|&(p, _)| p).collect();
        assert_eq!(listed, want, "{line}");
    }
}
