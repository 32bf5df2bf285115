//! The forward pass and per-token statistics against Hugging Face transformers (tests/fixtures/reference.json,
//! written by tools/make_reference.py), for both key layouts and with and without BOS.

use attngraph::model::{AnalyzeOptions, Engine, KeepScores, Kernels};
use serde_json::Value;

use crate::util::{
    engine, engine_with, hub_model, ids_of, kernel_paths, max_abs_diff, prefixed_model, reference,
    rel,
};

fn check_all_cases(engine: &Engine) {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 10);
    check_cases(engine, cases);
}

/// Checks the engine's analysis of every reference case (ids, attentions, per-token statistics, perplexity)
/// against the values transformers gave.
pub fn check_cases(engine: &Engine, cases: &[Value]) {
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let bos = case["with_bos"].as_bool().unwrap();
        let options = AnalyzeOptions {
            bos,
            top_k: 5,
            keep_scores: KeepScores::None,
            ..Default::default()
        };
        let analysis = engine.analyze(text, &options).unwrap();
        let ids: Vec<u64> = analysis.tokens.iter().map(|t| t.id as u64).collect();
        let want_ids: Vec<u64> = case["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        assert_eq!(ids, want_ids, "ids of {text:?} (bos {bos})");

        let ours = serde_json::to_value(&analysis.attentions).unwrap();
        let err = max_abs_diff(&ours, &case["attentions"]);
        assert!(
            err <= 1e-5,
            "attention error {err} for {text:?} (bos {bos})"
        );

        for (token, want) in analysis
            .tokens
            .iter()
            .zip(case["tokens"].as_array().unwrap())
        {
            match (&token.stats, want.get("logprob")) {
                (None, None) => {}
                (Some(s), Some(lp)) => {
                    let lp = lp.as_f64().unwrap();
                    assert!(
                        (s.logprob - lp).abs() <= 1e-4,
                        "logprob {} vs {lp} in {text:?}",
                        s.logprob
                    );
                    assert!(
                        (s.surprisal_bits - want["surprisal_bits"].as_f64().unwrap()).abs() <= 2e-4
                    );
                    assert!(
                        (s.entropy_bits - want["entropy_bits"].as_f64().unwrap()).abs() <= 1e-4
                    );
                    // Logits within 1e-5 of the actual token's may swap order between implementations.
                    let band = &want["rank_band"];
                    let (low, high) = (band[0].as_u64().unwrap(), band[1].as_u64().unwrap());
                    assert!(
                        (low..=high).contains(&(s.rank as u64)),
                        "rank {} outside {low}..={high} in {text:?}",
                        s.rank
                    );
                    assert!(
                        high - low < 5,
                        "the reference rank band is too wide to test anything"
                    );
                    let r = rel(
                        s.running_perplexity,
                        want["running_perplexity"].as_f64().unwrap(),
                    );
                    // exp of minus the mean log-probability so far: its relative error is the mean of the
                    // log-probabilities' errors, each allowed 1e-4 above; float32 in both implementations gives
                    // about 1e-5 on the demo model's confident early tokens (1.1e-5 seen).
                    assert!(r <= 5e-5, "running perplexity relative error {r}");
                    let top: Vec<&Value> = want["top5"].as_array().unwrap().iter().collect();
                    for (alt, w) in s.top_k.iter().zip(top) {
                        assert_eq!(
                            alt.id as u64,
                            w[0].as_u64().unwrap(),
                            "top-k order in {text:?}"
                        );
                        assert!((alt.prob - w[1].as_f64().unwrap()).abs() <= 1e-5);
                    }
                }
                (ours, theirs) => {
                    panic!("scored mismatch at {text:?}: ours {ours:?}, reference {theirs:?}")
                }
            }
        }
        match (analysis.perplexity, case["perplexity"].as_f64()) {
            (Some(ours), Some(want)) => {
                assert!(rel(ours, want) <= 1e-5, "perplexity {ours} vs {want}")
            }
            (None, None) => {}
            other => panic!("perplexity presence differs: {other:?}"),
        }
    }
}

#[test]
fn matches_transformers_with_prefixed_keys_and_tokenizer_json() {
    check_all_cases(&engine(&prefixed_model()));
}

#[test]
fn matches_transformers_with_hub_keys_and_vocab_merges() {
    check_all_cases(&engine(&hub_model()));
}

