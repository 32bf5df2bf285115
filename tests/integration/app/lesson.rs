//! The lesson in the window: every step, a prediction checked, an edited text followed, and every character of the Chinese lesson drawn.

use super::*;

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
