//! The Perplexity tab: a file and the text above scored as the guide's loop scores them
//! (tests/fixtures/perplexity_reference.json), and each token's surprisal as transformers gives it
//! (tests/fixtures/perplexity_tokens_reference.json, from tools/make_perplexity_tokens_reference.py).

use super::*;

/// transformers' per-token losses in the tab's default windows (64, stride 32) with or without BOS
/// (tests/fixtures/perplexity_tokens_reference.json, from tools/make_perplexity_tokens_reference.py).
fn tokens_case(bos: bool) -> serde_json::Value {
    crate::util::fixture_json("perplexity_tokens_reference.json")["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["max_length"] == 64 && c["stride"] == 32 && c["bos"] == bos)
        .unwrap()
        .clone()
}

#[test]
fn the_perplexity_tab_scores_a_file_like_the_guide() {
    let exports = tempfile::tempdir().unwrap();
    let mut h = harness(&hub_model(), "I love tennis.", Some(exports.path()));
    settle(&mut h);
    h.get_by_label("Perplexity").click();
    h.step();
    let path = crate::util::fixtures().join("perplexity_text.txt");
    let inputs = h.get_all_by_role(Role::TextInput).collect::<Vec<_>>();
    let file_field = inputs.last().unwrap();
    file_field.focus();
    file_field.type_text(path.to_str().unwrap());
    h.step();
    h.get_by_label("Score file").click();
    step_until(&mut h, 60, "no result", |app| {
        assert!(app.perplexity.error.is_none(), "{:?}", app.perplexity.error);
        app.perplexity.result.is_some()
    });
    h.step();
    // Defaults: the model's context (64) and half of it as stride, with the app's BOS.
    assert_scored_as_transformers(&h);
    h.get_by_label_contains("scored here by surprisal");
    // The tokens shown read as the file: its Chinese and its emoji (split over byte tokens) whole, no escapes.
    let scored = h.state().perplexity.result.as_ref().unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.contains('🎾'));
    assert_eq!(scored.tokens[0], "<|endoftext|>");
    assert_eq!(
        crate::util::read_labels(scored.tokens[1..].iter().map(String::as_str)),
        attngraph::model::tokenizer::visible_whitespace(&file)
    );
    // Each part of the emoji is labelled, with the side it continues on marked.
    assert!(
        scored
            .tokens
            .iter()
            .any(|t| t.contains('🎾') && t.ends_with('›')),
        "{:?}",
        scored.tokens
    );
    // Saved, one row per scored token: transformers' losses in the same windows
    // (tools/make_perplexity_tokens_reference.py).
    h.get_by_label("Save per-token CSV").click();
    wait_for_exports(&mut h);
    let rows = crate::util::csv_rows(&std::fs::read_to_string(only_file(exports.path())).unwrap());
    assert_eq!(rows[0], ["position", "token", "nll", "bits", "p", "window"]);
    let bos = h.state().settings.bos;
    let case = tokens_case(bos);
    let (positions, nlls) = (
        case["positions"].as_array().unwrap(),
        case["nll"].as_array().unwrap(),
    );
    assert_eq!(rows.len() - 1, positions.len());
    for ((row, position), nll) in rows[1..].iter().zip(positions).zip(nlls) {
        assert_eq!(row[0], position.as_u64().unwrap().to_string());
        let (ours, want) = (row[2].parse::<f64>().unwrap(), nll.as_f64().unwrap());
        assert!(
            (ours - want).abs() <= 1e-5 * want.abs().max(1.0),
            "{row:?} vs {want}"
        );
    }
}

#[test]
fn the_text_above_is_scored_and_its_most_surprising_token_shown_in_its_window() {
    let text =
        std::fs::read_to_string(crate::util::fixtures().join("perplexity_text.txt")).unwrap();
    let mut h = harness(&hub_model(), &text, None);
    settle(&mut h);
    // 170 tokens, more than the fixture's 64 positions: the graph's banner offers to score all of it, and the
    // Perplexity tab opens to do it.
    assert!(h.state().session.analysis().is_none());
    h.get_by_label("Score all of it in windows").click();
    h.step();
    assert_eq!(
        h.state().settings.view,
        attngraph::ui::settings::View::Perplexity
    );
    step_until(&mut h, 60, "no result", |app| {
        assert!(app.perplexity.error.is_none(), "{:?}", app.perplexity.error);
        app.perplexity.result.is_some()
    });
    h.step();
    assert_eq!(
        h.state().perplexity.result.as_ref().unwrap().name(),
        "the text above"
    );
    // The text box holds the fixture's file: the same windows, the same perplexity.
    assert_scored_as_transformers(&h);

    // transformers' per-token losses in the same windows (64, stride 32, BOS as the settings say).
    let bos = h.state().settings.bos;
    let case = tokens_case(bos);
    let mut want: Vec<(u64, f64)> = case["positions"]
        .as_array()
        .unwrap()
        .iter()
        .zip(case["nll"].as_array().unwrap())
        .map(|(p, n)| (p.as_u64().unwrap(), n.as_f64().unwrap()))
        .collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1));
    let listed = h.state().perplexity.surprising.clone();
    assert_eq!(listed.len(), 8);
    for ((position, nll), (want_position, want_nll)) in listed.iter().zip(&want) {
        assert_eq!(*position as u64, *want_position);
        assert!((nll - want_nll).abs() <= 1e-5 * want_nll.abs().max(1.0));
    }
    // Clicking the most surprising shows the window that scores it, with it marked.
    let (position, nll) = listed[0];
    let token = h.state().perplexity.result.as_ref().unwrap().tokens[position].clone();
    h.get_by_label(&format!("{token} {:.1} bits", nll / std::f64::consts::LN_2))
        .click();
    h.step();
    // Windows of 64 every 32 tokens: the first scores tokens up to 63, window w > 0 the tokens 32w + 32 to
    // 32w + 63, new to it.
    let scoring = if position < 64 { 0 } else { position / 32 - 1 };
    assert_eq!(h.state().perplexity.window, scoring);
    assert_eq!(h.state().perplexity.marked, Some(position));
    h.get_by_label_contains(&format!("window {scoring}: tokens"));

    // The tab's own button scores the text again.
    h.get_by_label("Score the text above").click();
    h.step();
    assert!(
        h.state().perplexity.progress.is_some(),
        "the second scoring did not start"
    );
    step_until(&mut h, 60, "no second result", |app| {
        app.perplexity.progress.is_none()
    });
    assert_scored_as_transformers(&h);
    assert!(labels_containing(&h, "has changed since it was scored").is_none());

    // The text edited after it was scored: the result says it is of the text as it was.
    h.state_mut().settings.text.push_str(" More.");
    text_edited(&mut h);
    h.step();
    assert!(labels_containing(&h, "has changed since it was scored").is_some());
}
