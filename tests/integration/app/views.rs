//! The Layers, Markov and Compare views, and edges weighed by what flows.

use super::*;

#[test]
fn the_layers_view_shows_the_lens_and_plots_a_tokens_climb() {
    let exports = tempfile::tempdir().unwrap();
    let launch = Launch {
        model: Some(hub_model().display().to_string()),
        text: Some("I love tennis. I love tennis.".into()),
        fresh: true,
        view: Some(attngraph::ui::settings::View::Layers),
        export_dir: Some(exports.path().to_path_buf()),
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    settle(&mut h);
    settle(&mut h);
    let lens = h
        .state()
        .session
        .lensed(&attngraph::model::ablation::KnockOut::default())
        .expect("the lens of the text on screen")
        .clone();
    let n_layer = h.state().session.analysis().unwrap().model.n_layer;
    assert_eq!(lens.layers.len(), n_layer + 1);
    // Its last column is the model's own output: the analysis's probabilities.
    let analysis = h.state().session.analysis().unwrap().clone();
    for (p, token) in analysis.tokens.iter().enumerate().skip(1) {
        let lens_lp = lens.layers[n_layer][p - 1].next_logprob.unwrap();
        assert!((lens_lp - token.stats.as_ref().unwrap().logprob).abs() < 1e-6);
    }
    // BOS is on by default: token 2 is ␣love. The probability panel on the right has the same label: click the
    // Layers view's, left of it.
    h.query_all_by_label("2 ␣love")
        .min_by(|a, b| a.rect().min.x.total_cmp(&b.rect().min.x))
        .unwrap()
        .click();
    h.step();
    h.step();
    assert_eq!(h.state().view.lens_column, Some(2));
    h.get_by_label_contains("p(␣tennis) after token 2, layer by layer");
    // Saved as JSON from the view: the lens the CLI prints.
    h.get_by_label("JSON").click();
    step_until(&mut h, 30, "the lens was not saved", |app| !app.busy());
    let saved: Vec<_> = std::fs::read_dir(exports.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&saved[0]).unwrap()).unwrap();
    assert_eq!(json["layers"].as_array().unwrap().len(), n_layer + 1);
    // And as a picture: the grid as SVG (a cell per layer and token) and as PNG.
    for button in ["SVG", "PNG"] {
        h.get_by_label(button).click();
        step_until(&mut h, 60, "the lens picture was not saved", |app| {
            !app.busy()
        });
    }
    let saved = |ext: &str| -> Vec<std::path::PathBuf> {
        std::fs::read_dir(exports.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .collect()
    };
    let svg = std::fs::read_to_string(&saved("svg")[0]).unwrap();
    let cells = svg.matches("<rect x=").count() - 21; // less the legend's swatches
    assert_eq!(cells, (n_layer + 1) * analysis.tokens.len());
    assert!(svg.contains("the logit lens"), "{svg}");
    let png = std::fs::read(&saved("png")[0]).unwrap();
    assert_eq!(&png[1..4], b"PNG");
    // Knocking a head out asks for the lens of the ablated run.
    h.state_mut().view.knocked_out = "1.2".parse().unwrap();
    h.step();
    settle(&mut h);
    let knock_out = attngraph::model::ablation::KnockOut {
        heads: "1.2".parse().unwrap(),
        replacement: Default::default(),
    };
    assert!(h.state().session.lensed(&knock_out).is_some());
}

#[test]
fn edges_can_weigh_what_flows_and_the_markov_view_stays_on_attention() {
    use attngraph::graph::EdgeWeight;
    let text = "The quick brown fox jumps over the lazy dog.";
    let launch = Launch {
        model: Some(hub_model().display().to_string()),
        text: Some(text.into()),
        fresh: true,
        selection: Some(Selection::Head { layer: 1, head: 2 }),
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    settle(&mut h);
    let shown = |h: &Harness<'static, AttnApp>| h.state().view.shown().unwrap().snapshot.clone();
    assert_eq!(shown(&h).edge_weight, EdgeWeight::Attention);
    // What the "edges" menu sets.
    h.state_mut().settings.edge_weight = EdgeWeight::Norm;
    h.step();
    step_until(&mut h, 200, "the edges never weighed what flows", |app| {
        app.view
            .shown()
            .is_some_and(|s| s.snapshot.edge_weight == EdgeWeight::Norm)
    });
    let snapshot = shown(&h);
    // The same matrix as `attngraph export --weight norm` (checked against numpy in norms.rs).
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.json");
    let model = hub_model().display().to_string();
    let path = out.display().to_string();
    crate::util::assert_success(&crate::util::run_cli(
        &[
            "export", "--model", &model, "--text", text, "--bos", "--layer", "1", "--head", "2",
            "--weight", "norm", "-o", &path,
        ],
        &[],
    ));
    let cli: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let ours = serde_json::to_value(&snapshot.matrix).unwrap();
    assert!(crate::util::max_abs_diff(&ours, &cli["matrix"]) < 1e-9);
    assert!(
        snapshot.title().contains("what flows"),
        "{}",
        snapshot.title()
    );
    // The Markov view is the chain itself: attention, whatever the edges weigh elsewhere.
    h.state_mut().settings.view = attngraph::ui::settings::View::Markov;
    h.step();
    step_until(
        &mut h,
        200,
        "the Markov view did not show attention",
        |app| {
            app.view
                .shown()
                .is_some_and(|s| s.snapshot.edge_weight == EdgeWeight::Attention)
        },
    );
    assert!(shown(&h).markov.is_row_stochastic);
    // A selection with no norm of its own says so.
    h.state_mut().settings.view = attngraph::ui::settings::View::Graph;
    h.state_mut().settings.selection = Selection::Rollout;
    h.step();
    step_until(
        &mut h,
        200,
        "rollout weighed by what flows was not refused",
        |app| {
            app.notice()
                .is_some_and(|n| n.contains("what flows is defined for one head or one layer"))
        },
    );
}

#[test]
fn the_compare_view_keeps_both_panes_and_patches_from_one_into_the_other() {
    use attngraph::ui::settings::View;
    let exports = tempfile::tempdir().unwrap();
    let launch = Launch {
        model: Some(hub_model().display().to_string()),
        text: Some("I love tennis. I love".into()),
        compare_text: Some("I hate tennis. I love".into()),
        view: Some(View::Compare),
        fresh: true,
        export_dir: Some(exports.path().to_path_buf()),
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    step_until(&mut h, 300, "the second pane was never read", |app| {
        app.session.compared().is_some() && app.session.analysis().is_some() && !app.busy()
    });
    let b = h.state().session.compared().unwrap().clone();
    assert_eq!(b.text, "I hate tennis. I love");
    // The difference names a cell on hover only over its cells. Along a row from its left edge, the row label
    // names nothing (a label is not column 0); the first cell named is that row's column 0.
    let heatmap = h.get_by_label("difference heatmap").rect();
    let mut named = None;
    let mut x = heatmap.left() + 2.0;
    while x < heatmap.right() {
        h.hover_at(egui::pos2(x, heatmap.center().y));
        for _ in 0..8 {
            h.step();
        }
        named = labels_containing(&h, " → column ");
        if named.is_some() {
            break;
        }
        x += 6.0;
    }
    let tip = named.expect("no cell of the difference was named on hover");
    assert!(x > heatmap.left() + 20.0, "named over the labels: {tip}");
    assert!(
        tip.starts_with("row ") && tip.contains(" → column 0:"),
        "{tip}"
    );
    // An edit in the first pane reads the first text again and leaves the second pane's analysis as it was.
    h.state_mut().settings.text = "I love tennis. I like".into();
    h.state_mut()
        .apply(Command::TextEdited, &egui::Context::default());
    step_until(&mut h, 300, "the first pane was not read again", |app| {
        app.session
            .analysis()
            .is_some_and(|a| a.text == "I love tennis. I like")
            && !app.busy()
    });
    assert!(std::sync::Arc::ptr_eq(
        h.state().session.compared().unwrap(),
        &b
    ));
    // And an edit in the second pane leaves the first's.
    let a = h.state().session.analysis().unwrap().clone();
    h.state_mut().apply(
        Command::CompareText("I hate tennis. I like".into()),
        &egui::Context::default(),
    );
    step_until(&mut h, 300, "the second pane was not read again", |app| {
        app.session
            .compared()
            .is_some_and(|b| b.text == "I hate tennis. I like")
            && !app.busy()
    });
    assert!(std::sync::Arc::ptr_eq(
        h.state().session.analysis().unwrap(),
        &a
    ));
    // Patch from A into B: the numbers are the library's (checked against PyTorch hooks in patching.rs).
    h.get_by_label("Patch from A into B").click();
    step_until(&mut h, 600, "the patching never finished", |app| {
        !app.busy() && !app.session.patch_running()
    });
    let (a, b) = (
        h.state().session.analysis().unwrap().clone(),
        h.state().session.compared().unwrap().clone(),
    );
    let key = attngraph::ui::compare_view::patch_key(&a, &b, None).unwrap();
    let shown = h
        .state()
        .session
        .patched(&key)
        .expect("the patching of the two texts")
        .clone();
    let engine = crate::util::engine(&hub_model());
    let want = attngraph::model::patching::patch(
        &engine,
        &key.clean,
        &key.corrupt,
        key.bos,
        key.answer,
        key.wrong,
        &mut |_, _| true,
    )
    .unwrap();
    assert_eq!(*shown, want);
    h.get_by_label("patch_residual");
    h.get_by_label("patch_heads");
    // Saved as the command prints it, and as a picture.
    for button in ["JSON", "SVG"] {
        h.get_by_label(button).click();
        step_until(&mut h, 60, "the patching was not saved", |app| !app.busy());
    }
    let saved = |ext: &str| -> std::path::PathBuf {
        std::fs::read_dir(exports.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap()
    };
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(saved("json")).unwrap()).unwrap();
    // serde_json reads back the last bit of a float approximately: compare numbers to 1e-12.
    let want_json = serde_json::to_value(&want).unwrap();
    assert_eq!(json["clean_tokens"], want_json["clean_tokens"]);
    assert!(crate::util::max_abs_diff(&json["residual"], &want_json["residual"]) < 1e-12);
    assert!(crate::util::max_abs_diff(&json["heads"], &want_json["heads"]) < 1e-12);
    let svg = std::fs::read_to_string(saved("svg")).unwrap();
    assert!(svg.contains("Activation patching"));
    // Measured by other tokens from the menus: the panel patches by the reader's choice.
    h.get_by_label("answer token");
    h.get_by_label("wrong token");
    let answer = a
        .next_top_k
        .iter()
        .chain(&b.next_top_k)
        .map(|g| g.id)
        .find(|&id| id != key.answer && id != key.wrong)
        .unwrap();
    let chosen = attngraph::session::PatchKey {
        answer,
        ..key.clone()
    };
    assert_ne!(chosen, key);
    h.state_mut().apply(
        Command::PatchTokens(chosen.clone()),
        &egui::Context::default(),
    );
    h.step();
    h.get_by_label("Patch from A into B").click();
    step_until(&mut h, 600, "the chosen patching never finished", |app| {
        !app.busy() && app.session.patched(&chosen).is_some()
    });
    let mine = h.state().session.patched(&chosen).unwrap().clone();
    assert_eq!(
        (mine.answer.id, mine.wrong.id),
        (chosen.answer, chosen.wrong)
    );
    h.get_by_label("difference graph");
    // Two heads of one text instead: both heatmaps and their difference, no second text needed.
    h.state_mut().apply(
        Command::CompareHead(Some(Selection::Head { layer: 1, head: 2 })),
        &egui::Context::default(),
    );
    h.step();
    h.step();
    h.get_by_label("difference heatmap");
    assert!(h.query_by_label("Patch from A into B").is_none());
}

/// The probability table's guesses column: the likeliest guess first, then as many whole ones as fit, then "+k"
/// for the k left out (five in all, as the reference's top five).
#[test]
fn the_guesses_column_shows_whole_guesses_then_how_many_are_left_out() {
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    let bos = h.state().settings.bos;
    let want = reference_case("I love tennis.", bos);
    let analysis = h.state().session.analysis().unwrap().clone();
    let row = if bos { 1 } else { 0 };
    let stats = analysis.tokens[row + 1].stats.as_ref().unwrap();
    // The first guess is transformers' likeliest.
    assert_eq!(
        u64::from(stats.top_k[0].id),
        want["tokens"][row + 1]["top5"][0][0].as_u64().unwrap()
    );
    let first = format!(
        "{} {}",
        attngraph::model::tokenizer::visible_whitespace(&stats.top_k[0].text),
        attngraph::format::whole_percent(stats.top_k[0].prob)
    );
    let label = labels_containing(&h, &first).expect("the likeliest guess in the table");
    let line = label.lines().next().unwrap();
    // The guesses are whole: each shown one starts with its token; the count after "+" is the rest of five.
    let shown = stats
        .top_k
        .iter()
        .take_while(|g| line.contains(&attngraph::model::tokenizer::visible_whitespace(&g.text)))
        .count();
    // A 1,500-point window leaves the column room for fewer than five.
    assert!((1..5).contains(&shown), "{line}");
    assert!(line.ends_with(&format!("+{}", 5 - shown)), "{line}");
}
