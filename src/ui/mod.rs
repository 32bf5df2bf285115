//! The desktop app's panels and the state they draw from. Only this folder and `app/` know egui. Each panel draws from what it is given and
//! returns the [`command::Command`]s the app must apply.

pub mod central;
pub mod command;
pub mod controls;
pub mod dialogs;
pub mod effects_panel;
pub mod fonts;
pub mod graph_view;
pub mod head_grid;
pub mod lesson_view;
pub mod markov_panel;
pub mod matrix_view;
pub mod notice;
pub mod perplexity_panel;
pub mod settings;
pub mod status;
pub mod token_panel;
pub mod view_state;

/// `text` cut to at most `max` characters (at least 2), its last one "…" when cut.
pub fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    text.chars().take(max.max(2) - 1).chain(['…']).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn shorten_cuts_with_an_ellipsis() {
        assert_eq!(super::shorten("tennis", 6), "tennis");
        assert_eq!(super::shorten("tennis", 4), "ten…");
        assert_eq!(super::shorten("␣tennis", 1), "␣…");
    }
}
