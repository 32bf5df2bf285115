//! A model's tokenizer: ids from the `tokenizers` crate, and for each id the exact bytes it stands for, so every
//! token gets its text, a display form with visible whitespace, and its byte span in the input. Two kinds are
//! read: byte-level BPE (GPT-2, Qwen, Llama 3) and SentencePiece-style BPE with byte fallback (Llama 2,
//! TinyLlama), whose `▁` stands for a space and `<0xE6>` for one byte.

use std::collections::HashMap;
use std::path::Path;

use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::{AddedToken, Tokenizer};

/// GPT-2's one special token: end of text, also used as the beginning-of-sequence token.
pub const END_OF_TEXT: &str = "<|endoftext|>";

/// Errors while building or running the tokenizer.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// The tokenizer files could not be read or understood.
    #[error("cannot load the tokenizer from {path}: {message}")]
    Load {
        /// The file or folder.
        path: String,
        /// What went wrong.
        message: String,
    },
    /// Encoding failed.
    #[error("cannot tokenize the text: {0}")]
    Encode(String),
}

/// One token of an encoded text.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// Vocabulary id.
    pub id: u32,
    /// Byte range of this token in the input text.
    pub start: usize,
    /// End of the byte range (exclusive).
    pub end: usize,
}

/// How a tokenizer writes bytes in its vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    ByteLevel,
    SentencePiece,
}

/// A tokenizer with a byte map for each vocabulary entry.
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Bytes of every id, indexed by id.
    bytes_of_id: Vec<Vec<u8>>,
    end_of_text: Option<u32>,
    prepends: Option<u32>,
    kind: Kind,
}

impl TextTokenizer {
    /// Loads `tokenizer.json` if the folder has one, else builds the byte-level BPE from `vocab.json` + `merges.txt`.
    pub fn from_folder(folder: &Path) -> Result<Self, TokenizerError> {
        let json = folder.join("tokenizer.json");
        if json.is_file() {
            return Self::from_tokenizer_json(&json);
        }
        Self::from_vocab_merges(&folder.join("vocab.json"), &folder.join("merges.txt"))
    }

