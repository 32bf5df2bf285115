//! The `analyze` command's JSON contract, checked against the reference values.

use attngraph::model::isa::{self, Isa};
use serde_json::Value;

mod npz;

use crate::util::{
    assert_clean_failure, assert_success, hub_model, max_abs_diff, reference_case, rel, run_cli,
};

fn analyze_json(extra: &[&str]) -> Value {
    let model = hub_model();
    let mut args = vec![
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "I love tennis.",
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    let output = run_cli(&args, &[]);
    assert_success(&output);
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn analyze_json_without_bos_by_default() {
    let out = analyze_json(&[]);
    let want = reference_case("I love tennis.", false);
    let tokens = out["tokens"].as_array().unwrap();
    let ids: Vec<&Value> = tokens.iter().map(|t| &t["id"]).collect();
    assert_eq!(
        ids,
        want["ids"].as_array().unwrap().iter().collect::<Vec<_>>()
    );
    assert!(
        tokens[0]["logprob"].is_null(),
        "the first token has no context without BOS"
    );
    // An unscored token has every key a scored one has, null (top_k empty), and no nested `stats`.
    let keys = |t: &Value| t.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&tokens[0]), keys(&tokens[1]));
    assert_eq!(tokens[0]["top_k"], serde_json::json!([]));
    assert!(tokens[0].get("stats").is_none() && tokens[1].get("stats").is_none());
    assert_eq!(tokens[1]["text"], " love");
    assert_eq!(
        (tokens[1]["start"].as_u64(), tokens[1]["end"].as_u64()),
        (Some(1), Some(6))
    );
    for key in [
        "surprisal_bits",
        "rank",
        "entropy_bits",
        "top_k",
        "running_perplexity",
    ] {
        assert!(tokens[1].get(key).is_some(), "token lacks {key}");
    }
    let lp = tokens[3]["logprob"].as_f64().unwrap();
    assert!((lp - want["tokens"][3]["logprob"].as_f64().unwrap()).abs() <= 1e-4);
    assert!(
        rel(
            out["perplexity"].as_f64().unwrap(),
            want["perplexity"].as_f64().unwrap()
        ) <= 1e-5
    );
    assert!(max_abs_diff(&out["attentions"], &want["attentions"]) <= 1e-5);
    let model = &out["model"];
    assert_eq!(
        (
            model["n_layer"].as_u64(),
            model["n_head"].as_u64(),
            model["n_embd"].as_u64(),
            model["n_positions"].as_u64(),
            model["vocab_size"].as_u64()
        ),
        (Some(3), Some(4), Some(16), Some(64), Some(50257))
    );
}

#[test]
fn analyze_json_with_bos_scores_the_first_word() {
    let out = analyze_json(&["--bos", "--top-k", "3"]);
    let want = reference_case("I love tennis.", true);
    let tokens = out["tokens"].as_array().unwrap();
    assert_eq!(tokens[0]["id"], 50256);
    assert!(tokens[0]["logprob"].is_null());
    let lp = tokens[1]["logprob"].as_f64().unwrap();
    assert!((lp - want["tokens"][1]["logprob"].as_f64().unwrap()).abs() <= 1e-4);
    assert_eq!(tokens[1]["top_k"].as_array().unwrap().len(), 3);
    assert!(
        rel(
            out["perplexity"].as_f64().unwrap(),
            want["perplexity"].as_f64().unwrap()
        ) <= 1e-5
    );
}

#[test]
fn analyze_table_is_readable() {
    let model = hub_model();
    let output = run_cli(
        &[
            "analyze",
            "--model",
            model.to_str().unwrap(),
            "--text",
            "I love tennis.",
            "--bos",
        ],
        &[],
    );
    assert_success(&output);
    let table = String::from_utf8(output.stdout).unwrap();
    // Tokens as the window shows them: visible whitespace, no quotes or escapes.
    assert!(table.contains(" ␣tennis "), "{table}");
    assert!(!table.contains("\"␣tennis\""), "{table}");
    assert!(table.contains("perplexity"), "{table}");
    assert!(table.contains("context only"), "{table}");
}

