//! Pre-softmax scores against transformers (every layer's, or one layer's alone, what the lesson keeps, and the
//! same analysis either way), and what comes after the text: greedy continuation against the reference.

use attngraph::model::{AnalyzeOptions, KeepScores};

use crate::util::{engine, hub_model, max_abs_diff, reference, reference_case};

#[test]
fn pre_softmax_scores_match_transformers() {
    let engine = engine(&hub_model());
    let reference = reference();
    let layer = reference["scores"]["layer"].as_u64().unwrap() as usize;
    let with = |keep_scores| AnalyzeOptions {
        bos: true,
        top_k: 1,
        keep_scores,
        ..Default::default()
    };
    // Every layer's scores, or the reference's layer's alone: the same analysis either way, bit for bit.
    let all = engine
        .analyze("I love tennis.", &with(KeepScores::All))
        .unwrap();
    for keep in [KeepScores::All, KeepScores::Layer(layer)] {
        let analysis = engine.analyze("I love tennis.", &with(keep)).unwrap();
        assert_eq!(analysis.attentions, all.attentions, "{keep:?}");
        assert_eq!(analysis.tokens, all.tokens, "{keep:?}");
        let scores = analysis.scores.unwrap().0;
        assert_eq!(
            scores.len(),
            engine.info().n_layer,
            "{keep:?}: one entry a layer"
        );
        for (l, kept) in scores.iter().enumerate() {
            assert_eq!(kept.is_empty(), !keep.of(l), "{keep:?}: layer {l}");
        }
        let ours = serde_json::to_value(&scores[layer]).unwrap();
        let err = max_abs_diff(&ours, &reference["scores"]["scores"]);
        assert!(err <= 1e-4, "{keep:?}: score error {err}");
        // The teaching point: scores are not symmetric.
        assert_ne!(ours[0][1][2], ours[0][2][1]);
    }
    assert!(engine
        .analyze("I love tennis.", &with(KeepScores::None))
        .unwrap()
        .scores
        .is_none());
    // A layer past the model: refused before any work, not an analysis with no scores in it.
    let err = engine
        .analyze("I love tennis.", &with(KeepScores::Layer(99)))
        .unwrap_err();
    assert!(err.to_string().contains("layer 99 does not exist"), "{err}");
}

#[test]
fn greedy_continuation_takes_the_reference_argmax() {
    // With temperature 0 the next token after "I love" (with BOS) must be the reference's most likely token at
    // that position: tokens[3].top5[0] of the "I love tennis." case predicts from the context "<BOS> I love".
    let engine = engine(&hub_model());
    let case = reference_case("I love tennis.", true);
    let want = case["tokens"][3]["top5"][0][0].as_u64().unwrap() as u32;
    let options = attngraph::model::generate::SamplingOptions {
        temperature: 0.0,
        max_new_tokens: 1,
        ..Default::default()
    };
    let text =
        attngraph::model::generate::continue_text(&engine, "I love", true, &options).unwrap();
    let expected = format!(
        "I love{}",
        String::from_utf8_lossy(engine.tokenizer().bytes(want))
    );
    assert_eq!(text, expected);
    // Sampling is repeatable for a seed and adds the number of tokens asked for (the fixture never ends a text).
    let sampled = attngraph::model::generate::SamplingOptions {
        temperature: 1.0,
        max_new_tokens: 5,
        seed: 3,
        ..Default::default()
    };
    let a = attngraph::model::generate::continue_text(&engine, "I love", true, &sampled).unwrap();
    assert_eq!(
        a,
        attngraph::model::generate::continue_text(&engine, "I love", true, &sampled).unwrap()
    );
    assert_eq!(engine.tokenize(&a, true).unwrap().0.len(), 3 + 5);
}