    /// Loads a `tokenizer.json`.
    pub fn from_tokenizer_json(path: &Path) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_file(path).map_err(|err| TokenizerError::Load {
            path: path.display().to_string(),
            message: err.to_string(),
        })?;
        Self::new(inner)
    }

    /// Loads the text of a `tokenizer.json` compiled into the binary; `name` stands for its path in messages.
    pub fn from_tokenizer_json_bytes(name: &str, json: &[u8]) -> Result<Self, TokenizerError> {
        let inner = Tokenizer::from_bytes(json).map_err(|err| TokenizerError::Load {
            path: name.to_string(),
            message: err.to_string(),
        })?;
        Self::new(inner)
    }

    /// Builds GPT-2's tokenizer from `vocab.json` and `merges.txt`, as Hugging Face's `GPT2TokenizerFast` does:
    /// byte-level pre-tokenizer without a prefix space, byte-level decoder, and `<|endoftext|>` as special token.
    pub fn from_vocab_merges(vocab: &Path, merges: &Path) -> Result<Self, TokenizerError> {
        let load_err = |path: &Path, message: String| TokenizerError::Load {
            path: path.display().to_string(),
            message,
        };
        for path in [vocab, merges] {
            if !path.is_file() {
                return Err(load_err(
                    path,
                    "file not found: a model folder needs tokenizer.json, or vocab.json and merges.txt".into(),
                ));
            }
        }
        let (Some(vocab_str), Some(merges_str)) = (vocab.to_str(), merges.to_str()) else {
            return Err(load_err(vocab, "the path is not valid UTF-8".into()));
        };
        // The BPE reads both files; its error may be about either, so both are named.
        let bpe = BPE::from_file(vocab_str, merges_str)
            .build()
            .map_err(|err| TokenizerError::Load {
                path: format!("{} and {}", vocab.display(), merges.display()),
                message: err.to_string(),
            })?;
        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(ByteLevel::default().add_prefix_space(false)));
        inner.with_decoder(Some(ByteLevel::default()));
        inner.with_post_processor(Some(ByteLevel::default().trim_offsets(false)));
        inner
            .add_special_tokens([AddedToken::from(END_OF_TEXT, true)])
            .map_err(|err| load_err(vocab, format!("cannot add {END_OF_TEXT}: {err}")))?;
        Self::new(inner)
    }

    fn new(inner: Tokenizer) -> Result<Self, TokenizerError> {
        let size = inner.get_vocab_size(true);
        let vocab = inner.get_vocab(true);
        let special = |token: &str| inner.get_added_vocabulary().is_special_token(token);
        // Byte-level BPE (GPT-2, Qwen, Llama 3) writes every byte as one character of GPT-2's alphabet; a
        // SentencePiece-style BPE (Llama 2, TinyLlama) writes text with `▁` for spaces and `<0xE6>` for bytes.
        let byte_of_char = byte_decoder();
        let byte_level = |token: &str| -> Result<Vec<u8>, char> {
            token
                .chars()
                .map(|c| byte_of_char.get(&c).copied().ok_or(c))
                .collect()
        };
        let bytes_of = |read: &dyn Fn(&str) -> Result<Vec<u8>, char>| {
            vocab
                .iter()
                .map(|(token, &id)| {
                    let bytes = if special(token) {
                        token.as_bytes().to_vec()
                    } else {
                        read(token).map_err(|c| (token.clone(), c))?
                    };
                    Ok((id, bytes))
                })
                .collect::<Result<Vec<_>, (String, char)>>()
        };
        let (kind, entries) = match bytes_of(&byte_level) {
            Ok(entries) => (Kind::ByteLevel, entries),
            Err(_) if vocab.keys().any(|token| token.contains('▁')) => (
                Kind::SentencePiece,
                bytes_of(&|token| Ok(sentencepiece_bytes(token))).map_err(|(token, c)| {
                    TokenizerError::Load {
                        path: "tokenizer".into(),
                        message: format!("token {token:?} has the character {c:?}"),
                    }
                })?,
            ),
            Err((token, c)) => {
                return Err(TokenizerError::Load {
                    path: "tokenizer".into(),
                    message: format!(
                        "token {token:?} has the character {c:?}, which is neither in the byte alphabet of a \
                         byte-level BPE nor a SentencePiece-style vocabulary (`▁` for spaces): this tokenizer \
                         is not one attngraph reads"
                    ),
                })
            }
        };
        let mut bytes_of_id = vec![Vec::new(); size];
        for (id, bytes) in entries {
            if let Some(slot) = bytes_of_id.get_mut(id as usize) {
                *slot = bytes;
            }
        }
        let end_of_text = inner.token_to_id(END_OF_TEXT);
        // What the tokenizer's own post-processor puts in front of a text (Llama's `<s>`), found by encoding
        // with and without it.
        let encode = |special: bool| {
            inner
                .encode("a", special)
                .map(|e| e.get_ids().to_vec())
                .map_err(|err| TokenizerError::Load {
                    path: "tokenizer".into(),
                    message: format!("cannot encode a test text: {err}"),
                })
        };
        let (with, without) = (encode(true)?, encode(false)?);
        let prepends = match with.len().checked_sub(without.len()) {
            Some(1) if with.get(1..) == Some(&without[..]) => with.first().copied(),
            _ => None,
        };
        Ok(Self {
            inner,
            bytes_of_id,
            end_of_text,
            prepends,
            kind,
        })
    }

    /// Number of ids, special tokens included.
    pub fn vocab_size(&self) -> usize {
        self.bytes_of_id.len()
    }

    /// The id of `<|endoftext|>`, if the vocabulary has it.
    pub fn end_of_text(&self) -> Option<u32> {
        self.end_of_text
    }

    /// The token this tokenizer's post-processor puts in front of every text, as transformers'
    /// `tokenizer(text)` does (Llama's `<s>`); `None` when it adds nothing (GPT-2, Qwen).
    pub fn prepends(&self) -> Option<u32> {
        self.prepends
    }

    /// The id of a token of the vocabulary, special tokens included.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Whether a SentencePiece-style BPE (`▁` for spaces, byte fallback), not a byte-level one.
    pub fn is_sentencepiece(&self) -> bool {
        self.kind == Kind::SentencePiece
    }

    /// Tokenizes `text` into ids with their byte spans, without the tokens a post-processor adds. Spans are
    /// consecutive and cover the whole text; a space the tokenizer puts in front of the text (SentencePiece's
    /// `▁`) is in no span, so the token holding it starts at 0 and may be empty.
    pub fn encode(&self, text: &str) -> Result<Vec<Piece>, TokenizerError> {
        let encoding = self
            .inner
            .encode(text, false)
            .map_err(|err| TokenizerError::Encode(err.to_string()))?;
        let ids = encoding.get_ids();
        let total: usize = ids.iter().map(|&id| self.bytes(id).len()).sum();
        // Bytes the tokenizer added in front of the text, when the tokens spell it with something before.
        let lead = match total.checked_sub(text.len()) {
            Some(extra) if extra > 0 && ids_spell(self, ids, extra, text) => extra,
            _ => 0,
        };
        let mut pieces = Vec::with_capacity(ids.len());
        let mut at: usize = 0; // position in the tokens' bytes
        for &id in ids {
            let len = self.bytes(id).len();
            let start = at.saturating_sub(lead).min(text.len());
            let end = (at + len).saturating_sub(lead).min(text.len());
            pieces.push(Piece { id, start, end });
            at += len;
        }
        Ok(pieces)
    }

    /// The bytes an id stands for (empty for an unknown id).
    pub fn bytes(&self, id: u32) -> &[u8] {
        self.bytes_of_id.get(id as usize).map_or(&[], Vec::as_slice)
    }

    /// The text of an id; bytes that are not complete UTF-8 (a piece of an emoji, say) are written `\xNN`.
    pub fn text(&self, id: u32) -> String {
        bytes_to_text(self.bytes(id))
    }
}

