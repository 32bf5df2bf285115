//! The Overlay view: every head of a layer as lines from queries to keys, checked against transformers'
//! attention (tests/fixtures/reference.json): the lines kept, their weights, the summary of a pinned token, and
//! the same lines in `attngraph overlay`'s SVG and the view's own SVG export.

use std::collections::BTreeMap;

use attngraph::model::{AnalyzeOptions, KeepScores};
use attngraph::ui::overlay_view::{overlay_lines, Focus};

use super::*;
use crate::util::{assert_clean_failure, run_cli};

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

/// The lines of an overlay SVG: (head, query, key) → weight, read from each line's title.
fn svg_lines(svg: &str) -> BTreeMap<(usize, usize, usize), f64> {
    let mut lines = BTreeMap::new();
    for piece in svg.split("<line ").skip(1) {
        // <title>h{head}: {q} {token} → {k} {token} {weight}</title>
        let title = piece
            .split("<title>")
            .nth(1)
            .unwrap()
            .split("</title>")
            .next()
            .unwrap();
        let (head, rest) = title.strip_prefix('h').unwrap().split_once(": ").unwrap();
        let (from, to) = rest.split_once(" → ").unwrap();
        let query = from.split(' ').next().unwrap().parse().unwrap();
        let key = to.split(' ').next().unwrap().parse().unwrap();
        let weight = to.rsplit(' ').next().unwrap().parse().unwrap();
        assert!(
            lines
                .insert((head.parse().unwrap(), query, key), weight)
                .is_none(),
            "a line twice: {title}"
        );
    }
    lines
}

/// transformers' weights of `heads` in `layer` at or above `threshold`, the lines of `query` alone if given.
fn reference_lines(
    case: &serde_json::Value,
    layer: usize,
    heads: &[usize],
    threshold: f64,
    query: Option<usize>,
) -> BTreeMap<(usize, usize, usize), f64> {
    let n = case["ids"].as_array().unwrap().len();
    let mut lines = BTreeMap::new();
    for &h in heads {
        for q in (0..n).filter(|&q| query.is_none_or(|p| p == q)) {
            for k in 0..=q {
                let w = weight(case, layer, h, q, k);
                if w >= threshold {
                    lines.insert((h, q, k), w);
                }
            }
        }
    }
    lines
}

fn assert_same_lines(
    got: &BTreeMap<(usize, usize, usize), f64>,
    want: &BTreeMap<(usize, usize, usize), f64>,
    what: &str,
) {
    assert!(!want.is_empty(), "{what}");
    assert_eq!(
        got.keys().collect::<Vec<_>>(),
        want.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (line, w) in want {
        assert!(
            (got[line] - w).abs() <= 1e-4,
            "{what}: {line:?} {} vs {w}",
            got[line]
        );
    }
}

#[test]
fn the_overlay_command_draws_transformers_weights_above_the_threshold() {
    let case = reference_case(TEXT, true);
    let dir = tempfile::tempdir().unwrap();
    let model = hub_model().display().to_string();
    let overlay = |extra: &[&str], out: &std::path::Path| {
        let mut args = vec!["overlay", "--model", &model, "--text", TEXT, "--bos"];
        args.extend_from_slice(extra);
        if !extra.contains(&"--layer") {
            args.extend(["--layer", "1"]);
        }
        if !extra.contains(&"--threshold") {
            args.extend(["--threshold", "0.05"]);
        }
        let out = out.to_str().unwrap().to_string();
        args.extend(["-o", &out]);
        run_cli(&args, &[])
    };
    // The threshold falls between weights (checked in the test above for these heads): rounding moves no line.
    let svg_path = dir.path().join("all.svg");
    let out = overlay(&["--heads", "0,2"], &svg_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("layer 1: h0, h2 of its 4 heads"));
    assert_same_lines(
        &svg_lines(&svg),
        &reference_lines(&case, 1, &[0, 2], 0.05, None),
        "heads 0, 2",
    );
    // One query's lines, every head.
    let svg_path = dir.path().join("query.svg");
    let out = overlay(&["--query", "9"], &svg_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_same_lines(
        &svg_lines(&svg),
        &reference_lines(&case, 1, &[0, 1, 2, 3], 0.05, Some(9)),
        "query 9",
    );
    // Who looks at one key, every head.
    let svg_path = dir.path().join("key.svg");
    let out = overlay(&["--key", "3"], &svg_path);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want: BTreeMap<_, _> = reference_lines(&case, 1, &[0, 1, 2, 3], 0.05, None)
        .into_iter()
        .filter(|((_, _, k), _)| *k == 3)
        .collect();
    let svg = std::fs::read_to_string(&svg_path).unwrap();
    assert_same_lines(&svg_lines(&svg), &want, "key 3");
    // To stdout: SVG without --format.
    let stdout = std::path::Path::new("-");
    let out = overlay(&["--heads", "0,2"], stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let svg = String::from_utf8(out.stdout).unwrap();
    assert_same_lines(
        &svg_lines(&svg),
        &reference_lines(&case, 1, &[0, 2], 0.05, None),
        "stdout",
    );
    // PNG.
    let png = dir.path().join("o.png");
    let out = overlay(&[], &png);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");
    // What it refuses, and why.
    let bad = dir.path().join("bad.svg");
    for (extra, says) in [
        (&["--heads", "4"][..], "head 4 does not exist"),
        (&["--layer", "3"], "layer 3 does not exist"),
        (&["--query", "99"], "token 99 is past the text"),
        (
            &["--threshold", "2"],
            "--threshold 2 must be between 0 and 1",
        ),
    ] {
        assert_clean_failure(&overlay(extra, &bad), says);
    }
    assert_clean_failure(&overlay(&[], &dir.path().join("x.txt")), "which format?");
    // Every line of a long text would be a wash: one token's lines, or a shorter text.
    let long = "one two three four five ".repeat(30);
    let bad_path = bad.to_str().unwrap();
    let args = [
        "overlay", "--model", "demo", "--text", &long, "--layer", "0", "-o", bad_path,
    ];
    assert_clean_failure(&run_cli(&args, &[]), "give --query P or --key P");
    assert!(!bad.exists());
}

#[test]
fn the_export_menu_saves_the_overlay_as_shown() {
    let case = reference_case(TEXT, true);
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(&hub_model(), TEXT, Some(dir.path()));
    settle(&mut h);
    h.get_by_label("Overlay").click();
    h.step();
    let ctx = h.ctx.clone();
    let select = Command::Select {
        selection: Selection::Head { layer: 1, head: 0 },
        open_graph: false,
    };
    h.state_mut().apply(select, &ctx);
    h.state_mut().settings.pruning.threshold = 0.05;
    h.step();
    // Head 1 off.
    h.get_all_by_label("h1")
        .find(|node| node.accesskit_node().role() == Role::Button)
        .unwrap()
        .click();
    h.step();
    h.step();
    h.state_mut()
        .apply(Command::QuickExport(attngraph::export::Format::Svg), &ctx);
    wait_for_exports(&mut h);
    let svg = std::fs::read_to_string(only_file(dir.path())).unwrap();
    assert!(
        svg.contains("layer 1: h0, h2, h3 of its 4 heads"),
        "{}",
        svg.chars().take(400).collect::<String>()
    );
    assert_same_lines(
        &svg_lines(&svg),
        &reference_lines(&case, 1, &[0, 2, 3], 0.05, None),
        "heads 0, 2, 3",
    );
}
