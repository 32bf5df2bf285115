//! No import circle between the library's files, counted at the level of items.
//!
//! The check reads every file under `src/` (the library; `main.rs` is its own crate), resolves each
//! `use crate::…`, `use super::…`, `use self::…` and child-module `use`, and every inline `crate::x::y`,
//! `super::x::y` or `child::y` path, to the file that defines the item it names (following `pub use`
//! re-exports, so a name a `mod.rs` re-exports counts as an import of the file that defines it). That gives
//! a graph of files; a file that reaches itself through it is a circle, and the test names each one with the
//! line of every import on it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// A token of Rust source with comments, strings and character literals removed.
#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The tokens of `src`, each with its line (from 1).
fn lex(src: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' || ((c == 'b' || c == 'c') && at(i + 1) == '"') {
            i += if c == '"' { 1 } else { 2 };
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    i += 1;
                }
                line += usize::from(at(i) == '\n');
                i += 1;
            }
            i += 1;
        } else if (c == 'r' && (at(i + 1) == '"' || at(i + 1) == '#'))
            || (c == 'b' && at(i + 1) == 'r' && (at(i + 2) == '"' || at(i + 2) == '#'))
        {
            // A raw string: r"…", r#"…"#, br"…".
            let mut j = i + if c == 'b' { 2 } else { 1 };
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            if at(j) != '"' {
                // `r#ident`, a raw identifier.
                i = j;
                continue;
            }
            j += 1;
            loop {
                if j >= chars.len() {
                    break;
                }
                if chars[j] == '"' && (1..=hashes).all(|k| at(j + k) == '#') {
                    j += 1 + hashes;
                    break;
                }
                line += usize::from(chars[j] == '\n');
                j += 1;
            }
            i = j;
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                // Skip the quote, the backslash and the escaped character (which may itself be a quote).
                i += 3;
                while i < chars.len() && chars[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while at(i).is_alphanumeric() || at(i) == '_' {
                    i += 1;
                }
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while at(i).is_alphanumeric() || at(i) == '_' {
                i += 1;
            }
            out.push((Tok::Ident(chars[start..i].iter().collect()), line));
        } else if c.is_ascii_digit() {
            while at(i).is_alphanumeric()
                || at(i) == '_'
                || (at(i) == '.' && at(i + 1).is_ascii_digit())
            {
                i += 1;
            }
        } else if c == ':' && at(i + 1) == ':' {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// One file of the crate: its module path and tokens.
struct File {
    name: String,
    module: Vec<String>,
    toks: Vec<(Tok, usize)>,
}

/// A path a file names, relative to the module where it appears.
struct Reference {
    /// The module the path is written in (the file's module and any inline `mod x { … }` around it).
    scope: Vec<String>,
    path: Vec<String>,
    line: usize,
    /// Written in a `pub use` (a re-export) at the file's top level.
    reexport: bool,
    glob: bool,
    /// The name a `use` binds (its last segment, or the `as` name); `None` for globs and inline paths.
    binds: Option<String>,
}

fn ident(tok: Option<&(Tok, usize)>) -> Option<&str> {
    match tok {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn is(tok: Option<&(Tok, usize)>, want: &Tok) -> bool {
    tok.is_some_and(|(t, _)| t == want)
}

/// The paths of a use tree starting at `toks[*i]`, appended to `out` as (path, glob).
fn use_tree(
    toks: &[(Tok, usize)],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, bool, Option<String>)>,
) {
    let mut path = prefix;
    loop {
        match toks.get(*i).map(|t| &t.0) {
            Some(Tok::Ident(s)) => {
                *i += 1;
                if s == "self" && !path.is_empty() {
                    // `{self, …}`: the prefix module itself.
                } else {
                    path.push(s.clone());
                }
                if is(toks.get(*i), &Tok::PathSep) {
                    *i += 1;
                    continue;
                }
                let mut alias = None;
                if ident(toks.get(*i)) == Some("as") {
                    alias = ident(toks.get(*i + 1)).map(str::to_string);
                    *i += 2;
                }
                out.push((path, false, alias));
                return;
            }
            Some(Tok::Punct('*')) => {
                *i += 1;
                out.push((path, true, None));
                return;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !is(toks.get(*i), &Tok::Punct('}')) && *i < toks.len() {
                    use_tree(toks, i, path.clone(), out);
                    if is(toks.get(*i), &Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::PathSep) => *i += 1,
            _ => return,
        }
    }
}

/// Every module path and item path `file` names, with the items it defines.
fn scan(file: &File) -> (Vec<Reference>, BTreeSet<String>) {
    let toks = &file.toks;
    let mut refs = Vec::new();
    let mut defined = BTreeSet::new();
    // Inline modules open at this point, with the brace depth their body starts at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let scope: Vec<String> = file
            .module
            .iter()
            .cloned()
            .chain(inline.iter().map(|(m, _)| m.clone()))
            .collect();
        match &toks[i].0 {
            Tok::Punct('{') => {
                depth += 1;
                i += 1;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                i += 1;
            }
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)) {
                    if is(toks.get(i + 2), &Tok::Punct('{')) {
                        inline.push((name.to_string(), depth + 1));
                    }
                }
                i += 2;
            }
            Tok::Ident(kw)
                if matches!(
                    kw.as_str(),
                    "fn" | "struct" | "enum" | "const" | "static" | "type" | "trait" | "union"
                ) =>
            {
                if let Some(name) = ident(toks.get(i + 1)) {
                    defined.insert(name.to_string());
                }
                i += 2;
            }
            Tok::Ident(kw) if kw == "macro_rules" => {
                if let Some(name) = ident(toks.get(i + 2)) {
                    defined.insert(name.to_string());
                }
                i += 3;
            }
            Tok::Ident(kw) if kw == "use" => {
                // `pub use` / `pub(crate) use` at the top level re-exports.
                let reexport = inline.is_empty()
                    && depth == 0
                    && (ident(toks.get(i.wrapping_sub(1))) == Some("pub")
                        || is(toks.get(i.wrapping_sub(1)), &Tok::Punct(')')));
                let line = toks[i].1;
                i += 1;
                let mut trees = Vec::new();
                use_tree(toks, &mut i, Vec::new(), &mut trees);
                for (path, glob, alias) in trees {
                    let binds = if glob {
                        None
                    } else {
                        alias.or_else(|| path.last().cloned())
                    };
                    refs.push(Reference {
                        scope: scope.clone(),
                        path,
                        line,
                        reexport,
                        glob,
                        binds,
                    });
                }
            }
            Tok::Ident(first) if is(toks.get(i + 1), &Tok::PathSep) => {
                let line = toks[i].1;
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while is(toks.get(j), &Tok::PathSep) {
                    match ident(toks.get(j + 1)) {
                        Some(s) => path.push(s.to_string()),
                        None => break,
                    }
                    j += 2;
                }
                // Every path is kept: one that starts at the crate or a (child) module resolves directly, one
                // that starts with a name this file's `use`s bind (`graph::heads::f()` after `use
                // crate::graph;`) through that binding, and the rest (other crates, local types) not at all.
                if first != "Self" {
                    refs.push(Reference {
                        scope: scope.clone(),
                        path,
                        line,
                        reexport: false,
                        glob: false,
                        binds: None,
                    });
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    (refs, defined)
}

/// `path` written in `scope`, as a path from the crate root; `None` when it leaves the crate (another crate,
/// std, or a name in scope such as a type's associated item).
fn absolute(
    scope: &[String],
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let (first, rest) = path.split_first()?;
    let mut base: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => scope.to_vec(),
        "super" => {
            let mut base = scope.to_vec();
            base.pop()?;
            let mut rest = rest;
            while rest.first().is_some_and(|s| s == "super") {
                base.pop()?;
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            return Some(base);
        }
        _ => {
            let mut child = scope.to_vec();
            child.push(first.clone());
            if !modules.contains(&child) {
                return None;
            }
            child.extend(rest.iter().cloned());
            return Some(child);
        }
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

/// The crate's import graph: for each file, the files it imports, each with the lines that import it.
struct Graph {
    names: Vec<String>,
    edges: Vec<BTreeMap<usize, Vec<usize>>>,
}

/// The graph of `sources` (path under `src/`, text), the crate root being `lib.rs`.
fn import_graph(sources: &[(String, String)]) -> Graph {
    let files: Vec<File> = sources
        .iter()
        .map(|(name, text)| {
            let stem = name.trim_end_matches(".rs");
            let mut module: Vec<String> = stem.split('/').map(str::to_string).collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            File {
                name: name.clone(),
                module,
                toks: lex(text),
            }
        })
        .collect();
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| f.module.clone()).collect();
    let file_of: HashMap<Vec<String>, usize> = files
        .iter()
        .enumerate()
        .map(|(i, f)| (f.module.clone(), i))
        .collect();
    let scanned: Vec<(Vec<Reference>, BTreeSet<String>)> = files.iter().map(scan).collect();

    // Re-exports: module file → name → the absolute path it stands for; and its glob re-exports.
    let mut named: Vec<HashMap<String, Vec<String>>> = vec![HashMap::new(); files.len()];
    let mut globs: Vec<Vec<Vec<String>>> = vec![Vec::new(); files.len()];
    for (f, (refs, _)) in scanned.iter().enumerate() {
        for r in refs.iter().filter(|r| r.reexport) {
            let Some(abs) = absolute(&r.scope, &r.path, &modules) else {
                continue;
            };
            if r.glob {
                globs[f].push(abs);
            } else if let Some(name) = r.binds.clone().or_else(|| abs.last().cloned()) {
                named[f].insert(name, abs.clone());
            }
        }
    }

    // The file that defines the item at `path` (absolute).
    fn resolve(
        path: &[String],
        hops: usize,
        file_of: &HashMap<Vec<String>, usize>,
        scanned: &[(Vec<Reference>, BTreeSet<String>)],
        named: &[HashMap<String, Vec<String>>],
        globs: &[Vec<Vec<String>>],
    ) -> Option<usize> {
        let k = (0..=path.len())
            .rev()
            .find(|&k| file_of.contains_key(&path[..k]))?;
        let module_file = file_of[&path[..k]]; // `find` above proved the key is present.
        let Some(name) = path.get(k) else {
            return Some(module_file);
        };
        if scanned[module_file].1.contains(name) || hops > 8 {
            return Some(module_file);
        }
        if let Some(target) = named[module_file].get(name) {
            let mut full = target.clone();
            full.extend(path[k + 1..].iter().cloned());
            if full != path {
                return resolve(&full, hops + 1, file_of, scanned, named, globs);
            }
        }
        for glob in &globs[module_file] {
            let mut full = glob.clone();
            full.extend(path[k..].iter().cloned());
            if let Some(f) = resolve(&full, hops + 1, file_of, scanned, named, globs) {
                if scanned[f].1.contains(name) {
                    return Some(f);
                }
            }
        }
        Some(module_file)
    }

    let mut edges = vec![BTreeMap::<usize, Vec<usize>>::new(); files.len()];
    for (f, (refs, _)) in scanned.iter().enumerate() {
        // What this file's `use`s bind: name → absolute path (inside the crate only).
        let bindings: HashMap<String, Vec<String>> = refs
            .iter()
            .filter_map(|r| Some((r.binds.clone()?, absolute(&r.scope, &r.path, &modules)?)))
            .collect();
        for r in refs {
            let bound = || {
                let (first, rest) = r.path.split_first()?;
                if r.binds.is_some()
                    || r.glob
                    || matches!(first.as_str(), "crate" | "super" | "self")
                {
                    return None;
                }
                let mut abs = bindings.get(first)?.clone();
                abs.extend(rest.iter().cloned());
                Some(abs)
            };
            let Some(abs) = absolute(&r.scope, &r.path, &modules).or_else(bound) else {
                continue;
            };
            let Some(target) = resolve(&abs, 0, &file_of, &scanned, &named, &globs) else {
                continue;
            };
            if target != f {
                edges[f].entry(target).or_default().push(r.line);
            }
        }
    }
    Graph {
        names: files.iter().map(|f| f.name.clone()).collect(),
        edges,
    }
}

/// Every circle in `graph`, each as `a.rs:12 → b.rs:40 → a.rs` (a file, the line of its import of the next).
fn circles(graph: &Graph) -> Vec<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum State {
        New,
        Open,
        Done,
    }
    fn visit(
        node: usize,
        graph: &Graph,
        state: &mut [State],
        stack: &mut Vec<usize>,
        found: &mut Vec<String>,
    ) {
        state[node] = State::Open;
        stack.push(node);
        for &next in graph.edges[node].keys() {
            match state[next] {
                State::Open => {
                    let start = stack.iter().position(|&n| n == next).unwrap_or(0);
                    let ring: Vec<usize> = stack[start..].to_vec();
                    let mut text = String::new();
                    for (k, &a) in ring.iter().enumerate() {
                        let b = ring.get(k + 1).copied().unwrap_or(next);
                        let lines = &graph.edges[a][&b];
                        text += &format!("{}:{:?} → ", graph.names[a], lines);
                    }
                    text += &graph.names[next];
                    found.push(text);
                }
                State::New => visit(next, graph, state, stack, found),
                State::Done => {}
            }
        }
        stack.pop();
        state[node] = State::Done;
    }
    let mut state = vec![State::New; graph.names.len()];
    let mut found = Vec::new();
    for node in 0..graph.names.len() {
        if state[node] == State::New {
            visit(node, graph, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

fn library_sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, root, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                if name != "main.rs" {
                    out.push((name, std::fs::read_to_string(&path).unwrap()));
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

#[test]
fn no_file_imports_itself_round_a_circle() {
    let sources = library_sources();
    let graph = import_graph(&sources);
    let edge_count: usize = graph.edges.iter().map(BTreeMap::len).sum();
    let found = circles(&graph);
    println!(
        "{} files, {} imports between files, {} circles",
        graph.names.len(),
        edge_count,
        found.len()
    );
    assert!(
        graph.names.len() > 50 && edge_count > 100,
        "the scan found too little: {edge_count} imports"
    );
    assert!(
        found.is_empty(),
        "import circles (file:[lines] → next file):\n{}",
        found.join("\n")
    );
}

fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

#[test]
fn the_check_sees_item_imports_inline_paths_and_reexports() {
    // The shape the ui/ circle had: a state module imports a widget's items, and the widget names the state
    // module's constant through an inline `super::` path.
    let circle = sources(&[
        ("lib.rs", "pub mod ui;"),
        (
            "ui/mod.rs",
            "pub mod view; pub mod widget; pub fn shorten() {}",
        ),
        (
            "ui/view.rs",
            "use super::widget::{self, Thumbs};\npub const TOP: usize = 3; // super::widget::x()",
        ),
        (
            "ui/widget.rs",
            "pub struct Thumbs;\nfn f() -> usize {\n    super::view::TOP\n}",
        ),
    ]);
    let found = circles(&import_graph(&circle));
    assert_eq!(
        found,
        vec!["ui/view.rs:[1, 1] → ui/widget.rs:[3] → ui/view.rs"]
    );

    // Through a re-export: `crate::graph::Matrix` is defined in graph/matrix.rs, which imports back.
    let through = sources(&[
        ("lib.rs", "pub mod graph; pub mod palette;"),
        ("graph/mod.rs", "mod matrix;\npub use matrix::Matrix;"),
        (
            "graph/matrix.rs",
            "pub struct Matrix;\nfn f() { crate::palette::heat(); }",
        ),
        ("palette.rs", "use crate::graph::Matrix;\npub fn heat() {}"),
    ]);
    let found = circles(&import_graph(&through));
    assert_eq!(
        found,
        vec!["graph/matrix.rs:[2] → palette.rs:[1] → graph/matrix.rs"]
    );

    // Through a name a `use` binds (`graph::heads::f()` after `use crate::graph;`), and through an alias.
    let bound = sources(&[
        ("lib.rs", "pub mod graph; pub mod ui;"),
        ("graph/mod.rs", "pub mod heads;"),
        (
            "graph/heads.rs",
            "pub fn f() {}\nfn g() { crate::ui::draw(); }",
        ),
        (
            "ui.rs",
            "use crate::graph;\npub fn draw() {}\nfn h() {\n    graph::heads::f();\n}",
        ),
    ]);
    assert_eq!(
        circles(&import_graph(&bound)),
        vec!["graph/heads.rs:[2] → ui.rs:[4] → graph/heads.rs"]
    );
    let alias = sources(&[
        ("lib.rs", "pub mod model; pub mod cli;"),
        (
            "model/mod.rs",
            "mod packed;\npub use packed::supported as packed_kernel_supported;",
        ),
        (
            "model/packed.rs",
            "pub fn supported() {}\nfn f() { crate::cli::run(); }",
        ),
        (
            "cli.rs",
            "pub fn run() {}\nfn g() { crate::model::packed_kernel_supported(); }",
        ),
    ]);
    assert_eq!(
        circles(&import_graph(&alias)),
        vec!["model/packed.rs:[2] → cli.rs:[2] → model/packed.rs"]
    );
    // An escaped quote in a character literal does not open a string that swallows the braces after it.
    assert!(lex("let q = '\\''; fn f() { crate::x(); }")
        .iter()
        .any(|(t, _)| *t == Tok::Ident("crate".into())));

    // A parent that re-exports a child, and the child that names a sibling through the parent, is no circle;
    // nor are strings, comments, and a test module's `use super::*`.
    let clean = sources(&[
        ("lib.rs", "pub mod graph;"),
        ("graph/mod.rs", "mod build;\nmod matrix;\npub use build::Graph;\npub use matrix::Matrix;"),
        ("graph/build.rs", "use super::Matrix;\npub struct Graph;\n#[cfg(test)]\nmod tests {\n    use super::*;\n}"),
        ("graph/matrix.rs", "pub struct Matrix;\nconst S: &str = \"crate::graph::build::Graph\";\nfn f(_: &'static str) {}"),
    ]);
    assert!(circles(&import_graph(&clean)).is_empty());
}

#[test]
fn the_library_below_the_cli_and_the_app_prints_nothing() {
    // The library reports through return values and callbacks; the CLI and the app decide what reaches stderr
    // or the window.
    let mut printing = Vec::new();
    for (name, text) in library_sources() {
        let room = name.split('/').next().unwrap_or("");
        if ![
            "model",
            "graph",
            "markov",
            "export",
            "lesson",
            "session",
            "format.rs",
        ]
        .contains(&room)
        {
            continue;
        }
        let toks = lex(&text);
        for pair in toks.windows(2) {
            if let [(Tok::Ident(m), line), (Tok::Punct('('), _)] = pair {
                if matches!(m.as_str(), "stdout" | "stderr") {
                    printing.push(format!("src/{name}:{line}: {m}()"));
                }
            }
            if let [(Tok::Ident(m), line), (Tok::Punct('!'), _)] = pair {
                if matches!(
                    m.as_str(),
                    "println" | "eprintln" | "print" | "eprint" | "dbg"
                ) {
                    printing.push(format!("src/{name}:{line}: {m}!"));
                }
            }
        }
    }
    assert!(
        printing.is_empty(),
        "library code that prints:\n{}",
        printing.join("\n")
    );
}

#[test]
fn only_isa_asks_the_cpu_which_instructions_it_has() {
    // Every kernel asks `model::isa`, which `ATTNGRAPH_ISA` can lower, so that one switch runs all of them as on
    // a smaller CPU; a kernel that asked the CPU itself would keep its wider build in such a run. Tests may ask
    // (they check every build the CPU can run): a test module is the file's last part, from `#[cfg(test)]` over
    // `mod tests`.
    let mut asking = Vec::new();
    for (name, text) in library_sources() {
        if name == "model/isa.rs" || name.ends_with("/tests.rs") {
            continue;
        }
        let lines: Vec<&str> = text.lines().collect();
        let tests_from = lines
            .windows(2)
            .position(|w| {
                w[0].trim() == "#[cfg(test)]" && w[1].trim_start().starts_with("mod tests")
            })
            .unwrap_or(usize::MAX);
        for (i, line) in lines.iter().enumerate() {
            if line.contains("is_x86_feature_detected") && i < tests_from {
                asking.push(format!("src/{name}:{}", i + 1));
            }
        }
    }
    assert!(
        asking.is_empty(),
        "kernels that ask the CPU instead of model::isa:\n{}",
        asking.join("\n")
    );
}
