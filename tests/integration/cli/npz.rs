//! `analyze --npz`: the file holds what the JSON holds, and what cannot be written is refused.

use serde_json::Value;

use super::analyze_json;
use crate::util::{assert_clean_failure, hub_model, reference_case, rel, run_cli};

/// `analyze --npz` beside `--format json` on the same run: every array equal to the JSON's values (NaN where the
/// JSON says null), the attention also within 1e-5 of transformers', read back by candle's own .npz reader and,
/// for the whole file (the token strings too), by NumPy's `np.load` without pickle.
#[test]
fn analyze_npz_holds_what_the_json_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tennis.npz");
    let out = analyze_json(&[
        "--bos",
        "--scores",
        "--norms",
        "--npz",
        path.to_str().unwrap(),
    ]);
    let want = reference_case("I love tennis.", true);
    let npz = candle_core::npy::NpzTensors::new(&path).unwrap();
    let array = |name: &str| {
        npz.get(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let tokens = out["tokens"].as_array().unwrap();
    let t = tokens.len();
    let ids: Vec<i64> = array("input_ids").to_vec1().unwrap();
    let json_ids: Vec<i64> = tokens.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids, json_ids);
    // Per-token statistics: NaN (rank 0) exactly where the JSON has null.
    for key in [
        "logprob",
        "surprisal_bits",
        "entropy_bits",
        "running_perplexity",
    ] {
        let values: Vec<f64> = array(key).to_vec1().unwrap();
        for (value, token) in values.iter().zip(tokens) {
            match token[key].as_f64() {
                // serde_json parses decimals to within an ulp or so, not always to the exact f64.
                Some(json) => assert!(rel(*value, json) <= 1e-14, "{key}: {value} vs {json}"),
                None => assert!(value.is_nan(), "{key}: {value} where the JSON has null"),
            }
        }
    }
    let ranks: Vec<i64> = array("rank").to_vec1().unwrap();
    let json_ranks: Vec<i64> = tokens
        .iter()
        .map(|x| x["rank"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(ranks, json_ranks);
    assert_eq!(ranks[0], 0, "BOS is not scored");
    let perplexity: f64 = array("perplexity").to_scalar().unwrap();
    assert!(rel(perplexity, out["perplexity"].as_f64().unwrap()) <= 1e-14);
    // The large arrays, value for value: float32 ones exactly (the JSON writes each f32 as its exact decimal),
    // float64 ones to within the JSON parser's ulp.
    fn flat(value: &Value, out: &mut Vec<f64>) {
        match value {
            Value::Array(items) => items.iter().for_each(|v| flat(v, out)),
            v => out.push(v.as_f64().expect("a number")),
        }
    }
    for name in [
        "attentions",
        "scores",
        "norms",
        "layer_norms",
        "value_norms",
    ] {
        let tensor = array(name);
        let mut json = Vec::new();
        flat(&out[name], &mut json);
        let dtype = tensor.dtype();
        let values: Vec<f64> = tensor
            .flatten_all()
            .unwrap()
            .to_dtype(candle_core::DType::F64)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(values.len(), json.len(), "{name}");
        for (a, b) in values.iter().zip(&json) {
            match dtype {
                candle_core::DType::F32 => assert_eq!(*a as f32, *b as f32, "{name}"),
                _ => assert!(a == b || rel(*a, *b) <= 1e-14, "{name}: {a} vs {b}"),
            }
        }
    }
    let attentions = array("attentions");
    assert_eq!(attentions.dims(), &[3, 4, t, t]);
    let mut reference = Vec::new();
    flat(&want["attentions"], &mut reference);
    let values: Vec<f32> = attentions.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(values.len(), reference.len());
    let worst = values
        .iter()
        .zip(&reference)
        .map(|(a, b)| (f64::from(*a) - b).abs())
        .fold(0.0, f64::max);
    assert!(worst <= 1e-5, "attention {worst} from transformers'");

    let test = "analyze_npz_holds_what_the_json_holds";
    let script = "import json, sys, numpy as np\n\
        d = np.load(sys.argv[1], allow_pickle=False)\n\
        print(json.dumps({k: [str(d[k].dtype), list(d[k].shape)] for k in d.files} | {'tokens': d['tokens'].tolist()}))";
    match std::process::Command::new("python3")
        .args(["-c", script, path.to_str().unwrap()])
        .output()
    {
        Ok(o) if o.status.success() => {
            let numpy: Value = serde_json::from_slice(&o.stdout).unwrap();
            let texts: Vec<&Value> = tokens.iter().map(|x| &x["text"]).collect();
            assert_eq!(
                numpy["tokens"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .collect::<Vec<_>>(),
                texts
            );
            assert_eq!(
                numpy["attentions"],
                serde_json::json!(["float32", [3, 4, t, t]])
            );
            assert_eq!(numpy["input_ids"], serde_json::json!(["int64", [t]]));
            assert_eq!(numpy["perplexity"], serde_json::json!(["float64", []]));
            assert_eq!(
                numpy["value_norms"],
                serde_json::json!(["float64", [3, 4, t]])
            );
        }
        Ok(o) => crate::skip_report::required_in_ci(
            test,
            "reading the .npz with NumPy",
            &format!(
                "python3 could not: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ),
        ),
        Err(e) => crate::skip_report::required_in_ci(
            test,
            "reading the .npz with NumPy",
            &format!("no python3: {e}"),
        ),
    }
}

#[test]
fn analyze_npz_refuses_what_it_cannot_write() {
    let model = hub_model();
    let dir = tempfile::tempdir().unwrap();
    let base = [
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "I love tennis.",
    ];
    // A folder that does not exist: a message naming the file, exit 1, nothing written.
    let missing = dir.path().join("no-such-folder").join("x.npz");
    let output = run_cli(
        &[&base[..], &["--npz", missing.to_str().unwrap()]].concat(),
        &[],
    );
    let stderr = assert_clean_failure(&output, "cannot write");
    assert!(stderr.contains("x.npz"), "{stderr}");
    // Scores or norms asked for with nowhere to put them.
    for flag in ["--scores", "--norms"] {
        let output = run_cli(&[&base[..], &[flag]].concat(), &[]);
        let stderr = assert_clean_failure(&output, "--format json or --npz");
        assert!(stderr.contains(flag), "{stderr}");
    }
    // A path that is a folder: refused, and no temporary file is left beside it.
    let output = run_cli(
        &[&base[..], &["--npz", dir.path().to_str().unwrap()]].concat(),
        &[],
    );
    assert_clean_failure(&output, "cannot write");
    let parent = dir.path().parent().unwrap();
    let name = dir
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    let left: Vec<_> = std::fs::read_dir(parent)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.starts_with(&format!(".{name}.")))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
