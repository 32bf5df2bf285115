//! The desktop app's panels and the state they draw from. Only this folder and `app/` know egui. Each panel draws from what it is given and
//! returns the [`command::Command`]s the app must apply.

pub mod central;
pub mod command;
pub mod compare_view;
pub mod controls;
pub mod dialogs;
pub mod effects_panel;
pub mod fonts;
pub mod graph_view;
pub mod head_grid;
pub mod layers_view;
pub mod lesson_view;
pub mod markov_panel;
pub mod matrix_view;
pub mod notice;
pub mod overlay_view;
pub mod palette;
pub mod perplexity_panel;
pub mod settings;
pub mod status;
pub mod thumbnails;
pub mod token_panel;
pub mod view_state;

pub use crate::format::{grouped, shorten};
