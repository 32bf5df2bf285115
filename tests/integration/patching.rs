//! Activation patching against PyTorch forward hooks on transformers in float64 (tests/fixtures/
//! patch_reference.json, written by tools/make_patch_reference.py): every head and every (layer, position), on
//! the demo model, a random GPT-2 and a random Llama; and the command's refusals.

use attngraph::model::patching::patch;
use attngraph::model::Kernels;
use serde_json::Value;

use crate::util::{
    assert_clean_failure, cli_json, engine_named, engine_with, fixtures, ids_of, kernel_paths,
    model_arg, run_cli,
};

fn reference() -> Value {
    let path = fixtures().join("patch_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Within 1e-4, or 1e-5 of the value where it is large.
fn assert_close(got: f64, want: &Value, what: &str) {
    let want = want.as_f64().unwrap();
    let err = (got - want).abs();
    assert!(
        err <= 1e-4 || err <= 1e-5 * want.abs(),
        "{what}: {got} vs {want}"
    );
}

#[test]
fn patching_equals_hooks_on_every_head_and_position() {
    let reference = reference();
    for kernels in kernel_paths("patching::patching_equals_hooks_on_every_head_and_position") {
        for (name, cases) in reference["models"].as_object().unwrap() {
            let engine = engine_named(name, kernels);
            let bos = engine.tokenizer_adds_bos();
            for case in cases.as_array().unwrap() {
                let (answer, wrong) = (
                    case["answer"].as_u64().unwrap() as u32,
                    case["wrong"].as_u64().unwrap() as u32,
                );
                let clean = case["clean"].as_str().unwrap();
                let what = format!("{name} {kernels:?} {clean:?}");
                let mut calls = 0;
                let got = patch(
                    &engine,
                    clean,
                    case["corrupt"].as_str().unwrap(),
                    bos,
                    answer,
                    wrong,
                    &mut |_, _| {
                        calls += 1;
                        true
                    },
                )
                .unwrap();
                assert!(calls > 0, "{what}: no progress reported");
                let ids: Vec<u32> = got.clean_tokens.iter().map(|t| t.id).collect();
                assert_eq!(ids, ids_of(&case["clean_ids"]), "{what}");
                let ids: Vec<u32> = got.corrupt_tokens.iter().map(|t| t.id).collect();
                assert_eq!(ids, ids_of(&case["corrupt_ids"]), "{what}");
                assert_close(got.clean_logit_diff, &case["clean_logit_diff"], &what);
                assert_close(got.corrupt_logit_diff, &case["corrupt_logit_diff"], &what);
                for (l, row) in got.heads.iter().enumerate() {
                    assert_eq!(
                        row.len(),
                        case["heads"][l].as_array().unwrap().len(),
                        "{what}"
                    );
                    for (h, &x) in row.iter().enumerate() {
                        assert_close(x, &case["heads"][l][h], &format!("{what} head {l}.{h}"));
                    }
                }
                assert_eq!(
                    got.residual.len(),
                    case["residual"].as_array().unwrap().len(),
                    "{what}"
                );
                for (l, row) in got.residual.iter().enumerate() {
                    for (p, &x) in row.iter().enumerate() {
                        assert_close(
                            x,
                            &case["residual"][l][p],
                            &format!("{what} residual {l} at {p}"),
                        );
                    }
                }
            }
        }
    }
}

/// Patching takes the metric of a batch of windows from products of the LM head over their last rows; each
/// row's logits must be the bits it has alone, on every kernel path, or batching would move the numbers. More
/// rows than the few-row product takes at once (40), so the groups are tested too (the tiny models read 64).
#[test]
fn the_lm_head_gives_a_row_the_same_bits_alone_or_among_others() {
    for kernels in
        kernel_paths("patching::the_lm_head_gives_a_row_the_same_bits_alone_or_among_others")
    {
        for name in ["demo", "tiny-gpt2", "tiny-llama"] {
            let engine = engine_named(name, kernels);
            let text = "The cat sat on the mat, and the dog sat on the log. ".repeat(4);
            let (mut ids, _) = engine.tokenize(&text, false).unwrap();
            ids.truncate(60);
            let model = engine.model();
            let hidden = model
                .trace(&ids, &attngraph::model::HeadSet::default())
                .unwrap()
                .hidden;
            let t = ids.len();
            assert!(t > 45, "{name}: a text of {t} tokens is too short");
            let bits = |x: candle_core::Tensor| -> Vec<u32> {
                x.flatten_all()
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap()
                    .into_iter()
                    .map(f32::to_bits)
                    .collect()
            };
            // Every row, in an order of its own (last rows first, as patching's windows are not in order).
            let rows: Vec<u32> = (0..t as u32).rev().collect();
            let together = bits(model.logits_of_rows(&hidden, &rows).unwrap());
            let vocab = together.len() / t;
            for (i, &r) in rows.iter().enumerate() {
                let alone = bits(model.logits(&hidden, r as usize, 1).unwrap());
                assert!(
                    alone == together[i * vocab..(i + 1) * vocab],
                    "{name} {kernels:?}: row {r} of {t} differs alone"
                );
            }
        }
    }
}

/// The Compare view's tokens on the demo model: where the texts differ in one token that the model expects next
/// (a copying task), A's token there against B's; where they differ in two, A's top guess against B's; and the
/// reader's choice, for the two texts it was made for only.
#[test]
fn the_compare_view_measures_a_copying_task_by_the_tokens_the_texts_differ_in() {
    use attngraph::model::AnalyzeOptions;
    use attngraph::session::PatchKey;
    use attngraph::ui::compare_view::{candidates, copied_pair, patch_key};
    let engine = engine_named("demo", Kernels::Auto);
    let read = |text: &str| engine.analyze(text, &AnalyzeOptions::default()).unwrap();
    let clean = "The old man walks to the market every morning. The old man walks to the";
    let a = read(clean);
    let b = read(&clean.replace("market", "river"));
    assert_eq!(a.tokens.len(), b.tokens.len());
    let k = a
        .tokens
        .iter()
        .zip(&b.tokens)
        .position(|(x, y)| x.id != y.id)
        .unwrap();
    assert_eq!(
        (a.tokens[k].text.as_str(), b.tokens[k].text.as_str()),
        (" market", " river")
    );
    // The corrupt text's model copies: " river" is among its guesses after the second "the".
    assert!(b.next_top_k.iter().any(|g| g.text == " river"));
    let key = patch_key(&a, &b, None).unwrap();
    assert_eq!((key.answer, key.wrong), (a.tokens[k].id, b.tokens[k].id));
    assert_eq!(copied_pair(&a, &b), Some((key.answer, key.wrong)));
    // Both are offered in the menus, with every guess of both texts, each token once.
    let offered = candidates(&a, &b);
    let mut ids: Vec<u32> = offered.iter().map(|(id, _)| *id).collect();
    for id in [key.answer, key.wrong]
        .into_iter()
        .chain(a.next_top_k.iter().chain(&b.next_top_k).map(|g| g.id))
    {
        assert!(ids.contains(&id), "{id} is not offered");
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), offered.len());
    // The reader's choice holds for these two texts, and not for another pair.
    let other = a
        .next_top_k
        .iter()
        .map(|g| g.id)
        .find(|&id| id != key.answer && id != key.wrong)
        .unwrap();
    let chosen = PatchKey {
        answer: other,
        ..key.clone()
    };
    assert_ne!(chosen, key);
    assert_eq!(patch_key(&a, &b, Some(&chosen)), Some(chosen.clone()));
    let elsewhere = PatchKey {
        corrupt: "another text".into(),
        ..chosen
    };
    assert_eq!(patch_key(&a, &b, Some(&elsewhere)), Some(key));
    // Two tokens changed: no copying task, so A's top guess against B's.
    let two = read(&clean.replace("old", "young"));
    assert_eq!(a.tokens.len(), two.tokens.len());
    assert_eq!(copied_pair(&a, &two), None);
    let key = patch_key(&a, &two, None).unwrap();
    assert_eq!(key.answer, a.next_top_k[0].id);
    assert_eq!(
        key.wrong,
        two.next_top_k
            .iter()
            .find(|g| g.id != key.answer)
            .unwrap()
            .id
    );
}

#[test]
fn a_cancelled_patching_stops() {
    let engine = engine_with(&fixtures().join("tiny-gpt2"), Kernels::Auto);
    let err = patch(
        &engine,
        "I love tennis.",
        "I hate tennis.",
        false,
        11,
        12,
        &mut |_, _| false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[test]
fn the_patch_command_prints_the_reference_and_refuses_what_it_cannot_patch() {
    let reference = reference();
    let case = &reference["models"]["demo"][0];
    let answer = format!("#{}", case["answer"]);
    let wrong = format!("#{}", case["wrong"]);
    let (clean, corrupt) = (
        case["clean"].as_str().unwrap(),
        case["corrupt"].as_str().unwrap(),
    );
    let json = cli_json(&[
        "patch",
        "--model",
        "demo",
        "--clean",
        clean,
        "--corrupt",
        corrupt,
        "--answer",
        &answer,
        "--wrong",
        &wrong,
        "--format",
        "json",
    ]);
    for key in ["clean_logit_diff", "corrupt_logit_diff"] {
        assert_close(json[key].as_f64().unwrap(), &case[key], key);
    }
    assert_close(
        json["heads"][1][2].as_f64().unwrap(),
        &case["heads"][1][2],
        "head 1.2",
    );
    assert_close(
        json["residual"][2][5].as_f64().unwrap(),
        &case["residual"][2][5],
        "residual 2, 5",
    );
    assert_eq!(json["answer"]["id"], case["answer"]);
    // The same token given as its text.
    let text = json["answer"]["text"].as_str().unwrap().to_string();
    let again = cli_json(&[
        "patch",
        "--model",
        "demo",
        "--clean",
        clean,
        "--corrupt",
        corrupt,
        "--answer",
        &text,
        "--wrong",
        &wrong,
        "--format",
        "json",
    ]);
    assert_eq!(again["answer"]["id"], case["answer"]);
    // CSV: a row per head and per (layer, position).
    let out = run_cli(
        &[
            "patch",
            "--model",
            "demo",
            "--clean",
            clean,
            "--corrupt",
            corrupt,
            "--answer",
            &answer,
            "--wrong",
            &wrong,
            "--format",
            "csv",
        ],
        &[],
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let heads = csv.lines().filter(|l| l.starts_with("head,")).count();
    let residual = csv.lines().filter(|l| l.starts_with("residual,")).count();
    // One line per head and per (layer, position), as many as the reference holds.
    let count = |grid: &Value| {
        grid.as_array()
            .unwrap()
            .iter()
            .map(|row| row.as_array().unwrap().len())
            .sum::<usize>()
    };
    assert_eq!(
        (heads, residual),
        (count(&case["heads"]), count(&case["residual"]))
    );

    let demo = model_arg("demo");
    // `patch` from "I love tennis." into `corrupt`, with the answer and the wrong answer given.
    let patch = |corrupt: &str, answer: &str, wrong: &str| {
        run_cli(
            &[
                "patch",
                "--model",
                &demo,
                "--clean",
                "I love tennis.",
                "--corrupt",
                corrupt,
                "--answer",
                answer,
                "--wrong",
                wrong,
            ],
            &[],
        )
    };
    let out = patch("I really do love tennis.", "#5", "#6");
    let stderr = assert_clean_failure(&out, "the same number of tokens");
    assert!(
        stderr.contains("[␣really]"),
        "both token lists are shown: {stderr}"
    );
    let out = patch("I hate tennis.", " tennisracket", "#6");
    let stderr = assert_clean_failure(&out, "not one");
    assert!(stderr.contains("--answer"), "{stderr}");
    let out = patch("I hate tennis.", "#999999", "#6");
    assert_clean_failure(&out, "outside the vocabulary");
    // One token on both sides: every run's metric would be 0.
    let out = patch("I hate tennis.", "#6", "#6");
    assert_clean_failure(&out, "the same token");
}

#[test]
fn the_patch_table_warns_where_clean_and_corrupt_barely_differ() {
    // The reference case's two differences come from transformers: the warning follows them.
    let reference = reference();
    let case = &reference["models"]["demo"][0];
    let gap = (case["clean_logit_diff"].as_f64().unwrap()
        - case["corrupt_logit_diff"].as_f64().unwrap())
    .abs();
    let table = |answer: &str, wrong: &str, clean: &str, corrupt: &str| {
        let out = run_cli(
            &[
                "patch",
                "--model",
                "demo",
                "--clean",
                clean,
                "--corrupt",
                corrupt,
                "--answer",
                answer,
                "--wrong",
                wrong,
            ],
            &[],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let warned = |s: &str| s.contains("warning: clean and corrupt differ by only");
    let out = table(
        &format!("#{}", case["answer"]),
        &format!("#{}", case["wrong"]),
        case["clean"].as_str().unwrap(),
        case["corrupt"].as_str().unwrap(),
    );
    assert_eq!(warned(&out), gap < 1.0, "gap {gap}:\n{out}");
    // Tokens the edit hardly moves: a newline against " He" after a sentence whose one changed word is early.
    let out = table(
        "#199",
        " He",
        "The market opened early, and every trader in the market knew it.",
        "The market opened late, and every trader in the market knew it.",
    );
    let first = out.lines().next().unwrap();
    let number = |key: &str| -> f64 {
        let at = first.find(key).unwrap() + key.len();
        first[at..]
            .split(',')
            .next()
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let small = (number("clean ") - number("corrupt ")).abs();
    assert!(small < 1.0, "{first}");
    assert!(warned(&out), "{out}");
}
