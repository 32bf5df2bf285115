//! Downloads against a real HTTP server on 127.0.0.1 that speaks the Hub's `resolve` endpoint (Range requests,
//! `x-repo-commit`, `etag`, `content-range`), pointed at with HF_ENDPOINT: a normal download, a connection
//! dropped halfway, a 404, a 500, and a server that stalls. Each ends with the complete file in the cache or a
//! clear error and nothing half-written under `snapshots/`; the next run resumes.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::util::{assert_clean_failure, assert_success, hub_model, run_cli};

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// What the server does wrong, and to which file.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Fault {
    None,
    /// Sends half the body of every full request for the file, then closes.
    Drop(&'static str),
    /// Answers 404 for the file.
    NotFound(&'static str),
    /// Answers 500 for the file.
    ServerError(&'static str),
    /// Sends the headers for the file's body, then nothing.
    Stall(&'static str),
}

/// Starts the server; returns its endpoint and a counter of body requests.
fn serve(fault: Fault) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let requests = Arc::new(AtomicUsize::new(0));
    let counter = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let counter = counter.clone();
            std::thread::spawn(move || handle(stream, fault, &counter));
        }
    });
    (endpoint, requests)
}

fn handle(mut stream: TcpStream, fault: Fault, counter: &AtomicUsize) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap_or(0);
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = value.trim().split_once('-').unwrap();
            range = Some((a.parse::<usize>().unwrap(), b.parse::<usize>().ok()));
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    let file = path.rsplit('/').next().unwrap_or("").to_string();
    let status = |stream: &mut TcpStream, code: &str| {
        let _ = write!(
            stream,
            "HTTP/1.1 {code}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
    };
    if !path.starts_with("/openai-community/gpt2/resolve/main/") {
        return status(&mut stream, "404 Not Found");
    }
    if fault == Fault::NotFound(leak(&file)) {
        return status(&mut stream, "404 Not Found");
    }
    if fault == Fault::ServerError(leak(&file)) {
        return status(&mut stream, "500 Internal Server Error");
    }
    let Ok(body) = std::fs::read(hub_model().join(&file)) else {
        return status(&mut stream, "404 Not Found");
    };
    let (start, end) = match range {
        Some((a, Some(b))) => (a, b.min(body.len() - 1)),
        Some((a, None)) => (a, body.len() - 1),
        None => (0, body.len() - 1),
    };
    let slice = &body[start..=end];
    let is_body_request = slice.len() > 1;
    if is_body_request {
        counter.fetch_add(1, Ordering::SeqCst);
    }
    let _ = write!(
        stream,
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{end}/{}\r\nx-repo-commit: {COMMIT}\r\netag: \"etag-{file}-{}\"\r\nConnection: close\r\n\r\n",
        slice.len(),
        body.len(),
        body.len()
    );
    if is_body_request && fault == Fault::Stall(leak(&file)) {
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    if is_body_request && start == 0 && fault == Fault::Drop(leak(&file)) {
        let _ = stream.write_all(&slice[..slice.len() / 2]);
        let _ = stream.flush();
        return;
    }
    let _ = stream.write_all(slice);
}

/// Fault names are `&'static str`; compare against a request's file name without allocating a new static.
fn leak(file: &str) -> &'static str {
    [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "vocab.json",
        "merges.txt",
    ]
    .into_iter()
    .find(|f| *f == file)
    .unwrap_or("")
}

fn analyze(endpoint: &str, cache: &Path) -> std::process::Output {
    run_cli(
        &["analyze", "--text", "I love tennis.", "--format", "json"],
        &[
            ("HF_ENDPOINT", Path::new(endpoint)),
            ("HF_HUB_CACHE", cache),
            ("HF_HUB_OFFLINE", Path::new("0")),
            ("ATTNGRAPH_STALL_SECS", Path::new("2")),
        ],
    )
}

/// Files under the repository's `snapshots/`, each with its size.
fn snapshot_files(cache: &Path) -> Vec<(String, u64)> {
    let snap = cache
        .join("models--openai-community--gpt2")
        .join("snapshots")
        .join(COMMIT);
    let Ok(entries) = std::fs::read_dir(&snap) else {
        return Vec::new();
    };
    let mut out: Vec<(String, u64)> = entries
        .flatten()
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::metadata(e.path()).map_or(0, |m| m.len()),
            )
        })
        .collect();
    out.sort();
    out
}

