//! What the window's body draws from: the parts of the app its panels read and write.

use crate::session::Session;
use crate::ui::perplexity_panel::PerplexityTab;
use crate::ui::settings::Settings;
use crate::ui::view_state::ViewState;

/// What the body draws from.
pub struct Body<'a> {
    /// The model side.
    pub session: &'a Session,
    /// The settings.
    pub settings: &'a Settings,
    /// The snapshot and graph on screen.
    pub view: &'a mut ViewState,
    /// The Perplexity tab.
    pub perplexity: &'a mut PerplexityTab,
    /// The whole text before the reader kept only what the model reads of it.
    pub whole_text: Option<&'a str>,
}
