//! Downloads from the Hub that let go: each file on a helper thread watched for stalls and cancel, progress
//! reported as bytes arrive, and a finished file checked before it counts as cached.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use hf_hub::Repo;

/// Progress of a download: (file name, bytes so far, total bytes).
pub type ProgressFn = Arc<dyn Fn(&str, u64, u64) + Send + Sync>;

/// Seconds without a byte before a download counts as stalled: ATTNGRAPH_STALL_SECS (0.2 s to a day), default 60.
/// A value outside that is an error that says so (the caller reports it), not a silent default.
pub(super) fn stall_timeout() -> Result<Duration, String> {
    match std::env::var("ATTNGRAPH_STALL_SECS") {
        Err(_) => Ok(Duration::from_secs(60)),
        Ok(v) => match v.parse::<f64>() {
            Ok(secs) if (0.2..=86_400.0).contains(&secs) => Ok(Duration::from_secs_f64(secs)),
            _ => Err(format!(
                "ATTNGRAPH_STALL_SECS={v:?} is not a number of seconds from 0.2 to 86400: set it to one, or unset it for 60"
            )),
        },
    }
}

/// Downloads `file` on a helper thread and gives up when no byte arrives for `stall` or `cancel` is set. hf-hub's
/// HTTP client has no read timeout, so a server that stops sending would otherwise hang the caller forever. A
/// partial file stays in the cache's `blobs/` (`blobs`, the repository's) as `<etag>.part`, which hf-hub resumes
/// next time; nothing appears under `snapshots/`.
///
/// Giving up lets go of the file: the thread is told to stop, and it stops at its next read (see [`Reporter`]).
/// A thread blocked on a server gone silent cannot read again, and it holds hf-hub's lock on the blob; a retry
/// of the same file in this process then meets that lock (hf-hub tries it for 5 s), removes the lock file (the
/// blocked thread keeps its lock on the unlinked one and stops before it writes, should it ever wake), and takes
/// a new one. Only a thread of this process that was given up on after it took the lock, and still runs, has
/// its lock removed; a lock held by anything else is reported. Such a blocked thread lives, with its connection,
/// until the server closes it (hf-hub 0.4 sets no read timeout).
pub(super) fn download_watched(
    api: &hf_hub::api::sync::Api,
    repo: &Repo,
    blobs: &Path,
    file: &str,
    progress: Option<ProgressFn>,
    cancel: Option<Arc<AtomicBool>>,
    stall: Duration,
) -> Result<PathBuf, String> {
    let attempt = || {
        let watch = Watch {
            progress: progress.clone(),
            cancel: cancel.clone(),
            stall,
        };
        watch.run(api, repo, blobs, file)
    };
    let abandoned_before = Abandoned::still_running(blobs, file);
    // The last try: a lock still held now is another download's.
    let last = || match attempt()? {
        Attempt::Done(path) => Ok(path),
        Attempt::Locked(lock) => Err(locked(&lock)),
    };
    match attempt()? {
        Attempt::Done(path) => Ok(path),
        Attempt::Locked(lock) if Abandoned::still_running(blobs, file) => {
            // This process' own abandoned download of the file holds the lock, blocked where it cannot write.
            let _ = std::fs::remove_file(&lock);
            last()
        }
        // The abandoned download ended while hf-hub waited for its lock: the lock is free now.
        Attempt::Locked(_) if abandoned_before => last(),
        Attempt::Locked(lock) => Err(locked(&lock)),
    }
}

fn locked(lock: &Path) -> String {
    format!(
        "another download of this file holds its lock ({}); wait for it to finish, or remove the lock file if \
         no download runs",
        lock.display()
    )
}

/// How one try of a download ended, short of an error.
enum Attempt {
    /// The file, in the cache.
    Done(PathBuf),
    /// hf-hub could not take the blob's lock (this path) within its 5 s.
    Locked(PathBuf),
}

/// One try of a download, watched.
struct Watch {
    progress: Option<ProgressFn>,
    cancel: Option<Arc<AtomicBool>>,
    /// Longest wait for a byte.
    stall: Duration,
}

