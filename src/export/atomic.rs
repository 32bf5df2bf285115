//! Writing a file whole or not at all, and never over the person's own files by mistake: through a temporary
//! sibling and a rename, into the file a link points to (the link stays), with the mode the file had, refusing a
//! read-only file and any file this process read its text from.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The files this process read its texts from, as canonical paths ([`note_input`]).
static INPUTS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Remembers that this process read its text from `path`, so that no write replaces it: `attngraph perplexity
/// page.txt --per-window page.txt` would otherwise leave the page as a CSV of windows. A path that cannot be
/// resolved (stdin's `-`, a file gone since) is nothing a write could reach, and is not kept.
pub fn note_input(path: &Path) {
    if let Ok(real) = std::fs::canonicalize(path) {
        // A poisoned lock (a panic elsewhere) still holds a list that is whole: each push is one step.
        let mut inputs = INPUTS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        inputs.push(real);
    }
}

/// Whether `real` (a canonical path) is one of the inputs.
fn is_input(real: &Path) -> bool {
    let inputs = INPUTS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    inputs.iter().any(|p| p == real)
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename. Each write has its own
/// temporary file (a unique name made by `tempfile`), so writes of the same path from several threads at
/// once never share one: the last rename wins and the file is always one whole export.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |file| file.write_all(bytes))
}

/// Where a write of a path lands.
enum Target {
    /// Nothing is there yet: a new file, in a folder that exists.
    New(PathBuf),
    /// A regular file (a link's target, where the path is a link) to replace, with what it is now.
    Replace(PathBuf, std::fs::Metadata),
    /// A device or a pipe (`/dev/stdout`, a FIFO): written into as it is, since it cannot be replaced.
    Stream(PathBuf),
}

/// Where a write of `path` would land, or why it may not: a file this process read its text from, a folder, a
/// read-only file, or a folder that is not there.
fn target(path: &Path) -> std::io::Result<Target> {
    use std::io::{Error, ErrorKind};
    // The file the name stands for: a link's target, or the path itself where nothing is there yet.
    let Ok(real) = std::fs::canonicalize(path) else {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let shown = if dir == Path::new(".") {
            "the current folder".to_string()
        } else {
            dir.display().to_string()
        };
        return match std::fs::metadata(dir) {
            Ok(meta) if meta.is_dir() => Ok(Target::New(path.to_path_buf())),
            Ok(_) => Err(Error::new(
                ErrorKind::NotADirectory,
                format!("{shown} is not a folder: give a path inside a folder"),
            )),
            Err(err) if err.kind() == ErrorKind::NotFound => Err(Error::new(
                ErrorKind::NotFound,
                format!("the folder {shown} does not exist: create it first, or choose another output path"),
            )),
            Err(err) => Err(Error::new(
                err.kind(),
                format!("cannot reach the folder {shown}: {err}; choose a folder you can write to"),
            )),
        };
    };
    if is_input(&real) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is a file this command read its text from, and writing there would replace the text; choose \
             another output path",
        ));
    }
    let meta = std::fs::metadata(&real)?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::IsADirectory,
            "it is a folder: give a file name, e.g. FOLDER/graph.svg",
        ));
    }
    if !meta.is_file() {
        return Ok(Target::Stream(real));
    }
    if meta.permissions().readonly() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "the file is read-only: make it writable (chmod u+w) or choose another output path",
        ));
    }
    Ok(Target::Replace(real, meta))
}

/// Whether a write of `path` would be refused, and why: [`write_atomic_with`]'s checks, made before the work
/// whose result it will hold, so that a long run is not lost to a mistyped output path.
pub fn check_target(path: &Path) -> std::io::Result<()> {
    target(path).map(|_| ())
}

