//! Exports from the command line: each format holds exactly the selection, text escapes, atomic files.

use serde_json::Value;

use crate::util::{assert_clean_failure, assert_success, hub_model, run_cli};

fn export(extra: &[&str]) -> std::process::Output {
    let model = hub_model();
    let mut args = vec![
        "export",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "He said \"<a&b>\"\n\tok.",
        "--bos",
    ];
    args.extend_from_slice(extra);
    run_cli(&args, &[])
}

/// Every `&` starts one of XML's five entities: the text was escaped.
fn entities_only(xml: &str) -> bool {
    xml.match_indices('&').all(|(i, _)| {
        ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
            .iter()
            .any(|e| xml[i..].starts_with(e))
    })
}

#[test]
fn json_export_matches_the_selection_and_pruning() {
    let out = export(&[
        "--layer", "2", "--head", "1", "--top-k", "2", "--format", "json", "-o", "-",
    ]);
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["selection"], "layer 2 head 1");
    let n = v["tokens"].as_array().unwrap().len();
    // Row 0 has one positive entry (itself); every other row keeps its 2 heaviest.
    assert_eq!(v["edges"].as_array().unwrap().len(), 1 + 2 * (n - 1));
    assert!(v["edges"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["from"].as_u64() >= e["to"].as_u64()));
    assert_eq!(v["matrix"].as_array().unwrap().len(), n);
    assert_eq!(v["markov"]["absorbing_states"][0], 0);
    // The drawing's node positions, one [x, y] per token, left to right in the arc layout.
    let xs: Vec<f64> = v["positions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[0].as_f64().unwrap())
        .collect();
    assert_eq!(xs.len(), n);
    assert!(xs.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn dot_and_graphml_escape_labels() {
    let dot = export(&["--aggregate", "rollout", "--format", "dot", "-o", "-"]);
    let dot = String::from_utf8(dot.stdout).unwrap();
    assert!(dot.starts_with("// attngraph") && dot.trim_end().ends_with('}'));
    assert!(dot.contains("\\\"<"), "quotes escaped: {dot}");
    let gml = export(&[
        "--layer", "0", "--head", "0", "--format", "graphml", "-o", "-",
    ]);
    let gml = String::from_utf8(gml.stdout).unwrap();
    assert!(
        gml.contains("&lt;") && gml.contains("&amp;") && gml.contains("&quot;"),
        "{gml}"
    );
    assert!(entities_only(&gml), "a bare & in {gml}");
    assert_eq!(
        gml.matches("<node ").count(),
        gml.matches("</node>").count()
    );
}

#[test]
fn csv_and_svg_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("m.csv");
    let out = export(&[
        "--aggregate",
        "all-mean",
        "--format",
        "csv",
        "-o",
        csv.to_str().unwrap(),
    ]);
    assert_success(&out);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("query\\key,0:<|endoftext|>"));
    let svg = dir.path().join("g.svg");
    let out = export(&[
        "--layer",
        "1",
        "--head",
        "3",
        "--threshold",
        "0.1",
        "--layout",
        "circle",
        "--format",
        "svg",
        "-o",
        svg.to_str().unwrap(),
    ]);
    assert_success(&out);
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("&amp;") && entities_only(&svg));
    // Nothing but the two exports is left in the folder (no temporary files).
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

#[test]
fn bad_selection_and_unwritable_path() {
    assert_clean_failure(
        &export(&["--layer", "9", "--head", "0", "--format", "dot", "-o", "-"]),
        "layer 9 head 0 does not exist",
    );
    assert_clean_failure(&export(&["--format", "dot", "-o", "-"]), "choose a matrix");
    assert_clean_failure(
        &export(&[
            "--layer",
            "0",
            "--head",
            "0",
            "--format",
            "dot",
            "-o",
            "/no/such/dir/x.dot",
        ]),
        "cannot write /no/such/dir/x.dot",
    );
    assert_clean_failure(
        &export(&[
            "--layer", "0", "--head", "0", "--mass", "0", "--format", "dot", "-o", "-",
        ]),
        "--mass 0 must be in (0, 1]",
    );
}

#[test]
fn markov_json_has_the_documented_fields() {
    let model = hub_model();
    let out = run_cli(
        &[
            "markov",
            "--model",
            model.to_str().unwrap(),
            "--text",
            "I love tennis.",
            "--bos",
            "--aggregate",
            "layer-mean",
            "--layer",
            "1",
            "--steps",
            "3",
            "--format",
            "json",
        ],
        &[],
    );
    assert_success(&out);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    for key in [
        "row_sums",
        "is_dag_without_self_loops",
        "absorbing_states",
        "absorption_probabilities",
        "expected_steps",
        "row_entropy_bits",
        "effective_attended",
        "sink_mass",
        "teleport_ranking",
        "k_step",
    ] {
        assert!(v.get(key).is_some(), "markov JSON lacks {key}");
    }
    assert_eq!(v["steps"], 3);
    let pi: f64 = v["teleport_ranking"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .sum();
    assert!((pi - 1.0).abs() < 1e-9);
}

#[test]
fn png_export_is_a_real_picture() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("g.png");
    let out = export(&[
        "--layer",
        "1",
        "--head",
        "2",
        "--format",
        "png",
        "-o",
        png.to_str().unwrap(),
    ]);
    assert_success(&out);
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, at bytes 16..24; the SVG is drawn at twice its size.
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 800 && height >= 800, "{width}×{height}");
    assert_clean_failure(
        &export(&["--layer", "1", "--head", "2", "--format", "png", "-o", "-"]),
        "PNG is binary",
    );
}

