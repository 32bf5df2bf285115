//! The heatmap and the heads view: cells clicked, the selected head beside the grid, the token window, and long pastes.

use super::*;

/// Clicks cell (`query`, `key`) of the whole-matrix heatmap: the cells fill the square right of 110 points of
/// row labels and below the band of column labels.
fn click_heatmap_cell(h: &mut Harness<'static, AttnApp>, query: usize, key: usize) {
    let n = h.state().session.analysis().unwrap().tokens.len();
    let rect = h.get_by_label("attention heatmap").rect();
    // Token labels take 110 points on the left; the cells are a square, so the band above is what is left.
    let side = rect.width() - 110.0;
    let band = rect.height() - side;
    let cell = side / n as f32;
    let pos = rect.min
        + egui::vec2(
            110.0 + (key as f32 + 0.5) * cell,
            band + (query as f32 + 0.5) * cell,
        );
    h.hover_at(pos);
    h.step();
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::default(),
        });
    }
    h.step();
    h.step();
}

#[test]
fn the_heads_view_shows_the_selected_heads_matrix_beside_a_narrow_grid() {
    use attngraph::ui::settings::View;
    // A grid of few heads a layer, fitted to the height, leaves room: the selected head's matrix fills it, and a
    // click on it selects both tokens as in the Matrix view.
    let mut h = harness(&hub_model(), "I love tennis. I love tennis.", None);
    h.state_mut().settings.view = View::Heads;
    settle(&mut h);
    h.get_by_label_contains(", selected");
    let (query, key) = (6, 3);
    click_heatmap_cell(&mut h, query, key);
    assert_eq!(h.state().view.pinned, Some(query));
    assert_eq!(h.state().view.hovered, Some(key));
    // A click on another head shows its matrix there: the view stays, the heatmap's title follows.
    let other = match h.state().settings.selection {
        Selection::Head { layer: 0, head: 0 } => (0, 1),
        _ => (0, 0),
    };
    h.get_by_label(&format!("layer {} head {}", other.0, other.1))
        .click();
    let chosen = Selection::Head {
        layer: other.0,
        head: other.1,
    };
    // The snapshot of the new head is made off the frame: wait for it, then for a frame that draws it.
    step_until(&mut h, 60, "the selected head's snapshot", |app| {
        app.view
            .shown()
            .is_some_and(|s| s.snapshot.selection == chosen)
    });
    h.step();
    assert_eq!(h.state().settings.view, View::Heads);
    assert_eq!(h.state().settings.selection, chosen);
    h.get_by_label_contains(&format!("layer {} head {}, selected", other.0, other.1));
    // In a narrow window there is no room beside the grid: a click opens the head in the Graph tab.
    h.set_size(egui::vec2(700.0, 900.0));
    h.step();
    h.step();
    assert!(labels_containing(&h, ", selected").is_none());
    h.get_by_label("layer 0 head 2").click();
    settle(&mut h);
    assert_eq!(h.state().settings.view, View::Graph);
    assert_eq!(
        h.state().settings.selection,
        Selection::Head { layer: 0, head: 2 }
    );
}

#[test]
fn a_heatmap_cell_click_selects_both_tokens_and_a_long_paste_keeps_the_text_box() {
    use attngraph::ui::settings::View;
    let mut h = harness(&hub_model(), "I love tennis. I love tennis.", None);
    h.state_mut().settings.view = View::Matrix;
    settle(&mut h);
    let (query, key) = (5, 2);
    click_heatmap_cell(&mut h, query, key);
    assert_eq!(h.state().view.pinned, Some(query));
    assert_eq!(h.state().view.hovered, Some(key));

    // A paste of many lines: the text box keeps its height (it scrolls), so the view below does not move; the
    // count beside it follows.
    let text_box = |h: &Harness<'static, AttnApp>| h.get_by_label("log colours").rect().min.y;
    let before = text_box(&h);
    let lines = |k: usize| -> String { (0..k).map(|i| format!("Line {i} of a text.\n")).collect() };
    h.state_mut().settings.text = lines(8);
    text_edited(&mut h);
    settle(&mut h);
    let tokens = h.state().session.analysis().unwrap().tokens.len();
    assert!(tokens > 40, "{tokens}");
    assert!(
        (text_box(&h) - before).abs() < 1.0,
        "the controls under the text box moved from {before} to {}: the text box grew",
        text_box(&h)
    );
    h.get_by_label(&format!("{tokens} / 64 tokens"));
    // Past the context (64 tokens here): the count says so, in place of the analysis' old count.
    h.state_mut().settings.text = lines(20);
    text_edited(&mut h);
    settle(&mut h);
    h.get_by_label_contains("/ 64 tokens: too long");
    assert!((text_box(&h) - before).abs() < 1.0);
    // The app offers to read the part that fits, for this text only: while another one waits to be read, the
    // offer (found for the one refused) is not made.
    h.state_mut().settings.text = lines(21);
    text_edited(&mut h);
    h.step();
    assert!(h.query_by_label("Read the part that fits").is_none());
    settle(&mut h);
    // The text is cut between tokens, the cut part kept.
    let whole = h.state().settings.text.clone();
    h.get_by_label("Read the part that fits").click();
    settle(&mut h);
    let kept = h.state().settings.text.clone();
    assert!(
        whole.starts_with(&kept) && kept.len() < whole.len(),
        "{kept:?}"
    );
    let tokens = h.state().session.analysis().unwrap().tokens.len();
    assert!((60..=64).contains(&tokens), "{tokens}");
    h.get_by_label(&format!("{tokens} / 64 tokens"));
    assert_eq!(h.state().session.analysis().unwrap().text, kept);
    h.get_by_label("Put the whole text back").click();
    settle(&mut h);
    assert_eq!(h.state().settings.text, whole);
    h.get_by_label_contains("/ 64 tokens: too long");
    // Cut, then typed over: the text is the reader's, and nothing is offered to put back.
    h.get_by_label("Read the part that fits").click();
    settle(&mut h);
    h.state_mut().settings.text = "Line 0 of".into();
    text_edited(&mut h);
    settle(&mut h);
    assert!(h.query_by_label("Put the whole text back").is_none());
}

