//! Downloads from the Hub that let go: each file on a helper thread watched for stalls and cancel, progress
//! reported as bytes arrive, and a finished file checked before it counts as cached.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hf_hub::Repo;

/// Progress of a download: (file name, bytes so far, total bytes).
pub type ProgressFn = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// Seconds without a byte before a download counts as stalled: ATTNGRAPH_STALL_SECS, default 60.
pub(super) fn stall_timeout() -> std::time::Duration {
    let secs = std::env::var("ATTNGRAPH_STALL_SECS")
        .ok()
        .and_then(|v| v.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(60.0);
    std::time::Duration::from_secs_f64(secs)
}

/// Downloads `file` on a helper thread and gives up when no byte arrives for `stall`. hf-hub's HTTP client has
/// no read timeout, so a server that stops sending would otherwise hang the caller forever. A partial file stays
/// in the cache's `blobs/` as `*.sync.part`, which hf-hub resumes next time; nothing appears under `snapshots/`.
pub(super) fn download_watched(
    api: &hf_hub::api::sync::Api,
    repo: &Repo,
    file: &str,
    progress: Option<ProgressFn>,
    cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    stall: std::time::Duration,
) -> Result<PathBuf, String> {
    use std::sync::mpsc;
    let (beat_tx, beat_rx) = mpsc::channel::<Option<Result<PathBuf, String>>>();
    let beat = beat_tx.clone();
    let forward = progress.unwrap_or_else(stderr_progress);
    let reporter = Reporter::new(Arc::new(move |name: &str, done, total| {
        let _ = beat.send(None);
        forward(name, done, total);
    }));
    let api_repo = api.repo(repo.clone());
    let name = file.to_string();
    std::thread::Builder::new()
        .name(format!("download {file}"))
        .spawn(move || {
            let result = api_repo.download_with_progress(&name, reporter);
            let _ = beat_tx.send(Some(result.map_err(|e| e.to_string())));
        })
        .map_err(|e| format!("cannot start the download thread: {e}"))?;
    // Wake at least every 200 ms to notice a cancel; a stall is `stall` without a heartbeat.
    let tick = stall.min(std::time::Duration::from_millis(200));
    let mut last_beat = std::time::Instant::now();
    loop {
        if cancel
            .as_ref()
            .is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        {
            return Err("cancelled; the partial download is kept and resumes next time".into());
        }
        match beat_rx.recv_timeout(tick) {
            Ok(None) => last_beat = std::time::Instant::now(),
            Ok(Some(result)) => return result,
            Err(mpsc::RecvTimeoutError::Timeout) if last_beat.elapsed() < stall => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(format!(
                "no data for {:.0} s: the server stalled (set ATTNGRAPH_STALL_SECS to wait longer)",
                stall.as_secs_f64()
            ))
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the download thread ended without a result".into())
            }
        }
    }
}

/// A progress line on stderr: file, megabytes so far and in all, rate.
fn stderr_progress() -> ProgressFn {
    let start = std::time::Instant::now();
    Arc::new(move |file: &str, done, total| {
        let mb = |b: u64| b as f64 / 1e6;
        let rate = mb(done) / start.elapsed().as_secs_f64().max(1e-3);
        eprint!(
            "\rdownloading {file}: {:.1} / {:.1} MB, {rate:.1} MB/s   ",
            mb(done),
            mb(total)
        );
        if done >= total {
            eprintln!();
        }
    })
}

/// Checks that a downloaded file is whole: JSON parses, safetensors headers and offsets fit the file.
pub(super) fn check_complete(path: &Path) -> Result<(), String> {
    // hf-hub's paths always end in the file's name; without one, only the empty-file check applies.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    if name.ends_with(".json") {
        serde_json::from_slice::<serde_json::Value>(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else if name.ends_with(".safetensors") {
        safetensors::SafeTensors::deserialize(&bytes)
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else if bytes.is_empty() {
        Err("empty file".into())
    } else {
        Ok(())
    }
}

/// Removes a snapshot entry and the blob it points to.
pub(super) fn remove_from_cache(pointer: &Path) {
    if let Ok(blob) = std::fs::canonicalize(pointer) {
        let _ = std::fs::remove_file(blob);
    }
    let _ = std::fs::remove_file(pointer);
}

/// Adapts hf-hub's progress callbacks to a [`ProgressFn`].
struct Reporter {
    callback: ProgressFn,
    file: String,
    done: u64,
    total: u64,
}

impl Reporter {
    fn new(callback: ProgressFn) -> Self {
        Self {
            callback,
            file: String::new(),
            done: 0,
            total: 0,
        }
    }
}

impl hf_hub::api::Progress for Reporter {
    fn init(&mut self, size: usize, filename: &str) {
        self.file = filename.to_string();
        self.total = size as u64;
        self.done = 0;
        (self.callback)(&self.file, 0, self.total);
    }

    fn update(&mut self, size: usize) {
        self.done += size as u64;
        (self.callback)(&self.file, self.done, self.total);
    }

    fn finish(&mut self) {
        (self.callback)(&self.file, self.total, self.total);
    }
}
