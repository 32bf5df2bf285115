//! How the app was started from the command line, and the settings it starts from.

use std::path::PathBuf;

use crate::graph::Selection;
use crate::model::HeadSet;
use crate::ui::settings::{self, Settings, View};
use crate::ui::view_state::GridColour;

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
    /// Why the screenshot failed, set by the app before it closes; [`super::run`] returns it as its error.
    pub screenshot_failure: std::sync::Arc<std::sync::OnceLock<String>>,
    /// Start from default settings, ignoring the saved ones.
    pub fresh: bool,
    /// Where window exports go (default `attngraph-exports` in the working folder).
    pub export_dir: Option<PathBuf>,
    /// A file to score in the Perplexity tab once the model is loaded.
    pub score_file: Option<PathBuf>,
    /// Score the text in the Perplexity tab once the model is loaded.
    pub score_text: bool,
    /// K of the A^K the Markov view draws.
    pub markov_steps: Option<usize>,
    /// The Hub cache to load from and fetch into (else the one the environment names).
    pub hub_cache: Option<PathBuf>,
    /// The Hub to download from (else HF_ENDPOINT, else huggingface.co).
    pub hub_endpoint: Option<String>,
    /// Heads to knock out.
    pub knock_out: HeadSet,
    /// What their values become.
    pub knock_out_by: crate::model::ablation::Replacement,
    /// The token whose prediction the head grid explains.
    pub predict: Option<usize>,
    /// The token pinned in the graph (its edges highlighted, where it looks shown in every head).
    pub pin: Option<usize>,
    /// What the head grid is coloured by (with `predict`, contribution unless told).
    pub colour: Option<GridColour>,
    /// The lesson's step (from 0).
    pub lesson_step: Option<usize>,
    /// The lesson's language.
    pub lang: Option<crate::lesson::steps::Lang>,
    /// The graph's token window (first, last query).
    pub window: Option<(usize, usize)>,
    /// Colours on a log scale (`--log-colours`); otherwise as stored.
    pub log_colours: bool,
    /// The graph's edge threshold (`--threshold`); otherwise as stored.
    pub threshold: Option<f64>,
    /// The graph's layout (`--layout`); otherwise as stored.
    pub layout: Option<settings::GraphLayout>,
    /// What the edges weigh (`--weight`); otherwise as stored.
    pub edge_weight: Option<crate::graph::EdgeWeight>,
    /// The Compare view's second text (`--compare`); otherwise as stored.
    pub compare_text: Option<String>,
    /// Patch from the text into the compared one once both are read (`--patch`).
    pub patch: bool,
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
            settings.selection_chosen = true;
        }
        if let Some(view) = self.view {
            settings.view = view;
        }
        if let Some(step) = self.lesson_step {
            settings.lesson_step = step.min(crate::lesson::steps::STEPS - 1);
        }
        if let Some(lang) = self.lang {
            settings.lang = lang;
        }
        if self.log_colours {
            settings.log_scale = true;
        }
        if let Some(threshold) = self.threshold {
            settings.pruning.threshold = threshold;
        }
        if let Some(layout) = self.layout {
            settings.layout = layout;
        }
        if let Some(weight) = self.edge_weight {
            settings.edge_weight = weight;
        }
        if let Some(text) = &self.compare_text {
            settings.compare_text = text.clone();
        }
        if let Some(steps) = self.markov_steps {
            // As far as the Markov panel's slider goes.
            settings.markov_steps = steps.clamp(1, 16);
        }
        (settings, notice)
    }
}

/// The app's icon (assets/attngraph.svg, also the .desktop file's), drawn at 128 pixels for the window.
pub fn window_icon() -> Option<egui::IconData> {
    const SVG: &str = include_str!("../../assets/attngraph.svg");
    let tree = resvg::usvg::Tree::from_str(SVG, &resvg::usvg::Options::default()).ok()?;
    let size = 128u32;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size, size)?;
    let scale = size as f32 / tree.size().width();
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    // tiny-skia stores premultiplied alpha; the window expects straight RGBA.
    let rgba = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    Some(egui::IconData {
        rgba,
        width: size,
        height: size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_line_puts_its_view_settings_over_the_stored_ones() {
        let stored = Settings {
            layout: settings::GraphLayout::Force,
            log_scale: false,
            ..Settings::default()
        };
        let stored = serde_json::to_string(&stored).unwrap();
        let launch = Launch {
            layout: Some(settings::GraphLayout::Circle),
            threshold: Some(0.25),
            log_colours: true,
            ..Launch::default()
        };
        let (settings, notice) = launch.settings(Some(&stored));
        assert_eq!(notice, None);
        assert_eq!(settings.layout, settings::GraphLayout::Circle);
        assert_eq!(settings.pruning.threshold, 0.25);
        assert!(settings.log_scale);
        // Not named on the command line: as stored.
        let (kept, _) = Launch::default().settings(Some(&stored));
        assert_eq!(kept.layout, settings::GraphLayout::Force);
    }

    #[test]
    fn the_window_icon_is_drawn_from_the_svg() {
        let icon = window_icon().expect("assets/attngraph.svg renders");
        assert_eq!((icon.width, icon.height), (128, 128));
        assert_eq!(icon.rgba.len(), 128 * 128 * 4);
        // Opaque inside the rounded square, transparent in its corner.
        let alpha = |x: usize, y: usize| icon.rgba[(y * 128 + x) * 4 + 3];
        assert_eq!(alpha(64, 64), 255);
        assert_eq!(alpha(0, 0), 0);
    }
}