/// Before its first byte a download also asks the Hub for the file's etag and may wait for hf-hub's lock, which
/// hf-hub tries for 5 s.
const LOCK_WAIT: Duration = Duration::from_secs(6);

impl Watch {
    fn run(
        self,
        api: &hf_hub::api::sync::Api,
        repo: &Repo,
        blobs: &Path,
        file: &str,
    ) -> Result<Attempt, String> {
        use std::sync::mpsc;
        let (beat_tx, beat_rx) = mpsc::channel::<Option<Result<Attempt, String>>>();
        let beat = beat_tx.clone();
        let forward = self.progress;
        let abandoned = Arc::new(AtomicBool::new(false));
        let reporter = Reporter::new(
            Arc::new(move |name: &str, done, total| {
                let _ = beat.send(None);
                if let Some(forward) = &forward {
                    forward(name, done, total);
                }
            }),
            Arc::clone(&abandoned),
        );
        let holds_lock = Arc::clone(&reporter.started);
        let api_repo = api.repo(repo.clone());
        let name = file.to_string();
        let running = Running(Arc::new(AtomicBool::new(true)));
        let still_running = Arc::clone(&running.0);
        std::thread::Builder::new()
            .name(format!("download {file}"))
            .spawn(move || {
                let _running = running;
                let download = std::panic::AssertUnwindSafe(|| {
                    api_repo.download_with_progress(&name, reporter)
                });
                let outcome = match std::panic::catch_unwind(download) {
                    Ok(Ok(path)) => Ok(Attempt::Done(path)),
                    Ok(Err(hf_hub::api::sync::ApiError::LockAcquisition(lock))) => {
                        Ok(Attempt::Locked(lock))
                    }
                    Ok(Err(err)) => Err(err.to_string()),
                    // Abandoned: it unwound out of hf-hub (dropping its lock and its file); nobody waits for it.
                    Err(payload) if payload.is::<Abandon>() => return,
                    Err(payload) => Err(format!(
                        "the download failed inside hf-hub: {}",
                        payload
                            .downcast_ref::<&str>()
                            .copied()
                            .or(payload.downcast_ref::<String>().map(String::as_str))
                            .unwrap_or("a panic without a message")
                    )),
                };
                let _ = beat_tx.send(Some(outcome));
            })
            .map_err(|e| format!("cannot start the download thread: {e}"))?;
        let give_up = |message: String| {
            abandoned.store(true, Ordering::SeqCst);
            // hf-hub reports progress only once it holds the blob's lock: a thread given up on before that holds
            // no lock of its own (it may be waiting for another's).
            if holds_lock.load(Ordering::SeqCst) {
                Abandoned::register(blobs, file, Arc::clone(&still_running));
            }
            Err(message)
        };
        // Wake at least every 200 ms to notice a cancel; a stall is `stall` without a heartbeat.
        let tick = self.stall.min(Duration::from_millis(200));
        let mut last_beat = std::time::Instant::now();
        let mut wait = self.stall + LOCK_WAIT;
        loop {
            if self
                .cancel
                .as_ref()
                .is_some_and(|c| c.load(Ordering::Relaxed))
            {
                return give_up(
                    "cancelled; the partial download is kept and resumes next time".into(),
                );
            }
            match beat_rx.recv_timeout(tick) {
                Ok(None) => {
                    last_beat = std::time::Instant::now();
                    wait = self.stall;
                }
                Ok(Some(outcome)) => return outcome,
                Err(mpsc::RecvTimeoutError::Timeout) if last_beat.elapsed() < wait => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return give_up(format!(
                        "no data for {:.0} s: the server stalled (set ATTNGRAPH_STALL_SECS to wait longer)",
                        wait.as_secs_f64()
                    ))
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err("the download thread ended without a result".into())
                }
            }
        }
    }
}