#[test]
fn a_kernel_setting_that_is_not_one_of_its_names_is_refused_by_name() {
    let model = hub_model();
    let args = [
        "analyze",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "I love tennis.",
    ];
    let path = std::path::Path::new;
    for (key, value, names) in [
        ("ATTNGRAPH_ISA", "avx3", "baseline, avx2, avx512"),
        ("ATTNGRAPH_ISA", "", "baseline, avx2, avx512"),
        ("ATTNGRAPH_KERNELS", "fast", "auto or portable"),
    ] {
        // A command that loads a model, and one that loads none (refused by the command line itself, as the
        // window is).
        for args in [&args[..], &["bench", "--kernels"]] {
            let output = run_cli(args, &[(key, path(value))]);
            let stderr = assert_clean_failure(&output, &format!("{key}={value:?}"));
            assert!(stderr.contains(names), "{stderr}");
            assert!(output.stdout.is_empty(), "{key}={value}: nothing is read");
        }
    }
    // Names are read whatever their case.
    for (key, value) in [("ATTNGRAPH_ISA", "AVX512"), ("ATTNGRAPH_KERNELS", "Auto")] {
        assert_success(&run_cli(&args, &[(key, path(value))]));
    }
}

#[test]
fn bench_prints_one_json_line_per_length_and_names_its_kernels() {
    let model = hub_model();
    let args = [
        "bench",
        "--model",
        model.to_str().unwrap(),
        "--tokens",
        "4,16",
        "--repeat",
        "2",
        "--format",
        "json",
        "--peak-gflops",
        "100",
        "--peak-gbps",
        "10",
    ];
    let path = std::path::Path::new;
    let packed_at = |level| match level {
        Isa::Avx512 => "avx512-packed",
        Isa::Avx2 => "avx2-packed",
        Isa::Baseline => "portable",
    };
    for (env, kernels) in [
        (vec![], packed_at(isa::level())),
        (vec![("ATTNGRAPH_KERNELS", path("portable"))], "portable"),
        // What a CPU without AVX-512 runs; where this one has no AVX2 either, what it runs itself.
        (
            vec![("ATTNGRAPH_ISA", path("avx2"))],
            packed_at(Isa::detected().min(Isa::Avx2)),
        ),
        // A level above the CPU's is the CPU's.
        (
            vec![("ATTNGRAPH_ISA", path("avx512"))],
            packed_at(Isa::detected()),
        ),
    ] {
        let started = std::time::Instant::now();
        let output = run_cli(&args, &env);
        let wall_ms = started.elapsed().as_secs_f64() * 1e3;
        assert_success(&output);
        let lines: Vec<Value> = String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        for (line, tokens) in lines.iter().zip([4, 16]) {
            assert_eq!(line["tokens"], tokens);
            assert_eq!(line["repeat"], 2);
            // Each length's repeats (and the typing runs) happen inside the process, so half of the repeats
            // took at least the median: more than the whole process took is a wrong clock or unit.
            for key in ["median_ms", "append_one_token_median_ms"] {
                let median = line[key].as_f64().unwrap();
                assert!(
                    median > 0.0 && median < wall_ms,
                    "{key} {median} of {wall_ms} ms: {line}"
                );
            }
            assert!(line["peak_rss_mb"].as_f64().unwrap() > 1.0, "{line}");
            assert_eq!(line["kernels"], kernels);
            // The work and the floor, for the fixture's sizes (3 layers, 16 wide, 50,257 tokens): 12·d² weights
            // in each block's products, the causal half of QKᵀ and A·V, and the LM head on every position.
            let (l, d, v, t) = (3.0, 16.0, 50257.0, f64::from(tokens));
            let flops = l * (2.0 * t * 12.0 * d * d + 2.0 * t * t * d) + 2.0 * t * d * v;
            let bytes = 4.0 * (l * 12.0 * d * d + d * v);
            assert!(
                (line["gflop"].as_f64().unwrap() - flops / 1e9).abs() < 1e-12,
                "{line}"
            );
            let floor = (flops / 100e9).max(bytes / 10e9) * 1e3;
            assert!(
                (line["floor_ms"].as_f64().unwrap() - floor).abs() < 1e-9,
                "{line}"
            );
            let median = line["median_ms"].as_f64().unwrap();
            assert!((line["over_floor"].as_f64().unwrap() - median / floor).abs() < 1e-9);
            assert_eq!(line["peaks_measured"], false);
            // The CPU is named, as /proc/cpuinfo does on Linux (its family, model and vector width after).
            let cpu = line["cpu"].as_str().unwrap();
            if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
                let name = info
                    .lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, name)| name.trim());
                if let Some(name) = name {
                    assert!(cpu.starts_with(name), "{cpu} is not named {name}");
                }
            }
            assert!(!cpu.is_empty());
        }
    }
}