#[test]
fn matches_transformers_on_the_portable_kernels() {
    // On a CPU with AVX-512 the tests above run the packed kernel; this one runs the few-row kernel and
    // candle's gemm, which other CPUs and `ATTNGRAPH_KERNELS=portable` use.
    check_all_cases(&engine_with(&hub_model(), Kernels::Portable));
}

#[test]
fn attention_rows_are_causal_distributions() {
    let engine = engine(&prefixed_model());
    let analysis = engine
        .analyze(
            "The quick brown fox jumps over the lazy dog.",
            &AnalyzeOptions::default(),
        )
        .unwrap();
    let att = &analysis.attentions;
    assert_eq!((att.n_layer(), att.n_head()), (3, 4));
    for layer in 0..att.n_layer() {
        for head in 0..att.n_head() {
            for q in 0..att.n_tokens() {
                let sum: f32 = att.row(layer, head, q).iter().sum();
                assert!((sum - 1.0).abs() < 1e-5, "row sum {sum}");
                // Every key after the query is masked (the last row has none inside the matrix).
                for k in q + 1..att.n_tokens() {
                    assert_eq!(att.get(layer, head, q, k), 0.0);
                }
            }
        }
    }
}

#[test]
fn byte_spans_cover_the_text_and_bos_is_not_scored() {
    let engine = engine(&prefixed_model());
    let text = "我爱网球。 🎾 I love tennis.";
    let analysis = engine.analyze(text, &AnalyzeOptions::default()).unwrap();
    let first = &analysis.tokens[0];
    assert!(first.is_bos && first.stats.is_none() && first.start == first.end);
    let mut joined = Vec::new();
    let mut at = 0;
    for token in &analysis.tokens[1..] {
        assert_eq!(token.start, at, "spans must be consecutive");
        joined.extend_from_slice(&text.as_bytes()[token.start..token.end]);
        at = token.end;
        assert!(token.stats.is_some());
    }
    assert_eq!(joined, text.as_bytes());
    // "I love tennis." ends the text; its pieces read back as text, "␣love" shows the space.
    assert!(analysis
        .tokens
        .iter()
        .any(|t| t.display == "␣love" && t.text == " love"));
    // Labels never show byte escapes: a character split over tokens shows whole, marked ‹ and ›.
    assert!(analysis.tokens.iter().all(|t| !t.display.contains("\\x")));
    assert!(analysis.tokens.iter().any(|t| t.text.contains("\\x")));
    assert!(analysis.tokens.iter().any(|t| t.display.ends_with("🎾›")));
    assert!(analysis.tokens.iter().any(|t| t.display == "‹🎾"));
}

