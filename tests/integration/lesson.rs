//! The lesson's numbers (`attngraph explain`) against numpy on transformers' outputs
//! (tests/fixtures/explain_reference.json, written by tools/make_explain_reference.py), and against
//! `attngraph analyze` on the same input, recomputed here with plain loops.

use serde_json::Value;

use crate::util::{
    assert_clean_failure, case_input, cli_json, fixtures, model_arg, num as f, rel, run_cli,
};

fn reference() -> Value {
    let text = std::fs::read_to_string(fixtures().join("explain_reference.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn explain_equals_numpy_and_agrees_with_analyze() {
    let reference = reference();
    let cases = reference["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for case in cases {
        let (model, text, bos, what) = case_input(case);
        let text = text.as_str();
        let (layer, head) = (case["layer"].to_string(), case["head"].to_string());
        let what = format!("{what} head {layer}.{head}");
        let got = cli_json(&[
            "explain", "--model", &model, "--text", text, bos, "--layer", &layer, "--head", &head,
            "--format", "json",
        ]);

        // Against numpy on transformers.
        for key in [
            "characters",
            "bytes",
            "tokens",
            "scored_bytes",
            "row_stochastic",
            "dag_without_self_loops",
            "absorbing_states",
        ] {
            assert_eq!(got[key], case[key], "{what}: {key}");
        }
        let n = case["tokens"].as_u64().unwrap();
        assert_eq!(got["attention_entries"]["tokens"].as_u64(), Some(n * n));
        let chars = case["characters"].as_u64().unwrap();
        assert_eq!(
            got["attention_entries"]["characters"].as_u64(),
            Some(chars * chars)
        );
        assert!(
            rel(f(&got["score_asymmetry"]), f(&case["score_asymmetry"])) < 1e-4,
            "{what}: asymmetry"
        );
        for (k, (g, w)) in got["mass_on_token0"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["mass_on_token0"].as_array().unwrap())
            .enumerate()
        {
            assert!(
                (f(g) - f(w)).abs() < 1e-5,
                "{what}: mass after {} steps",
                k + 1
            );
        }
        assert_eq!(got["mass_on_token0"].as_array().unwrap().len(), 8);
        assert!(
            (f(&got["joint_log_prob"]) - f(&case["joint_log_prob"])).abs() < 1e-3,
            "{what}: joint"
        );
        for key in ["perplexity", "bits", "bits_per_byte"] {
            assert!(rel(f(&got[key]), f(&case[key])) < 1e-5, "{what}: {key}");
        }

        // What the lesson's steps ask: √d_head's d, the two scores compared, where the last token looks, the
        // heaviest column, the uniform matrix's drain, the repeated pairs, and gzip on the reader's text.
        for key in [
            "head_dim",
            "last_row_argmax",
            "most_attended",
            "repeat_positions",
            "repeat_first_positions",
        ] {
            assert_eq!(got[key], case[key], "{what}: {key}");
        }
        for key in ["score_last_first", "score_first_last"] {
            assert!(
                (f(&got[key]) - f(&case[key])).abs() < 1e-3 * f(&case[key]).abs().max(1.0),
                "{what}: {key}"
            );
        }
        for key in [
            "last_row_max",
            "last_row_entropy_bits",
            "most_attended_total",
        ] {
            assert!((f(&got[key]) - f(&case[key])).abs() < 1e-4, "{what}: {key}");
        }
        for (g, w) in got["uniform_mass_on_token0"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["uniform_mass_on_token0"].as_array().unwrap())
        {
            assert!((f(g) - f(w)).abs() < 1e-12, "{what}: uniform drain");
        }
        // flate2 on zlib-rs writes what zlib (Python's gzip module) writes at level 9.
        assert_eq!(
            got["gzip_bytes"], case["gzip_bytes"],
            "{what}: gzip −9 bytes"
        );

        // Against `analyze` on the same input: its log-probabilities, perplexity, scores and attentions.
        let analysis = cli_json(&[
            "analyze", "--model", &model, "--text", text, bos, "--scores", "--format", "json",
        ]);
        let logprobs: Vec<f64> = analysis["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["logprob"].as_f64())
            .collect();
        let joint: f64 = logprobs.iter().sum();
        assert!(
            (f(&got["joint_log_prob"]) - joint).abs() < 1e-9,
            "{what}: the joint is the sum of analyze's log-probs"
        );
        assert!(
            rel(f(&got["perplexity"]), f(&analysis["perplexity"])) < 1e-12,
            "{what}: the same perplexity"
        );
        assert!(
            rel(
                f(&got["perplexity"]),
                (-joint / logprobs.len() as f64).exp()
            ) < 1e-12
        );
        let l = case["layer"].as_u64().unwrap() as usize;
        let h = case["head"].as_u64().unwrap() as usize;
        let s = &analysis["scores"][l][h];
        let a = &analysis["attentions"][l][h];
        let n = n as usize;
        let (mut diff, mut norm) = (0.0, 0.0);
        for i in 0..n {
            for j in 0..n {
                diff += (f(&s[i][j]) - f(&s[j][i])).powi(2);
                norm += f(&s[i][j]).powi(2);
            }
        }
        assert!(
            rel(f(&got["score_asymmetry"]), (diff / norm).sqrt()) < 1e-9,
            "{what}: asymmetry of analyze's scores"
        );
        // A^k by repeated products, then the mean of column 0.
        let a: Vec<Vec<f64>> = (0..n)
            .map(|i| (0..n).map(|j| f(&a[i][j])).collect())
            .collect();
        let mut power = a.clone();
        for k in 1..=8 {
            if k > 1 {
                power = (0..n)
                    .map(|i| {
                        (0..n)
                            .map(|j| (0..n).map(|m| power[i][m] * a[m][j]).sum())
                            .collect()
                    })
                    .collect();
            }
            let mass = (0..n).map(|i| power[i][0]).sum::<f64>() / n as f64;
            assert!(
                (f(&got["mass_on_token0"][k - 1]) - mass).abs() < 1e-6,
                "{what}: A^{k} from analyze"
            );
        }
    }
}

#[test]
fn explain_says_what_is_wrong() {
    let model = model_arg("tiny-gpt2");
    let out = run_cli(
        &[
            "explain",
            "--model",
            &model,
            "--text",
            "I love tennis.",
            "--layer",
            "3",
        ],
        &[],
    );
    assert_clean_failure(&out, "layer 3 does not exist");
    let out = run_cli(&["explain", "--model", &model, "--text", "a"], &[]);
    assert_clean_failure(&out, "no token of the text is predicted");
}

fn lesson_json(model: &str, text: &str, bos: &str, lang: &str) -> Value {
    cli_json(&[
        "lesson", "--model", model, "--text", text, bos, "--lang", lang, "--format", "json",
    ])
}

#[test]
fn the_lessons_repeat_step_checks_the_pairs_seen_before() {
    // GPT-2's tokenizer: "I love tennis. I love tennis." is I ␣love ␣tennis . ␣I ␣love ␣tennis . — the pairs
    // (␣love, ␣tennis) and (␣tennis, .) repeat; (␣I, ␣love) does not, since ␣I is not I.
    let model = fixtures().join("tiny-gpt2-hub").display().to_string();
    let text = "I love tennis. I love tennis.";
    for (bos, want) in [("--no-bos", [6, 7]), ("--bos", [7, 8])] {
        let report = lesson_json(&model, text, bos, "en");
        let repeat = &report["steps"][6];
        assert_eq!(repeat["number"], 7);
        assert_eq!(repeat["applicable"], true, "{bos}");
        let positions: Vec<u64> = repeat["positions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .collect();
        assert_eq!(positions, want, "{bos}");
    }
    // No pair repeats: the step says it does not apply, and why.
    let report = lesson_json(&model, "The cat sat on the mat.", "--bos", "en");
    let repeat = &report["steps"][6];
    assert_eq!(repeat["applicable"], false);
    assert_eq!(repeat["answer"], Value::Null);
    assert!(repeat["reason"]
        .as_str()
        .unwrap()
        .contains("No pair of tokens repeats"));
}

#[test]
fn every_step_asks_first_and_answers_on_the_readers_text_in_both_languages() {
    let model = fixtures().join("tiny-gpt2-hub").display().to_string();
    let twice = "I love tennis. I love tennis.";
    let en = lesson_json(&model, twice, "--bos", "en");
    let zh = lesson_json(&model, twice, "--bos", "zh-Hant");
    assert_eq!(en["lang"], "en");
    assert_eq!(zh["lang"], "zh-Hant");
    let steps = en["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 12);
    for (i, (e, z)) in steps
        .iter()
        .zip(zh["steps"].as_array().unwrap())
        .enumerate()
    {
        assert_eq!(e["number"], i + 1);
        for key in ["title", "text", "question"] {
            assert!(
                !e[key].as_str().unwrap().is_empty(),
                "step {}: {key}",
                i + 1
            );
        }
        let choices = e["choices"].as_array().unwrap();
        assert!(choices.len() >= 2, "step {}", i + 1);
        // Both languages give the same answers on the same positions.
        assert_eq!(e["answer"], z["answer"], "step {}", i + 1);
        assert_eq!(e["positions"], z["positions"], "step {}", i + 1);
        assert_eq!(e["applicable"], z["applicable"], "step {}", i + 1);
        if e["applicable"] == true {
            assert!(
                e["answer"].as_u64().unwrap() < choices.len() as u64,
                "step {}",
                i + 1
            );
            assert!(
                e["reveal"].is_string() && e["reason"].is_null(),
                "step {}",
                i + 1
            );
        } else {
            assert!(e["reason"].is_string(), "step {}", i + 1);
        }
    }
    // The questions depend on the text: at least five steps answer, or reveal, differently on another one.
    let cat = lesson_json(&model, "The cat sat on the mat.", "--bos", "en");
    let differ = steps
        .iter()
        .zip(cat["steps"].as_array().unwrap())
        .filter(|(a, b)| a["answer"] != b["answer"] || a["reveal"] != b["reveal"])
        .count();
    assert!(differ >= 5, "only {differ} steps change with the text");
}

#[test]
fn the_lesson_uses_the_chosen_head_and_names_d_head() {
    let model = fixtures().join("tiny-gpt2-hub").display().to_string();
    let out = cli_json(&[
        "lesson",
        "--model",
        &model,
        "--text",
        "I love tennis.",
        "--bos",
        "--layer",
        "1",
        "--head",
        "2",
        "--format",
        "json",
    ]);
    assert_eq!(
        (out["layer"].as_u64(), out["head"].as_u64()),
        (Some(1), Some(2))
    );
    // The fixture is 16 wide with 4 heads: d_head = 4, not the model's 16.
    let scores = out["steps"][1]["reveal"].as_str().unwrap();
    assert!(scores.contains("d_head = 4"), "{scores}");
    let bad = run_cli(
        &[
            "lesson",
            "--model",
            &model,
            "--text",
            "I love tennis.",
            "--layer",
            "9",
            "--head",
            "0",
        ],
        &[],
    );
    assert_clean_failure(&bad, "layer");
}

#[test]
fn the_lessons_answers_are_numpys() {
    // Each step's right choice worked out here from transformers + numpy (explain_reference.json), not from the
    // code under test, and compared with `attngraph lesson` on the same text and head.
    let reference = reference();
    for case in reference["cases"].as_array().unwrap() {
        let (model, text, bos, what) = case_input(case);
        let text = text.as_str();
        let (layer, head) = (case["layer"].to_string(), case["head"].to_string());
        let what = format!("{what} head {layer}.{head}");
        let got = cli_json(&[
            "lesson", "--model", &model, "--text", text, bos, "--layer", &layer, "--head", &head,
            "--format", "json",
        ]);
        let answer = |step: usize| got["steps"][step - 1]["answer"].as_u64();
        let n = case["tokens"].as_u64().unwrap();
        let last = n - 1;
        // 2: S[last][first] against S[first][last].
        let (lf, fl) = (f(&case["score_last_first"]), f(&case["score_first_last"]));
        if (lf - fl).abs() > 1e-3 {
            assert_eq!(
                answer(2),
                Some(if lf > fl { 0 } else { 1 }),
                "{what}: step 2"
            );
        }
        // 3: where the last token looks most.
        let j = case["last_row_argmax"].as_u64().unwrap();
        let want3 = if last < 2 {
            None
        } else if j == 0 {
            Some(0)
        } else if j + 1 == last {
            Some(1)
        } else if j == last {
            Some(2)
        } else {
            Some(3)
        };
        assert_eq!(answer(3), want3, "{what}: step 3");
        // 4: the heaviest column.
        let m = case["most_attended"].as_u64().unwrap();
        assert_eq!(
            answer(4),
            Some(if m == 0 {
                0
            } else if m == last {
                1
            } else {
                2
            }),
            "{what}: step 4"
        );
        // 5: the last row's entropy against one bit.
        let h = f(&case["last_row_entropy_bits"]);
        if (h - 1.0).abs() > 1e-3 {
            assert_eq!(
                answer(5),
                Some(if h > 1.0 { 0 } else { 1 }),
                "{what}: step 5"
            );
        }
        // 6: the walkers on token 0 after eight steps.
        let m8 = f(&case["mass_on_token0"][7]);
        assert_eq!(
            answer(6),
            Some(if m8 > 0.5 { 1 } else { 0 }),
            "{what}: step 6"
        );
        // 7: the pairs seen before, their second token's ln p against the first occurrence's.
        let logprob = |t: u64| f(&case["logprobs"][(t - 1) as usize]);
        let repeats: Vec<(u64, u64)> = case["repeat_positions"]
            .as_array()
            .unwrap()
            .iter()
            .zip(case["repeat_first_positions"].as_array().unwrap())
            .map(|(t, first)| (t.as_u64().unwrap(), first.as_u64().unwrap()))
            .collect();
        let want7 = (!repeats.is_empty()).then(|| {
            let second: f64 = repeats.iter().map(|r| logprob(r.0)).sum();
            let first: f64 = repeats.iter().map(|r| logprob(r.1)).sum();
            if second > first {
                0
            } else {
                1
            }
        });
        assert_eq!(answer(7), want7, "{what}: step 7");
        // 8: the perplexity's band.
        let ppl = f(&case["perplexity"]);
        assert_eq!(
            answer(8),
            Some(if ppl < 10.0 {
                0
            } else if ppl <= 100.0 {
                1
            } else {
                2
            }),
            "{what}: step 8"
        );
        // 9: the model's bits per byte against gzip −9's on the text.
        let gzip = f(&case["gzip_bytes"]) * 8.0 / f(&case["bytes"]);
        assert_eq!(
            answer(9),
            Some(if f(&case["bits_per_byte"]) < gzip {
                0
            } else {
                1
            }),
            "{what}: step 9"
        );
    }
}

#[test]
fn the_lens_step_names_the_layer_transformers_finds() {
    // The layer where the last token first tops the lens after the token before it, from transformers' own
    // hidden states (tests/fixtures/lens_reference.json), against the lesson's answer on the same text.
    let reference: Value = crate::util::fixture_json("lens_reference.json");
    for case in reference["cases"].as_array().unwrap() {
        let (model, text, bos, what) = crate::util::case_input(case);
        let ids = case["ids"].as_array().unwrap();
        if ids.len() < 2 {
            continue;
        }
        let (pos, next) = (ids.len() - 2, &ids[ids.len() - 1]);
        let layers = case["layers"].as_array().unwrap();
        let output = layers.len() - 1;
        let first = layers
            .iter()
            .position(|row| &row[pos]["top_ids"][0] == next);
        let want = match first {
            Some(0) => 0,
            Some(l) if l < output => 1,
            Some(_) => 2,
            None => 3,
        };
        let report = lesson_json(&model, &text, bos, "en");
        let step = &report["steps"][10];
        assert_eq!(step["number"], 11, "{what}");
        assert_eq!(step["answer"], want, "{what}: {}", step["reveal"]);
        assert_eq!(
            step["positions"],
            serde_json::json!([pos, pos + 1]),
            "{what}"
        );
        let reveal = step["reveal"].as_str().unwrap();
        assert!(
            reveal.contains("each layer's top guess"),
            "{what}: {reveal}"
        );
        // Every probability it writes is a percentage of at most 100.
        for piece in reveal.split(" %").filter(|p| !p.is_empty()) {
            if let Some(number) = piece.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()) {
                assert!((0.0..=100.0).contains(&number), "{what}: {reveal}");
            }
        }
        // The output's probability of the next token is the reference's, as a percentage.
        let lp = layers[output][pos]["next_logprob"].as_f64().unwrap();
        let shown = format!("{:.1} %", 100.0 * lp.exp());
        assert!(
            lp.exp() < 0.01 || reveal.contains(&shown),
            "{what}: {shown} in {reveal}"
        );
    }
}

#[test]
fn the_sink_step_weighs_token_0_as_numpy_does() {
    // From numpy's norms on transformers' states (tests/fixtures/norms_reference.json): the last token's row of
    // α_ij ‖f(x_j)‖ gives token 0's share of what the head moves; α_0 = that entry over ‖f(x_0)‖.
    let reference: Value = crate::util::fixture_json("norms_reference.json");
    for case in reference["cases"].as_array().unwrap() {
        let (model, text, bos, what) = crate::util::case_input(case);
        let (layer, head) = (1usize, 0usize);
        let row: Vec<f64> = case["norms"][layer][head]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let share = row[0] / row.iter().sum::<f64>();
        let attention = row[0] / case["value_norms"][layer][head][0].as_f64().unwrap();
        let want = usize::from(share >= attention);
        let report = cli_json(&[
            "lesson", "--model", &model, "--text", &text, bos, "--layer", "1", "--head", "0",
            "--format", "json",
        ]);
        let step = &report["steps"][11];
        assert_eq!(step["number"], 12, "{what}");
        assert_eq!(step["answer"], want, "{what}: {}", step["reveal"]);
        let reveal = step["reveal"].as_str().unwrap();
        let shown = format!("{:.1} %", 100.0 * share);
        assert!(
            share < 0.01 || reveal.contains(&shown),
            "{what}: {shown} in {reveal}"
        );
    }
}

#[test]
fn step_one_counts_each_chinese_character_as_a_word() {
    // 我愛網球。 has four Han characters and a full stop: four words, as the question counts them (counted
    // here by hand). The demo model's tokenizer reads it in fewer tokens than that, GPT-2's in more.
    let text = "我愛網球。";
    let tokens = |model: &str| {
        cli_json(&[
            "analyze", "--model", model, "--text", text, "--format", "json",
        ])["tokens"]
            .as_array()
            .unwrap()
            .len()
    };
    let gpt2 = fixtures().join("tiny-gpt2-hub").display().to_string();
    for (model, want) in [("demo".to_string(), 0), (gpt2, 2)] {
        let n = tokens(&model);
        assert_eq!(
            n.cmp(&4) as i64 + 1,
            want,
            "{model}: {n} tokens against 4 words"
        );
        for lang in ["en", "zh-Hant"] {
            let step = &lesson_json(&model, text, "--no-bos", lang)["steps"][0];
            assert_eq!(step["answer"], want, "{model} {lang}");
            let reveal = step["reveal"].as_str().unwrap();
            let words = if lang == "en" {
                "4 words"
            } else {
                "4 個詞（"
            };
            assert!(reveal.contains(words), "{model} {lang}: {reveal}");
        }
    }
}
