//! Qwen2 and Llama against Hugging Face transformers (tests/fixtures/families_reference.json, written by
//! tools/make_families_reference.py) on random models this project never trained: the tokenizer's ids, every
//! head's attention, log-probabilities, perplexity, sliding-window perplexity, head ablation and direct logit
//! attribution, on both kernel paths.

use attngraph::model::ablation::{ablate, Replacement};
use attngraph::model::attribution::attribute;
use attngraph::model::perplexity::{sliding_window, WindowOptions};
use attngraph::model::{AnalyzeOptions, Engine, HeadSet, Kernels};
use serde_json::Value;

use crate::engine::check_cases;
use crate::util::{
    assert_clean_failure, cli_json, engine_with, fixtures, heads_of, ids_of, kernel_paths, rel,
    run_cli,
};

const MODELS: [&str; 2] = ["tiny-qwen2", "tiny-llama"];

fn reference() -> Value {
    let path = fixtures().join("families_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn model_path(name: &str) -> std::path::PathBuf {
    fixtures().join(name)
}

fn engines(test: &str) -> Vec<(&'static str, Kernels, Engine)> {
    kernel_paths(test)
        .into_iter()
        .flat_map(|kernels| {
            MODELS
                .into_iter()
                .map(move |name| (name, kernels, engine_with(&model_path(name), kernels)))
        })
        .collect()
}

#[test]
fn analyze_equals_transformers_on_qwen2_and_llama() {
    let reference = reference();
    for (name, _, engine) in engines("families::analyze_equals_transformers_on_qwen2_and_llama") {
        let cases = reference["models"][name]["analyze"].as_array().unwrap();
        assert!(cases.len() >= 4, "{name}");
        check_cases(&engine, cases);
    }
}

#[test]
fn the_info_names_the_family_and_its_heads() {
    let qwen = engine_with(&model_path("tiny-qwen2"), Kernels::Auto);
    let info = qwen.info();
    assert_eq!(info.family.name(), "qwen2");
    assert_eq!((info.n_head, info.n_kv_head, info.head_dim), (4, 2, 8));
    assert!(!info.learned_positions && !info.layer_norm);
    let llama = engine_with(&model_path("tiny-llama"), Kernels::Auto);
    let info = llama.info();
    assert_eq!(info.family.name(), "llama");
    // head_dim 12 is given in config.json: six heads of 12 are 72 wide, the residual stream 48.
    assert_eq!(
        (info.n_head, info.n_kv_head, info.head_dim, info.n_embd),
        (6, 2, 12, 48)
    );
}

#[test]
fn bos_is_what_the_tokenizer_adds_and_a_model_without_one_says_so() {
    let reference = reference();
    let llama = engine_with(&model_path("tiny-llama"), Kernels::Auto);
    assert!(llama.tokenizer_adds_bos());
    assert_eq!(
        llama.bos_token().map(u64::from),
        reference["models"]["tiny-llama"]["bos_token_id"].as_u64()
    );
    let qwen = engine_with(&model_path("tiny-qwen2"), Kernels::Auto);
    assert!(!qwen.tokenizer_adds_bos());
    assert_eq!(qwen.bos_token(), None);
    let options = AnalyzeOptions {
        bos: true,
        ..Default::default()
    };
    let err = qwen
        .analyze("I love tennis.", &options)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no BOS token") && err.contains("--no-bos"),
        "{err}"
    );

    // The CLI's default is the tokenizer's: Llama's ids start with <s>, Qwen's with the text.
    for name in MODELS {
        let model = model_path(name).display().to_string();
        let text = "I love tennis.";
        let json = cli_json(&[
            "analyze", "--model", &model, "--text", text, "--format", "json",
        ]);
        let case = reference["models"][name]["analyze"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["text"] == text && c["mode"] == "default")
            .unwrap();
        let ids: Vec<u32> = json["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["id"].as_u64().unwrap() as u32)
            .collect();
        assert_eq!(ids, ids_of(&case["ids"]), "{name}: the CLI's default ids");
    }
    let qwen_dir = model_path("tiny-qwen2").display().to_string();
    let out = run_cli(
        &[
            "analyze",
            "--model",
            &qwen_dir,
            "--text",
            "I love tennis.",
            "--bos",
        ],
        &[],
    );
    assert_clean_failure(&out, "no BOS token");
}

#[test]
fn tokens_keep_their_bytes_and_spans() {
    let llama = engine_with(&model_path("tiny-llama"), Kernels::Auto);
    let text = "emoji 🐱🎾 and 東京貓";
    let analysis = llama.analyze(text, &AnalyzeOptions::default()).unwrap();
    // The spans tile the text: SentencePiece's added space belongs to no span.
    let mut at = 0;
    for token in analysis.tokens.iter().filter(|t| !t.is_bos) {
        assert_eq!(token.start, at, "{:?}", token.display);
        at = token.end;
    }
    assert_eq!(at, text.len());
    // 🐱 is not in the vocabulary: four byte tokens <0xF0> <0x9F> <0x90> <0xB1>, shown as the whole character.
    let cat: Vec<&str> = analysis
        .tokens
        .iter()
        .filter(|t| t.display.contains('🐱'))
        .map(|t| t.display.as_str())
        .collect();
    assert_eq!(cat, ["🐱›", "‹🐱›", "‹🐱›", "‹🐱"], "{:?}", analysis.tokens);
    let qwen = engine_with(&model_path("tiny-qwen2"), Kernels::Auto);
    let analysis = qwen
        .analyze(
            "我愛網球。今天天氣很好",
            &AnalyzeOptions {
                bos: false,
                ..Default::default()
            },
        )
        .unwrap();
    // Byte-level tokens split 氣 (E6 B0 A3) after its first byte: the spans still tile the text's bytes.
    let text = "我愛網球。今天天氣很好";
    let bytes: Vec<u8> = analysis
        .tokens
        .iter()
        .flat_map(|t| text.as_bytes()[t.start..t.end].to_vec())
        .collect();
    assert_eq!(bytes, text.as_bytes());
    assert!(
        analysis.tokens.iter().any(|t| t.display == "‹氣很好"),
        "{:?}",
        analysis.tokens
    );
}

#[test]
fn sliding_window_perplexity_equals_the_guide() {
    let reference = reference();
    let text = std::fs::read_to_string(fixtures().join("perplexity_text.txt")).unwrap();
    for (name, kernels, engine) in engines("families::sliding_window_perplexity_equals_the_guide") {
        let model = &reference["models"][name];
        let (ids, _) = engine.tokenize(&text, false).unwrap();
        let bos = engine.tokenizer_adds_bos();
        let mut all = Vec::new();
        if bos {
            all.push(engine.bos_token().unwrap());
        }
        all.extend(&ids);
        assert_eq!(all, ids_of(&model["perplexity"]["ids"]), "{name} ids");
        for case in model["perplexity"]["cases"].as_array().unwrap() {
            let options = WindowOptions {
                max_length: case["max_length"].as_u64().unwrap() as usize,
                stride: case["stride"].as_u64().unwrap() as usize,
                bos,
                batch: 3,
            };
            let report = sliding_window(&engine, &ids, options, &mut |_, _| {}).unwrap();
            let what = format!("{name} {kernels:?} {options:?}");
            assert_eq!(
                report.predicted_tokens as u64,
                case["predicted_tokens"].as_u64().unwrap(),
                "{what}"
            );
            for key in ["token", "window_mean", "hf_legacy"] {
                let ours = match key {
                    "token" => report.ppl.token,
                    "window_mean" => report.ppl.window_mean,
                    _ => report.ppl.hf_legacy,
                };
                let want = case["ppl"][key].as_f64().unwrap();
                assert!(rel(ours, want) <= 1e-5, "{what} {key}: {ours} vs {want}");
            }
        }
    }
}

fn assert_logprobs(got: &[Option<f64>], want: &Value, what: &str) {
    let want = want.as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{what}");
    for (p, (g, w)) in got.iter().zip(want).enumerate() {
        match (g, w.as_f64()) {
            (None, None) => {}
            (Some(g), Some(w)) => assert!((g - w).abs() <= 1e-4, "{what} at {p}: {g} vs {w}"),
            other => panic!("{what} at {p}: {other:?}"),
        }
    }
}

#[test]
fn ablation_equals_a_hook_on_o_proj() {
    let reference = reference();
    for (name, kernels, engine) in engines("families::ablation_equals_a_hook_on_o_proj") {
        let bos = engine.tokenizer_adds_bos();
        for case in reference["models"][name]["ablate"].as_array().unwrap() {
            let heads: HeadSet = heads_of(&case["heads"]);
            let text = case["text"].as_str().unwrap();
            let what = format!("{name} {kernels:?} {text:?} without {heads}");
            let got = ablate(&engine, text, bos, &heads, Replacement::Zero).unwrap();
            let got_ids: Vec<u32> = got.tokens.iter().map(|t| t.id).collect();
            assert_eq!(got_ids, ids_of(&case["ids"]), "{what}");
            assert_logprobs(&got.baseline_logprob, &case["baseline_logprob"], &what);
            assert_logprobs(&got.ablated_logprob, &case["ablated_logprob"], &what);
            let want = case["ablated_perplexity"].as_f64().unwrap();
            assert!(rel(got.ablated_perplexity, want) < 1e-5, "{what}");
        }
    }
}

#[test]
fn mean_ablation_equals_a_hook_on_o_proj() {
    // tools/make_families_mean_reference.py: the same cases as the zero ablation's, the heads' columns of
    // o_proj's input set to their means over every position of an intact pass.
    let path = fixtures().join("families_mean_ablation.json");
    let reference: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (name, kernels, engine) in engines("families::mean_ablation_equals_a_hook_on_o_proj") {
        let bos = engine.tokenizer_adds_bos();
        let cases = reference["models"][name].as_array().unwrap();
        assert!(cases.len() >= 4, "{name}");
        for case in cases {
            let heads: HeadSet = heads_of(&case["heads"]);
            let text = case["text"].as_str().unwrap();
            let what = format!("{name} {kernels:?} {text:?} mean-ablating {heads}");
            let got = ablate(&engine, text, bos, &heads, Replacement::Mean).unwrap();
            let got_ids: Vec<u32> = got.tokens.iter().map(|t| t.id).collect();
            assert_eq!(got_ids, ids_of(&case["ids"]), "{what}");
            assert_logprobs(&got.ablated_logprob, &case["ablated_logprob"], &what);
            let want = case["ablated_perplexity"].as_f64().unwrap();
            assert!(rel(got.ablated_perplexity, want) < 1e-5, "{what}");
        }
    }
}

#[test]
fn attribution_with_rmsnorm_equals_numpy_and_adds_up() {
    let reference = reference();
    let close = |got: f64, want: &Value, what: &str| {
        let want = want.as_f64().unwrap();
        assert!((got - want).abs() <= 1e-4, "{what}: {got} vs {want}");
    };
    for (name, kernels, engine) in
        engines("families::attribution_with_rmsnorm_equals_numpy_and_adds_up")
    {
        let bos = engine.tokenizer_adds_bos();
        for case in reference["models"][name]["attribute"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let position = case["position"].as_u64().unwrap() as usize;
            let what = format!("{name} {kernels:?} {text:?} at {position}");
            let got = attribute(&engine, text, bos, position, None).unwrap();
            assert_eq!(
                u64::from(got.target.id),
                case["target"].as_u64().unwrap(),
                "{what}"
            );
            close(got.logit, &case["logit"], &what);
            close(got.logprob, &case["logprob"], &what);
            close(got.embeddings, &case["embeddings"], &what);
            assert_eq!(got.ln_bias, 0.0, "{what}: RMSNorm has no β");
            for (l, heads) in got.heads.iter().enumerate() {
                for (h, &g) in heads.iter().enumerate() {
                    close(g, &case["heads"][l][h], &format!("{what} head {l}.{h}"));
                }
                close(
                    got.attention_bias[l],
                    &case["attention_bias"][l],
                    &format!("{what} bias {l}"),
                );
                close(got.mlp[l], &case["mlp"][l], &format!("{what} mlp {l}"));
            }
            assert!(
                (got.total() - got.logit).abs() < 1e-4,
                "{what}: parts {} vs {}",
                got.total(),
                got.logit
            );
        }
    }
}

#[test]
fn continuing_a_text_reuses_rotated_keys() {
    // The prefix cache keeps rotated keys: appending to a text must give what analysing it afresh gives.
    for name in MODELS {
        let engine = engine_with(&model_path(name), Kernels::Auto);
        let options = AnalyzeOptions {
            bos: engine.tokenizer_adds_bos(),
            ..Default::default()
        };
        let mut cache = attngraph::model::engine::PrefixCache::default();
        engine
            .analyze_cached("The cat sat on the mat,", &options, &mut cache)
            .unwrap();
        let cached = engine
            .analyze_cached(
                "The cat sat on the mat, and the dog ran home.",
                &options,
                &mut cache,
            )
            .unwrap();
        let fresh = engine
            .analyze("The cat sat on the mat, and the dog ran home.", &options)
            .unwrap();
        let a = serde_json::to_value(&cached.attentions).unwrap();
        let b = serde_json::to_value(&fresh.attentions).unwrap();
        assert!(crate::util::max_abs_diff(&a, &b) < 1e-5, "{name}");
        let (p, q) = (cached.perplexity.unwrap(), fresh.perplexity.unwrap());
        assert!(rel(p, q) < 1e-5, "{name}: {p} vs {q}");
    }
}