#[test]
fn continuing_with_cached_keys_and_values_equals_running_the_whole_text_each_time() {
    // Greedy, six tokens: each step of Continue runs only the new token against the cached keys and values;
    // here every step runs the whole sequence again and takes the argmax of the last row.
    let engine = engine(&prefixed_model());
    let options = attngraph::model::generate::SamplingOptions {
        temperature: 0.0,
        max_new_tokens: 6,
        ..Default::default()
    };
    let got = attngraph::model::generate::continue_text(&engine, "I love", true, &options).unwrap();
    let (mut ids, _) = engine.tokenize("I love", true).unwrap();
    let mut bytes = Vec::new();
    for _ in 0..6 {
        let hidden = engine
            .model()
            .forward(&ids, KeepScores::None, &mut |_, _, _| Ok(()))
            .unwrap();
        let logits: Vec<f32> = engine
            .model()
            .logits(&hidden, ids.len() - 1, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let next = (0..logits.len())
            .max_by(|&a, &b| logits[a].total_cmp(&logits[b]))
            .unwrap() as u32;
        ids.push(next);
        bytes.extend_from_slice(engine.tokenizer().bytes(next));
    }
    assert_eq!(got, format!("I love{}", String::from_utf8_lossy(&bytes)));
    // And the logits themselves: each token run alone against the cached keys and values gives the last row
    // of the whole sequence run again, to 1e-4.
    let model = engine.model();
    let none = attngraph::model::HeadSet::default();
    let (start, _) = engine.tokenize("I love", true).unwrap();
    let (_, mut past) = model
        .forward_from(&start, &[], KeepScores::None, &none, &mut |_, _, _| Ok(()))
        .unwrap();
    for t in start.len()..ids.len() {
        let (hidden, kv) = model
            .forward_from(
                &ids[t..t + 1],
                &past,
                KeepScores::None,
                &none,
                &mut |_, _, _| Ok(()),
            )
            .unwrap();
        past = kv;
        let cached: Vec<f32> = model
            .logits(&hidden, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let whole = model
            .forward(&ids[..t + 1], KeepScores::None, &mut |_, _, _| Ok(()))
            .unwrap();
        let fresh: Vec<f32> = model
            .logits(&whole, t, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        let worst = cached
            .iter()
            .zip(&fresh)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(worst < 1e-4, "position {t}: logits differ by {worst}");
    }
}

#[test]
fn prefix_cache_gives_the_fresh_results_while_typing() {
    use attngraph::model::engine::PrefixCache;
    let engine = engine(&prefixed_model());
    let mut cache = PrefixCache::default();
    let options = AnalyzeOptions::default();
    // Typing forward, a word rewritten in the middle (the prefix shrinks), and a BOS toggle (nothing reusable).
    let steps = [
        "I",
        "I love",
        "I love tenn",
        "I love tennis",
        "I love tennis.",
        "I hate tennis.",
        "I hate tennis. 我爱网球",
    ];
    for text in steps {
        for bos in [true, true, false] {
            let options = AnalyzeOptions {
                bos,
                ..options.clone()
            };
            let cached = engine.analyze_cached(text, &options, &mut cache).unwrap();
            let fresh = engine.analyze(text, &options).unwrap();
            assert_eq!(cached.tokens.len(), fresh.tokens.len());
            let err = max_abs_diff(
                &serde_json::to_value(&cached.attentions).unwrap(),
                &serde_json::to_value(&fresh.attentions).unwrap(),
            );
            assert!(err <= 1e-5, "attention differs by {err} for {text:?}");
            for (a, b) in cached.tokens.iter().zip(&fresh.tokens) {
                assert_eq!((a.id, a.start, a.end), (b.id, b.start, b.end));
                match (&a.stats, &b.stats) {
                    (Some(x), Some(y)) => {
                        assert!(
                            (x.logprob - y.logprob).abs() <= 1e-4,
                            "{text:?}: {} vs {}",
                            x.logprob,
                            y.logprob
                        );
                        assert!(rel(x.running_perplexity, y.running_perplexity) <= 1e-5);
                        assert_eq!(x.top_k.first().map(|t| t.id), y.top_k.first().map(|t| t.id));
                    }
                    (None, None) => {}
                    other => panic!("scored differently: {other:?}"),
                }
            }
        }
    }
    // The cache now holds the last text and reuses its prefix.
    assert!(!cache.is_empty());
    // And the cached path still equals transformers.
    let reference = reference();
    let case = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["text"] == "I love tennis." && c["with_bos"] == true)
        .unwrap();
    let mut cache = PrefixCache::default();
    engine
        .analyze_cached("I love", &options, &mut cache)
        .unwrap();
    let cached = engine
        .analyze_cached("I love tennis.", &options, &mut cache)
        .unwrap();
    let err = max_abs_diff(
        &serde_json::to_value(&cached.attentions).unwrap(),
        &case["attentions"],
    );
    assert!(err <= 1e-5, "cached attention vs transformers: {err}");
    assert!(
        rel(
            cached.perplexity.unwrap(),
            case["perplexity"].as_f64().unwrap()
        ) <= 1e-5
    );
}

/// log p(x_{p+1} | x_≤p) for rows `from..t-1` of hidden states, in f64.
fn logprobs_of(
    engine: &attngraph::model::Engine,
    hidden: &candle_core::Tensor,
    start: usize,
    ids: &[u32],
) -> Vec<f64> {
    let rows = ids.len() - 1 - start;
    let logits = engine.model().logits(hidden, start, rows).unwrap();
    let logits: Vec<Vec<f32>> = logits.to_vec2().unwrap();
    logits
        .iter()
        .zip(&ids[start + 1..])
        .map(|(row, &target)| {
            let max = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
            let lse = max
                + row
                    .iter()
                    .map(|&x| (x as f64 - max).exp())
                    .sum::<f64>()
                    .ln();
            row[target as usize] as f64 - lse
        })
        .collect()
}

#[test]
fn the_scoring_pass_equals_transformers_at_every_block_size() {
    // The scoring pass skips the masked half of QKᵀ in blocks of query rows, runs windows together and
    // computes only the rows asked for in the last layer; none of that may change a log-probability.
    let engine = engine(&hub_model());
    for case in reference()["cases"].as_array().unwrap() {
        let ids = ids_of(&case["ids"]);
        if ids.len() < 3 {
            continue;
        }
        let want: Vec<f64> = case["tokens"].as_array().unwrap()[1..]
            .iter()
            .map(|t| t["logprob"].as_f64().unwrap())
            .collect();
        // The masked blocks of every size, and (None) the fused attention the CPU runs by default.
        for block in [Some(1), Some(2), Some(5), Some(16), Some(64), None] {
            for from in [0, 1, ids.len() / 2] {
                // Two copies of the window in one pass: both must give the reference numbers.
                let model = engine.model();
                let hidden = match block {
                    Some(block) => model.forward_scoring_in_blocks(&[&ids, &ids], from, block),
                    None => model.forward_scoring(&[&ids, &ids], from),
                }
                .unwrap();
                let rows = ids.len() - from;
                assert_eq!(hidden.dims2().unwrap().0, 2 * rows);
                for copy in 0..2 {
                    let part = hidden.narrow(0, copy * rows, rows).unwrap();
                    let ours = logprobs_of(&engine, &part, 0, &ids[from..]);
                    for (i, (o, w)) in ours.iter().zip(&want[from..]).enumerate() {
                        assert!(
                            (o - w).abs() <= 1e-4,
                            "{:?} block {block:?} from {from} copy {copy} token {}: {o} vs {w}",
                            case["text"],
                            from + i + 1
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn half_precision_weights_load_as_the_values_they_hold() {
    // The same weights rounded to f16 (or bf16), stored once in that dtype and once as f32: reading the
    // half-precision file must give exactly the f32 file's model. The f32 path is the one checked against
    // transformers above; a decoding slip (wrong byte order, f16 read as bf16) would change every number.
    use crate::util::{copy_model, rewrite_weights};
    use safetensors::Dtype;
    type Round = fn(f32) -> (f32, [u8; 2]);
    let cases: [(Dtype, Round); 2] = [
        (Dtype::F16, |v| {
            let h = half::f16::from_f32(v);
            (h.to_f32(), h.to_le_bytes())
        }),
        (Dtype::BF16, |v| {
            let h = half::bf16::from_f32(v);
            (h.to_f32(), h.to_le_bytes())
        }),
    ];
    let (text, options) = ("I love tennis. 我喜欢网球 🎾", AnalyzeOptions::default());
    let original = engine(&hub_model()).analyze(text, &options).unwrap();
    for (dtype, round) in cases {
        let (half_dir, f32_dir) = (copy_model(), copy_model());
        let floats = |view: &safetensors::tensor::TensorView| -> Vec<f32> {
            view.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        };
        rewrite_weights(&half_dir.path().join("model.safetensors"), |_, view| {
            let bytes = floats(view).into_iter().flat_map(|v| round(v).1).collect();
            (dtype, bytes)
        });
        rewrite_weights(&f32_dir.path().join("model.safetensors"), |_, view| {
            let bytes = floats(view)
                .into_iter()
                .flat_map(|v| round(v).0.to_le_bytes())
                .collect();
            (Dtype::F32, bytes)
        });
        for kernels in kernel_paths("engine::half_precision_weights_load_as_the_values_they_hold") {
            let (half, full) = (
                engine_with(half_dir.path(), kernels),
                engine_with(f32_dir.path(), kernels),
            );
            let (a, b) = (
                half.analyze(text, &options).unwrap(),
                full.analyze(text, &options).unwrap(),
            );
            let err = max_abs_diff(
                &serde_json::to_value(&a.attentions).unwrap(),
                &serde_json::to_value(&b.attentions).unwrap(),
            );
            assert!(
                err <= 1e-6,
                "{dtype:?} {kernels:?}: attention differs by {err}"
            );
            for (x, y) in a.tokens.iter().zip(&b.tokens) {
                let (x, y) = (x.stats.as_ref(), y.stats.as_ref());
                let lp = |s: Option<&attngraph::model::TokenStats>| s.map(|s| s.logprob);
                assert_eq!(lp(x).is_some(), lp(y).is_some());
                if let (Some(x), Some(y)) = (lp(x), lp(y)) {
                    assert!((x - y).abs() <= 1e-6, "{dtype:?} {kernels:?}: {x} vs {y}");
                }
            }
            // The rounding moved the model: the f32 fixture's own numbers differ from these.
            assert!(
                (original.perplexity.unwrap() - a.perplexity.unwrap()).abs() > 1e-6,
                "{dtype:?}: rounding changed nothing, so this test could not see a decoding error"
            );
        }
    }
}
