//! The Overlay view: every head of a layer as lines from queries to keys, checked against transformers'
//! attention (tests/fixtures/reference.json): the lines kept, their weights, and the summary of a pinned token.

use std::collections::BTreeMap;

use attngraph::model::{AnalyzeOptions, KeepScores};
use attngraph::ui::overlay_view::{overlay_lines, Focus};

use super::*;

const TEXT: &str = "Attention is a Markov chain: row i says where token i looks.";

/// A click of the primary button at `pos`, the pointer left there.
fn click_at(h: &mut Harness<'static, AttnApp>, pos: egui::Pos2) {
    h.hover_at(pos);
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos,
            button: egui::PointerButton::Primary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
}

/// transformers' A[q][k] for `layer` and `head` of the reference case.
fn weight(case: &serde_json::Value, layer: usize, head: usize, q: usize, k: usize) -> f64 {
    case["attentions"][layer][head][q][k].as_f64().unwrap()
}

#[test]
fn the_lines_are_transformers_weights_above_the_threshold() {
    let case = reference_case(TEXT, true);
    let engine = crate::util::engine(&hub_model());
    let options = AnalyzeOptions {
        bos: true,
        top_k: 5,
        keep_scores: KeepScores::None,
        ..Default::default()
    };
    let analysis = engine.analyze(TEXT, &options).unwrap();
    let n = analysis.tokens.len();
    assert_eq!(n, case["ids"].as_array().unwrap().len());
    let (layer, heads, threshold) = (1, [0usize, 2], 0.05f32);
    // The threshold falls between weights, not on one, so rounding cannot move a line in or out.
    for &h in &heads {
        for q in 0..n {
            for k in 0..=q {
                assert!((weight(&case, layer, h, q, k) - f64::from(threshold)).abs() > 1e-4);
            }
        }
    }
    let want = |keep: &dyn Fn(usize, usize) -> bool| {
        let mut lines = BTreeMap::new();
        for &h in &heads {
            for q in 0..n {
                for k in 0..=q {
                    let w = weight(&case, layer, h, q, k);
                    if keep(q, k) && w >= f64::from(threshold) {
                        lines.insert((h, q, k), w);
                    }
                }
            }
        }
        lines
    };
    for (focus, keep) in [
        (
            None,
            Box::new(|_, _| true) as Box<dyn Fn(usize, usize) -> bool>,
        ),
        (Some(Focus::Query(9)), Box::new(|q, _| q == 9)),
        (Some(Focus::Key(3)), Box::new(|_, k| k == 3)),
    ] {
        let lines = overlay_lines(&analysis.attentions, layer, &heads, threshold, focus);
        let want = want(&*keep);
        assert!(!want.is_empty(), "{focus:?}");
        assert_eq!(lines.len(), want.len(), "{focus:?}");
        for line in &lines {
            let w = want[&(line.head, line.query, line.key)];
            assert!(
                (f64::from(line.weight) - w).abs() <= 1e-5,
                "{line:?} vs {w}"
            );
        }
        // The heaviest drawn last, on top.
        assert!(lines.windows(2).all(|p| p[0].weight <= p[1].weight));
    }
}

#[test]
fn the_view_names_where_a_pinned_token_looks_in_each_head_shown() {
    let case = reference_case(TEXT, true);
    let mut h = harness(&hub_model(), TEXT, None);
    settle(&mut h);
    h.get_by_label("Overlay").click();
    h.step();
    let ctx = h.ctx.clone();
    let select = Command::Select {
        selection: Selection::Head { layer: 1, head: 0 },
        open_graph: false,
    };
    h.state_mut().apply(select, &ctx);
    let pin = Command::Focus {
        hovered: None,
        pinned: Some(9),
    };
    h.state_mut().apply(pin, &ctx);
    h.step();
    h.step();
    let summary = labels_containing(&h, "looks most at:").unwrap();
    let n_head = case["attentions"][1].as_array().unwrap().len();
    for head in 0..n_head {
        // transformers' strongest key of query 9 in this head.
        let best = (0..=9)
            .max_by(|&a, &b| weight(&case, 1, head, 9, a).total_cmp(&weight(&case, 1, head, 9, b)))
            .unwrap();
        let part = format!("h{head} → {best} ");
        assert!(summary.contains(&part), "{part:?} not in {summary}");
    }
    // A head switched off leaves the summary.
    h.get_all_by_label("h1")
        .find(|node| node.accesskit_node().role() == Role::Button)
        .unwrap()
        .click();
    h.step();
    h.step();
    let summary = labels_containing(&h, "looks most at:").unwrap();
    assert!(
        !summary.contains("h1 →") && summary.contains("h0 →"),
        "{summary}"
    );
}

#[test]
fn hovering_a_key_names_who_looks_at_it_most_and_a_click_there_pins_nothing() {
    let case = reference_case(TEXT, true);
    let mut h = harness(&hub_model(), TEXT, None);
    settle(&mut h);
    h.get_by_label("Overlay").click();
    let ctx = h.ctx.clone();
    let select = Command::Select {
        selection: Selection::Head { layer: 1, head: 0 },
        open_graph: false,
    };
    h.state_mut().apply(select, &ctx);
    h.step();
    let n = case["ids"].as_array().unwrap().len();
    // The drawing's rows: n of them below a margin of 4 points, keys at its right edge.
    let rect = h.get_by_label("overlay lines").rect();
    let row = (rect.height() - 8.0) / n as f32;
    let key = 3;
    let at = egui::pos2(
        rect.right() - 20.0,
        rect.top() + 4.0 + (key as f32 + 0.5) * row,
    );
    h.hover_at(at);
    h.step();
    h.step();
    let summary = labels_containing(&h, "is looked at most by:").unwrap();
    let n_head = case["attentions"][1].as_array().unwrap().len();
    for head in 0..n_head {
        // transformers' query that puts the most weight on key 3 in this head.
        let best = (key..n)
            .max_by(|&a, &b| {
                weight(&case, 1, head, a, key).total_cmp(&weight(&case, 1, head, b, key))
            })
            .unwrap();
        let part = format!("h{head} ← {best} ");
        assert!(summary.contains(&part), "{part:?} not in {summary}");
    }
    // A key is only hovered: clicking it pins nothing.
    click_at(&mut h, at);
    h.step();
    assert_eq!(h.state().view.pinned, None);
    // A query on the left is pinned by a click, and the app's hover follows the left column.
    let query = egui::pos2(rect.left() + 20.0, rect.top() + 4.0 + (5.5) * row);
    h.hover_at(query);
    h.step();
    assert_eq!(h.state().view.hovered, Some(5));
    click_at(&mut h, query);
    h.step();
    assert_eq!(h.state().view.pinned, Some(5));

    // The pointer resting on token 15 while the text shrinks to 5 tokens: the hover is let go, not drawn.
    h.hover_at(egui::pos2(
        rect.left() + 20.0,
        rect.top() + 4.0 + 15.5 * row,
    ));
    h.step();
    h.state_mut().settings.text = "I love tennis.".into();
    text_edited(&mut h);
    settle(&mut h);
    h.step();
    assert_eq!(h.state().session.analysis().unwrap().tokens.len(), 5);
    assert!(labels_containing(&h, "looks most at:").is_none());
}
