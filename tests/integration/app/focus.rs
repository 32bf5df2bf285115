//! A token in focus (pinned or hovered in the graph) across the window: pinned from the command line, kept
//! pinned when the graph is rebuilt, and shown on every head of the grid; a position past the text is refused
//! with a notice.

use attngraph::app::{AttnApp, Launch};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;

use super::{settle, step_until};
use crate::util::{hub_model, reference_case};

fn pinned_at(pin: usize) -> Harness<'static, AttnApp> {
    let launch = Launch {
        model: Some(hub_model().display().to_string()),
        text: Some("I love tennis.".into()),
        pin: Some(pin),
        fresh: true,
        ..Launch::default()
    };
    let app = AttnApp::new(&egui::Context::default(), None, launch);
    Harness::builder()
        .with_size(egui::vec2(1500.0, 900.0))
        .build_ui_state(|ui, app: &mut AttnApp| app.show(ui), app)
}

#[test]
fn a_token_pinned_from_the_command_line_stays_pinned_and_every_head_shows_where_it_looks() {
    let mut h = pinned_at(3);
    step_until(&mut h, 300, "the text was never read", |app| {
        app.session.analysis().is_some() && !app.busy()
    });
    settle(&mut h);
    // Pinned in the view and selected in the graph, frame after frame (each frame reads the pin back from the
    // graph's selection).
    for _ in 0..3 {
        h.step();
        assert_eq!(h.state().view.pinned, Some(3));
    }
    let analysis = h.state().session.analysis().unwrap().clone();
    let token = &analysis.tokens[3].display;
    h.get_by_label_contains(&format!("orange strips: where 3 {token} looks"));
    // Each head says where the pinned token looks most: the largest weight of its row in transformers'
    // attentions (tests/fixtures/reference.json), layer 0 head 0, row 3.
    let want = reference_case("I love tennis.", h.state().settings.bos);
    let row: Vec<f64> = want["attentions"][0][0][3]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    let (k, w) = row.iter().enumerate().fold(
        (0, f64::MIN),
        |best, (k, &w)| if w > best.1 { (k, w) } else { best },
    );
    let head = h.get_by_label("layer 0 head 0");
    head.hover();
    // Past egui's tooltip delay.
    for _ in 0..10 {
        h.step();
    }
    h.get_by_label_contains(&format!("token 3 looks most at token {k} ({w:.2})"));
}

#[test]
fn a_pinned_position_past_the_text_is_refused_with_a_notice() {
    let mut h = pinned_at(99);
    step_until(
        &mut h,
        300,
        "the pin past the text was not refused",
        |app| {
            app.notice()
                .is_some_and(|n| n.contains("--pin 99: the text has tokens 0–"))
        },
    );
    assert_eq!(h.state().view.pinned, None);
    h.get_by_label_contains("hover a token: each head shows where it looks");
}
