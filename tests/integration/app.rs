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

mod focus;

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
    // The panel prints p = exp(logprob) of " love" as the reference says.
    let p = want["tokens"][2]["logprob"].as_f64().unwrap().exp();
    h.get_by_label("2 ␣love");
    h.get_by_label(&format!("{p:.2e}"));
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
fn export_button_writes_the_file_and_says_where() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(&hub_model(), "I love tennis.", Some(dir.path()));
    settle(&mut h);
    open_export_menu(&mut h);
    h.get_by_label("JSON").click();
    h.step();
    assert!(
        h.state().notice().unwrap().starts_with("exporting"),
        "the notice says the export started"
    );
    wait_for_exports(&mut h);
    let file = only_file(dir.path());
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(json["tokens"].as_array().unwrap().len(), 5);
    assert!(h
        .state()
        .notice()
        .unwrap()
        .contains(&file.display().to_string()));
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
fn a_thousand_rapid_edits_never_block_and_end_on_the_final_text() {
    let mut h = harness(&hub_model(), "a", None);
    settle(&mut h);
    // Frames that finished while an analysis they asked for was still running: a UI that waited on the model
    // would never end a frame with a request outstanding.
    let mut frames_while_pending = 0;
    let mut text = String::from("a");
    for i in 0..1000 {
        // Edits arrive faster than the debounce, with a pause every 100 so analyses run while typing goes on.
        let c = char::from(b'a' + (i % 26) as u8);
        text.push(if i % 7 == 0 { ' ' } else { c });
        if text.len() > 40 {
            text.drain(..20);
        }
        h.state_mut().settings.text = text.clone();
        text_edited(&mut h);
        h.step();
        if i % 100 == 99 {
            std::thread::sleep(Duration::from_millis(300));
            h.step(); // the debounce has passed: this frame sends the analysis and returns
            let session = &h.state().session;
            frames_while_pending +=
                usize::from(session.requested_generation() > session.shown_generation());
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    settle(&mut h);
    assert_eq!(
        h.state().session.analysis().unwrap().text,
        text,
        "the analysis on screen is of the final text"
    );
    let session = &h.state().session;
    let asked = session.requested_generation();
    assert_eq!(
        asked,
        session.shown_generation(),
        "the newest request is the one shown"
    );
    // Stale requests were dropped: far fewer analyses than edits were asked for.
    assert!(
        asked < 100,
        "{asked} analyses for 1000 edits: the debounce is not working"
    );
    assert!(
        frames_while_pending > 0,
        "no frame ended while its analysis ran: the UI waits on the model"
    );
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
fn the_perplexity_tab_scores_a_file_like_the_guide() {
    let mut h = harness(&hub_model(), "I love tennis.", None);
    settle(&mut h);
    h.get_by_label("Perplexity").click();
    h.step();
    let path = crate::util::fixtures().join("perplexity_text.txt");
    let inputs = h.get_all_by_role(Role::TextInput).collect::<Vec<_>>();
    let file_field = inputs.last().unwrap();
    file_field.focus();
    file_field.type_text(path.to_str().unwrap());
    h.step();
    h.get_by_label("Score").click();
    step_until(&mut h, 60, "no result", |app| {
        assert!(app.perplexity.error.is_none(), "{:?}", app.perplexity.error);
        app.perplexity.result.is_some()
    });
    h.step();
    // Defaults: the model's context (64) and half of it as stride, with the app's BOS.
    assert_scored_as_transformers(&h);
    h.get_by_label_contains("orange: scored here");
    // The tokens shown read as the file: its Chinese and its emoji (split over byte tokens) whole, no escapes.
    let scored = h.state().perplexity.result.as_ref().unwrap();
    let file = std::fs::read_to_string(&path).unwrap();
    assert!(file.contains('🎾'));
    assert_eq!(scored.tokens[0], "<|endoftext|>");
    assert_eq!(
        scored.tokens[1..].concat(),
        attngraph::model::tokenizer::visible_whitespace(&file)
    );
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

/// Resident memory of this process in MB (Linux).
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    kb / 1024.0
}

/// Run alone in a child process by `memory_stays_bounded_over_many_edits`, so no other test shares its memory.
#[test]
#[ignore = "run by memory_stays_bounded_over_many_edits in its own process"]
fn memory_probe_child() {
    let mut h = harness(&hub_model(), "a", None);
    settle(&mut h);
    let mut text = String::from("a");
    let mut samples = Vec::new();
    for round in 0..6 {
        for i in 0..300 {
            text.push(if i % 5 == 0 {
                ' '
            } else {
                char::from(b'a' + (i % 26) as u8)
            });
            if text.len() > 50 {
                text.drain(..25);
            }
            h.state_mut().settings.text = text.clone();
            text_edited(&mut h);
            h.step();
            if i % 50 == 49 {
                std::thread::sleep(Duration::from_millis(260));
                h.step();
            }
        }
        std::thread::sleep(Duration::from_millis(300));
        settle(&mut h);
        if round > 0 {
            samples.push(rss_mb());
        }
    }
    println!(
        "RSS_SAMPLES {}",
        samples
            .iter()
            .map(|s| format!("{s:.1}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}

#[test]
fn memory_stays_bounded_over_many_edits() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "app::memory_probe_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.split_once("RSS_SAMPLES "))
        .unwrap()
        .1;
    let samples: Vec<f64> = line
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    // 1,500 edits after warm-up: memory after the last round stays within 20 MB of the first (one analysis and
    // one prefix cache are kept, whatever the number of edits).
    let (first, last) = (samples[0], *samples.last().unwrap());
    assert!(
        last - first < 20.0,
        "RSS grew from {first} MB to {last} MB over the edits: {samples:?}"
    );
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
fn save_as_writes_the_format_its_extension_names() {
    use attngraph::ui::dialogs::{Kind, Purpose};
    let dir = tempfile::tempdir().unwrap();
    let graphml = dir.path().join("head.graphml");
    let bare = dir.path().join("no-extension");
    let odd = dir.path().join("picture.xyz");
    let (picker, asked) = scripted_picker(vec![
        Some(graphml.clone()),
        Some(bare.clone()),
        Some(odd.clone()),
        None,
    ]);
    let mut h = harness(&hub_model(), "I love tennis.", Some(dir.path()));
    h.state_mut().exports.set_picker(picker);
    settle(&mut h);

    open_export_menu(&mut h);
    h.get_by_label("Save as…").click();
    answer_dialog(&mut h);
    let text = std::fs::read_to_string(&graphml).unwrap();
    assert!(text.contains("<graphml"), "{text}");
    assert_eq!(text.matches("<node ").count(), 5, "one node per token");
    assert!(h
        .state()
        .notice()
        .unwrap()
        .contains(&graphml.display().to_string()));

    // No extension: SVG, with the extension added.
    open_export_menu(&mut h);
    h.get_by_label("Save as…").click();
    answer_dialog(&mut h);
    let svg = std::fs::read_to_string(bare.with_extension("svg")).unwrap();
    assert!(svg.starts_with("<svg") || svg.starts_with("<?xml"), "{svg}");

    // An extension no exporter writes: nothing written, and the notice says which ones work.
    open_export_menu(&mut h);
    h.get_by_label("Save as…").click();
    answer_dialog(&mut h);
    assert!(!odd.exists());
    let notice = h.state().notice().unwrap().to_string();
    assert!(
        notice.contains("not exported") && notice.contains(".graphml"),
        "{notice}"
    );

    // Cancelled: nothing changes.
    let files_before = std::fs::read_dir(dir.path()).unwrap().count();
    open_export_menu(&mut h);
    h.get_by_label("Save as…").click();
    answer_dialog(&mut h);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), files_before);
    assert_eq!(h.state().notice().unwrap(), notice);

    let asked = asked.lock().unwrap();
    assert_eq!(asked.len(), 4);
    assert!(asked
        .iter()
        .all(|r| r.purpose == Purpose::SaveExport && r.kind == Kind::SaveFile));
    assert!(asked[0].filters.iter().any(|(_, ext)| ext == &["graphml"]));
    assert!(asked[0].file_name.as_deref().unwrap().ends_with(".svg"));
}

#[test]
fn the_folder_button_chooses_where_quick_exports_go() {
    let first = tempfile::tempdir().unwrap();
    let chosen = tempfile::tempdir().unwrap();
    let (picker, _) = scripted_picker(vec![Some(chosen.path().to_path_buf())]);
    let mut h = harness(&hub_model(), "I love tennis.", Some(first.path()));
    h.state_mut().exports.set_picker(picker);
    settle(&mut h);
    open_export_menu(&mut h);
    h.get_by_label("Change folder…").click();
    answer_dialog(&mut h);
    assert_eq!(h.state().exports.dir(), chosen.path());
    assert_eq!(
        h.state().settings.export_dir.as_deref(),
        Some(chosen.path())
    );
    open_export_menu(&mut h);
    h.get_by_label("CSV").click();
    wait_for_exports(&mut h);
    let files: Vec<_> = std::fs::read_dir(chosen.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    assert_eq!(std::fs::read_dir(first.path()).unwrap().count(), 0);
}

#[test]
fn a_failed_load_offers_a_folder_dialog_that_loads_the_model() {
    let broken = tempfile::tempdir().unwrap();
    let (picker, asked) = scripted_picker(vec![Some(hub_model())]);
    let mut h = harness(broken.path(), "I love tennis.", None);
    h.state_mut().exports.set_picker(picker);
    settle(&mut h);
    assert!(error_on_screen(&h).is_some());
    h.get_by_label("📂 Open a local model folder…").click();
    answer_dialog(&mut h);
    settle(&mut h);
    assert_eq!(error_on_screen(&h), None);
    assert_eq!(h.state().session.analysis().unwrap().tokens.len(), 5);
    assert_eq!(h.state().settings.model, hub_model().display().to_string());
    assert_eq!(
        asked.lock().unwrap()[0].kind,
        attngraph::ui::dialogs::Kind::OpenFolder
    );
}

#[test]
fn the_perplexity_tab_opens_a_file_with_the_dialog_and_scores_it() {
    let path = crate::util::fixtures().join("perplexity_text.txt");
    let (picker, _) = scripted_picker(vec![Some(path.clone())]);
    let mut h = harness(&hub_model(), "I love tennis.", None);
    h.state_mut().exports.set_picker(picker);
    settle(&mut h);
    h.get_by_label("Perplexity").click();
    h.step();
    h.get_by_label("📂 Open…").click();
    answer_dialog(&mut h);
    assert_eq!(h.state().perplexity.path, path.display().to_string());
    step_until(&mut h, 60, "no result", |app| {
        assert!(app.perplexity.error.is_none());
        app.perplexity.result.is_some()
    });
    // The tab's defaults: the model's context (64) and half of it as stride, BOS as the settings say.
    assert_scored_as_transformers(&h);
}

#[test]
fn a_system_without_file_dialogs_says_what_to_do_instead() {
    let picker: attngraph::ui::dialogs::Picker =
        std::sync::Arc::new(|_| Err("no file dialog could be opened".to_string()));
    let mut h = harness(&hub_model(), "I love tennis.", None);
    h.state_mut().exports.set_picker(picker);
    settle(&mut h);
    h.get_by_label("📂 Folder…").click();
    answer_dialog(&mut h);
    let notice = h.state().notice().unwrap().to_string();
    assert!(
        notice.contains("no file dialog") && notice.contains("Model field"),
        "{notice}"
    );
    // The model on screen is untouched.
    assert_eq!(error_on_screen(&h), None);
    assert_eq!(h.state().session.analysis().unwrap().tokens.len(), 5);
}

#[test]
fn the_snapshot_thread_answers_the_newest_request_with_a_to_the_k() {
    use attngraph::export::Layout;
    use attngraph::graph::Pruning;
    use attngraph::model::AnalyzeOptions;
    use attngraph::session::deriver::{DeriveRequest, Deriver, SnapshotKey};
    use std::sync::Arc;

    let engine = crate::util::engine(&hub_model());
    let options = AnalyzeOptions {
        bos: true,
        top_k: 5,
        keep_scores: attngraph::model::KeepScores::None,
        ..Default::default()
    };
    let analysis = Arc::new(
        engine
            .analyze("I love tennis. I love tennis.", &options)
            .unwrap(),
    );
    let (woken, wake) = std::sync::mpsc::channel();
    let mut deriver = Deriver::spawn(move || {
        let _ = woken.send(());
    });
    let key = |selection: Selection, steps: usize| SnapshotKey {
        analysis: 1,
        selection,
        pruning: Pruning {
            threshold: 0.01,
            ..Pruning::default()
        },
        automatic_top_k: false,
        layout: Layout::Arc,
        teleport: 0.15,
        steps,
        weight: attngraph::graph::EdgeWeight::Attention,
    };
    let request = |key: SnapshotKey| DeriveRequest {
        key,
        analysis: analysis.clone(),
        model: "fixture".to_string(),
        flow: None,
    };
    let newest = key(Selection::Head { layer: 1, head: 2 }, 3);
    // Three requests in a row, as fast clicks make them: the one on screen at the end is the last.
    deriver.request(request(key(Selection::Head { layer: 0, head: 0 }, 1)));
    deriver.request(request(key(Selection::Rollout, 1)));
    deriver.request(request(newest));
    assert!(deriver.busy());
    let start = Instant::now();
    let mut last = None;
    while deriver.busy() {
        let _ = wake.recv_timeout(Duration::from_millis(100));
        if let Some(answer) = deriver.poll() {
            last = Some(answer);
        }
        assert!(start.elapsed() < Duration::from_secs(30), "no snapshot");
    }
    let (answered, snapshot) = last.unwrap();
    assert_eq!(answered, newest);
    let snapshot = snapshot.unwrap();
    assert!(snapshot.title().ends_with("A^3"), "{}", snapshot.title());
    // The edges are those of A³, pruned, with A read from the engine's attentions of head 1.2 (checked
    // against transformers by the golden tests) and cubed here with plain loops; the statistics stay A's.
    let n = analysis.tokens.len();
    assert_eq!(snapshot.matrix.n(), n);
    let a = |i: usize, j: usize| f64::from(analysis.attentions.get(1, 2, i, j));
    let a3: Vec<Vec<f64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    (0..n)
                        .flat_map(|p| (0..n).map(move |q| (p, q)))
                        .map(|(p, q)| a(i, p) * a(p, q) * a(q, j))
                        .sum()
                })
                .collect()
        })
        .collect();
    assert!(snapshot.graph.edge_count() > 0);
    for e in snapshot.graph.edges() {
        assert!(
            (e.weight - a3[e.from][e.to]).abs() < 1e-9,
            "{e:?} vs {}",
            a3[e.from][e.to]
        );
    }
    let kept: usize = a3.iter().flatten().filter(|&&w| w >= 0.01).count();
    assert_eq!(snapshot.graph.edge_count(), kept);
    assert_eq!(snapshot.markov.steps, 3);
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

/// tests/fixtures/attribution_reference.json (tools/make_attribution_reference.py): transformers with hooks.
fn attribution_reference() -> serde_json::Value {
    let text = std::fs::read_to_string(crate::util::fixtures().join("attribution_reference.json"))
        .unwrap();
    serde_json::from_str(&text).unwrap()
}

fn close(got: f64, want: &serde_json::Value, what: &str) {
    let want = want.as_f64().unwrap();
    assert!((got - want).abs() < 1e-4, "{what}: {got} vs {want}");
}

#[test]
fn knocking_out_a_head_reads_the_text_again_and_shows_before_and_after() {
    let reference = attribution_reference();
    let cases = &reference["models"]["tiny-gpt2"];
    let ablated = cases["ablate"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["text"] == "I love tennis."
                && c["bos"] == true
                && c["heads"] == serde_json::json!([[2, 1]])
        })
        .unwrap();
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

#[test]
fn the_lesson_walks_every_step_checks_a_prediction_and_follows_an_edited_text() {
    use attngraph::lesson::steps::{self, Lang, STEPS};
    use attngraph::ui::settings::View;
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(crate::util::fixtures().join("explain_reference.json")).unwrap(),
    )
    .unwrap();
    // transformers + numpy on the same weights, text, BOS and head.
    let want = reference["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == "tiny-gpt2" && c["text"] == "I love tennis." && c["bos"] == true)
        .unwrap()
        .clone();
    let mut h = harness(&hub_model(), "I love tennis.", None);
    h.state_mut().settings.view = View::Lesson;
    h.state_mut().settings.selection = Selection::Head {
        layer: want["layer"].as_u64().unwrap() as usize,
        head: want["head"].as_u64().unwrap() as usize,
    };
    settle(&mut h);

    // Next through every step: each shows its title (in the list and as the heading).
    for step in 0..STEPS {
        assert_eq!(h.state().settings.lesson_step, step);
        let title = steps::text(Lang::En, step).title;
        assert!(
            h.query_all_by_label(title).count() >= 2,
            "step {step}: {title}"
        );
        if step + 1 < STEPS {
            h.get_by_label("Next ▸").click();
            settle(&mut h);
        }
    }
    h.get_by_label("◂ Back").click();
    settle(&mut h);
    assert_eq!(h.state().settings.lesson_step, STEPS - 2);

    // Step 2: is S symmetric? Answer "no", check it on the text.
    let ctx = h.ctx.clone();
    h.state_mut().apply(Command::LessonStep(1), &ctx);
    settle(&mut h);
    let explained = h
        .state()
        .session
        .explained()
        .expect("the lesson's numbers")
        .explanation
        .clone();
    assert!(
        ((explained.score_asymmetry - want["score_asymmetry"].as_f64().unwrap()).abs()) < 1e-4,
        "asymmetry {} vs numpy {}",
        explained.score_asymmetry,
        want["score_asymmetry"]
    );
    // The figure holds the answer: closed until the reader commits.
    assert!(!h.state().view.prediction.figure_open());
    h.get_by_label_contains("The figure holds the answer");
    // Is S[last][first] larger than S[first][last]? The right choice from numpy's scores.
    let right = if want["score_last_first"].as_f64().unwrap()
        > want["score_first_last"].as_f64().unwrap()
    {
        0
    } else {
        1
    };
    h.get_by_label(steps::text(Lang::En, 1).choices[right])
        .click();
    h.step();
    h.step();
    h.get_by_label("Check on my text").click();
    settle(&mut h);
    h.get_by_label("✓ Right.");
    assert!(h.state().view.prediction.figure_open());
    let asymmetry = format!("{:.3}", explained.score_asymmetry);
    assert_eq!(
        h.query_all_by_label_contains(&asymmetry).count(),
        1,
        "the reveal shows {asymmetry}"
    );

    // The same numbers in Chinese (whose button is named in English where no installed font has Chinese
    // characters; the lesson's text is the same either way).
    let chinese = if h.state().view.chinese_font {
        "繁體中文"
    } else {
        "Traditional Chinese"
    };
    h.get_by_label(chinese).click();
    settle(&mut h);
    assert_eq!(h.state().settings.lang, Lang::ZhHant);
    assert!(
        h.query_all_by_label(steps::text(Lang::ZhHant, 1).title)
            .count()
            >= 2
    );
    h.get_by_label("✓ 答對了。");
    assert_eq!(h.query_all_by_label_contains(&asymmetry).count(), 1);

    // Step 8 in both languages shows explain's perplexity, which is analyze's.
    h.state_mut().apply(Command::LessonStep(7), &ctx);
    settle(&mut h);
    let ppl = h.state().session.analysis().unwrap().perplexity.unwrap();
    assert!((ppl - want["perplexity"].as_f64().unwrap()).abs() / ppl < 1e-5);
    for (lang, name) in [(Lang::En, "English"), (Lang::ZhHant, chinese)] {
        h.get_by_label(name).click();
        settle(&mut h);
        h.get_by_label(steps::text(lang, 7).choices[1]).click();
        h.step();
        h.step();
        h.get_by_label_contains(if lang == Lang::En {
            "Check on my text"
        } else {
            "用我的文字檢查"
        })
        .click();
        settle(&mut h);
        assert_eq!(
            h.query_all_by_label_contains(&format!("{ppl:.2}")).count(),
            1,
            "{name}"
        );
    }

    // Edit the text mid-lesson: step 7's question needs a repeat; the lesson follows the new text.
    h.get_by_label("English").click();
    h.state_mut().apply(Command::LessonStep(6), &ctx);
    settle(&mut h);
    h.get_by_label_contains("No pair of tokens repeats");
    h.state_mut().settings.text = "I love tennis. I love tennis.".into();
    text_edited(&mut h);
    settle(&mut h);
    settle(&mut h);
    let explained = h
        .state()
        .session
        .explained()
        .expect("numbers for the new text");
    assert_eq!(explained.key.text, "I love tennis. I love tennis.");
    assert!(h
        .query_by_label_contains("No pair of tokens repeats")
        .is_none());
    assert_eq!(
        h.state().settings.lesson_step,
        6,
        "the lesson stays on its step"
    );
}

#[test]
fn every_character_of_the_chinese_lesson_has_a_glyph() {
    use attngraph::lesson::steps::ZH_HANT;
    let ctx = egui::Context::default();
    attngraph::ui::fonts::install_fallbacks(&ctx);
    // Fonts are loaded on the first frame.
    let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
    output.textures_delta.clear();
    let font = egui::FontId::proportional(14.0);
    let has = |s: &str| ctx.fonts_mut(|f| f.has_glyphs(&font, s));
    if !has("試試看") {
        crate::skip_report::required_in_ci(
            "app::every_character_of_the_chinese_lesson_has_a_glyph",
            "the glyph check of the Chinese lesson",
            "no CJK font is installed (fonts-wqy-microhei)",
        );
        return;
    }
    for step in &ZH_HANT {
        for s in [step.title, step.question]
            .into_iter()
            .chain(step.body.iter().copied())
            .chain(step.choices.iter().copied())
        {
            let missing: String = s.chars().filter(|c| !has(&c.to_string())).collect();
            assert!(missing.is_empty(), "no glyph for {missing:?} in {s:?}");
        }
    }
}

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
    let text_box = |h: &Harness<'static, AttnApp>| h.get_by_label("drop token 0").rect().min.y;
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

#[test]
fn a_system_whose_only_cjk_font_lacks_hangul_still_draws_the_chinese_lesson() {
    // Droid Sans Fallback (which many desktops have through ghostscript) has Chinese but not every Korean
    // syllable; the Chinese lesson must take it rather than draw boxes.
    use attngraph::lesson::steps::ZH_HANT;
    use resvg::usvg::fontdb;
    let droid = Path::new("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf");
    if !droid.exists() {
        crate::skip_report::required_in_ci(
            "app::a_system_whose_only_cjk_font_lacks_hangul_still_draws_the_chinese_lesson",
            "the Chinese lesson on Droid Sans Fallback alone",
            "Droid Sans Fallback is not installed (fonts-droid-fallback)",
        );
        return;
    }
    let mut db = fontdb::Database::new();
    db.load_font_file(droid).unwrap();
    let ctx = egui::Context::default();
    let found = attngraph::ui::fonts::install_from(&ctx, &db);
    assert_eq!(
        found.chinese.as_deref(),
        Some("Droid Sans Fallback"),
        "{found:?}"
    );
    let mut output = ctx.run_ui(egui::RawInput::default(), |_| {});
    output.textures_delta.clear();
    let font = egui::FontId::proportional(14.0);
    let han =
        |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3000}'..='\u{303f}').contains(&c);
    for step in &ZH_HANT {
        for s in [step.title, step.question]
            .into_iter()
            .chain(step.body.iter().copied())
        {
            let missing: String = s
                .chars()
                .filter(|&c| han(c) && !ctx.fonts_mut(|f| f.has_glyphs(&font, &c.to_string())))
                .collect();
            assert!(missing.is_empty(), "no glyph for {missing:?} in {s:?}");
        }
    }
    // No font with Chinese at all: said, not boxes.
    let empty =
        attngraph::ui::fonts::install_from(&egui::Context::default(), &fontdb::Database::new());
    assert_eq!(empty.chinese, None);
    let launch = Launch {
        model: Some(hub_model().display().to_string()),
        text: Some("I love tennis.".into()),
        fresh: true,
        view: Some(attngraph::ui::settings::View::Lesson),
        ..Launch::default()
    };
    let mut app = AttnApp::new(&egui::Context::default(), None, launch);
    app.view.chinese_font = false;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app);
    settle(&mut h);
    h.get_by_label_contains("No installed font has Chinese characters");
    h.get_by_label("Traditional Chinese");
}

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
        .lensed(&attngraph::model::HeadSet::default())
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
    assert!(h.state().session.lensed(&"1.2".parse().unwrap()).is_some());
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
    h.get_by_label("difference heatmap");
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
    let chosen = attngraph::session::PatchKey {
        answer: b.next_top_k[0].id,
        wrong: a.next_top_k[0].id,
        ..key.clone()
    };
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

#[test]
fn the_export_menu_saves_the_analysis_on_screen_for_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(&hub_model(), "I love tennis.", Some(dir.path()));
    settle(&mut h);
    // With head 2.1 knocked out, the file holds the analysis as shown and says which head is out.
    h.get_by_label("layer 2 head 1").click();
    h.step();
    h.step();
    h.get_by_label("knock out 2.1").click();
    settle(&mut h);
    open_export_menu(&mut h);
    h.get_by_label("NPZ").click();
    wait_for_exports(&mut h);
    let file = only_file(dir.path());
    assert_eq!(file.extension().unwrap(), "npz");
    let notice = h.state().notice().unwrap();
    assert!(notice.contains("exported"), "{notice}");
    let npz = candle_core::npy::NpzTensors::new(&file).unwrap();
    let array = |name: &str| {
        npz.get(name)
            .unwrap()
            .unwrap_or_else(|| panic!("no {name}"))
    };
    let analysis = h.state().session.analysis().unwrap();
    let knocked: Vec<Vec<i64>> = array("knocked_out").to_vec2().unwrap();
    assert_eq!(knocked, vec![vec![2, 1]]);
    let attentions = array("attentions");
    let t = analysis.tokens.len();
    assert_eq!(attentions.dims(), &[3, 4, t, t]);
    for layer in 0..3 {
        for head in 0..4 {
            let got: Vec<Vec<f32>> = attentions
                .get(layer)
                .unwrap()
                .get(head)
                .unwrap()
                .to_vec2()
                .unwrap();
            assert_eq!(
                got,
                analysis.attentions.matrix(layer, head),
                "head {layer}.{head}"
            );
        }
    }
    let logprob: Vec<f64> = array("logprob").to_vec1().unwrap();
    for (value, token) in logprob.iter().zip(&analysis.tokens) {
        match &token.stats {
            Some(s) => assert_eq!(*value, s.logprob),
            None => assert!(value.is_nan()),
        }
    }
}