#[test]
fn graphviz_reads_the_dot_export() {
    // CI installs Graphviz (.ci/run) and sets ATTNGRAPH_CI; elsewhere, without it, this check has nothing to run against.
    if std::process::Command::new("dot")
        .arg("-V")
        .output()
        .is_err()
    {
        crate::skip_report::required_in_ci(
            "export::graphviz_reads_the_dot_export",
            "Graphviz's reading of the DOT export",
            "`dot` is not installed (graphviz)",
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let dot = dir.path().join("g.dot");
    let out = export(&[
        "--aggregate",
        "rollout",
        "--threshold",
        "0.05",
        "--format",
        "dot",
        "-o",
        dot.to_str().unwrap(),
    ]);
    assert_success(&out);
    let svg = std::process::Command::new("dot")
        .arg("-Tsvg")
        .arg(&dot)
        .output()
        .unwrap();
    assert!(
        svg.status.success(),
        "graphviz refused the file: {}",
        String::from_utf8_lossy(&svg.stderr)
    );
    let text = String::from_utf8_lossy(&svg.stdout);
    let nodes = std::fs::read_to_string(&dot)
        .unwrap()
        .matches(" [label=\"")
        .count();
    assert_eq!(text.matches("class=\"node\"").count(), nodes);
}

#[test]
fn exports_of_one_path_from_many_threads_leave_one_whole_file() {
    // The app runs each quick export on its own thread; two of the same selection in the same second write the
    // same path. Each payload is large enough that interleaved writes would tear it.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("head.svg");
    let payloads: Vec<Vec<u8>> = (0..8u8)
        .map(|i| {
            let mut bytes = format!("export {i}\n").into_bytes();
            bytes.resize(256 * 1024, b'a' + i);
            bytes
        })
        .collect();
    for round in 0..100 {
        std::thread::scope(|scope| {
            for payload in &payloads {
                let path = &path;
                scope.spawn(move || attngraph::export::write_atomic(path, payload).unwrap());
            }
        });
        let written = std::fs::read(&path).unwrap();
        assert!(
            payloads.contains(&written),
            "round {round}: the file is not any one export whole ({} bytes)",
            written.len()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "head.svg")
            .collect();
        assert!(
            left.is_empty(),
            "round {round}: temporary files left behind: {left:?}"
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The export has a plain file's mode (0o666 less the umask), not the temporary file's 0o600.
        let plain = dir.path().join("plain");
        std::fs::write(&plain, b"").unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), mode(&plain));
    }
}

#[test]
fn the_format_comes_from_the_file_name_when_not_given() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("head.svg");
    let out = export(&["--layer", "0", "--head", "1", "-o", svg.to_str().unwrap()]);
    assert_success(&out);
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<svg"));
    let png = dir.path().join("head.PNG");
    assert_success(&export(&[
        "--layer",
        "0",
        "--head",
        "1",
        "-o",
        png.to_str().unwrap(),
    ]));
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    let txt = dir.path().join("head.txt");
    let out = export(&["--layer", "0", "--head", "1", "-o", txt.to_str().unwrap()]);
    assert_clean_failure(&out, "--format svg|png|dot|graphml|json|csv");
    assert!(!txt.exists());
}

#[test]
fn markov_steps_show_a_to_the_k_in_the_table() {
    // The table with --steps 4 has A^4's columns, and they equal A^4 from the JSON.
    let model = hub_model();
    let base = [
        "markov",
        "--model",
        model.to_str().unwrap(),
        "--text",
        "I love tennis. I love tennis.",
        "--bos",
        "--layer",
        "1",
        "--head",
        "2",
        "--steps",
        "4",
    ];
    let table = run_cli(&base, &[]);
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.contains("A^4→0"), "{table}");
    let mut json_args = base.to_vec();
    json_args.extend(["--format", "json"]);
    let json = run_cli(&json_args, &[]);
    assert_success(&json);
    let report: Value = serde_json::from_slice(&json.stdout).unwrap();
    let k_step = &report["k_step"];
    let rows: Vec<&str> = table
        .lines()
        .filter(|l| l.trim_start().starts_with(char::is_numeric))
        .collect();
    assert!(rows.len() >= 8, "{table}");
    for (i, line) in rows.iter().enumerate() {
        // Columns after the token: row sum, H, 2^H, E[steps], rank, A^K→0, then the most-reached token.
        let numbers: Vec<f64> = line
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        let to_zero = k_step[i][0].as_f64().unwrap();
        assert!(
            numbers.iter().any(|v| (v - to_zero).abs() < 6e-5),
            "row {i}: A^4[{i}][0] = {to_zero} not in {line}"
        );
    }
    let one = run_cli(&base[..base.len() - 2], &[]);
    assert!(!String::from_utf8(one.stdout).unwrap().contains("A^1"));
}