/// Clears its flag when the download thread ends, however it ends.
struct Running(Arc<AtomicBool>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// A download this process gave up on while its thread still ran.
struct Abandoned {
    blobs: PathBuf,
    file: String,
    running: Arc<AtomicBool>,
}

/// Every download given up in this process whose thread may still run.
static ABANDONED: Mutex<Vec<Abandoned>> = Mutex::new(Vec::new());

impl Abandoned {
    fn register(blobs: &Path, file: &str, running: Arc<AtomicBool>) {
        // A poisoned lock only means a thread panicked while holding it; the list is still whole.
        let mut list = ABANDONED.lock().unwrap_or_else(PoisonError::into_inner);
        list.push(Abandoned {
            blobs: blobs.to_path_buf(),
            file: file.to_string(),
            running,
        });
    }

    /// Whether a download of `file` into `blobs` that this process gave up on, after it took the file's lock,
    /// still runs: blocked on a silent server, still holding that lock.
    fn still_running(blobs: &Path, file: &str) -> bool {
        let mut list = ABANDONED.lock().unwrap_or_else(PoisonError::into_inner);
        list.retain(|a| a.running.load(Ordering::SeqCst));
        list.iter().any(|a| a.blobs == blobs && a.file == file)
    }
}

/// Checks that a downloaded file is the Hub's content, reading it in pieces (never whole into memory).
///
/// hf-hub stores each file as `blobs/<etag>` and points `snapshots/<commit>/<file>` at it. The Hub's etag is the
/// file's SHA-256 for LFS files (64 hex digits) and its git blob SHA-1 for the rest (40 hex digits): the file
/// counts only if its bytes hash to it. A body cut short, a server that ignored `Range` on a resume, or a
/// proxy's altered copy all fail here. Where the etag is neither (a mirror that sends its own), the file's
/// structure is checked instead: JSON parses, a safetensors header's offsets end at the file's end, and no file
/// is empty.
pub(super) fn check_complete(pointer: &Path) -> Result<(), String> {
    let blob = std::fs::canonicalize(pointer).map_err(|e| e.to_string())?;
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| format!("{} names no file", blob.display()))?;
    let hex = |len: usize| etag.len() == len && etag.bytes().all(|b| b.is_ascii_hexdigit());
    if hex(64) {
        let got = hash_file::<sha2::Sha256>(&blob, None)?;
        return same_hash(&got, &etag, "SHA-256");
    }
    if hex(40) {
        let len = std::fs::metadata(&blob).map_err(|e| e.to_string())?.len();
        // Git hashes "blob <length>\0" followed by the content.
        let got = hash_file::<sha1::Sha1>(&blob, Some(format!("blob {len}\0").as_bytes()))?;
        return same_hash(&got, &etag, "git SHA-1");
    }
    check_structure(pointer)
}

fn same_hash(got: &str, etag: &str, kind: &str) -> Result<(), String> {
    if got.eq_ignore_ascii_case(etag) {
        Ok(())
    } else {
        Err(format!(
            "its {kind} is {got}, but the Hub names the file {etag}: the bytes that arrived are not the file"
        ))
    }
}

