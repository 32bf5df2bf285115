//! The lesson's numbers (`attngraph explain`) against numpy on transformers' outputs
//! (tests/fixtures/explain_reference.json, written by tools/make_explain_reference.py), and against
//! `attngraph analyze` on the same input, recomputed here with plain loops.

use serde_json::Value;

use crate::util::{assert_clean_failure, assert_success, fixtures, rel, run_cli};

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("explain_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn model_arg(name: &str) -> String {
    match name {
        "demo" => "demo".into(),
        other => fixtures().join(other).display().to_string(),
    }
}

fn cli_json(args: &[&str]) -> Value {
    let out = run_cli(args, &[]);
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn explain_equals_numpy_and_agrees_with_analyze() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let model = model_arg(case["model"].as_str().unwrap());
        let text = case["text"].as_str().unwrap();
        let bos = if case["bos"] == true {
            "--bos"
        } else {
            "--no-bos"
        };
        let (layer, head) = (case["layer"].to_string(), case["head"].to_string());
        let what = format!("{} {text:?} {bos} head {layer}.{head}", case["model"]);
        let got = cli_json(&[
            "explain", "--model", &model, "--text", text, bos, "--layer", &layer, "--head", &head,
            "--format", "json",
        ]);

        // Against numpy on transformers.
        for key in [
            "characters",
            "bytes",
            "tokens",
            "scored_bytes",
            "row_stochastic",
            "dag_without_self_loops",
            "absorbing_states",
        ] {
            assert_eq!(got[key], case[key], "{what}: {key}");
        }
        let n = case["tokens"].as_u64().unwrap();
        assert_eq!(got["attention_entries"]["tokens"].as_u64(), Some(n * n));
        let chars = case["characters"].as_u64().unwrap();
        assert_eq!(
            got["attention_entries"]["characters"].as_u64(),
            Some(chars * chars)
        );
        assert!(
            rel(f(&got["score_asymmetry"]), f(&case["score_asymmetry"])) < 1e-4,
            "{what}: asymmetry"
        );
        for (k, (g, w)) in got["mass_on_token0"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["mass_on_token0"].as_array().unwrap())
            .enumerate()
        {
            assert!(
                (f(g) - f(w)).abs() < 1e-5,
                "{what}: mass after {} steps",
                k + 1
            );
        }
        assert_eq!(got["mass_on_token0"].as_array().unwrap().len(), 8);
        assert!(
            (f(&got["joint_log_prob"]) - f(&case["joint_log_prob"])).abs() < 1e-3,
            "{what}: joint"
        );
        for key in ["perplexity", "bits", "bits_per_byte"] {
            assert!(rel(f(&got[key]), f(&case[key])) < 1e-5, "{what}: {key}");
        }

        // Against `analyze` on the same input: its log-probabilities, perplexity, scores and attentions.
        let analysis = cli_json(&[
            "analyze", "--model", &model, "--text", text, bos, "--scores", "--format", "json",
        ]);
        let logprobs: Vec<f64> = analysis["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["logprob"].as_f64())
            .collect();
        let joint: f64 = logprobs.iter().sum();
        assert!(
            (f(&got["joint_log_prob"]) - joint).abs() < 1e-9,
            "{what}: the joint is the sum of analyze's log-probs"
        );
        assert!(
            rel(f(&got["perplexity"]), f(&analysis["perplexity"])) < 1e-12,
            "{what}: the same perplexity"
        );
        assert!(
            rel(
                f(&got["perplexity"]),
                (-joint / logprobs.len() as f64).exp()
            ) < 1e-12
        );
        let l = case["layer"].as_u64().unwrap() as usize;
        let h = case["head"].as_u64().unwrap() as usize;
        let s = &analysis["scores"][l][h];
        let a = &analysis["attentions"][l][h];
        let n = n as usize;
        let (mut diff, mut norm) = (0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                diff += (f(&s[i][j]) - f(&s[j][i])).powi(2);
                norm += f(&s[i][j]).powi(2);
            }
        }
        assert!(
            rel(f(&got["score_asymmetry"]), (diff / norm).sqrt()) < 1e-9,
            "{what}: asymmetry of analyze's scores"
        );
        // A^k by repeated products, then the mean of column 0.
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| f(&a[i][j])).collect())
            .collect();
        let mut power = a.clone();
        for k in 1..=8 {
            if k > 1 {
                power = (0..n)
                    .map(|i| {
                        (0..n)
                            .map(|j| (0..n).map(|m| power[i][m] * a[m][j]).sum())
                            .collect()
                    })
                    .collect();
            }
            let mass = (0..n).map(|i| power[i][0]).sum::<f64>() / n as f64;
            assert!(
                (f(&got["mass_on_token0"][k - 1]) - mass).abs() < 1e-6,
                "{what}: A^{k} from analyze"
            );
        }
    }
}

#[test]
fn explain_says_what_is_wrong() {
    let model = model_arg("tiny-gpt2");
    let out = run_cli(
        &[
            "explain",
            "--model",
            &model,
            "--text",
            "I love tennis.",
            "--layer",
            "3",
        ],
        &[],
    );
    assert_clean_failure(&out, "layer 3 does not exist");
    let out = run_cli(&["explain", "--model", &model, "--text", "a"], &[]);
    assert_clean_failure(&out, "no token of the text is predicted");
}
