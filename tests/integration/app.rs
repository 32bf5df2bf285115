//! The app driven through egui_kittest with the fixture model: typing, the token panel's numbers (checked
//! against transformers' reference), head selection in the grid, pruning, export, and a model that fails to load.

use std::path::Path;
use std::time::{Duration, Instant};

use attngraph::app::{AttnApp, Launch};
use attngraph::graph::Selection;
use attngraph::ui::command::Command;
use egui::accesskit::Role;
use egui_kittest::kittest::{NodeT, Queryable};
use egui_kittest::Harness;

use crate::util::{hub_model, reference_case};

mod dialogs;
mod effects;
mod exports;
mod focus;
mod heatmap;
mod lesson;
mod overlay;
mod perplexity;
mod responsive;
mod views;

fn harness(model: &Path, text: &str, export_dir: Option<&Path>) -> Harness<'static, AttnApp> {
    let launch = Launch {
        model: Some(model.display().to_string()),
        text: Some(text.to_string()),
        fresh: true,
        export_dir: export_dir.map(Path::to_path_buf),
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app)
}

/// The labels on screen that contain `part`, joined by a line break; `None` when there is none.
fn labels_containing(h: &Harness<'static, AttnApp>, part: &str) -> Option<String> {
    let labels: Vec<String> = h
        .query_all_by_label_contains(part)
        .filter_map(|node| {
            // A label's text is its accessible label, or its value where the label is empty.
            let node = node.accesskit_node();
            node.label()
                .filter(|l| !l.is_empty())
                .or_else(|| node.value())
        })
        .collect();
    (!labels.is_empty()).then(|| labels.join("\n"))
}

/// The error the window shows (a failed load above the views, a failed analysis in the status bar), marked ⚠.
fn error_on_screen(h: &Harness<'static, AttnApp>) -> Option<String> {
    labels_containing(h, "⚠")
}

/// The number of edges the graph's header says it draws ("12 edges of 5 tokens · …").
fn edges_drawn(h: &Harness<'static, AttnApp>) -> usize {
    let header = labels_containing(h, " edges of ").unwrap();
    header.split(' ').next().unwrap().parse().unwrap()
}

/// Tells the app the text was typed in, as the text box does: the analysis follows after the debounce.
fn text_edited(h: &mut Harness<'static, AttnApp>) {
    let ctx = h.ctx.clone();
    h.state_mut().apply(Command::TextEdited, &ctx);
}

/// Steps the UI (at least once) until `done` holds of the app, failing with `what` after `secs` seconds (the
/// worker and the other threads answer on their own time; the UI never blocks on them).
fn step_until(
    h: &mut Harness<'static, AttnApp>,
    secs: u64,
    what: &str,
    mut done: impl FnMut(&AttnApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(secs), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts the Perplexity tab's result is transformers' token-weighted perplexity of the fixture's long text
/// (tests/fixtures/perplexity_reference.json) with the tab's defaults: windows of the model's context (64),
/// stride 32, BOS as the settings say.
fn assert_scored_as_transformers(h: &Harness<'static, AttnApp>) {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::fixtures().join("perplexity_reference.json"))
            .unwrap(),
    )
    .unwrap();
    let bos = h.state().settings.bos;
    let want = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["text"] == "long" && c["max_length"] == 64 && c["stride"] == 32 && c["bos"] == bos
        })
        .unwrap()["ppl"]["token"]
        .as_f64()
        .unwrap();
    let got = h
        .state()
        .perplexity
        .result
        .as_ref()
        .unwrap()
        .report
        .ppl
        .token;
    assert!((got - want).abs() / want < 1e-5, "{got} vs {want}");
}

/// Steps the UI until the worker has answered everything asked (the UI itself never blocks on it).
fn settle(h: &mut Harness<'static, AttnApp>) {
    step_until(h, 60, "the worker did not answer", |app| !app.busy());
    h.step();
}

