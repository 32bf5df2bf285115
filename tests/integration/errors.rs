//! Bad input: a clear message, exit code 1, never a panic.

use std::path::Path;

use crate::util::{
    assert_clean_failure, assert_success, copy_model, hub_model, prefixed_model, rewrite_weights,
    run_cli,
};

fn analyze(model: &Path, text: &str) -> std::process::Output {
    run_cli(
        &[
            "analyze",
            "--model",
            model.to_str().unwrap(),
            "--text",
            text,
        ],
        &[],
    )
}

#[test]
fn empty_text() {
    assert_clean_failure(&analyze(&hub_model(), ""), "empty");
}

#[test]
fn text_longer_than_the_context() {
    // The fixture reads 64 positions; 100 words are 100 tokens.
    let text = "word ".repeat(100);
    let stderr = assert_clean_failure(
        &analyze(&hub_model(), &text),
        "but the model reads at most 64",
    );
    assert!(stderr.contains("attngraph perplexity"), "{stderr}");
}

#[test]
fn folder_without_weights() {
    let dir = copy_model();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    assert_clean_failure(&analyze(dir.path(), "hi"), "has no model.safetensors");
}

#[test]
fn pickle_only_folder_is_refused_with_a_way_out() {
    let dir = copy_model();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    std::fs::write(dir.path().join("pytorch_model.bin"), b"not read").unwrap();
    assert_clean_failure(&analyze(dir.path(), "hi"), "safe_serialization=True");
}

#[test]
fn truncated_safetensors() {
    let dir = copy_model();
    let path = dir.path().join("model.safetensors");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "is not a valid safetensors file",
    );
}

#[test]
fn garbage_and_empty_safetensors() {
    let dir = copy_model();
    let path = dir.path().join("model.safetensors");
    std::fs::write(&path, b"\xff\xff\xff\xff\xff\xff\xff\x7fgarbage").unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "is not a valid safetensors file",
    );
    std::fs::write(&path, b"").unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "is not a valid safetensors file",
    );
}

#[test]
fn config_that_disagrees_with_the_weights() {
    let dir = copy_model();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"n_layer\": 3", "\"n_layer\": 4")).unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "has no tensor `h.3.ln_1.weight`",
    );
    std::fs::write(&path, text.replace("\"n_embd\": 16", "\"n_embd\": 32")).unwrap();
    assert_clean_failure(&analyze(dir.path(), "hi"), "belong to different models");
}

#[test]
fn absurd_config() {
    let dir = copy_model();
    let path = dir.path().join("config.json");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"n_head\": 4", "\"n_head\": 3")).unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "n_head = 3 does not divide n_embd = 16",
    );
    std::fs::write(&path, "{ not json").unwrap();
    let stderr = assert_clean_failure(&analyze(dir.path(), "hi"), "is not a model's config.json");
    // The parser's words once, not once in the message and again as its cause.
    let parser = "key must be a string at line 1 column 3";
    assert_eq!(stderr.matches(parser).count(), 1, "{stderr}");
}