/// [`write_atomic`] for a file written piece by piece: `write` fills the temporary file (it may seek), and only
/// if it succeeds does the file take `path`'s place; on an error, whatever was at `path` stays.
///
/// Where `path` is a link to a file, the file it points to is the one replaced, and the link stays. An existing
/// file keeps its mode; a read-only one, a folder, or a file this process read its text from ([`note_input`])
/// is refused with an error that says so. A device or a pipe (`/dev/stdout`) is written into directly.
pub fn write_atomic_with<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    use std::io::Error;
    let (target, old) = match target(path)? {
        Target::Stream(device) => {
            let mut file = std::fs::OpenOptions::new().write(true).open(device)?;
            return write(&mut file);
        }
        Target::New(new) => (new, None),
        Target::Replace(file, meta) => (file, Some(meta)),
    };
    // `target` has a file name: a path with none (`..`, `/`) resolves to a folder, refused above.
    let dir = target
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "export".into());
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // A new file gets the mode a plain `File::create` would give it (0o666 less the umask), never the
    // temporary file's private 0o600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    // Dropped on any error before `persist`, the temporary file is removed.
    let mut file = builder.tempfile_in(dir).map_err(|err| {
        Error::new(
            err.kind(),
            format!(
                "cannot create a file in {}: {}; choose a folder you can write to",
                dir.display(),
                plain(&err)
            ),
        )
    })?;
    // A replaced file keeps the mode it had, set as it is (the umask applies only to files being created).
    if let Some(meta) = old {
        file.as_file().set_permissions(meta.permissions())?;
    }
    write(file.as_file_mut())?;
    file.as_file().sync_all()?;
    file.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// An I/O error's own words, without the temporary file's name that `tempfile` appends (" at path …").
fn plain(err: &std::io::Error) -> String {
    let words = err.to_string();
    match words.split_once(" at path ") {
        Some((own, _)) => own.to_string(),
        None => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kept.npz");
        std::fs::write(&path, b"what was there").unwrap();
        let failed = write_atomic_with(&path, |file| {
            file.write_all(b"half of a new file")?;
            Err(std::io::Error::other("the disk is full"))
        });
        assert_eq!(failed.unwrap_err().to_string(), "the disk is full");
        assert_eq!(std::fs::read(&path).unwrap(), b"what was there");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["kept.npz"]);
        write_atomic_with(&path, |file| file.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
    }

    #[test]
    fn an_input_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let page = dir.path().join("page.txt");
        std::fs::write(&page, b"I love tennis.").unwrap();
        note_input(&page);
        // By its own name, and through another spelling of it.
        let other = dir.path().join(".").join("page.txt");
        for path in [&page, &other] {
            let err = write_atomic(path, b"begin,end").unwrap_err();
            assert!(err.to_string().contains("read its text from"), "{err}");
        }
        assert_eq!(std::fs::read(&page).unwrap(), b"I love tennis.");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_keeps_pointing_and_a_file_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.svg");
        std::fs::write(&real, b"old").unwrap();
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.svg");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomic(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // Read-only: refused, and left as it was (root, who may write it anyway, is refused too).
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o444)).unwrap();
        let err = write_atomic(&real, b"newer").unwrap_err();
        assert!(err.to_string().contains("read-only"), "{err}");
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        // A folder where the file should go.
        let err = write_atomic(dir.path(), b"x").unwrap_err();
        assert!(err.to_string().contains("it is a folder"), "{err}");
        // A folder that does not exist: the message names it and what to do.
        let missing = dir.path().join("no-such-folder").join("x.svg");
        let err = write_atomic(&missing, b"x").unwrap_err();
        assert!(
            err.to_string()
                .contains("no-such-folder does not exist: create it first"),
            "{err}"
        );
        // A folder that takes no new file (/proc, where nothing but the kernel makes files).
        if Path::new("/proc/self").is_dir() {
            let err = write_atomic(Path::new("/proc/x.json"), b"x").unwrap_err();
            assert!(
                err.to_string().contains("cannot create a file in /proc"),
                "{err}"
            );
            assert!(
                err.to_string().contains("choose a folder you can write to"),
                "{err}"
            );
            assert!(!err.to_string().contains(".tmp"), "{err}");
        }
    }
}