fn assert_snapshots_whole(cache: &Path) {
    for (name, size) in snapshot_files(cache) {
        let want = std::fs::metadata(hub_model().join(&name)).unwrap().len();
        assert_eq!(size, want, "{name} under snapshots/ is not whole");
    }
}

#[test]
fn normal_download_fills_the_cache_and_the_next_run_is_offline() {
    let cache = tempfile::tempdir().unwrap();
    let (endpoint, _) = serve(Fault::None);
    let out = analyze(&endpoint, cache.path());
    assert_success(&out);
    let names: Vec<String> = snapshot_files(cache.path())
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(
        names,
        vec![
            "config.json",
            "merges.txt",
            "model.safetensors",
            "vocab.json"
        ]
    );
    assert_snapshots_whole(cache.path());
    // The progress line reached stderr.
    assert!(String::from_utf8_lossy(&out.stderr).contains("downloading model.safetensors"));
    let offline = run_cli(
        &["analyze", "--offline", "--text", "I love tennis."],
        &[("HF_HUB_CACHE", cache.path())],
    );
    assert_success(&offline);
}

#[test]
fn a_dropped_connection_is_resumed() {
    let cache = tempfile::tempdir().unwrap();
    let (endpoint, requests) = serve(Fault::Drop("model.safetensors"));
    let out = analyze(&endpoint, cache.path());
    assert_success(&out);
    assert_snapshots_whole(cache.path());
    // 4 files, and at least one more request for the rest of the dropped one.
    assert!(requests.load(Ordering::SeqCst) >= 5);
}

#[test]
fn not_found_and_server_error_leave_nothing_half_written() {
    for fault in [
        Fault::NotFound("model.safetensors"),
        Fault::ServerError("model.safetensors"),
    ] {
        let cache = tempfile::tempdir().unwrap();
        let (endpoint, _) = serve(fault);
        let out = analyze(&endpoint, cache.path());
        let stderr = assert_clean_failure(
            &out,
            "cannot download model.safetensors of openai-community/gpt2",
        );
        assert!(
            stderr.contains(if matches!(fault, Fault::NotFound(_)) {
                "404"
            } else {
                "500"
            }),
            "{stderr}"
        );
        assert!(!snapshot_files(cache.path())
            .iter()
            .any(|f| f.0 == "model.safetensors"));
        assert_snapshots_whole(cache.path());
        // The next run, against a healthy server, completes.
        let (good, _) = serve(Fault::None);
        assert!(analyze(&good, cache.path()).status.success());
    }
}

#[test]
fn a_stalled_server_times_out_and_the_next_run_completes() {
    let cache = tempfile::tempdir().unwrap();
    let (endpoint, _) = serve(Fault::Stall("model.safetensors"));
    let started = std::time::Instant::now();
    let out = analyze(&endpoint, cache.path());
    assert_clean_failure(&out, "the server stalled");
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "the stall was not detected"
    );
    assert!(!snapshot_files(cache.path())
        .iter()
        .any(|f| f.0 == "model.safetensors"));
    let (good, _) = serve(Fault::None);
    let again = analyze(&good, cache.path());
    assert_success(&again);
    assert_snapshots_whole(cache.path());
}

#[test]
fn a_download_can_be_cancelled() {
    use attngraph::model::loader::{resolve, HubOptions, ModelSource};
    use std::sync::atomic::AtomicBool;
    let cache = tempfile::tempdir().unwrap();
    let (endpoint, _) = serve(Fault::Stall("model.safetensors"));
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(500));
        flag.store(true, Ordering::Relaxed);
    });
    let hub = HubOptions {
        offline: false,
        progress: Some(Arc::new(|_: &str, _, _| {})),
        cancel: Some(cancel),
        cache_dir: Some(cache.path().to_path_buf()),
        endpoint: Some(endpoint),
    };
    let started = std::time::Instant::now();
    let err = resolve(&ModelSource::parse("openai-community/gpt2").unwrap(), &hub)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cancelled"), "{err}");
    // The stall would last 30 s; the cancel answers within a second or so of the flag.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(!snapshot_files(cache.path())
        .iter()
        .any(|f| f.0 == "model.safetensors"));
}