#[test]
fn the_token_window_narrows_the_graph_to_its_queries() {
    // The demo model reads 256 tokens: a text of about 120.
    let text: String = (0..12)
        .map(|i| format!("Sentence {i} is about the log files. "))
        .collect();
    let mut h = harness(std::path::Path::new("demo"), &text, None);
    settle(&mut h);
    let n = h.state().session.analysis().unwrap().tokens.len();
    assert!(n > 100, "{n}");
    let whole = h.state().view.shown().unwrap().graph.node_count();
    assert_eq!(whole, n);
    // The window's spin boxes are there on a long text.
    h.get_by_label_contains("queries");
    let ctx = h.ctx.clone();
    h.state_mut()
        .apply(Command::TokenWindow(Some((40, 60))), &ctx);
    h.step();
    h.step();
    let graph = &h.state().view.shown().unwrap().graph;
    // Tokens 0..=60: the window's queries and the context before them; nothing after.
    assert_eq!(graph.node_count(), 61);
    for edge in graph.g().edge_indices() {
        let (from, _) = graph.g().edge_endpoints(edge).unwrap();
        let query = *graph.node(from).unwrap().payload();
        assert!((40..=60).contains(&query), "an edge from query {query}");
    }
    h.get_by_label_contains("the tokens before them sit faded");
    h.get_by_label("all").click();
    h.step();
    h.step();
    assert_eq!(h.state().view.shown().unwrap().graph.node_count(), n);
}

#[test]
fn a_1024_token_paste_keeps_the_text_box_counts_narrows_and_clicks() {
    use attngraph::model::tokenizer::TextTokenizer;
    use attngraph::ui::settings::View;
    let dir = tempfile::tempdir().unwrap();
    let model = crate::util::long_context_model(dir.path());
    let mut h = harness(&model, "I love tennis.", None);
    h.state_mut().settings.view = View::Matrix;
    settle(&mut h);
    let heatmap_top =
        |h: &Harness<'static, AttnApp>| h.get_by_label("attention heatmap").rect().min.y;
    let before = heatmap_top(&h);

    // A paste of 1,023 tokens of prose: with BOS, the whole context of 1,024.
    let prose: String = (0..200)
        .map(|i| format!("Sentence {i} says the log files grew overnight. "))
        .collect();
    let pieces = TextTokenizer::from_folder(&model)
        .unwrap()
        .encode(&prose)
        .unwrap();
    h.state_mut().settings.text = prose[..pieces[1023].start].to_string();
    text_edited(&mut h);
    settle(&mut h);
    let n = h.state().session.analysis().unwrap().tokens.len();
    assert_eq!(n, 1024);
    assert!(
        (heatmap_top(&h) - before).abs() < 1.0,
        "the controls under the text box moved from {before} to {}: the text box grew",
        heatmap_top(&h)
    );
    h.get_by_label("1,024 / 1,024 tokens");

    // A click on one of the 1,024² cells selects both tokens.
    let (query, key) = (700, 311);
    click_heatmap_cell(&mut h, query, key);
    assert_eq!(h.state().view.pinned, Some(query));
    assert_eq!(h.state().view.hovered, Some(key));

    // The graph of all 1,024 tokens keeps each token's strongest links; a window of queries narrows it.
    h.state_mut().settings.view = View::Graph;
    h.step();
    h.step();
    assert_eq!(h.state().view.shown().unwrap().graph.node_count(), n);
    h.get_by_label_contains("strongest");
    let ctx = h.ctx.clone();
    h.state_mut()
        .apply(Command::TokenWindow(Some((900, 1000))), &ctx);
    h.step();
    h.step();
    let graph = &h.state().view.shown().unwrap().graph;
    assert_eq!(graph.node_count(), 1001);
    for edge in graph.g().edge_indices() {
        let (from, _) = graph.g().edge_endpoints(edge).unwrap();
        let query = *graph.node(from).unwrap().payload();
        assert!((900..=1000).contains(&query), "an edge from query {query}");
    }
}
