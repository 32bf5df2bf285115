//! Shared helpers: fixture paths, the reference values written by tools/make_reference.py, running the CLI.

use std::path::{Path, PathBuf};
use std::process::Output;

use attngraph::model::{DeviceKind, Engine, HubOptions, Kernels, ModelSource};
use serde_json::Value;

/// tests/fixtures.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

/// The model saved by `save_pretrained` (keys with `transformer.`, tokenizer.json).
pub fn prefixed_model() -> PathBuf {
    fixtures().join("tiny-gpt2")
}

/// The same weights in the Hub's layout (no prefix, vocab.json + merges.txt).
pub fn hub_model() -> PathBuf {
    fixtures().join("tiny-gpt2-hub")
}

/// Loads an engine from a fixture folder on the CPU, with the fastest kernels the CPU has.
pub fn engine(folder: &Path) -> Engine {
    engine_with(folder, Kernels::Auto)
}

/// Loads an engine from a fixture folder on the CPU with the kernels chosen.
pub fn engine_with(folder: &Path, kernels: Kernels) -> Engine {
    engine_from(&ModelSource::Folder(folder.to_path_buf()), kernels)
}

/// Loads `source` on the CPU with the kernels chosen.
fn engine_from(source: &ModelSource, kernels: Kernels) -> Engine {
    Engine::load_with(
        source,
        &HubOptions::default(),
        &DeviceKind::Cpu.open().unwrap(),
        kernels,
    )
    .unwrap()
}

/// reference.json.
pub fn reference() -> Value {
    fixture_json("reference.json")
}

/// A JSON file of `tests/fixtures/`, a reference a committed script wrote.
pub fn fixture_json(name: &str) -> Value {
    let text = std::fs::read_to_string(fixtures().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Runs the attngraph binary with `args` and extra environment variables.
pub fn run_cli(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_attngraph"));
    cmd.args(args);
    // Never let a test reach the network or a developer's own cache.
    cmd.env("HF_HUB_OFFLINE", "1")
        .env("HF_HUB_CACHE", fixtures().join("no-such-cache"));
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().unwrap()
}

/// Asserts the command succeeded, showing its stderr if not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Asserts the command failed cleanly with a message containing `needle`, and returns stderr.
pub fn assert_clean_failure(output: &Output, needle: &str) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(
        !output.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(stderr.contains(needle), "stderr lacks {needle:?}: {stderr}");
    stderr
}

/// Maximum of |a − b| over two equally shaped nested JSON number arrays.
pub fn max_abs_diff(a: &Value, b: &Value) -> f64 {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "shapes differ");
            x.iter()
                .zip(y)
                .map(|(p, q)| max_abs_diff(p, q))
                .fold(0.0, f64::max)
        }
        (Value::Number(x), Value::Number(y)) => (x.as_f64().unwrap() - y.as_f64().unwrap()).abs(),
        _ => panic!("not numbers: {a} vs {b}"),
    }
}

/// Relative error |a − b| / |b|.
pub fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}

