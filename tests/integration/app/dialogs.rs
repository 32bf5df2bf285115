//! File dialogs, scripted: save as, the export folder, loading a model from a folder, opening a file to score, and a system without dialogs.

use super::*;

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
