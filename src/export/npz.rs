//! NumPy's `.npz`: a zip of `.npy` arrays (format 1.0), stored uncompressed as `numpy.savez` stores them, so that
//! `np.load` reads it without pickle. Each array is written as its values are produced, never held whole: at
//! 1,024 tokens GPT-2 small's attention is 151 million values.

use std::io::{Seek, Write};
use std::mem::ManuallyDrop;

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use crate::model::analysis::Scores;
use crate::model::norms::Norms;
use crate::model::{Analysis, TokenStats};

/// A value type of an array: its NumPy type string and its little-endian bytes.
pub(crate) trait Element: Copy {
    /// NumPy's `descr`, e.g. `<f4`.
    const DESCR: &'static str;
    /// Bytes per value.
    const SIZE: usize;
    /// Appends the value's little-endian bytes.
    fn put(self, out: &mut Vec<u8>);
}

impl Element for f32 {
    const DESCR: &'static str = "<f4";
    const SIZE: usize = 4;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for f64 {
    const DESCR: &'static str = "<f8";
    const SIZE: usize = 8;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl Element for i64 {
    const DESCR: &'static str = "<i8";
    const SIZE: usize = 8;
    fn put(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

/// Why an array could not be written.
#[derive(Debug, thiserror::Error)]
pub enum NpzError {
    /// Writing the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The zip container refused an entry.
    #[error(transparent)]
    Zip(#[from] zip::result::ZipError),
    /// The analysis' parts disagree on its shape (a bug: nothing is written).
    #[error("the analysis has {tokens} tokens but its attention {attention}")]
    Shape {
        /// Tokens in the analysis.
        tokens: usize,
        /// Tokens in its attention.
        attention: usize,
    },
    /// An array's values did not fill its shape (a bug in the caller: the file must not be used).
    #[error("array {name:?}: {got} values for shape {shape:?} ({want} values)")]
    Count {
        /// The array's name.
        name: String,
        /// Its declared shape.
        shape: Vec<usize>,
        /// Values the shape holds.
        want: usize,
        /// Values given.
        got: usize,
    },
}

/// An `.npz` being written; [`Npz::finish`] completes it. Dropped unfinished (after an error), the archive is
/// left as it is: the zip writer is not dropped, since its `Drop` would write a central directory into a file
/// that is about to be thrown away, and print to stderr if that failed too. What is left behind is the writer's
/// buffers, once per failed export.
pub(crate) struct Npz<W: Write + Seek> {
    zip: ManuallyDrop<ZipWriter<W>>,
}

/// Bytes gathered before each write into the zip entry.
const CHUNK: usize = 1 << 16;

impl<W: Write + Seek> Npz<W> {
    /// An empty archive writing to `out`.
    pub fn new(out: W) -> Self {
        Self {
            zip: ManuallyDrop::new(ZipWriter::new(out)),
        }
    }

    /// Array `name` (read back as `np.load(f)[name]`) of `shape`, C order, from exactly as many `values` as the
    /// shape holds: fewer or more is an error.
    pub fn array<T: Element>(
        &mut self,
        name: &str,
        shape: &[usize],
        values: impl IntoIterator<Item = T>,
    ) -> Result<(), NpzError> {
        let want: usize = shape.iter().product();
        self.start(name, T::DESCR, shape, want * T::SIZE)?;
        let mut buffer = Vec::with_capacity(CHUNK + T::SIZE);
        let mut got = 0usize;
        for value in values {
            got += 1;
            value.put(&mut buffer);
            if buffer.len() >= CHUNK {
                self.zip.write_all(&buffer)?;
                buffer.clear();
            }
        }
        self.zip.write_all(&buffer)?;
        if got != want {
            return Err(NpzError::Count {
                name: name.to_owned(),
                shape: shape.to_vec(),
                want,
                got,
            });
        }
        Ok(())
    }

    /// A one-dimensional array of strings, NumPy's fixed-width Unicode (`<U`n, n the longest string's length in
    /// characters, at least 1): each string as UTF-32 code points, padded with zeros.
    pub fn strings(&mut self, name: &str, values: &[&str]) -> Result<(), NpzError> {
        // NumPy's narrowest Unicode type is <U1, also for an empty array.
        let width = values.iter().map(|s| s.chars().count()).fold(1, usize::max);
        let descr = format!("<U{width}");
        self.start(name, &descr, &[values.len()], values.len() * width * 4)?;
        let mut buffer = Vec::with_capacity(width * 4);
        for value in values {
            buffer.clear();
            for c in value.chars() {
                buffer.extend_from_slice(&u32::from(c).to_le_bytes());
            }
            buffer.resize(width * 4, 0);
            self.zip.write_all(&buffer)?;
        }
        Ok(())
    }

    /// Completes the archive (its central directory) and returns the writer.
    pub fn finish(self) -> Result<W, NpzError> {
        Ok(ManuallyDrop::into_inner(self.zip).finish()?)
    }

    /// Starts entry `name.npy` with its header; `data_bytes` decides whether it needs zip64.
    fn start(
        &mut self,
        name: &str,
        descr: &str,
        shape: &[usize],
        data_bytes: usize,
    ) -> Result<(), NpzError> {
        let header = header(descr, shape)?;
        let total = (header.len() + data_bytes) as u64;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(total >= u64::from(u32::MAX));
        self.zip.start_file(format!("{name}.npy"), options)?;
        self.zip.write_all(&header)?;
        Ok(())
    }
}

/// The `.npy` 1.0 header as `np.save` writes it: the magic string, the version, the header's length, and the
/// dictionary NumPy reads, padded with spaces (room for the first axis to grow to 21 digits, then to a multiple of
/// 64 bytes, where the data starts) and ended with a newline.
fn header(descr: &str, shape: &[usize]) -> Result<Vec<u8>, NpzError> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    // A one-element tuple needs its comma: (n,).
    let shape = match dims.as_slice() {
        [one] => format!("({one},)"),
        many => format!("({})", many.join(", ")),
    };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    // NumPy's GROWTH_AXIS_MAX_DIGITS, then its padding to ARRAY_ALIGN: 1 to 64 spaces (a full 64 when already
    // aligned), as numpy/lib/format.py's _write_array_header and _wrap_header count them.
    let growth = dims.first().map_or(0, |d| 21usize.saturating_sub(d.len()));
    dict.extend(std::iter::repeat_n(' ', growth));
    const PREFIX: usize = 10; // magic (6), version (2), header length (2)
    let pad = 64 - (PREFIX + dict.len() + 1) % 64;
    dict.extend(std::iter::repeat_n(' ', pad));
    dict.push('\n');
    let length = u16::try_from(dict.len()).map_err(|_| {
        std::io::Error::other(format!(
            "an .npy header of {} bytes is too long",
            dict.len()
        ))
    })?;
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    Ok(out)
}

/// An analysis' arrays as NumPy reads them (`np.load`), for `analyze --npz` and the window's Export menu. Per token: `input_ids`, `tokens` (the
/// text each stands for), `logprob`, `surprisal_bits`, `rank`, `entropy_bits` and `running_perplexity` (NaN, and
/// rank 0, where a token is not scored); `perplexity` (NaN if nothing is scored); `attentions` (layer, head,
/// query, key) in float32, zeros above the diagonal, as transformers' stacked `output_attentions`; with `--scores`
/// `scores` of the same shape, with `--norms` `norms` (same shape), `layer_norms` (layer, query, key) and
/// `value_norms` (layer, head, token) in float64; heads knocked out, if any, as `knocked_out` (head, 2): each
/// one's layer and head, with `knocked_out_mean` (a scalar: 1 where their values were set to their means, 0
/// where zeroed). Returns `out` with everything written to it.
pub fn write_analysis<W: Write + Seek>(
    out: W,
    analysis: &Analysis,
    norms: Option<&Norms>,
) -> Result<W, NpzError> {
    let mut npz = Npz::new(out);
    let tokens = &analysis.tokens;
    let t = tokens.len();
    let a = &analysis.attentions;
    if a.n_tokens() != t {
        return Err(NpzError::Shape {
            tokens: t,
            attention: a.n_tokens(),
        });
    }
    npz.array("input_ids", &[t], tokens.iter().map(|x| i64::from(x.id)))?;
    let texts: Vec<&str> = tokens.iter().map(|x| x.text.as_str()).collect();
    npz.strings("tokens", &texts)?;
    let per_token = |stat: fn(&TokenStats) -> f64| {
        tokens
            .iter()
            .map(move |x| x.stats.as_ref().map_or(f64::NAN, stat))
    };
    npz.array("logprob", &[t], per_token(|s| s.logprob))?;
    npz.array("surprisal_bits", &[t], per_token(|s| s.surprisal_bits))?;
    // Ranks start at 1; 0 marks a token that is not scored.
    let ranks = tokens
        .iter()
        .map(|x| x.stats.as_ref().map_or(0, |s| s.rank as i64));
    npz.array("rank", &[t], ranks)?;
    npz.array("entropy_bits", &[t], per_token(|s| s.entropy_bits))?;
    npz.array(
        "running_perplexity",
        &[t],
        per_token(|s| s.running_perplexity),
    )?;
    // NaN where no token is scored (a one-token text), as the format's doc above says: NumPy's missing value.
    npz.array("perplexity", &[], [analysis.perplexity.unwrap_or(f64::NAN)])?;
    let (l, h) = (a.n_layer(), a.n_head());
    let dense = (0..l).flat_map(|layer| {
        (0..h).flat_map(move |head| {
            (0..t).flat_map(move |q| {
                // Row q holds keys 0..=q; the masked keys after it are exactly 0.
                let row = a.row(layer, head, q);
                row.iter()
                    .copied()
                    .chain(std::iter::repeat_n(0.0, t - row.len()))
            })
        })
    });
    npz.array("attentions", &[l, h, t, t], dense)?;
    if let Some(Scores(scores)) = &analysis.scores {
        let values = scores.iter().flatten().flatten().flatten().copied();
        npz.array("scores", &[l, h, t, t], values)?;
    }
    if let Some(n) = norms {
        let values = n.norms.iter().flatten().flatten().flatten().copied();
        npz.array("norms", &[l, h, t, t], values)?;
        let values = n.layer_norms.iter().flatten().flatten().copied();
        npz.array("layer_norms", &[l, t, t], values)?;
        let values = n.value_norms.iter().flatten().flatten().copied();
        npz.array("value_norms", &[l, h, t], values)?;
    }
    if !analysis.ablated.is_empty() {
        let heads: Vec<(usize, usize)> = analysis.ablated.iter().collect();
        let pairs = heads.iter().flat_map(|&(l, h)| [l as i64, h as i64]);
        npz.array("knocked_out", &[heads.len(), 2], pairs)?;
        let mean = analysis.replacement == crate::model::ablation::Replacement::Mean;
        npz.array("knocked_out_mean", &[], [i64::from(mean)])?;
    }
    npz.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_are_numpys() {
        // What numpy 2.4's np.lib.format.write_array_header_1_0 writes for these dictionaries: 128 bytes each,
        // the dictionary, spaces, and a newline last.
        for (descr, shape, dict) in [
            (
                "<f4",
                &[2, 3][..],
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            ),
            (
                "<f4",
                &[12, 12, 1024, 1024][..],
                "{'descr': '<f4', 'fortran_order': False, 'shape': (12, 12, 1024, 1024), }",
            ),
            (
                "<U7",
                &[5][..],
                "{'descr': '<U7', 'fortran_order': False, 'shape': (5,), }",
            ),
            (
                "<f8",
                &[][..],
                "{'descr': '<f8', 'fortran_order': False, 'shape': (), }",
            ),
        ] {
            let mut want = b"\x93NUMPY\x01\x00\x76\x00".to_vec();
            want.extend_from_slice(dict.as_bytes());
            want.resize(127, b' ');
            want.push(b'\n');
            assert_eq!(header(descr, shape).unwrap(), want, "{dict}");
        }
    }

    #[test]
    fn strings_are_utf32_padded_to_the_longest() {
        let mut npz = Npz::new(std::io::Cursor::new(Vec::new()));
        npz.strings("s", &["a", "é😀", ""]).unwrap();
        let bytes = npz.finish().unwrap().into_inner();
        let mut want = header("<U2", &[3]).unwrap();
        for code_points in [[0x61, 0], [0xe9, 0x1f600], [0, 0]] {
            for c in code_points {
                want.extend_from_slice(&u32::to_le_bytes(c));
            }
        }
        // Stored uncompressed, the entry's bytes appear whole in the archive.
        assert!(bytes.windows(want.len()).any(|w| w == want.as_slice()));
    }

    #[test]
    fn a_short_or_long_array_is_an_error() {
        let mut npz = Npz::new(std::io::Cursor::new(Vec::new()));
        let short = npz.array("a", &[2, 2], [1.0f32, 2.0, 3.0]);
        assert!(matches!(
            short,
            Err(NpzError::Count {
                want: 4,
                got: 3,
                ..
            })
        ));
        let long = npz.array("b", &[1], [1i64, 2]);
        assert!(matches!(
            long,
            Err(NpzError::Count {
                want: 1,
                got: 2,
                ..
            })
        ));
    }
}