/// The reference case of `text` with or without BOS.
pub fn reference_case(text: &str, with_bos: bool) -> Value {
    reference()["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == text && c["with_bos"] == with_bos)
        .unwrap()
        .clone()
}

/// A copy of the hub-layout fixture in a temporary folder, for changing.
pub fn copy_model() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in [
        "config.json",
        "model.safetensors",
        "vocab.json",
        "merges.txt",
    ] {
        std::fs::copy(hub_model().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// Rewrites every tensor of the safetensors file at `path` as `change(name, tensor)` returns it: (dtype, bytes).
pub fn rewrite_weights(
    path: &Path,
    change: impl Fn(&str, &safetensors::tensor::TensorView) -> (safetensors::Dtype, Vec<u8>),
) {
    let original = std::fs::read(path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&original).unwrap();
    let owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| {
            let (dtype, bytes) = change(&name, &view);
            (name, dtype, view.shape().to_vec(), bytes)
        })
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    safetensors::serialize_to_file(views, None, path).unwrap();
}

/// A copy of the tiny fixture that reads 1,024 tokens, as GPT-2 does, written into `dir`: its 64 learned
/// positions are repeated to fill 1,024 rows (the numbers are not a reference; the layout of long texts is what
/// such a model is for).
pub fn long_context_model(dir: &Path) -> PathBuf {
    use safetensors::tensor::{SafeTensors, TensorView};
    const POSITIONS: usize = 1024;
    let source = prefixed_model();
    let bytes = std::fs::read(source.join("model.safetensors")).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let wpe = tensors.tensor("transformer.wpe.weight").unwrap();
    let row_bytes = wpe.data().len() / wpe.shape()[0];
    let tiled: Vec<u8> = wpe
        .data()
        .chunks(row_bytes)
        .cycle()
        .take(POSITIONS)
        .flatten()
        .copied()
        .collect();
    let mut views: Vec<(String, TensorView<'_>)> = tensors
        .tensors()
        .into_iter()
        .filter(|(name, _)| name != "transformer.wpe.weight")
        .collect();
    views.push((
        "transformer.wpe.weight".into(),
        TensorView::new(wpe.dtype(), vec![POSITIONS, wpe.shape()[1]], &tiled).unwrap(),
    ));
    let out = dir.join("long-context");
    std::fs::create_dir_all(&out).unwrap();
    safetensors::tensor::serialize_to_file(views, None, &out.join("model.safetensors")).unwrap();
    let mut config: Value =
        serde_json::from_str(&std::fs::read_to_string(source.join("config.json")).unwrap())
            .unwrap();
    config["n_positions"] = POSITIONS.into();
    std::fs::write(out.join("config.json"), config.to_string()).unwrap();
    std::fs::copy(source.join("tokenizer.json"), out.join("tokenizer.json")).unwrap();
    out
}

/// A fixture's array of token ids.
pub fn ids_of(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .expect("an array of ids")
        .iter()
        .map(|v| v.as_u64().expect("an id") as u32)
        .collect()
}

/// A fixture's heads, as [[layer, head], …].
pub fn heads_of(value: &Value) -> attngraph::model::HeadSet {
    value
        .as_array()
        .expect("an array of heads")
        .iter()
        .map(|lh| {
            let index = |i: usize| lh[i].as_u64().expect("a layer or head") as usize;
            (index(0), index(1))
        })
        .collect()
}

/// tests/fixtures/attribution_reference.json (tools/make_attribution_reference.py): transformers with hooks.
pub fn attribution_reference() -> Value {
    fixture_json("attribution_reference.json")
}

/// The ablation case of `model` in [`attribution_reference`] on "I love tennis." with BOS, head 2.1 knocked out.
pub fn tennis_without_2_1(reference: &Value, model: &str) -> Value {
    reference["models"][model]["ablate"]
        .as_array()
        .expect("ablation cases")
        .iter()
        .find(|c| {
            c["text"] == "I love tennis."
                && c["bos"] == true
                && c["heads"] == serde_json::json!([[2, 1]])
        })
        .expect("the case of head 2.1 on \"I love tennis.\" with BOS")
        .clone()
}

/// The two kernel paths a test compares: `Auto` (the packed kernel where the CPU has AVX-512F, or AVX2 and FMA)
/// and `Portable`. On a CPU without them, `Auto` is the portable path again, and `test` says so on the output.
pub fn kernel_paths(test: &str) -> [Kernels; 2] {
    if !attngraph::model::packed_kernel_supported() {
        crate::skip_report::report(
            test,
            "the packed kernel (both passes ran the portable path)",
            "this CPU has neither AVX-512F nor AVX2 with FMA",
        );
    }
    [Kernels::Auto, Kernels::Portable]
}

/// The model a reference file names, `demo` or a fixture folder, with the kernels chosen.
pub fn engine_named(name: &str, kernels: Kernels) -> Engine {
    engine_from(&ModelSource::parse(&model_arg(name)).unwrap(), kernels)
}

/// The `--model` argument for a reference file's model name: `demo`, or a fixture folder.
pub fn model_arg(name: &str) -> String {
    match name {
        "demo" => "demo".into(),
        other => fixtures().join(other).display().to_string(),
    }
}

/// Runs the CLI, asserts it succeeded, and parses its stdout as JSON.
pub fn cli_json(args: &[&str]) -> Value {
    let out = run_cli(args, &[]);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A JSON number.
pub fn num(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

/// A reference case's `--model`, `--text`, `--bos`/`--no-bos`, and a name for failure messages.
pub fn case_input(case: &Value) -> (String, String, &'static str, String) {
    let model = model_arg(case["model"].as_str().unwrap());
    let text = case["text"].as_str().unwrap().to_string();
    let bos = if case["bos"] == true {
        "--bos"
    } else {
        "--no-bos"
    };
    let what = format!("{} {text:?} {bos}", case["model"]);
    (model, text, bos, what)
}

/// The text the labels of a run of tokens read: whitespace made visible, and a character split over tokens
/// written once. A label holding part of a character shows it whole, marked `‹` where it began in an earlier
/// token and `›` where it ends in a later one; the character is kept on the token where it begins.
pub fn read_labels<'a>(labels: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = String::new();
    for label in labels {
        let mut chars = label.chars().peekable();
        if chars.peek() == Some(&'‹') {
            chars.next();
            chars.next();
        }
        out.extend(chars.filter(|&c| c != '›'));
    }
    out
}

/// The fields of a CSV written by the CLI: commas split, a quoted field may hold commas, newlines and `""`.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut field) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut chars) = (false, text.chars().peekable());
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}