/// Text of a byte string, with every byte that is not part of valid UTF-8 written as `\xNN`.
pub fn bytes_to_text(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for byte in chunk.invalid() {
            out.push_str(&format!("\\x{byte:02X}"));
        }
    }
    out
}

/// A token's text with whitespace made visible: space `␣`, newline `↵`, tab `⇥`, carriage return `␍`,
/// other control characters as `\u{..}`.
pub fn visible_whitespace(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            ' ' => out.push('␣'),
            '\n' => out.push('↵'),
            '\t' => out.push('⇥'),
            '\r' => out.push('␍'),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Whether the bytes of `ids`, less their first `lead`, are `text`'s.
fn ids_spell(tokenizer: &TextTokenizer, ids: &[u32], lead: usize, text: &str) -> bool {
    let bytes: Vec<u8> = ids
        .iter()
        .flat_map(|&id| tokenizer.bytes(id).iter().copied())
        .collect();
    bytes.get(lead..) == Some(text.as_bytes())
}

/// The bytes of a SentencePiece token: `<0xE6>` is the byte 0xE6, `▁` a space, anything else its UTF-8.
fn sentencepiece_bytes(token: &str) -> Vec<u8> {
    if let Some(hex) = token
        .strip_prefix("<0x")
        .and_then(|rest| rest.strip_suffix('>'))
        .filter(|hex| hex.len() == 2)
    {
        if let Ok(byte) = u8::from_str_radix(hex, 16) {
            return vec![byte];
        }
    }
    token.replace('▁', " ").into_bytes()
}

/// Inverse of GPT-2's `bytes_to_unicode`: the printable character that stands for each byte in the vocabulary.
/// Bytes that are printable in Latin-1 stand for themselves; the other 68 are shifted to U+0100 and up, in order.
fn byte_decoder() -> HashMap<char, u8> {
    let printable = |b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
    let direct = (0..=255u8)
        .filter(|&b| printable(b))
        .map(|b| (char::from(b), b));
    // The other bytes, in order, take the characters from U+0100 on: zipping with the character range
    // gives each its own, with no conversion that could fail.
    let shifted = (0..=255u8)
        .filter(|&b| !printable(b))
        .zip('\u{100}'..)
        .map(|(b, c)| (c, b));
    direct.chain(shifted).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_decoder_matches_gpt2_table() {
        let map = byte_decoder();
        assert_eq!(map.len(), 256);
        // From GPT-2's encoder.py: space (0x20) is the 33rd non-printable byte → U+0100 + 32 = 'Ġ'.
        assert_eq!(map.get(&'Ġ'), Some(&b' '));
        // Newline (0x0A) is the 11th → 'Ċ' (U+010A).
        assert_eq!(map.get(&'Ċ'), Some(&b'\n'));
        assert_eq!(map.get(&'a'), Some(&b'a'));
    }

    #[test]
    fn partial_utf8_is_escaped() {
        // "🎾" is F0 9F 8E BE; its first two bytes alone are not UTF-8.
        assert_eq!(bytes_to_text(&[0xF0, 0x9F]), "\\xF0\\x9F");
        assert_eq!(bytes_to_text("é".as_bytes()), "é");
    }

    #[test]
    fn whitespace_is_visible() {
        assert_eq!(visible_whitespace(" a\tb\n"), "␣a⇥b↵");
    }
}

/// The label of the token spanning bytes `start..end` of `text`: the piece with whitespace made visible; where
/// the token holds only part of a character's bytes (GPT-2 splits many CJK characters and emoji), the whole
/// character, marked `‹` when it began in an earlier token and `›` when it ends in a later one: "\xE6\x88" +
/// "\x91" read "我›" and "‹我". `None` if the span is empty or not in `text`.
pub(crate) fn display_form(text: &str, start: usize, end: usize) -> Option<String> {
    if start >= end || end > text.len() {
        return None;
    }
    let (from, to) = (
        text.floor_char_boundary(start),
        text.ceil_char_boundary(end),
    );
    let mut out = String::new();
    if from < start {
        out.push('‹');
    }
    out.push_str(&visible_whitespace(text.get(from..to)?));
    if to > end {
        out.push('›');
    }
    Some(out)
}

#[cfg(test)]
mod display_tests {
    #[test]
    fn split_characters_show_whole_with_their_side_marked() {
        let text = "a 我🎾";
        // 我 is bytes 2..5, 🎾 5..9.
        assert_eq!(super::display_form(text, 0, 1).as_deref(), Some("a"));
        assert_eq!(super::display_form(text, 1, 4).as_deref(), Some("␣我›"));
        assert_eq!(super::display_form(text, 4, 5).as_deref(), Some("‹我"));
        assert_eq!(super::display_form(text, 6, 8).as_deref(), Some("‹🎾›"));
        assert_eq!(super::display_form(text, 5, 9).as_deref(), Some("🎾"));
        assert_eq!(super::display_form(text, 5, 10), None);
    }
}
