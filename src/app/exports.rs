//! Exports, file dialogs and screenshots: where quick exports go, the text exports being written on their own
//! threads, the dialog being shown, and a screenshot on its way.

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, OnceLock};

use crate::export::{self, Format, Snapshot};
use crate::ui::dialogs::{self, DialogRequest, Dialogs, Kind, Purpose};
use crate::ui::notice::Notice;

/// A screenshot on its way. `--screenshot` waits until the analysis is drawn and 8 more frames, saves the
/// window and closes it; a PNG export from the window waits 2 frames (for the menu to close) and saves the
/// central view only.
struct Screenshot {
    path: PathBuf,
    frames: u32,
    crop: Option<egui::Rect>,
    closing: bool,
    /// Where a failure of a closing screenshot is left for the command line.
    failure: Arc<OnceLock<String>>,
}

/// The app's exports and dialogs.
pub struct Exports {
    dir: PathBuf,
    /// Text exports are rendered and written on their own threads; each sends its notice here.
    done: (mpsc::Sender<Notice>, mpsc::Receiver<Notice>),
    running: usize,
    screenshot: Option<Screenshot>,
    dialogs: Dialogs,
}

impl Exports {
    /// Quick exports go to `dir`; with `screenshot`, the window is saved there once drawn and then closed, and
    /// a failure to save it is left in `failure` for the command line to report.
    pub fn new(dir: PathBuf, screenshot: Option<PathBuf>, failure: Arc<OnceLock<String>>) -> Self {
        Self {
            dir,
            done: mpsc::channel(),
            running: 0,
            screenshot: screenshot.map(|path| Screenshot {
                path,
                frames: 0,
                crop: None,
                closing: true,
                failure,
            }),
            dialogs: Dialogs::default(),
        }
    }

    /// Where the quick export buttons write.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Sets where quick exports go.
    pub fn set_dir(&mut self, dir: PathBuf) {
        self.dir = dir;
    }

    /// Whether an export is still being written or a file dialog is open.
    pub fn busy(&self) -> bool {
        self.running > 0 || self.dialogs.open_purpose().is_some()
    }

    /// The notice of the last export that finished since the last call.
    pub fn poll(&mut self) -> Option<Notice> {
        let mut last = None;
        while let Ok(notice) = self.done.1.try_recv() {
            self.running = self.running.saturating_sub(1);
            last = Some(notice);
        }
        last
    }

