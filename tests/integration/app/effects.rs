//! Knocking heads out and the contribution colouring, checked against the references, and their exports.

use super::*;

use crate::util::attribution_reference;

fn close(got: f64, want: &serde_json::Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() < 1e-4, "{what}: {got} vs {want}");
}

#[test]
fn knocking_out_a_head_reads_the_text_again_and_shows_before_and_after() {
    let reference = attribution_reference();
    let cases = &reference["models"]["tiny-gpt2"];
    let ablated = &crate::util::tennis_without_2_1(&reference, "tiny-gpt2");
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    assert!(h.state().settings.bos);

    // Select head 2.1 in the grid, then tick its knock-out box.
    h.get_by_label("layer 2 head 1").click();
    h.step();
    h.step();
    h.get_by_label("knock out 2.1").click();
    settle(&mut h);
    let app = h.state();
    let analysis = app.session.analysis().unwrap();
    assert_eq!(analysis.ablated.to_string(), "2.1");
    let baseline = app
        .session
        .baseline()
        .expect("the intact reading is kept beside it");
    for (pos, (token, before)) in analysis.tokens.iter().zip(&baseline.tokens).enumerate() {
        let (Some(after), Some(before)) = (&token.stats, &before.stats) else {
            assert!(ablated["ablated_logprob"][pos].is_null());
            continue;
        };
        close(after.logprob, &ablated["ablated_logprob"][pos], "after");
        close(before.logprob, &ablated["baseline_logprob"][pos], "before");
    }
    let ppl = analysis.perplexity.unwrap();
    let want = ablated["ablated_perplexity"].as_f64().unwrap();
    assert!((ppl - want).abs() / want < 1e-5);
    // The panel says both, and the graph's header says the heads are out.
    let before = baseline.perplexity.unwrap();
    h.get_by_label(&format!("Perplexity {before:.2} → {ppl:.2} without 2.1"));
    h.get_by_label_contains("Knocked out: 2.1");
    assert!(
        h.query_all_by_label_contains("→").count() >= 4,
        "every scored token shows before → after"
    );

    // Click " tennis" (position 3): the grid is coloured by each head's direct contribution to its logit,
    // which transformers and numpy give for position 2 of the intact model.
    let attribution = cases["attribute"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["text"] == "I love tennis."
                && c["bos"] == true
                && c["position"] == 2
                && c["target_given"] == false
        })
        .unwrap();
    h.get_by_label("3 ␣tennis").click();
    settle(&mut h);
    let got = h
        .state()
        .session
        .attribution()
        .expect("an attribution for the text on screen");
    assert_eq!(got.position, 2);
    for (l, heads) in got.heads.iter().enumerate() {
        for (hd, v) in heads.iter().enumerate() {
            close(*v, &attribution["heads"][l][hd], "contribution");
        }
    }
    h.get_by_label_contains("the sum of");

    // Restore: one reading again.
    h.get_by_label("restore all").click();
    settle(&mut h);
    let app = h.state();
    assert!(app.session.analysis().unwrap().ablated.is_empty());
    assert!(app.session.baseline().is_none());
    assert!(h.query_by_label_contains("Knocked out").is_none());

    // "Which heads matter": every head knocked out alone, as the reference's sweep.
    let sweep = &cases["sweep"][0];
    h.get_by_label("knock-out").click();
    h.step();
    h.step();
    h.get_by_label_contains("Which heads matter for").click();
    settle(&mut h);
    let got = h
        .state()
        .session
        .sweep_result()
        .expect("a sweep for the text on screen")
        .clone();
    for (l, heads) in got.sweep.iter().enumerate() {
        for (hd, cell) in heads.iter().enumerate() {
            close(
                cell.delta_logprob[3].unwrap(),
                &sweep["sweep"][l][hd]["delta_logprob"][3],
                "sweep",
            );
        }
    }
    h.get_by_label_contains("needs head");
}

/// The window's sweep is the mean one, and each head's Δ ln p of " tennis" (position 3) is transformers'.
fn assert_mean_sweep_for_tennis(
    got: &attngraph::model::ablation::Sweep,
    sweep: &serde_json::Value,
) {
    use attngraph::model::ablation::Replacement;
    assert_eq!(got.replacement, Replacement::Mean);
    for (l, heads) in got.sweep.iter().enumerate() {
        for (hd, cell) in heads.iter().enumerate() {
            close(
                cell.delta_logprob[3].unwrap(),
                &sweep["mean_sweep"][l][hd]["delta_logprob"][3],
                "mean sweep",
            );
        }
    }
}

