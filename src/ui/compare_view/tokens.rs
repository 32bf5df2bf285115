//! Which two tokens activation patching measures: by default the pair the texts differ in where they test
//! copying, else each text's top guess; the tokens the reader may choose instead; and the patching that follows.

use crate::format::token;
use crate::model::Analysis;
use crate::session::PatchKey;

/// The pair of tokens where the texts test copying: they have the same length and differ at exactly one
/// position, A's token there is `answer` and B's `wrong`, and A or B expects its own token next (an induction
/// task, as in "…walks to the market. …walks to the" against "river"). `None` otherwise.
pub fn copied_pair(a: &Analysis, b: &Analysis) -> Option<(u32, u32)> {
    if a.tokens.len() != b.tokens.len() {
        return None;
    }
    let mut differ = a.tokens.iter().zip(&b.tokens).filter(|(x, y)| x.id != y.id);
    let (x, y) = differ.next()?;
    if differ.next().is_some() {
        return None;
    }
    let expects = |t: &Analysis, id: u32| t.next_top_k.iter().any(|g| g.id == id);
    (expects(a, x.id) || expects(b, y.id)).then_some((x.id, y.id))
}

/// The tokens `patch` compares by default: the copied pair where the texts test copying ([`copied_pair`]),
/// else A's top prediction after its last token and B's (its second when both are the same token).
pub fn default_tokens(a: &Analysis, b: &Analysis) -> Option<(u32, u32)> {
    if let Some(pair) = copied_pair(a, b) {
        return Some(pair);
    }
    let answer = a.next_top_k.first()?.id;
    let wrong = b.next_top_k.iter().map(|t| t.id).find(|&id| id != answer)?;
    Some((answer, wrong))
}

/// The tokens the reader can measure patching by, each once, with its text: A's and B's guesses after their
/// last token, then the tokens at the positions where the texts differ.
pub fn candidates(a: &Analysis, b: &Analysis) -> Vec<(u32, String)> {
    let guesses = a
        .next_top_k
        .iter()
        .chain(&b.next_top_k)
        .map(|g| (g.id, token(&g.text)));
    let differing = a
        .tokens
        .iter()
        .zip(&b.tokens)
        .filter(|(x, y)| x.id != y.id)
        .flat_map(|(x, y)| [(x.id, token(&x.text)), (y.id, token(&y.text))]);
    let mut seen = std::collections::HashSet::new();
    guesses
        .chain(differing)
        .filter(|(id, _)| seen.insert(*id))
        .collect()
}

/// What patching the two texts as they are would compute: A clean, B corrupt, measured by the reader's
/// `chosen` tokens where they were chosen for these two texts, else by [`default_tokens`]; `None` unless both
/// have the same number of tokens and the same BOS.
pub fn patch_key(a: &Analysis, b: &Analysis, chosen: Option<&PatchKey>) -> Option<PatchKey> {
    // Patching runs the whole model: with heads knocked out, the answer would be another model's.
    if a.tokens.len() != b.tokens.len() || a.bos != b.bos || !a.ablated.is_empty() {
        return None;
    }
    let (answer, wrong) = default_tokens(a, b)?;
    let key = PatchKey {
        clean: a.text.clone(),
        corrupt: b.text.clone(),
        bos: a.bos,
        answer,
        wrong,
    };
    Some(
        match chosen
            .filter(|c| c.clean == key.clean && c.corrupt == key.corrupt && c.bos == key.bos)
        {
            Some(c) => c.clone(),
            None => key,
        },
    )
}