    /// A file name for `selection` (as the snapshot names it): `layer_3_head_5-1764195000.svg`.
    pub fn file_name(selection: Option<&str>, format: Format) -> String {
        let name = selection.map_or_else(
            || "attngraph".to_string(),
            |s| s.replace([' ', '—', '^'], "_").replace("__", "_"),
        );
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |t| t.as_secs());
        format!("{name}-{stamp}.{}", format.extension())
    }

    /// Writes `snapshot` as `format` to `path` on a thread of its own; PNG saves the view as shown (the
    /// `central` rectangle) on the next frames instead. Returns the notice to show now.
    pub fn export_to(
        &mut self,
        path: PathBuf,
        format: Format,
        snapshot: Option<Arc<Snapshot>>,
        central: Option<egui::Rect>,
        ctx: &egui::Context,
    ) -> Option<Notice> {
        if format == Format::Png {
            self.screenshot = Some(Screenshot {
                path,
                frames: 0,
                crop: central,
                closing: false,
                failure: Arc::default(),
            });
            ctx.request_repaint();
            return None;
        }
        let snapshot = snapshot?;
        // A 1,024-token JSON holds a million matrix entries: rendered on the UI thread it would hold frames.
        let (done, wake, target) = (self.done.0.clone(), ctx.clone(), path.clone());
        let shared = Arc::clone(&snapshot);
        let spawned = std::thread::Builder::new()
            .name("attngraph-export".into())
            .spawn(move || {
                let _ = done.send(write_export(&shared, format, &target));
                wake.request_repaint();
            });
        Some(match spawned {
            Ok(_) => {
                self.running += 1;
                Notice::done(format!("exporting {}…", path.display()))
            }
            Err(_) => write_export(&snapshot, format, &path),
        })
    }

    /// Writes `bytes` to `name` in the quick-export folder on a thread of its own (made by `render` there, so
    /// a large file never holds a frame). Returns the notice to show now.
    pub fn write_file(
        &mut self,
        name: String,
        render: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
        ctx: &egui::Context,
    ) -> Notice {
        let path = self.dir.join(name);
        self.write_file_at(path, render, ctx)
    }

    /// Writes `name` in the quick-export folder with `write`, on a thread of its own, through a temporary file
    /// renamed into place (so a file written piece by piece is never seen half done). Returns the notice to show
    /// now.
    pub fn write_with(
        &mut self,
        name: String,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()> + Send + 'static,
        ctx: &egui::Context,
    ) -> Notice {
        let path = self.dir.join(name);
        self.write_at(path, write, ctx)
    }

    /// Writes the bytes `render` gives to `path` (a file the reader chose), as [`Exports::write_file`] does.
    pub fn write_file_at(
        &mut self,
        path: PathBuf,
        render: impl FnOnce() -> Result<Vec<u8>, String> + Send + 'static,
        ctx: &egui::Context,
    ) -> Notice {
        self.write_at(
            path,
            move |file| {
                let bytes = render().map_err(std::io::Error::other)?;
                std::io::Write::write_all(file, &bytes)
            },
            ctx,
        )
    }

    /// Writes `path` with `write` on a thread of its own, through a temporary file renamed into place.
    fn write_at(
        &mut self,
        path: PathBuf,
        write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()> + Send + 'static,
        ctx: &egui::Context,
    ) -> Notice {
        let (done, wake, target) = (self.done.0.clone(), ctx.clone(), path.clone());
        let write = move || {
            let result = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| export::write_atomic_with(&target, write));
            match result {
                Ok(()) => Notice::done(format!("exported {}", target.display())),
                Err(err) => Notice::failed(format!(
                    "export failed: cannot write {}: {err}",
                    target.display()
                )),
            }
        };
        let spawned = std::thread::Builder::new()
            .name("attngraph-export".into())
            .spawn(move || {
                let _ = done.send(write());
                wake.request_repaint();
            });
        match spawned {
            Ok(_) => {
                self.running += 1;
                Notice::done(format!("exporting {}…", path.display()))
            }
            Err(err) => Notice::failed(format!("export failed: cannot start a thread: {err}")),
        }
    }

    /// Asks where to export the selection, suggesting `file_name` in the quick-export folder.
    pub fn save_as(&mut self, file_name: String, ctx: &egui::Context) {
        let mut request =
            DialogRequest::new(Purpose::SaveExport, Kind::SaveFile, "Export the selection");
        request.directory = Some(self.dir.clone()).filter(|d| d.is_dir());
        request.file_name = Some(file_name);
        request.filters = Format::ALL
            .iter()
            .map(|f| {
                (
                    f.extension().to_uppercase(),
                    vec![f.extension().to_string()],
                )
            })
            .collect();
        self.open_dialog(request, ctx);
    }

    /// Asks for the quick-export folder.
    pub fn browse_export_folder(&mut self, ctx: &egui::Context) {
        let mut request = DialogRequest::new(
            Purpose::ExportFolder,
            Kind::OpenFolder,
            "Folder for exports",
        );
        request.directory = Some(self.dir.clone()).filter(|d| d.is_dir());
        self.open_dialog(request, ctx);
    }

    /// Asks for a text file to score.
    pub fn browse_text_file(&mut self, ctx: &egui::Context) {
        let mut request =
            DialogRequest::new(Purpose::TextFile, Kind::OpenFile, "Score a text file");
        request.filters = vec![
            (
                "Text".to_string(),
                vec!["txt".into(), "md".into(), "raw".into()],
            ),
            ("Any file".to_string(), vec!["*".to_string()]),
        ];
        self.open_dialog(request, ctx);
    }

    /// Asks for a model folder, starting from the one typed in the model field if it exists.
    pub fn browse_model_folder(&mut self, typed: &str, ctx: &egui::Context) {
        let mut request = DialogRequest::new(
            Purpose::ModelFolder,
            Kind::OpenFolder,
            "Open a GPT-2 model folder (config.json, model.safetensors, tokenizer.json)",
        );
        request.directory = Some(PathBuf::from(typed.trim()))
            .filter(|p| p.is_dir())
            .or_else(|| std::env::current_dir().ok());
        self.open_dialog(request, ctx);
    }

    /// Opens a file dialog on its own thread.
    pub fn open_dialog(&mut self, request: DialogRequest, ctx: &egui::Context) {
        let ctx = ctx.clone();
        self.dialogs.open(request, move || ctx.request_repaint());
    }

    /// Answers the file dialogs with `picker` instead of the platform's dialog (tests answer them this way).
    pub fn set_picker(&mut self, picker: dialogs::Picker) {
        self.dialogs = Dialogs::with_picker(picker);
    }

    /// The path a dialog answered with, once it did; a dialog that could not be shown comes back as a notice
    /// that says what to do instead. A cancelled dialog answers nothing.
    pub fn poll_dialog(&mut self) -> Option<Result<(Purpose, PathBuf), Notice>> {
        match self.dialogs.poll()? {
            (purpose, Ok(Some(path))) => Some(Ok((purpose, path))),
            (_, Ok(None)) => None,
            (purpose, Err(err)) => {
                let instead = match purpose {
                    Purpose::ModelFolder => "type the folder's path into the Model field and press Load",
                    Purpose::TextFile => "type the file's path into the File field",
                    Purpose::SaveExport | Purpose::ExportFolder => {
                        "use the quick save buttons; they write to the folder named in the Export menu"
                    }
                };
                Some(Err(Notice::failed(format!("{err}; {instead}"))))
            }
        }
    }

    /// Whether a screenshot is still to be taken.
    pub fn taking_screenshot(&self) -> bool {
        self.screenshot.is_some()
    }

    /// Whether the app was started to save one screenshot and close.
    pub fn closing_after_screenshot(&self) -> bool {
        self.screenshot.as_ref().is_some_and(|s| s.closing)
    }

    /// Advances a screenshot on its way: counts frames once `ready` (with `--screenshot`, the analysis is
    /// drawn), asks for the picture, saves it when it arrives, and closes the window after `--screenshot`. Where
    /// `shown_error` gives what the window shows instead of an analysis, a closing screenshot is saved all the same
    /// (it shows the message) and the command fails with the message, so a script does not take it for the
    /// picture it asked for.
    pub fn screenshot_step(
        &mut self,
        ui: &egui::Ui,
        ready: bool,
        shown_error: impl FnOnce() -> Option<String>,
    ) -> Option<Notice> {
        let mut shot = self.screenshot.take()?;
        let image = ui.input(|i| {
            i.raw.events.iter().find_map(|e| match e {
                egui::Event::Screenshot { image, .. } => Some(image.clone()),
                _ => None,
            })
        });
        if let Some(image) = image {
            let image = match shot.crop {
                Some(rect) => image.region(&rect, Some(ui.ctx().pixels_per_point())),
                None => (*image).clone(),
            };
            let result = save_png(&shot.path, &image);
            if shot.closing {
                let failure = match (&result, shown_error()) {
                    (Err(err), _) => Some(format!("screenshot failed: {err}")),
                    (Ok(()), Some(shown)) => Some(format!(
                        "the screenshot {} was saved, but the window shows an error: {shown}",
                        shot.path.display()
                    )),
                    (Ok(()), None) => None,
                };
                if let Some(failure) = failure {
                    let _ = shot.failure.set(failure);
                }
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return Some(match result {
                Ok(()) => Notice::done(format!("saved {}", shot.path.display())),
                Err(err) => Notice::failed(format!("screenshot failed: {err}")),
            });
        }
        if !shot.closing || ready {
            shot.frames += 1;
        }
        let ask_at = if shot.closing { 8 } else { 2 };
        if shot.frames > ask_at + 120 {
            // Some window systems never deliver the picture; say so rather than wait forever.
            let message = "screenshot failed: the window system did not deliver the picture";
            if shot.closing {
                let _ = shot.failure.set(message.to_string());
                ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
            }
            return Some(Notice::failed(message));
        }
        if shot.frames == ask_at {
            ui.ctx()
                .send_viewport_cmd(egui::ViewportCommand::Screenshot(egui::UserData::default()));
        }
        ui.ctx().request_repaint();
        self.screenshot = Some(shot);
        None
    }
}

/// Renders `snapshot` as `format` and writes it to `path` (creating its folder); the notice says which file, or
/// why not.
fn write_export(snapshot: &Snapshot, format: Format, path: &Path) -> Notice {
    let result = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| {
            export::render_bytes(snapshot, format)
                .map_err(std::io::Error::other)
                .and_then(|bytes| export::write_atomic(path, &bytes))
        });
    match result {
        Ok(()) => Notice::done(format!("exported {}", path.display())),
        Err(err) => Notice::failed(format!(
            "export failed: cannot write {}: {err}",
            path.display()
        )),
    }
}

fn save_png(path: &Path, image: &egui::ColorImage) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let mut png = Vec::new();
    image::ImageEncoder::write_image(
        image::codecs::png::PngEncoder::new(&mut png),
        &bytes,
        w as u32,
        h as u32,
        image::ExtendedColorType::Rgba8,
    )
    .map_err(|e| format!("cannot encode PNG: {e}"))?;
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    export::write_atomic(path, &png).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
