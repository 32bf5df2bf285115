//! How numbers are written for a person, the same in the window and on the command line.

/// A probability given as its natural log, as a percentage: one decimal from 1 % ("45.3 %"), two significant
/// digits below in plain decimals down to 0.0001 % ("0.23 %", "0.0093 %"), so 0.23 % and 0.16 % stay apart; two
/// significant digits as a power of ten below that ("3.1e-7 %"), where a row of zeros would be unreadable.
pub fn percent(logprob: f64) -> String {
    let p = 100.0 * logprob.exp();
    if p >= 1.0 || p == 0.0 || !p.is_finite() {
        return format!("{p:.1} %");
    }
    if p < 1e-4 {
        return format!("{p:.1e} %");
    }
    // The decimals that show two significant digits: 0.23 needs 2, 0.0093 needs 4, 0.00012 needs 5.
    let decimals = (-p.log10()).floor() as usize + 2;
    // 0.996 % rounds to 1.0 %: written as 1 % and up are.
    let scale = 10f64.powi(decimals as i32);
    if (p * scale).round() / scale >= 1.0 {
        return format!("{p:.1} %");
    }
    format!("{p:.decimals$} %")
}

/// A probability as a whole percentage, for a narrow cell: "31%", "2%", "<1%" below a half percent and ">99%"
/// above 99.5 % but under certainty (where [`percent`] gives the digits).
pub fn whole_percent(p: f64) -> String {
    let whole = (100.0 * p).round();
    if whole < 1.0 {
        "<1%".to_string()
    } else if whole >= 100.0 && p < 1.0 {
        // Not certain, so not 100 %.
        ">99%".to_string()
    } else {
        format!("{whole:.0}%")
    }
}

/// `text` followed by spaces to `width` columns of a terminal, counted in display width (a Chinese character
/// takes two), as `{:<width}` does for text of one column a character; longer text as it is.
pub fn pad(text: &str, width: usize) -> String {
    let used = unicode_width::UnicodeWidthStr::width(text);
    format!("{text}{}", " ".repeat(width.saturating_sub(used)))
}

/// A token as a person reads it: its text with whitespace made visible (␣ ↵ ⇥), unquoted.
pub fn token(text: &str) -> String {
    crate::model::tokenizer::visible_whitespace(text)
}

/// `text` cut to at most `max` columns of display width (at least 2; a Chinese character takes two, a control
/// character one), its last one "…" when cut; at least one character of it is kept, so a wide first character
/// and "…" may take 3.
pub fn shorten(text: &str, max: usize) -> String {
    // One measure for the fit and the cut: a control character (a newline in a pasted text) takes a column.
    let width = |c: char| unicode_width::UnicodeWidthChar::width(c).unwrap_or(1);
    if text.chars().map(width).sum::<usize>() <= max {
        return text.to_string();
    }
    let room = max.max(2) - 1;
    let mut cut = String::new();
    let mut used = 0;
    for c in text.chars() {
        let width = width(c);
        if used + width > room && !cut.is_empty() {
            break;
        }
        cut.push(c);
        used += width;
    }
    cut.push('…');
    cut
}

/// `n` and its noun, singular for one: "1 window", "3 windows".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
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
    use super::*;

    #[test]
    fn counts_are_singular_for_one() {
        assert_eq!(count(1, "window", "windows"), "1 window");
        assert_eq!(count(0, "window", "windows"), "0 windows");
        assert_eq!(count(3, "token", "tokens"), "3 tokens");
    }

    #[test]
    fn percentages_keep_two_significant_digits_below_one_percent() {
        let of = |p: f64| percent((p / 100.0).ln());
        assert_eq!(of(45.26), "45.3 %");
        assert_eq!(of(1.0), "1.0 %");
        assert_eq!(of(0.23), "0.23 %");
        assert_eq!(of(0.16), "0.16 %");
        assert_eq!(of(0.00931), "0.0093 %");
        assert_eq!(of(0.0), "0.0 %");
        assert_eq!(of(0.00012), "0.00012 %");
        assert_eq!(of(0.996), "1.0 %");
        assert_eq!(of(0.0000312), "3.1e-5 %");
        assert_eq!(of(1e-12), "1.0e-12 %");
    }

    #[test]
    fn padding_counts_a_chinese_character_as_two_columns() {
        assert_eq!(pad("ab", 4), "ab  ");
        assert_eq!(pad("網球", 6), "網球  ");
        assert_eq!(pad("␣tennis", 4), "␣tennis");
    }

    #[test]
    fn whole_percentages_round_and_say_below_one() {
        assert_eq!(whole_percent(0.314), "31%");
        assert_eq!(whole_percent(0.0051), "1%");
        assert_eq!(whole_percent(0.0049), "<1%");
        assert_eq!(whole_percent(0.996), ">99%");
        assert_eq!(whole_percent(1.0), "100%");
    }

    #[test]
    fn shorten_cuts_with_an_ellipsis() {
        assert_eq!(shorten("tennis", 6), "tennis");
        assert_eq!(shorten("tennis", 4), "ten…");
        assert_eq!(shorten("␣tennis", 1), "␣…");
        // Two columns a Chinese character: 5 of them and "…" in 12 columns.
        assert_eq!(shorten("我愛網球我愛網球", 12), "我愛網球我…");
        assert_eq!(shorten("我愛網球", 8), "我愛網球");
        // A pasted text's newlines count, so it is cut as before.
        assert_eq!(shorten("a\n\nb\nc", 3), "a\n…");
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
            assert_eq!(grouped(n), text);
        }
    }
}