#[test]
fn the_window_and_the_command_line_name_things_the_same() {
    use attngraph::export::Format;
    use attngraph::ui::settings::View;
    use attngraph::ui::view_state::GridColour;
    use clap::ValueEnum;
    let value = |v: Option<clap::builder::PossibleValue>| v.unwrap().get_name().to_string();
    // Views: the tab's label is the --view value.
    for view in View::ALL {
        assert_eq!(view.label().to_lowercase(), value(view.to_possible_value()));
    }
    assert_eq!(View::value_variants().len(), View::ALL.len());
    // The old spelling still parses.
    assert_eq!(View::from_str("grid", true), Ok(View::Heads));
    // Colourings: the button's label is the --colour value.
    for colour in GridColour::value_variants() {
        assert_eq!(colour.label(), value(colour.to_possible_value()));
    }
    // Formats: the export menu's button (the extension, upper case) is the --format value.
    for format in Format::ALL {
        assert_eq!(format.extension(), value(format.to_possible_value()));
    }
    assert_eq!(Format::value_variants().len(), Format::ALL.len());
}

/// `--text-file` reads the same text as `--text` (its bytes exactly), on every command that takes one text; a
/// file that is missing, not UTF-8 or empty is refused with what to do.
#[test]
fn a_text_file_reads_as_the_same_text_given_with_text() {
    let model = hub_model();
    let model = model.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tennis.txt");
    std::fs::write(&file, "I love tennis.\n").unwrap();
    let file = file.to_str().unwrap();
    for command in [
        &["analyze", "--format", "json"][..],
        &["lens", "--format", "json"],
        &["ablate", "--heads", "0.0", "--format", "json"],
        &["attribute", "--predict", "2", "--format", "json"],
        &["explain", "--format", "json"],
        &["lesson", "--format", "json"],
        // export reads its text as markov does (the same arguments), and writes a file.
        &["markov", "--layer", "0", "--head", "0", "--format", "json"],
    ] {
        let run = |text: &[&str]| {
            let output = run_cli(&[command, &["--model", model], text].concat(), &[]);
            assert_success(&output);
            output.stdout
        };
        assert_eq!(
            run(&["--text", "I love tennis.\n"]),
            run(&["--text-file", file]),
            "{command:?}"
        );
    }
    // Refused before any model is looked for: an empty text with a model that is nowhere.
    let nothing = dir.path().join("nothing.txt");
    std::fs::write(&nothing, b"").unwrap();
    let nothing = nothing.to_str().unwrap();
    let output = run_cli(
        &[
            "analyze",
            "--offline",
            "--model",
            "nobody/no-such-model",
            "--text-file",
            nothing,
        ],
        &[],
    );
    assert_clean_failure(&output, "the text is empty");
    let bad = dir.path().join("latin1.txt");
    std::fs::write(&bad, b"caf\xe9").unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.path().join("missing.txt");
    // The window's --text-file too: said on the terminal before any window opens.
    let output = run_cli(
        &["gui", "--fresh", "--text-file", bad.to_str().unwrap()],
        &[],
    );
    assert_clean_failure(&output, "invalid byte at offset 3");
    for (path, needle) in [
        (&bad, "invalid byte at offset 3"),
        (&empty, "the text is empty"),
        (&missing, "check the path"),
    ] {
        let output = run_cli(
            &[
                "analyze",
                "--model",
                model,
                "--text-file",
                path.to_str().unwrap(),
            ],
            &[],
        );
        assert_clean_failure(&output, needle);
    }
}
