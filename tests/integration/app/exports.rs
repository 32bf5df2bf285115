//! Quick exports from the window: the export button, and the analysis on screen saved for NumPy.

use super::*;

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
    // Zeroed, not mean-ablated.
    assert_eq!(array("knocked_out_mean").to_scalar::<i64>().unwrap(), 0);
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
