//! The desktop app's panels. Only this folder and `app.rs` know egui.

pub mod deriver;
pub mod dialogs;
pub mod fonts;
pub mod graph_view;
pub mod head_grid;
pub mod markov_panel;
pub mod matrix_view;
pub mod perplexity_panel;
pub mod settings;
pub mod token_panel;
pub mod worker;
