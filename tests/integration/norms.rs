//! What the edges carry (`attngraph analyze --norms`) against numpy on transformers' hidden states and
//! attentions (tests/fixtures/norms_reference.json, written by tools/make_norms_reference.py).

use serde_json::Value;

use crate::util::{assert_clean_failure, assert_success, case_input, fixtures, run_cli};

/// The largest |a − b| over two equally nested JSON number arrays, relative to the largest |b|.
fn relative_gap(a: &Value, b: &Value) -> f64 {
    fn walk(a: &Value, b: &Value, gap: &mut f64, scale: &mut f64) {
        match (a, b) {
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len());
                for (p, q) in x.iter().zip(y) {
                    walk(p, q, gap, scale);
                }
            }
            _ => {
                let (p, q) = (a.as_f64().unwrap(), b.as_f64().unwrap());
                *gap = gap.max((p - q).abs());
                *scale = scale.max(q.abs());
            }
        }
    }
    let (mut gap, mut scale) = (0.0, 0.0);
    walk(a, b, &mut gap, &mut scale);
    gap / scale.max(1e-12)
}

/// The largest amount by which an entry of `a` is farther from `b`'s than both 1e-4 and 1e-5 · |b| (≤ 0: none).
fn entrywise_excess(a: &Value, b: &Value) -> f64 {
    match (a, b) {
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len());
            x.iter()
                .zip(y)
                .map(|(p, q)| entrywise_excess(p, q))
                .fold(f64::NEG_INFINITY, f64::max)
        }
        _ => {
            let (p, q) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            (p - q).abs() - 1e-4f64.max(1e-5 * q.abs())
        }
    }
}

#[test]
fn edge_norms_equal_numpy_on_transformers() {
    let reference: Value = crate::util::fixture_json("norms_reference.json");
    for case in reference["cases"].as_array().unwrap() {
        let (model, text, bos, what) = case_input(case);
        let text = text.as_str();
        let out = run_cli(
            &[
                "analyze", "--model", &model, "--text", text, bos, "--norms", "--format", "json",
            ],
            &[],
        );
        assert_success(&out);
        let got: Value = serde_json::from_slice(&out.stdout).unwrap();
        for key in ["norms", "layer_norms", "value_norms"] {
            let gap = relative_gap(&got[key], &case[key]);
            assert!(gap < 1e-4, "{what}: {key} off by {gap:e} of the largest");
            // And entry by entry: within 1e-4, or 1e-5 of the value where it is large.
            let worst = entrywise_excess(&got[key], &case[key]);
            assert!(
                worst <= 0.0,
                "{what}: {key} has an entry {worst:e} past 1e-4 and 1e-5 relative"
            );
        }
        // Masked entries are 0, and a head's norm is its weight times the value's norm.
        let n = &got["norms"][0][0];
        assert_eq!(n[0][1], 0.0);
    }
}

#[test]
fn norms_need_json() {
    let out = run_cli(
        &[
            "analyze",
            "--model",
            "demo",
            "--text",
            "I love tennis.",
            "--norms",
        ],
        &[],
    );
    assert_clean_failure(&out, "--format json");
}

#[test]
fn one_layers_value_norms_equal_numpy() {
    // What the lesson's values figure reads: one layer's ‖f_h(x_j)‖, without the other layers' work.
    let reference: Value = crate::util::fixture_json("norms_reference.json");
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "tiny-gpt2")
        .unwrap();
    let engine = crate::util::engine(&crate::util::prefixed_model());
    let ids: Vec<u32> = case["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as u32)
        .collect();
    for layer in 0..case["value_norms"].as_array().unwrap().len() {
        let got = attngraph::model::norms::value_norms_of_layer(&engine, &ids, layer).unwrap();
        let want = &case["value_norms"][layer];
        let gap = relative_gap(&serde_json::to_value(&got).unwrap(), want);
        assert!(gap < 1e-4, "layer {layer}: off by {gap:e}");
    }
}

#[test]
fn exported_graphs_weigh_edges_by_what_flows_as_numpy_does() {
    let reference: Value = crate::util::fixture_json("norms_reference.json");
    let dir = tempfile::tempdir().unwrap();
    for case in reference["cases"].as_array().unwrap() {
        let (model, text, bos, what) = case_input(case);
        let (layer, head) = (1usize, 1usize);
        for (selection, want, weight) in [
            (
                vec!["--layer", "1", "--head", "1"],
                &case["norms"][layer][head],
                "norm",
            ),
            (
                vec!["--layer", "1", "--head", "1"],
                &case["norms"][layer][head],
                "norm-share",
            ),
            (
                vec!["--aggregate", "layer-mean", "--layer", "1"],
                &case["layer_norms"][layer],
                "norm",
            ),
        ] {
            let out = dir.path().join("g.json");
            let path = out.display().to_string();
            let mut args = vec![
                "export", "--model", &model, "--text", &text, bos, "--weight", weight,
            ];
            args.extend(&selection);
            args.extend(["-o", &path]);
            assert_success(&run_cli(&args, &[]));
            let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            let rows: Vec<Vec<f64>> = want
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_f64().unwrap())
                        .collect()
                })
                .collect();
            // What numpy's norms become: relative to the largest edge, or each row's share.
            let max = rows.iter().flatten().fold(0.0f64, |m, &v| m.max(v));
            let expected: Vec<Vec<f64>> = rows
                .iter()
                .map(|r| {
                    let sum: f64 = r.iter().sum();
                    r.iter()
                        .map(|v| if weight == "norm" { v / max } else { v / sum })
                        .collect()
                })
                .collect();
            let expected = serde_json::to_value(&expected).unwrap();
            let gap = relative_gap(&got["matrix"], &expected);
            assert!(gap < 1e-4, "{what} {weight} {selection:?}: off by {gap:e}");
            assert_eq!(got["edge_weight"], weight.replace('-', "_"), "{what}");
            if weight == "norm" {
                let norm_max = got["norm_max"].as_f64().unwrap();
                assert!(
                    (norm_max - max).abs() <= 1e-4 * max,
                    "{what}: {norm_max} vs {max}"
                );
            }
            // The Markov statistics stay the attention's: its rows sum to 1.
            assert!(
                got["markov"]["is_row_stochastic"].as_bool().unwrap(),
                "{what}"
            );
        }
    }
}

