//! The documentation holds: every relative link in README.md and docs/ points at a file that exists, and
//! every command in the README's examples runs as written on a fresh machine (an empty HOME, offline).

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// README.md and every Markdown file under docs/.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut under: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    under.sort();
    docs.extend(under);
    docs
}

/// The targets of the Markdown links `[text](target)` and images `![alt](target)` in `text`, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut in_fence = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        // Inline code spans are not links.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = plain.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            targets.push(after[..end].trim().to_string());
            rest = &after[end..];
        }
    }
    targets
}

#[test]
fn every_relative_link_points_at_a_file() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        for target in link_targets(&text) {
            if target.contains("://") || target.starts_with("mailto:") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap_or("");
            let path = doc.parent().unwrap().join(file);
            checked += 1;
            if !path.exists() {
                broken.push(format!(
                    "{}: {target}",
                    doc.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} relative links found: is the link reader broken?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_readme_is_for_users() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md is {lines} lines; the record belongs in docs/"
    );
    for doc in [
        "GUIDE",
        "ARCHITECTURE",
        "FIDELITY",
        "PERFORMANCE",
        "RELIABILITY",
    ] {
        assert!(
            readme.contains(&format!("docs/{doc}.md")),
            "README does not link docs/{doc}.md"
        );
    }
    // The quick start's two commands.
    assert!(readme.contains("cargo run --release") && readme.contains("cargo test"));
}

/// Splits a command line as a POSIX shell would for plain words and double or single quotes.
fn shell_words(line: &str) -> Vec<String> {
    let (mut words, mut word, mut quote, mut started) = (Vec::new(), String::new(), None, false);
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (_, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if started {
        words.push(word);
    }
    words
}

/// The `attngraph …` lines of the README's code blocks.
fn readme_commands() -> Vec<String> {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut in_fence = false;
    let mut commands = Vec::new();
    for line in readme.lines() {
        if line.trim_start().starts_with("```") {
            in_fence = !in_fence;
        } else if in_fence && line.starts_with("attngraph ") {
            commands.push(line.to_string());
        }
    }
    commands
}

#[test]
fn every_readme_command_runs_on_a_fresh_offline_machine() {
    let commands = readme_commands();
    assert!(
        commands.len() >= 10,
        "only {} commands found in README.md",
        commands.len()
    );
    let home = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    // Files the examples read, by their path in this repository.
    for command in &commands {
        for word in shell_words(command) {
            let source = root().join(&word);
            if word.contains('/') && source.is_file() {
                let copy = work.path().join(&word);
                std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
                std::fs::copy(&source, &copy).unwrap();
            }
        }
    }
    let mut failed = Vec::new();
    for command in &commands {
        let words = shell_words(command);
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_attngraph"))
            .args(&words[1..])
            .current_dir(work.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", home.path())
            .env("HF_HUB_OFFLINE", "1")
            .output()
            .unwrap();
        if !output.status.success() {
            failed.push(format!(
                "{command}\n  {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
    }
    assert!(
        failed.is_empty(),
        "README commands that fail:\n{}",
        failed.join("\n")
    );
    // The files the examples write are there.
    for command in &commands {
        let words = shell_words(command);
        if let Some(at) = words.iter().position(|w| w == "-o") {
            let out = Path::new(&words[at + 1]);
            assert!(
                work.path().join(out).is_file(),
                "{command} wrote no {}",
                out.display()
            );
        }
    }
}

#[test]
fn shell_words_split_as_a_shell_does() {
    assert_eq!(
        shell_words(r#"attngraph analyze --text "I love tennis." -o 'a b.svg'"#),
        [
            "attngraph",
            "analyze",
            "--text",
            "I love tennis.",
            "-o",
            "a b.svg"
        ]
    );
    assert_eq!(shell_words(r#"x --text """#), ["x", "--text", ""]);
}
