//! GPT-2's tokenizer against Hugging Face's (tests/fixtures/tokenizer.json, whose ids the reference script also
//! checked against OpenAI's own encoder), both from tokenizer.json and built from vocab.json + merges.txt.

use attngraph::model::tokenizer::TextTokenizer;

use crate::util::{fixtures, hub_model, ids_of, prefixed_model};

fn check(tokenizer: &TextTokenizer) {
    let text = std::fs::read_to_string(fixtures().join("tokenizer.json")).unwrap();
    let reference: serde_json::Value = serde_json::from_str(&text).unwrap();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 15);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        let want = ids_of(&case["ids"]);
        let pieces = tokenizer.encode(text).unwrap();
        let ids: Vec<u32> = pieces.iter().map(|p| p.id).collect();
        assert_eq!(ids, want, "ids of {text:?}");
        assert_eq!(
            pieces.last().map_or(0, |p| p.end),
            text.len(),
            "spans must reach the end of {text:?}"
        );
    }
}

#[test]
fn tokenizer_json_matches_transformers() {
    check(&TextTokenizer::from_folder(&prefixed_model()).unwrap());
}

#[test]
fn vocab_and_merges_match_transformers() {
    check(&TextTokenizer::from_folder(&hub_model()).unwrap());
}

#[test]
fn i_love_tennis() {
    // The ids the GPT-2 tokenizer gives, as quoted in the issue and by every GPT-2 tutorial.
    let tokenizer = TextTokenizer::from_folder(&hub_model()).unwrap();
    let ids: Vec<u32> = tokenizer
        .encode("I love tennis.")
        .unwrap()
        .iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(ids, vec![40, 1842, 20790, 13]);
    assert_eq!(tokenizer.text(1842), " love");
    assert_eq!(tokenizer.end_of_text(), Some(50256));
}

#[test]
fn the_longest_prefix_that_fits_fits_and_one_more_token_would_not() {
    // What the app offers to read of a text too long: on GPT-2's byte-level BPE and on the demo model's, whose
    // common Chinese pairs of characters are single tokens. Every cut is at the end of a token of the whole.
    use attngraph::model::Kernels;
    let english = "The old man walks to the market every morning, and the market is busy. ";
    let chinese = "我愛網球。老人每天早上走到市場，市場很熱鬧。";
    for (engine, text) in [
        (crate::util::engine(&hub_model()), english),
        (crate::util::engine_named("demo", Kernels::Auto), english),
        (crate::util::engine_named("demo", Kernels::Auto), chinese),
    ] {
        for bos in [false, true] {
            let (ids, spans) = engine.tokenize(text, bos).unwrap();
            // Below 1 (2 with BOS) nothing fits.
            for limit in 0..=usize::from(bos) {
                assert_eq!(
                    engine.fitting_prefix(text, &spans, bos, limit).unwrap(),
                    None
                );
            }
            for limit in usize::from(bos) + 1..=ids.len() {
                let end = engine
                    .fitting_prefix(text, &spans, bos, limit)
                    .unwrap()
                    .unwrap();
                let read = engine.tokenize(&text[..end], bos).unwrap().0.len();
                assert!(read <= limit, "{text:?} {limit}: {read} tokens");
                // The next cut between tokens, if any, reads as more than the limit.
                if let Some(next) = spans.iter().map(|s| s.1).find(|&e| e > end) {
                    let more = engine.tokenize(&text[..next], bos).unwrap().0.len();
                    assert!(more > limit, "{text:?} {limit}: {more} tokens at {next}");
                }
            }
            // The whole text fits a limit of its own length.
            assert_eq!(
                engine.fitting_prefix(text, &spans, bos, ids.len()).unwrap(),
                Some(spans.last().unwrap().1)
            );
        }
    }
}
