//! Reading a text whole, within a bound: the command line's `--text-file`, `perplexity`'s files, and the app's
//! Perplexity tab all read through [`read`].

use std::io::Read;

/// The most a text may hold: 1 GiB. Past it, what is being read is more likely a device that never ends
/// (`/dev/zero`) than a text, and reading stops before memory runs out. (A text under the bound can still need
/// more memory than the machine has once tokenized, about 100 bytes a token; the bound is for what never ends.)
pub const MAX_BYTES: u64 = 1 << 30;

/// Everything `reader` holds, or an error once it holds more than [`MAX_BYTES`].
pub fn read(reader: impl Read) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    reader.take(MAX_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "it holds more than 1 GiB, which is no text to read whole: give a part of it (e.g. head -c 10M)",
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_read_whole_and_an_endless_one_is_stopped() {
        assert_eq!(read(&b"I love tennis."[..]).unwrap(), b"I love tennis.");
        // An endless reader of zeros, as /dev/zero is: stopped just past the bound.
        let err = read(std::io::repeat(0)).unwrap_err();
        assert!(err.to_string().contains("more than 1 GiB"), "{err}");
    }
}
