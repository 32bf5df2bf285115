//! File dialogs that never block the window: the native dialog (rfd: the desktop portal, or zenity, on Linux)
//! runs on a thread of its own and its answer comes back through a channel the app polls every frame.
//! Tests answer the dialogs themselves with [`Dialogs::with_picker`].

use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;

/// What the chosen path is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A local model folder to load.
    ModelFolder,
    /// A text file for the Perplexity tab.
    TextFile,
    /// Where to write an export of the current selection; the format follows the file's extension.
    SaveExport,
    /// The folder quick exports go to.
    ExportFolder,
}

/// Which kind of native dialog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Choose an existing file.
    OpenFile,
    /// Choose an existing folder.
    OpenFolder,
    /// Choose where to save a new file.
    SaveFile,
}

/// One dialog to show.
#[derive(Clone, Debug)]
pub struct DialogRequest {
    /// What the answer is for.
    pub purpose: Purpose,
    /// The dialog kind.
    pub kind: Kind,
    /// Window title.
    pub title: String,
    /// Folder the dialog starts in.
    pub directory: Option<PathBuf>,
    /// Suggested file name (save dialogs).
    pub file_name: Option<String>,
    /// Filters: a name and the extensions it accepts.
    pub filters: Vec<(String, Vec<String>)>,
}

impl DialogRequest {
    /// A dialog with no start folder, file name or filter.
    pub fn new(purpose: Purpose, kind: Kind, title: &str) -> Self {
        Self {
            purpose,
            kind,
            title: title.to_string(),
            directory: None,
            file_name: None,
            filters: Vec::new(),
        }
    }
}

/// The answer to a dialog: the chosen path, `Ok(None)` when the person cancelled, an error when no dialog
/// could be shown.
pub type Answer = Result<Option<PathBuf>, String>;

/// Answers a dialog.
pub type Picker = Arc<dyn Fn(&DialogRequest) -> Answer + Send + Sync>;

/// The dialogs of one window: at most one open at a time.
pub struct Dialogs {
    picker: Picker,
    sender: Sender<(Purpose, Answer)>,
    receiver: Receiver<(Purpose, Answer)>,
    open: Option<Purpose>,
}

impl Default for Dialogs {
    fn default() -> Self {
        Self::with_picker(Arc::new(native))
    }
}

impl Dialogs {
    /// Dialogs answered by `picker` instead of the native dialog.
    pub fn with_picker(picker: Picker) -> Self {
        let (sender, receiver) = channel();
        Self {
            picker,
            sender,
            receiver,
            open: None,
        }
    }

    /// The dialog being shown, if any.
    pub fn open_purpose(&self) -> Option<Purpose> {
        self.open
    }

    /// Shows a dialog on its own thread; `wake` is called when it is answered. Ignored while another is open.
    pub fn open(&mut self, request: DialogRequest, wake: impl FnOnce() + Send + 'static) {
        if self.open.is_some() {
            return;
        }
        self.open = Some(request.purpose);
        let picker = self.picker.clone();
        let sender = self.sender.clone();
        let spawned = std::thread::Builder::new()
            .name("attngraph-dialog".into())
            .spawn(move || {
                let answer = picker(&request);
                // The app may be gone; nothing to do then.
                let _ = sender.send((request.purpose, answer));
                wake();
            });
        if spawned.is_err() {
            self.open = None;
        }
    }

    /// The answer of the dialog, once it has one.
    pub fn poll(&mut self) -> Option<(Purpose, Answer)> {
        let answer = self.receiver.try_recv().ok()?;
        self.open = None;
        Some(answer)
    }
}

/// The platform's dialog through rfd.
fn native(request: &DialogRequest) -> Answer {
    let started = std::time::Instant::now();
    let mut dialog = rfd::AsyncFileDialog::new().set_title(&request.title);
    if let Some(dir) = &request.directory {
        dialog = dialog.set_directory(dir);
    }
    if let Some(name) = &request.file_name {
        dialog = dialog.set_file_name(name);
    }
    for (name, extensions) in &request.filters {
        dialog = dialog.add_filter(name, extensions);
    }
    let handle = match request.kind {
        Kind::OpenFile => pollster::block_on(dialog.pick_file()),
        Kind::OpenFolder => pollster::block_on(dialog.pick_folder()),
        Kind::SaveFile => pollster::block_on(dialog.save_file()),
    };
    match handle {
        Some(h) => Ok(Some(h.path().to_path_buf())),
        // On Linux rfd asks the desktop portal, then zenity, and answers `None` when neither is there: no
        // person cancels a dialog within a fraction of a second.
        None if cfg!(target_os = "linux")
            && started.elapsed() < std::time::Duration::from_millis(300)
            && !on_path("zenity") =>
        {
            Err(
                "no file dialog could be opened: this system has neither the desktop portal \
                 (xdg-desktop-portal) nor zenity"
                    .to_string(),
            )
        }
        None => Ok(None),
    }
}

/// Whether an executable of this name is on `PATH`.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(name).is_file()))
}
