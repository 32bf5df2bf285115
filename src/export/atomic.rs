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
    /// A pipe or a character device (a FIFO, `/dev/null`, a terminal): written into, since it cannot be replaced.
    Stream(PathBuf),
}

/// Whether `path` names this process's standard output or error: `/dev/stdout`, `/dev/fd/1`,
/// `/proc/self/fd/1` and the same for 2.
fn standard_stream(path: &Path) -> bool {
    matches!(
        path.to_str(),
        Some(
            "/dev/stdout"
                | "/dev/fd/1"
                | "/proc/self/fd/1"
                | "/dev/stderr"
                | "/dev/fd/2"
                | "/proc/self/fd/2"
        )
    )
}

/// Where a write of `path` would land, or why it may not: a file this process read its text from, a folder, a
/// read-only file, a link to nothing, a folder that is not there, another open descriptor, a block device.
fn target(path: &Path) -> std::io::Result<Target> {
    use std::io::{Error, ErrorKind};
    // A descriptor named as a file is opened anew: a pipe or a terminal behind it is written as it is, but a
    // file behind it would be written from its start, without the append mode the shell gave it (`>> log`).
    let standard = standard_stream(path);
    if standard {
        if std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "standard output (or error) goes to a file here: give that file's path instead",
            ));
        }
    } else if path.starts_with("/dev/fd")
        || (path.starts_with("/proc") && path.components().any(|c| c.as_os_str() == "fd"))
    {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it names an open file descriptor: give a file path, or /dev/stdout where that is a pipe or a terminal",
        ));
    }
    match std::fs::symlink_metadata(path) {
        Err(err) if err.kind() == ErrorKind::NotFound => return new_file(path),
        Err(err) => {
            return Err(Error::new(
                err.kind(),
                format!("cannot reach it: {err}; choose another output path"),
            ))
        }
        Ok(_) => {}
    }
    // Something is there: what it stands for, through any links.
    let meta = std::fs::metadata(path).map_err(|err| match err.kind() {
        ErrorKind::NotFound => Error::new(
            ErrorKind::NotFound,
            "it is a link to nothing (its target is not there): remove the link, or choose another output path",
        ),
        _ => Error::new(
            err.kind(),
            format!("cannot follow it: {err}; choose another output path"),
        ),
    })?;
    if meta.is_dir() {
        return Err(Error::new(
            ErrorKind::IsADirectory,
            "it is a folder: give a file name, e.g. FOLDER/graph.svg",
        ));
    }
    if !meta.is_file() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt;
            let kind = meta.file_type();
            if kind.is_fifo() || kind.is_char_device() {
                return Ok(Target::Stream(path.to_path_buf()));
            }
        }
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is neither a file, a pipe nor a character device (a disk, a socket): give a file path",
        ));
    }
    let real = std::fs::canonicalize(path)?;
    if is_input(&real) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "it is a file this command read its text from, and writing there would replace the text; choose \
             another output path",
        ));
    }
    if meta.permissions().readonly() {
        return Err(Error::new(
            ErrorKind::PermissionDenied,
            "the file is read-only: make it writable (chmod u+w) or choose another output path",
        ));
    }
    Ok(Target::Replace(real, meta))
}

/// A new file at `path`, whose folder must be there.
fn new_file(path: &Path) -> std::io::Result<Target> {
    use std::io::{Error, ErrorKind};
    let dir = folder_of(path);
    let shown = shown_folder(dir);
    match std::fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => Ok(Target::New(path.to_path_buf())),
        Ok(_) => Err(Error::new(
            ErrorKind::NotADirectory,
            format!("{shown} is not a folder: give a path inside a folder"),
        )),
        Err(err) if err.kind() == ErrorKind::NotFound => Err(Error::new(
            ErrorKind::NotFound,
            format!(
                "the folder {shown} does not exist: create it first, or choose another output path"
            ),
        )),
        Err(err) => Err(Error::new(
            err.kind(),
            format!("cannot reach the folder {shown}: {err}; choose a folder you can write to"),
        )),
    }
}

/// The folder a file path lies in (`.` for a bare name).
fn folder_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A folder as a message names it.
fn shown_folder(dir: &Path) -> String {
    if dir == Path::new(".") {
        "the current folder".to_string()
    } else {
        dir.display().to_string()
    }
}

/// A temporary file in `dir`, next to the file it will replace; an error that names the folder and what to do.
fn temporary_in(dir: &Path, name: &str) -> std::io::Result<tempfile::NamedTempFile> {
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
    builder.tempfile_in(dir).map_err(|err| {
        std::io::Error::new(
            err.kind(),
            format!(
                "cannot create a file in {}: {}; choose a folder you can write to",
                shown_folder(dir),
                plain(&err)
            ),
        )
    })
}

