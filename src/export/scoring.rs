//! A sliding-window scoring as text: one CSV row per scored token.

use crate::model::perplexity::PerplexityReport;

/// One CSV row per scored token: its position (BOS counted), its label as the app shows it, its negative
/// log-likelihood in nats and in bits, its probability, and the window that scored it. `tokens` holds one
/// label per token of the report; `None` where it does not (labels of another text).
pub fn per_token_csv(report: &PerplexityReport, tokens: &[String]) -> Option<String> {
    if tokens.len() != report.tokens {
        return None;
    }
    let mut csv = String::from("position,token,nll,bits,p,window\n");
    for (window, w) in report.windows.iter().enumerate() {
        for (position, nll) in w.scored() {
            // Windows score positions below the report's token count, which `tokens` has a label for each of.
            let token = super::csv_field(&tokens[position]);
            csv.push_str(&format!(
                "{position},{token},{nll},{},{},{window}\n",
                nll / std::f64::consts::LN_2,
                (-nll).exp()
            ));
        }
    }
    Some(csv)
}