#[test]
fn typing_shows_the_reference_tokens_and_probabilities() {
    let mut h = harness(&hub_model(), "I", None);
    settle(&mut h);
    let text = h.get_by_role(Role::MultilineTextInput);
    text.focus();
    text.type_text(" love tennis.");
    // The debounce holds the analysis back while typing, then sends it.
    std::thread::sleep(Duration::from_millis(300));
    settle(&mut h);
    let want = reference_case("I love tennis.", true);
    let analysis = h.state().session.analysis().unwrap();
    assert_eq!(analysis.text, "I love tennis.");
    let ids: Vec<u64> = analysis.tokens.iter().map(|t| u64::from(t.id)).collect();
    assert_eq!(
        ids,
        want["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect::<Vec<_>>()
    );
    // The panel prints p = exp(logprob) of " love" as the reference says, as a percentage.
    let p = want["tokens"][2]["logprob"].as_f64().unwrap().exp();
    h.get_by_label("2 ␣love");
    h.get_by_label(&attngraph::format::percent(p.ln()));
    let ppl = want["perplexity"].as_f64().unwrap();
    let heading = h
        .get_by_label_contains("Perplexity ")
        .accesskit_node()
        .label()
        .filter(|l| !l.is_empty())
        .or_else(|| {
            h.get_by_label_contains("Perplexity ")
                .accesskit_node()
                .value()
        })
        .unwrap_or_default();
    let shown: f64 = heading.trim_start_matches("Perplexity ").parse().unwrap();
    assert!(
        (shown - ppl).abs() / ppl < 1e-5,
        "panel shows {shown}, transformers {ppl}"
    );
}

#[test]
fn the_app_opens_on_the_head_with_the_clearest_pattern_until_the_reader_chooses() {
    let mut h = harness(&hub_model(), "I love tennis. I love tennis.", None);
    settle(&mut h);
    let strength = |s: &attngraph::graph::heads::HeadScores| s.previous_token.max(s.induction);
    let scores = h.state().session.head_scores().to_vec();
    assert!(!scores.is_empty());
    let strongest = scores.iter().map(strength).fold(f64::MIN, f64::max);
    let Selection::Head { layer, head } = h.state().settings.selection else {
        panic!("opened on {:?}", h.state().settings.selection);
    };
    let shown = scores
        .iter()
        .find(|s| (s.layer, s.head) == (layer, head))
        .unwrap();
    assert_eq!(
        strength(shown),
        strongest,
        "opened on {layer}.{head}, not the clearest head"
    );
    assert!(!h.state().settings.selection_chosen);
    // The reader picks another head: remembered, and a new text does not move it.
    let other = if (layer, head) == (0, 0) {
        (0, 1)
    } else {
        (0, 0)
    };
    h.get_by_label(&format!("layer {} head {}", other.0, other.1))
        .click();
    h.step();
    h.step();
    assert!(h.state().settings.selection_chosen);
    let text = h.get_by_role(Role::MultilineTextInput);
    text.focus();
    text.type_text(" The cat sat on the mat.");
    std::thread::sleep(Duration::from_millis(300));
    settle(&mut h);
    assert_eq!(
        h.state().settings.selection,
        Selection::Head {
            layer: other.0,
            head: other.1
        }
    );
}

#[test]
fn clicking_a_head_in_the_grid_selects_it_and_arrows_move() {
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label("layer 1 head 2").click();
    h.step();
    h.step();
    assert_eq!(
        h.state().settings.selection,
        Selection::Head { layer: 1, head: 2 }
    );
    assert!(
        h.state().settings.selection_chosen,
        "a click is the reader's choice"
    );
    h.key_press(egui::Key::ArrowRight);
    h.step();
    h.key_press(egui::Key::ArrowDown);
    h.step();
    assert_eq!(
        h.state().settings.selection,
        Selection::Head { layer: 2, head: 3 }
    );
}

#[test]
fn pruning_changes_the_edges_drawn() {
    let mut h = harness(
        &hub_model(),
        "The quick brown fox jumps over the lazy dog.",
        None,
    );
    settle(&mut h);
    let before = edges_drawn(&h);
    h.get_by_label("drop token 0").click();
    h.step();
    // The snapshot is computed off the UI thread; wait for it.
    settle(&mut h);
    let after = edges_drawn(&h);
    assert!(
        after < before,
        "dropping token 0 must remove its edges: {before} → {after}"
    );
}

#[test]
fn a_model_that_fails_to_load_shows_the_error_and_the_app_recovers() {
    let broken = tempfile::tempdir().unwrap();
    std::fs::copy(
        hub_model().join("config.json"),
        broken.path().join("config.json"),
    )
    .unwrap();
    let mut h = harness(broken.path(), "I love tennis.", None);
    settle(&mut h);
    let err = error_on_screen(&h).unwrap();
    assert!(err.contains("has no model.safetensors"), "{err}");
    h.get_by_label_contains("has no model.safetensors");
    // Type the fixture's folder into the model field and load it.
    let field = h.get_by_role(Role::TextInput);
    field.focus();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.get_by_role(Role::TextInput)
        .type_text(&hub_model().display().to_string());
    h.step();
    h.get_by_label("Load").click();
    h.step();
    settle(&mut h);
    assert_eq!(error_on_screen(&h), None);
    assert_eq!(h.state().session.analysis().unwrap().tokens.len(), 5);
}

#[test]
fn continue_appends_sampled_tokens_and_the_panel_follows() {
    let mut h = harness(&hub_model(), "I love", None);
    settle(&mut h);
    let before = h.state().session.analysis().unwrap().tokens.len();
    h.state_mut().settings.sampling.max_new_tokens = 3;
    h.get_by_label("Continue ▸").click();
    step_until(&mut h, 30, "no continuation arrived", |app| {
        app.settings.text != "I love"
    });
    settle(&mut h);
    let text = h.state().settings.text.clone();
    assert!(text.starts_with("I love") && text.len() > "I love".len());
    assert_eq!(h.state().session.analysis().unwrap().text, text);
    assert!(h.state().session.analysis().unwrap().tokens.len() > before);
}

#[test]
fn an_analysis_error_shows_and_keeps_the_previous_result() {
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    // The fixture reads 64 positions: 100 words are too many.
    h.state_mut().settings.text = "word ".repeat(100);
    text_edited(&mut h);
    std::thread::sleep(Duration::from_millis(300));
    settle(&mut h);
    let err = error_on_screen(&h).unwrap();
    assert!(err.contains("but the model reads at most 64"), "{err}");
    h.get_by_label_contains("showing the previous result");
    assert_eq!(h.state().session.analysis().unwrap().text, "I love tennis.");
}

#[test]
fn the_induction_probe_scores_every_head() {
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label("induction probe").click();
    step_until(&mut h, 30, "no probe scores", |app| {
        app.session.probe_scores().is_some()
    });
    let scores = h.state().session.probe_scores().unwrap();
    assert_eq!(scores.len(), 3 * 4);
    // The same scores from the probe's attentions with plain loops: BOS, then the random half twice; the
    // induction score of a head is the share of its attention on keys j whose previous token equals the query's
    // token, and the sink score the share on token 0.
    use attngraph::graph::heads;
    let engine = crate::util::engine(&hub_model());
    let info = engine.info();
    let bos = engine.tokenizer().end_of_text().unwrap();
    let len = heads::DEFAULT_PROBE_LEN.min((info.n_positions - 1) / 2);
    let ids = heads::induction_probe_ids(bos, len, info.vocab_size as u32, heads::PROBE_SEED);
    let att = engine.attentions_of_ids(&ids).unwrap();
    for s in scores {
        let (mut total, mut induction, mut sink) = (0.0f64, 0.0f64, 0.0f64);
        for i in 0..ids.len() {
            for j in 0..=i {
                let a = f64::from(att.get(s.layer, s.head, i, j));
                total += a;
                if j >= 1 && ids[j - 1] == ids[i] {
                    induction += a;
                }
                if j == 0 {
                    sink += a;
                }
            }
        }
        assert!((s.induction - induction / total).abs() < 1e-9, "{s:?}");
        assert!((s.sink - sink / total).abs() < 1e-9, "{s:?}");
    }
}

/// A picker that answers each dialog with the next scripted path (`None`: cancelled) and records what it was asked.
fn scripted_picker(
    answers: Vec<Option<std::path::PathBuf>>,
) -> (
    attngraph::ui::dialogs::Picker,
    std::sync::Arc<std::sync::Mutex<Vec<attngraph::ui::dialogs::DialogRequest>>>,
) {
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let answers = std::sync::Mutex::new(answers.into_iter());
    let log = asked.clone();
    let picker: attngraph::ui::dialogs::Picker = std::sync::Arc::new(move |request| {
        log.lock().unwrap().push(request.clone());
        Ok(answers.lock().unwrap().next().flatten())
    });
    (picker, asked)
}

fn open_export_menu(h: &mut Harness<'static, AttnApp>) {
    h.get_by_label("Export ▾").click();
    // The popup measures itself on its first frame and is placed on the next.
    h.step();
    h.step();
}

/// Steps until the dialog has been answered and acted on, and any export it started has been written.
fn answer_dialog(h: &mut Harness<'static, AttnApp>) {
    h.step(); // the click lands and opens the dialog
    step_until(h, 10, "the dialog never answered", |app| !app.busy());
    wait_for_exports(h);
}

/// The one file in `dir` (an export just written), failing on none or several.
fn only_file(dir: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files.into_iter().next().unwrap()
}

/// Steps until the exports started so far (written on their own threads) have reported.
fn wait_for_exports(h: &mut Harness<'static, AttnApp>) {
    h.step(); // a click lands
    step_until(h, 10, "the export never finished", |app| !app.busy());
    h.step();
}

#[test]
fn a_first_run_with_an_empty_cache_and_no_network_shows_the_demo_model() {
    let cache = tempfile::tempdir().unwrap();
    let launch = Launch {
        text: Some("I love tennis. I love tennis.".to_string()),
        fresh: true,
        hub_cache: Some(cache.path().to_path_buf()),
        // Nothing listens on the discard port: the background fetch of GPT-2 fails at once.
        hub_endpoint: Some("http://127.0.0.1:9".to_string()),
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    settle(&mut h);
    assert_eq!(error_on_screen(&h), None);
    assert_eq!(h.state().session.model_name(), Some("demo"));
    let analysis = h.state().session.analysis().unwrap();
    assert_eq!(analysis.text, "I love tennis. I love tennis.");
    assert!(edges_drawn(&h) > 0);
    // The banner says what the demo model is, and that GPT-2 could not be fetched.
    step_until(&mut h, 30, "the fetch did not end", |app| {
        matches!(
            app.session.prefetch(),
            Some((_, attngraph::session::Prefetch::Failed(_)))
        )
    });
    h.step();
    h.get_by_label_contains("This is the demo model");
    h.get_by_label_contains("openai-community/gpt2 could not be fetched");
    assert!(!cache
        .path()
        .join("models--openai-community--gpt2/snapshots")
        .exists());
}

#[test]
fn each_view_shows_the_pruning_controls_it_uses() {
    use attngraph::ui::settings::View;
    let mut h = harness(&hub_model(), "I love tennis. I love tennis.", None);
    settle(&mut h);
    for (view, drop_first, threshold, summary) in [
        (View::Graph, true, true, None),
        (View::Markov, true, true, None),
        (
            View::Matrix,
            false,
            false,
            Some("graph: threshold 0.020, top-k all"),
        ),
        (
            View::Overlay,
            false,
            true,
            Some("graph: top-k all, mass 1.00"),
        ),
        (View::Compare, false, false, Some("graph: threshold 0.020")),
    ] {
        h.state_mut().settings.view = view;
        settle(&mut h);
        assert_eq!(
            h.query_by_label("drop token 0").is_some(),
            drop_first,
            "{view:?}"
        );
        assert_eq!(
            h.query_all_by_label("threshold").next().is_some(),
            threshold,
            "{view:?}"
        );
        match summary {
            Some(line) => {
                h.get_by_label_contains(line);
            }
            None => assert!(h.query_by_label_contains("graph: ").is_none(), "{view:?}"),
        }
    }
}

#[test]
fn the_pruning_row_says_when_top_k_is_automatic() {
    use attngraph::ui::settings::View;
    // Over 48 tokens with top-k 0 and no mass limit, the graph keeps each token's 3 strongest edges: the
    // control and the grey line say so rather than "all".
    let text = "one two three four five six seven eight nine ten ".repeat(5);
    let mut h = harness(&hub_model(), &text, None);
    settle(&mut h);
    assert!(h.state().session.analysis().unwrap().tokens.len() > 48);
    h.get_by_value("top-k auto (3)");
    assert!(h.query_by_value("top-k all").is_none());
    h.state_mut().settings.view = View::Matrix;
    settle(&mut h);
    h.get_by_label_contains("graph: threshold 0.020, top-k auto (3)");
    // A mass limit turns the automatic limit off.
    h.state_mut().settings.pruning.mass = 0.9;
    settle(&mut h);
    h.get_by_label_contains("graph: threshold 0.020, top-k all, mass 0.90");
    // So does a short text.
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_value("top-k all");
}

#[test]
fn a_long_texts_graph_offers_the_overlay() {
    use attngraph::ui::settings::View;
    // Over 48 tokens (the fixture reads up to 64), the graph's token window comes with a way to the Overlay.
    let text = "one two three four five six seven eight nine ten ".repeat(5);
    let mut h = harness(&hub_model(), &text, None);
    settle(&mut h);
    let n = h.state().session.analysis().unwrap().tokens.len();
    assert!((49..=64).contains(&n), "{n} tokens");
    h.get_by_label("Overlay ▸").click();
    h.step();
    assert_eq!(h.state().settings.view, View::Overlay);
    // A short text has no such button.
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label_contains("edges of 5 tokens");
    assert!(h.query_by_label("Overlay ▸").is_none());
    // Nor does the Markov view, which draws the same graph.
    let mut h = harness(&hub_model(), &text, None);
    h.state_mut().settings.view = View::Markov;
    settle(&mut h);
    h.get_by_label_contains(&format!("edges of {n} tokens"));
    assert!(h.query_by_label("Overlay ▸").is_none());
}