/// Whether a write of `path` would be refused, and why: [`write_atomic_with`]'s checks, and that its folder
/// takes a new file, made before the work whose result it will hold, so that a long run is not lost to a
/// mistyped output path.
pub fn check_target(path: &Path) -> std::io::Result<()> {
    match target(path)? {
        Target::New(file) | Target::Replace(file, _) => {
            // Made and removed at once: the folder takes the temporary file the write will need.
            temporary_in(folder_of(&file), "attngraph-check").map(|_| ())
        }
        Target::Stream(_) => Ok(()),
    }
}

/// [`write_atomic`] for a file written piece by piece: `write` fills the temporary file (it may seek), and only
/// if it succeeds does the file take `path`'s place; on an error, whatever was at `path` stays.
///
/// Where `path` is a link to a file, the file it points to is the one replaced, and the link stays. An existing
/// file keeps its mode; a read-only one, a folder, a link to nothing, or a file this process read its text from
/// ([`note_input`]) is refused with an error that says so. A pipe or a character device (`/dev/null`, and
/// `/dev/stdout` where that is a pipe or a terminal) gets the whole result once it is made.
pub fn write_atomic_with<E: From<std::io::Error>>(
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    let (target, old) = match target(path)? {
        Target::Stream(device) => {
            let out = std::fs::OpenOptions::new().write(true).open(device)?;
            return through_scratch(out, write);
        }
        Target::New(new) => (new, None),
        Target::Replace(file, meta) => (file, Some(meta)),
    };
    // `target` has a file name: a path with none (`..`, `/`) resolves to a folder, refused above.
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "export".into());
    // Dropped on any error before `persist`, the temporary file is removed.
    let mut file = temporary_in(folder_of(&target), &name)?;
    // A replaced file keeps the mode it had, set as it is (the umask applies only to files being created).
    if let Some(meta) = old {
        file.as_file().set_permissions(meta.permissions())?;
    }
    write(file.as_file_mut())?;
    file.as_file().sync_all()?;
    file.persist(&target).map_err(|e| e.error)?;
    Ok(())
}

/// Runs `write` into an unnamed temporary file, which it may seek in, and then copies the whole result into
/// `out`, a stream that cannot seek.
fn through_scratch<E: From<std::io::Error>>(
    mut out: std::fs::File,
    write: impl FnOnce(&mut std::fs::File) -> Result<(), E>,
) -> Result<(), E> {
    use std::io::Seek;
    let mut scratch = tempfile::tempfile()?;
    write(&mut scratch)?;
    scratch.rewind()?;
    std::io::copy(&mut scratch, &mut out)?;
    out.flush()?;
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
            // Said before any work, too.
            assert!(check_target(Path::new("/proc/x.json")).is_err());
        }
        assert!(check_target(&missing).is_err());
        assert!(check_target(&dir.path().join("fresh.svg")).is_ok());
        // A mode the umask would clear (group and others may write) is kept.
        std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o666)).unwrap();
        write_atomic(&real, b"newest").unwrap();
        let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o666);
    }

    #[cfg(unix)]
    #[test]
    fn streams_get_the_whole_result_and_links_to_nothing_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        // A device is written into, not replaced, even by a writer that seeks.
        if Path::new("/dev/null").exists() {
            write_atomic_with(Path::new("/dev/null"), |file| {
                use std::io::Seek;
                file.write_all(b"xy")?;
                file.seek(std::io::SeekFrom::Start(0))?;
                file.write_all(b"z")
            })
            .unwrap();
            assert!(!std::fs::metadata("/dev/null").unwrap().is_file());
        }
        // A link to nothing is refused, and stays a link.
        let dangling = dir.path().join("dangling.svg");
        std::os::unix::fs::symlink(dir.path().join("gone.svg"), &dangling).unwrap();
        let err = write_atomic(&dangling, b"x").unwrap_err();
        assert!(err.to_string().contains("a link to nothing"), "{err}");
        assert!(std::fs::symlink_metadata(&dangling)
            .unwrap()
            .file_type()
            .is_symlink());
        // Another open descriptor named as a file.
        let err = write_atomic(Path::new("/dev/fd/7"), b"x").unwrap_err();
        assert!(err.to_string().contains("open file descriptor"), "{err}");
        // A named pipe gets the whole result, once a reader is there.
        let fifo = dir.path().join("pipe");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.unwrap().success(), "mkfifo (coreutils) made no pipe");
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
    }
}
