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

/// `n` with a comma between each group of three digits, as the README writes counts: 1,024.
pub fn grouped(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn shorten_cuts_with_an_ellipsis() {
        assert_eq!(super::shorten("tennis", 6), "tennis");
        assert_eq!(super::shorten("tennis", 4), "ten…");
        assert_eq!(super::shorten("␣tennis", 1), "␣…");
    }

    #[test]
    fn grouped_puts_commas_between_thousands() {
        for (n, text) in [
            (0, "0"),
            (64, "64"),
            (999, "999"),
            (1024, "1,024"),
            (255_000, "255,000"),
            (1_234_567, "1,234,567"),
        ] {
            assert_eq!(super::grouped(n), text);
        }
    }
}