#[test]
fn the_norms_made_in_the_analysis_pass_follow_the_prefix_cache() {
    // Typing reuses the earlier tokens' norms: a text read after its first words equals the text read afresh.
    let engine = crate::util::engine(&fixtures().join("tiny-gpt2"));
    let options = attngraph::model::AnalyzeOptions {
        norms: true,
        ..Default::default()
    };
    let mut cache = attngraph::model::engine::PrefixCache::default();
    engine
        .analyze_cached("The quick brown fox", &options, &mut cache)
        .unwrap();
    let cached = engine
        .analyze_cached(
            "The quick brown fox jumps over the lazy dog.",
            &options,
            &mut cache,
        )
        .unwrap();
    let fresh = engine
        .analyze("The quick brown fox jumps over the lazy dog.", &options)
        .unwrap();
    let (a, b) = (
        attngraph::model::norms::Norms::of(&cached).unwrap(),
        attngraph::model::norms::Norms::of(&fresh).unwrap(),
    );
    let (a, b) = (
        serde_json::to_value(&a).unwrap(),
        serde_json::to_value(&b).unwrap(),
    );
    for key in ["norms", "layer_norms", "value_norms"] {
        let gap = relative_gap(&a[key], &b[key]);
        assert!(gap < 1e-5, "the cached {key} are off by {gap:e}");
    }
    // Without norms asked for, the analysis carries none.
    assert!(engine
        .analyze("The quick brown fox", &Default::default())
        .unwrap()
        .flow
        .is_none());
}

#[test]
fn what_each_head_carries_adds_up_to_the_attention_output() {
    // Σ_h Σ_j α^h_ij f_h(x_j), plus the output projection's bias (which belongs to no edge), is the layer's
    // attention output: the vectors whose norms weigh the edges are exactly what the heads move.
    use candle_core::{DType, Device, Tensor};
    for name in ["tiny-gpt2", "tiny-qwen2", "tiny-llama"] {
        let engine = crate::util::engine(&fixtures().join(name));
        let (ids, _) = engine
            .tokenize("I love tennis. I love tennis.", false)
            .unwrap();
        let model = engine.model();
        let trace = model.trace(&ids, &Default::default()).unwrap();
        let attentions = engine.attentions_of_ids(&ids).unwrap();
        let info = engine.info();
        let t = ids.len();
        for (layer, traced) in trace.layers.iter().enumerate() {
            let f = model.value_outputs(layer, &traced.input).unwrap(); // (n_head, t, n_embd)
            let mut alpha = Vec::with_capacity(info.n_head * t * t);
            for h in 0..info.n_head {
                for i in 0..t {
                    for j in 0..t {
                        alpha.push(attentions.get(layer, h, i, j));
                    }
                }
            }
            let alpha = Tensor::from_vec(alpha, (info.n_head, t, t), &Device::Cpu).unwrap();
            let moved = alpha.matmul(&f).unwrap().sum(0).unwrap(); // (t, n_embd)
            let zeros =
                Tensor::zeros((info.n_head, info.head_dim), DType::F32, &Device::Cpu).unwrap();
            let (_, bias) = model.head_contributions(layer, &zeros).unwrap();
            let rebuilt = moved.broadcast_add(&bias).unwrap();
            let gap: f32 = (rebuilt - &traced.attention)
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            let scale: f32 = traced
                .attention
                .abs()
                .unwrap()
                .max_all()
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(
                gap <= 1e-4 * scale.max(1.0),
                "{name} layer {layer}: off by {gap}"
            );
        }
    }
}

#[test]
fn a_knocked_out_head_carries_nothing() {
    let engine = crate::util::engine(&fixtures().join("tiny-gpt2"));
    let options = attngraph::model::AnalyzeOptions {
        norms: true,
        ablated: "0.1".parse().unwrap(),
        ..Default::default()
    };
    let analysis = engine.analyze("The quick brown fox.", &options).unwrap();
    let norms = attngraph::model::norms::Norms::of(&analysis).unwrap();
    assert!(norms.value_norms[0][1].iter().all(|&v| v == 0.0));
    assert!(norms.norms[0][1].iter().flatten().all(|&v| v == 0.0));
    // The other heads of its layer still carry something.
    assert!(norms.value_norms[0][0].iter().any(|&v| v > 0.0));
}