#[test]
fn mean_ablation_in_the_window_follows_transformers() {
    use attngraph::model::ablation::Replacement;
    let reference = attribution_reference();
    let cases = &reference["models"]["tiny-gpt2"];
    let ablated = &crate::util::tennis_without_2_1(&reference, "tiny-gpt2");
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label("layer 2 head 1").click();
    h.step();
    h.step();
    // "as means" first, then the head: the text is read with its values set to their means.
    h.get_by_label("means").click();
    h.step();
    h.get_by_label("knock out 2.1").click();
    settle(&mut h);
    let check = |h: &Harness<'static, AttnApp>, by: Replacement, want: &serde_json::Value| {
        let analysis = h.state().session.analysis().unwrap();
        assert_eq!(analysis.replacement, by);
        for (pos, token) in analysis.tokens.iter().enumerate() {
            match &token.stats {
                Some(stats) => close(stats.logprob, &want["ablated_logprob"][pos], "after"),
                None => assert!(want["ablated_logprob"][pos].is_null()),
            }
        }
    };
    check(&h, Replacement::Mean, &ablated["mean"]);
    h.get_by_label_contains("Mean-ablated: 2.1");
    h.get_by_label("mean-ablated: 2.1");

    // The Layers tab's lens follows: its last row is the output, whose p of each next token is the run's.
    h.state_mut().settings.view = attngraph::ui::settings::View::Layers;
    settle(&mut h);
    let app = h.state();
    let lens = app
        .session
        .lensed(&app.view.knock_out())
        .expect("the lens of the mean-ablated run");
    let output = lens.layers.last().unwrap();
    for (pos, cell) in output.iter().enumerate() {
        if let Some(lp) = cell.next_logprob {
            close(
                lp,
                &ablated["mean"]["ablated_logprob"][pos + 1],
                "lens output",
            );
        }
    }
    h.state_mut().settings.view = attngraph::ui::settings::View::Heads;
    settle(&mut h);

    // The sweep, every head mean-ablated alone, for " tennis" (position 3).
    let sweep = &cases["sweep"][0];
    h.get_by_label("3 ␣tennis").click();
    settle(&mut h);
    h.get_by_label("knock-out").click();
    h.step();
    h.step();
    h.get_by_label_contains("Which heads matter for").click();
    settle(&mut h);
    assert_mean_sweep_for_tennis(h.state().session.sweep_result().unwrap(), sweep);

    // Back to zeros: the knock-out and the sweep are read again that way.
    h.get_by_label("zeros").click();
    settle(&mut h);
    check(&h, Replacement::Zero, ablated);
    let got = h.state().session.sweep_result().unwrap().clone();
    assert_eq!(got.replacement, Replacement::Zero);
    close(
        got.sweep[0][0].delta_logprob[3].unwrap(),
        &sweep["sweep"][0][0]["delta_logprob"][3],
        "zero sweep",
    );
    h.get_by_label("knocked out: 2.1");
}

#[test]
fn switching_to_means_while_a_sweep_runs_ends_on_the_mean_sweep() {
    use attngraph::model::ablation::Replacement;
    let reference = attribution_reference();
    let sweep = &reference["models"]["tiny-gpt2"]["sweep"][0];
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label("3 ␣tennis").click();
    settle(&mut h);
    h.get_by_label("knock-out").click();
    h.step();
    h.step();
    // The zero sweep starts and "as means" is chosen before any frame reads the worker's messages, so the zero
    // sweep is still running when it is cancelled; the one shown at the end is the mean sweep, never the zero
    // one, whenever the zero sweep's messages arrive.
    let ctx = h.ctx.clone();
    h.state_mut().apply(Command::Sweep, &ctx);
    assert_eq!(
        h.state().session.sweep_progress(),
        Some((0, 1)),
        "the zero sweep runs"
    );
    h.state_mut()
        .apply(Command::KnockOutBy(Replacement::Mean), &ctx);
    assert!(h.state().session.sweep_result().is_none());
    settle(&mut h);
    assert_mean_sweep_for_tennis(h.state().session.sweep_result().unwrap(), sweep);
    assert!(h.state().session.sweep_progress().is_none());
}

#[test]
fn the_heads_effects_export_as_csv_json_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(&hub_model(), "I love tennis.", Some(dir.path()));
    settle(&mut h);
    // Explain " tennis" (position 3): the grid is coloured by contribution and the export buttons show.
    let ctx = h.ctx.clone();
    h.state_mut().apply(Command::Predict(3), &ctx);
    settle(&mut h);
    let attribution = h.state().session.attribution().unwrap().clone();
    for button in ["CSV", "JSON", "SVG", "PNG"] {
        h.get_by_label(button).click();
        wait_for_exports(&mut h);
    }
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let with = |ext: &str| {
        files
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .unwrap_or_else(|| panic!("no .{ext} in {files:?}"))
    };
    // The CSV lists every head's contribution and ends with the logit they add up to.
    let csv = std::fs::read_to_string(with("csv")).unwrap();
    let heads = csv.lines().filter(|l| l.starts_with("head,")).count();
    assert_eq!(heads, 3 * 4);
    assert!(csv.contains(&format!("logit,,,{}", attribution.logit)));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(with("json")).unwrap()).unwrap();
    assert_eq!(json["position"], 2);
    assert_eq!(json["heads"].as_array().unwrap().len(), 3);
    let svg = std::fs::read_to_string(with("svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("contribution"));
    let png = image::open(with("png")).unwrap();
    assert!(png.width() > 100 && png.height() > 100);
}
