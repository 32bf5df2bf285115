//! The default Hub path without a network: a Hugging Face cache layout (blobs, snapshots, refs) holding the
//! fixture, found through HF_HUB_CACHE or HF_HOME, loaded as openai-community/gpt2 offline.

use std::path::Path;

use serde_json::Value;

use crate::util::{assert_clean_failure, assert_success, hub_model, reference, run_cli};

const REVISION: &str = "607a30d783dfa663caf39e06633721c8d4cfcd7e";

/// Writes `hub/models--openai-community--gpt2/{blobs,snapshots/<rev>,refs/main}` as huggingface_hub does:
/// snapshot entries are symlinks to content-named blobs.
fn make_cache(hub: &Path, files: &[&str]) {
    let repo = hub.join("models--openai-community--gpt2");
    let snapshot = repo.join("snapshots").join(REVISION);
    std::fs::create_dir_all(repo.join("blobs")).unwrap();
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs").join("main"), REVISION).unwrap();
    for (idx, file) in files.iter().enumerate() {
        let blob = repo.join("blobs").join(format!("blob{idx:040}"));
        std::fs::copy(hub_model().join(file), &blob).unwrap();
        std::os::unix::fs::symlink(
            Path::new("../../blobs").join(blob.file_name().unwrap()),
            snapshot.join(file),
        )
        .unwrap();
    }
}

const ALL: [&str; 4] = [
    "config.json",
    "model.safetensors",
    "vocab.json",
    "merges.txt",
];

fn ids_of(stdout: &[u8]) -> Vec<Value> {
    let out: Value = serde_json::from_slice(stdout).unwrap();
    out["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect()
}

#[test]
fn default_model_loads_offline_from_hf_hub_cache() {
    let dir = tempfile::tempdir().unwrap();
    make_cache(dir.path(), &ALL);
    let output = run_cli(
        &[
            "analyze",
            "--offline",
            "--text",
            "I love tennis.",
            "--format",
            "json",
        ],
        &[("HF_HUB_CACHE", dir.path())],
    );
    assert_success(&output);
    let want = reference()["cases"][0]["ids"].as_array().unwrap().clone();
    assert_eq!(ids_of(&output.stdout), want);
    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["model_name"], "openai-community/gpt2");
}

#[test]
fn hf_home_locates_the_cache_and_short_ids_resolve() {
    let dir = tempfile::tempdir().unwrap();
    make_cache(&dir.path().join("hub"), &ALL);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_attngraph"));
    cmd.args([
        "analyze",
        "--model",
        "gpt2",
        "--text",
        "I love tennis.",
        "--format",
        "json",
    ])
    .env_remove("HF_HUB_CACHE")
    .env("HF_HUB_OFFLINE", "1")
    .env("HF_HOME", dir.path());
    let output = cmd.output().unwrap();
    assert_success(&output);
    assert_eq!(ids_of(&output.stdout).len(), 4);
}

#[test]
fn offline_cache_without_weights_names_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    make_cache(dir.path(), &["config.json", "vocab.json", "merges.txt"]);
    let output = run_cli(
        &["analyze", "--text", "hi"],
        &[("HF_HUB_CACHE", dir.path())],
    );
    let stderr = assert_clean_failure(&output, "missing model.safetensors");
    assert!(stderr.contains("openai-community/gpt2"), "{stderr}");
}

#[test]
fn unknown_hub_id_offline_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = run_cli(
        &["analyze", "--model", "nobody/no-such-model", "--text", "hi"],
        &[("HF_HUB_CACHE", dir.path())],
    );
    assert_clean_failure(
        &output,
        "nobody/no-such-model is not fully in the Hugging Face cache",
    );
}

#[test]
fn huggingface_hub_cache_and_a_commit_hash_without_refs_work_offline() {
    // A cache as Python fills it when asked for a commit: snapshots/<hash>/ but no refs/<hash>.
    let dir = tempfile::tempdir().unwrap();
    make_cache(dir.path(), &ALL);
    let run = |model: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_attngraph"))
            .args([
                "analyze",
                "--model",
                model,
                "--text",
                "I love tennis.",
                "--format",
                "json",
            ])
            .env_remove("HF_HUB_CACHE")
            .env_remove("HF_HOME")
            .env("HF_HUB_OFFLINE", "1")
            .env("HUGGINGFACE_HUB_CACHE", dir.path())
            .output()
            .unwrap()
    };
    assert_success(&run("openai-community/gpt2"));
    let pinned = run(&format!("openai-community/gpt2@{REVISION}"));
    assert_success(&pinned);
    // A hash the cache does not hold is named as missing.
    let other = run("openai-community/gpt2@0000000000000000000000000000000000000000");
    assert_clean_failure(&other, "config.json");
}