/// The hex digest of `prefix` followed by the file's bytes, read 1 MiB at a time.
fn hash_file<D: sha2::Digest>(path: &Path, prefix: Option<&[u8]>) -> Result<String, String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut digest = D::new();
    if let Some(prefix) = prefix {
        digest.update(prefix);
    }
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        // n ≤ buffer.len(): `read` never reports more than it was given room for.
        digest.update(&buffer[..n]);
    }
    Ok(digest
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Structure only, streamed: JSON parses; a safetensors file is exactly its header plus the data its tensors'
/// offsets name; nothing is empty.
fn check_structure(path: &Path) -> Result<(), String> {
    use std::io::Read;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .ok_or_else(|| format!("{} names no file", path.display()))?;
    let len = std::fs::metadata(path).map_err(|e| e.to_string())?.len();
    let open = || std::fs::File::open(path).map_err(|e| e.to_string());
    if name.ends_with(".json") {
        serde_json::from_reader::<_, serde::de::IgnoredAny>(std::io::BufReader::new(open()?))
            .map(|_| ())
            .map_err(|e| e.to_string())
    } else if name.ends_with(".safetensors") {
        let mut file = open()?;
        let mut size = [0u8; 8];
        file.read_exact(&mut size).map_err(|e| e.to_string())?;
        let header_len = u64::from_le_bytes(size);
        if header_len > len.saturating_sub(8) || header_len > 100 << 20 {
            return Err(format!(
                "the header claims {header_len} bytes of a {len}-byte file"
            ));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header).map_err(|e| e.to_string())?;
        let header: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&header).map_err(|e| e.to_string())?;
        let data_end = header
            .iter()
            .filter(|(key, _)| key.as_str() != "__metadata__")
            .filter_map(|(_, t)| t.get("data_offsets")?.get(1)?.as_u64())
            .max()
            // No tensor at all: the data section is empty, and the file is its header.
            .unwrap_or(0);
        // Offsets come from the file: a sum past u64 is a lie about the size, not an overflow to wrap.
        match (8 + header_len).checked_add(data_end) {
            Some(end) if end == len => Ok(()),
            Some(end) => Err(format!(
                "the tensors end at byte {end} but the file has {len}"
            )),
            None => Err(format!(
                "the header names tensors past any file size (offset {data_end})"
            )),
        }
    } else if len == 0 {
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

/// Adapts hf-hub's progress callbacks to a [`ProgressFn`], and stops an abandoned download.
///
/// hf-hub's `Progress` has no way to say "stop", so once `abandoned` is set the next callback unwinds out of
/// hf-hub (`resume_unwind`: no panic message) to the download thread's `catch_unwind`, dropping hf-hub's lock and
/// file on the way. hf-hub's reader calls `update` after each read and before its bytes are written, so an
/// abandoned download writes nothing it reads after the flag is set (the buffer already read when the flag comes
/// is written, a few KB), and `finish` stops it before the finished part is renamed into the cache. This leans on
/// hf-hub 0.4.3's internals (the version is pinned) and on unwinding (a build with `panic = "abort"` would abort
/// on a cancel).
struct Reporter {
    callback: ProgressFn,
    abandoned: Arc<AtomicBool>,
    /// Set at hf-hub's first callback, which comes after it took the blob's lock.
    started: Arc<AtomicBool>,
    file: String,
    done: u64,
    total: u64,
}

/// The payload an abandoned download unwinds with.
struct Abandon;

impl Reporter {
    fn new(callback: ProgressFn, abandoned: Arc<AtomicBool>) -> Self {
        Self {
            callback,
            abandoned,
            started: Arc::new(AtomicBool::new(false)),
            file: String::new(),
            done: 0,
            total: 0,
        }
    }

    fn stop_if_abandoned(&self) {
        if self.abandoned.load(Ordering::SeqCst) {
            std::panic::resume_unwind(Box::new(Abandon));
        }
    }
}

impl hf_hub::api::Progress for Reporter {
    fn init(&mut self, size: usize, filename: &str) {
        self.stop_if_abandoned();
        self.started.store(true, Ordering::SeqCst);
        self.file = filename.to_string();
        self.total = size as u64;
        self.done = 0;
        (self.callback)(&self.file, 0, self.total);
    }

    fn update(&mut self, size: usize) {
        self.stop_if_abandoned();
        self.done += size as u64;
        (self.callback)(&self.file, self.done, self.total);
    }

    fn finish(&mut self) {
        // Before hf-hub renames the finished part into the cache: a download given up on stays a part file.
        self.stop_if_abandoned();
        (self.callback)(&self.file, self.total, self.total);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known answers, not this module's own formula: `git hash-object` and the SHA-256 test vector.
    #[test]
    fn hashes_are_gits_and_sha256s() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let git = |path: &Path| {
            let len = std::fs::metadata(path).unwrap().len();
            hash_file::<sha1::Sha1>(path, Some(format!("blob {len}\0").as_bytes())).unwrap()
        };
        assert_eq!(
            git(&file("empty", b"")),
            "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"
        );
        assert_eq!(
            git(&file("hello", b"hello world\n")),
            "3b18e512dba79e4c8300dd08aeb37f8e728b8dad"
        );
        assert_eq!(
            hash_file::<sha2::Sha256>(&file("abc", b"abc"), None).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
