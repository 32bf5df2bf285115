//! How the app was started from the command line, and the settings it starts from.

use std::path::PathBuf;

use crate::graph::Selection;
use crate::ui::settings::{self, Settings, View};

/// How the app was started from the command line.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Model to open instead of the remembered one.
    pub model: Option<String>,
    /// Text to show instead of the remembered one.
    pub text: Option<String>,
    /// Matrix to select.
    pub selection: Option<Selection>,
    /// View to show.
    pub view: Option<View>,
    /// Save a PNG of the window once the analysis is drawn, then exit.
    pub screenshot: Option<PathBuf>,
    /// Start from default settings, ignoring the saved ones.
    pub fresh: bool,
    /// Where window exports go (default `attngraph-exports` in the working folder).
    pub export_dir: Option<PathBuf>,
    /// A file to score in the Perplexity tab once the model is loaded.
    pub score_file: Option<PathBuf>,
    /// The Hub cache to look in on a first run (else the one the environment names).
    pub hub_cache: Option<PathBuf>,
    /// The Hub to fetch GPT-2 from on a first run (else HF_ENDPOINT, else huggingface.co).
    pub hub_endpoint: Option<String>,
}

impl Launch {
    /// The settings to start from: `stored` (eframe's saved text, if any) with what the command line names put
    /// over them, and a notice when the stored text could not be read (the defaults are used instead).
    pub fn settings(&self, stored: Option<&str>) -> (Settings, Option<String>) {
        let (mut settings, notice) = settings::from_stored(stored);
        if let Some(model) = &self.model {
            settings.model = model.clone();
        }
        if let Some(text) = &self.text {
            settings.text = text.clone();
        }
        if let Some(selection) = self.selection {
            settings.selection = selection;
        }
        if let Some(view) = self.view {
            settings.view = view;
        }
        (settings, notice)
    }
}