#[test]
fn options_that_would_change_nothing_or_give_a_plausible_nothing_are_refused() {
    let model = hub_model();
    let m = model.to_str().unwrap();
    let text = ["--text", "I love tennis. I love tennis."];
    let markov = |extra: &[&str]| {
        let mut args = vec!["markov", "--model", m];
        args.extend(text);
        args.extend(extra);
        run_cli(&args, &[])
    };
    // Pruning thins what a picture draws; the statistics read the whole matrix.
    for flag in [
        &["--drop-first"][..],
        &["--top-k", "1"],
        &["--threshold", "0.5"],
        &["--mass", "0.5"],
    ] {
        let mut args = vec!["--layer", "0", "--head", "0"];
        args.extend(flag);
        assert_clean_failure(
            &markov(&args),
            "the Markov statistics read the whole matrix",
        );
    }
    // A layer beside an aggregate of every layer; a layer's aggregate names the layer alone.
    assert_clean_failure(
        &markov(&["--aggregate", "rollout", "--layer", "1"]),
        "--layer 1 has no effect with --aggregate rollout",
    );
    let stderr = assert_clean_failure(
        &markov(&["--aggregate", "layer-mean", "--layer", "99"]),
        "layer 99 does not exist",
    );
    assert!(!stderr.contains("head"), "{stderr}");
    // Any number of steps answers at once (repeated squaring), and every walk has reached token 0, to rounding:
    // the rows sum to 1 only within f32's precision, which moves the share that ends on token 0 by about 10⁻⁷.
    let out = markov(&[
        "--layer",
        "0",
        "--head",
        "0",
        "--steps",
        "1000000000",
        "--format",
        "json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for row in report["k_step"].as_array().unwrap() {
        let to_zero = row[0].as_f64().unwrap();
        assert!((to_zero - 1.0).abs() < 1e-5, "{row}");
    }
    // The induction probe's length: 2 to (context − 1) / 2, said rather than clamped.
    for len in ["0", "1", "100000"] {
        assert_clean_failure(
            &run_cli(&["heads", "--model", m, "--probe-len", len], &[]),
            &format!("--probe-len {len}: give 2 to"),
        );
    }
    // --probe-len beside --text (which it would not change); attribute with no prediction named.
    // (Refused by the argument parser, which exits with 2.)
    let usage = |args: &[&str], words: &[&str]| {
        let out = run_cli(args, &[]);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(words.iter().all(|w| stderr.contains(w)), "{stderr}");
    };
    usage(
        &["heads", "--model", m, "--text", "hi", "--probe-len", "5"],
        &["cannot be used with", "--probe-len"],
    );
    usage(
        &["attribute", "--model", m, "--text", "I love tennis."],
        &["--position", "--predict"],
    );
    // /dev/stdout as the output, when stdout is a pipe (as here): the graph comes through it.
    let out = run_cli(
        &[
            "export",
            "--model",
            m,
            "--text",
            "I love tennis.",
            "--layer",
            "0",
            "--head",
            "0",
            "--format",
            "svg",
            "-o",
            "/dev/stdout",
        ],
        &[],
    );
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("<svg"));
    // An empty model id.
    assert_clean_failure(
        &run_cli(&["analyze", "--model", "", "--text", "hi"], &[]),
        "names no model",
    );
}

#[test]
fn missing_folder() {
    assert_clean_failure(
        &analyze(Path::new("./no/such/model"), "hi"),
        "does not exist",
    );
}

#[test]
fn prefixed_fixture_loads_as_well() {
    let output = analyze(&prefixed_model(), "hi there");
    assert_success(&output);
}

#[test]
fn a_huge_declared_header_is_refused_without_allocating_it() {
    let dir = copy_model();
    let path = dir.path().join("model.safetensors");
    // The first 8 bytes declare the header length: here 2^40 bytes (1 TiB) for a file of 12 bytes.
    let mut bytes = (1u64 << 40).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}  ");
    std::fs::write(&path, bytes).unwrap();
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "is not a valid safetensors file",
    );
}

#[test]
fn integer_weights_are_refused() {
    let dir = copy_model();
    let path = dir.path().join("model.safetensors");
    // A well-formed file whose wte is I32: the header is honest, the dtype is not a float.
    rewrite_weights(&path, |name, view| {
        let dtype = if name == "wte.weight" {
            safetensors::Dtype::I32
        } else {
            view.dtype()
        };
        (dtype, view.data().to_vec())
    });
    assert_clean_failure(
        &analyze(dir.path(), "hi"),
        "has dtype I32; weights must be F32, F16 or BF16",
    );
}

#[test]
fn the_hf_token_is_never_printed() {
    let secret = "hf_attngraphTestSecretToken123";
    let dir = tempfile::tempdir().unwrap();
    // Offline with an empty cache fails; online against a closed port fails: neither message shows the token.
    for offline in ["1", "0"] {
        let out = run_cli(
            &["analyze", "--text", "hi"],
            &[
                ("HF_TOKEN", Path::new(secret)),
                ("HF_HUB_CACHE", dir.path()),
                ("HF_HUB_OFFLINE", Path::new(offline)),
                ("HF_ENDPOINT", Path::new("http://127.0.0.1:9")),
            ],
        );
        assert!(!out.status.success());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!all.contains(secret), "token leaked: {all}");
    }
}

#[test]
fn without_home_the_hub_cache_is_refused_not_made_in_the_working_folder() {
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_attngraph"))
        .args([
            "analyze",
            "--model",
            "openai-community/gpt2",
            "--text",
            "I love tennis.",
        ])
        .current_dir(dir.path())
        .env_clear()
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    let stderr = crate::util::assert_clean_failure(&output, "no folder for the Hub cache");
    assert!(stderr.contains("HF_HUB_CACHE"), "{stderr}");
    assert!(
        !dir.path().join(".cache").exists(),
        "a .cache folder was made in the working folder"
    );
}
