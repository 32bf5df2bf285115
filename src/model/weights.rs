//! Reads GPT-2 weights from a safetensors file: validates the header (sizes, offsets, dtypes), accepts keys with
//! or without the `transformer.` prefix, checks every shape against `config.json`, and converts to f32.
//!
//! Only safetensors is read. Pickle checkpoints (`pytorch_model.bin`) can execute code when loaded and are refused.

use std::fs::File;
use std::path::Path;

use candle_core::{Device, Tensor};
use safetensors::{Dtype, SafeTensors};

/// Errors while reading weights.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be opened or mapped.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The header or the data layout is invalid (truncated file, lying offsets, …).
    #[error("{path} is not a valid safetensors file ({message}); download it again or re-save it with safetensors")]
    Corrupt {
        /// The file.
        path: String,
        /// What the safetensors reader said.
        message: String,
    },
    /// A tensor the model needs is not in the file.
    #[error(
        "{path} has no tensor `{name}` (nor `transformer.{name}`): is this a GPT-2 checkpoint?"
    )]
    Missing {
        /// The file.
        path: String,
        /// The tensor name without prefix.
        name: String,
    },
    /// A tensor's shape disagrees with config.json.
    #[error("tensor `{name}` in {path} has shape {found:?} but config.json implies {expected:?}: the weights and config.json belong to different models")]
    Shape {
        /// The file.
        path: String,
        /// The tensor name.
        name: String,
        /// Shape in the file.
        found: Vec<usize>,
        /// Shape config.json implies.
        expected: Vec<usize>,
    },
    /// A dtype that is not a float.
    #[error("tensor `{name}` in {path} has dtype {dtype}; GPT-2 weights must be F32, F16 or BF16")]
    Dtype {
        /// The file.
        path: String,
        /// The tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// candle refused to build the tensor.
    #[error("cannot place tensor `{name}` on the device: {source}")]
    Candle {
        /// The tensor name.
        name: String,
        /// candle's error.
        source: candle_core::Error,
    },
}

/// One tensor's elements in the file, converted to f32 as they are read.
pub struct Elements<'a> {
    data: &'a [u8],
    dtype: Dtype,
    width: usize,
}

impl Elements<'_> {
    /// How many elements.
    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Element `i` (row-major).
    ///
    /// # Panics
    /// If `i` is not below [`Elements::len`]. Callers index within the shape that [`Weights::elements`] checked.
    pub fn get(&self, i: usize) -> f32 {
        self.decode(&self.data[i * self.width..(i + 1) * self.width])
    }

    /// Every element in order.
    pub fn iter(&self) -> impl Iterator<Item = f32> + '_ {
        self.data
            .chunks_exact(self.width)
            .map(|bytes| self.decode(bytes))
    }

    /// One element from its `width` bytes (little-endian, as safetensors stores them).
    fn decode(&self, bytes: &[u8]) -> f32 {
        match (self.dtype, bytes) {
            (Dtype::F32, &[a, b, c, d]) => f32::from_le_bytes([a, b, c, d]),
            (Dtype::F16, &[a, b]) => half::f16::from_le_bytes([a, b]).to_f32(),
            (Dtype::BF16, &[a, b]) => half::bf16::from_le_bytes([a, b]).to_f32(),
            // `width` is set from the dtype in `Weights::elements`, which refuses every other dtype.
            _ => unreachable!("{} bytes of a {:?} element", bytes.len(), self.dtype),
        }
    }
}

/// The bytes of a checkpoint: a mapped file, or bytes compiled into the binary (the demo model).
enum Bytes {
    Mapped(memmap2::Mmap),
    Static(&'static [u8]),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Self::Mapped(map) => map,
            Self::Static(bytes) => bytes,
        }
    }
}

/// An open safetensors checkpoint.
pub struct Weights {
    path: String,
    mmap: Bytes,
    prefix: &'static str,
}

impl Weights {
    /// Opens and validates the file's header. No tensor data is copied yet.
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let display = path.display().to_string();
        let io = |source| WeightsError::Io {
            path: display.clone(),
            source,
        };
        let file = File::open(path).map_err(io)?;
        // SAFETY: the map is read-only and lives inside `Weights`; every tensor is copied out of it while loading.
        // A file truncated by another process while mapped would fault, the accepted risk of every mmap loader
        // (safetensors, candle); the header and all offsets are validated against the file size first.
        let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
        Self::from_bytes(display, Bytes::Mapped(mmap))
    }

    /// Opens a checkpoint compiled into the binary; `name` stands for its path in messages.
    pub fn from_static(name: &str, bytes: &'static [u8]) -> Result<Self, WeightsError> {
        Self::from_bytes(name.to_string(), Bytes::Static(bytes))
    }

    fn from_bytes(display: String, mmap: Bytes) -> Result<Self, WeightsError> {
        let tensors = SafeTensors::deserialize(&mmap).map_err(|err| WeightsError::Corrupt {
            path: display.clone(),
            message: err.to_string(),
        })?;
        let prefix = if tensors
            .names()
            .iter()
            .any(|name| name.starts_with("transformer."))
        {
            "transformer."
        } else {
            ""
        };
        Ok(Self {
            path: display,
            mmap,
            prefix,
        })
    }

    /// Loads tensor `name` (without prefix) as f32 on `device`, checking its shape.
    pub fn get(
        &self,
        name: &str,
        shape: &[usize],
        device: &Device,
    ) -> Result<Tensor, WeightsError> {
        let values = self.values(name, shape)?;
        Tensor::from_vec(values, shape, device).map_err(|source| WeightsError::Candle {
            name: format!("{}{name}", self.prefix),
            source,
        })
    }

    /// The values of tensor `name` as f32, row-major, after checking its shape.
    pub fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
        Ok(self.elements(name, shape)?.iter().collect())
    }

    /// Tensor `name`, read in place from the file one element at a time, after checking its shape and dtype.
    pub fn elements(&self, name: &str, shape: &[usize]) -> Result<Elements<'_>, WeightsError> {
        let tensors =
            SafeTensors::deserialize(&self.mmap).map_err(|err| WeightsError::Corrupt {
                path: self.path.clone(),
                message: err.to_string(),
            })?;
        let full = format!("{}{name}", self.prefix);
        let view = tensors.tensor(&full).map_err(|_| WeightsError::Missing {
            path: self.path.clone(),
            name: name.to_string(),
        })?;
        if view.shape() != shape {
            return Err(WeightsError::Shape {
                path: self.path.clone(),
                name: full,
                found: view.shape().to_vec(),
                expected: shape.to_vec(),
            });
        }
        let width = match view.dtype() {
            Dtype::F32 => 4,
            Dtype::F16 | Dtype::BF16 => 2,
            other => {
                return Err(WeightsError::Dtype {
                    path: self.path.clone(),
                    name: full,
                    dtype: format!("{other:?}"),
                })
            }
        };
        Ok(Elements {
            data: view.data(),
            dtype: view.dtype(),
            width,
        })
    }

    /// The 2-D tensor `name` of shape `shape` = (rows, cols), returned transposed as (cols, rows), contiguous.
    /// The transpose runs in parallel tiles before the tensor is made (candle's strided copy is one thread:
    /// seconds for gpt2-xl).
    pub fn get_transposed(
        &self,
        name: &str,
        shape: [usize; 2],
        device: &Device,
    ) -> Result<Tensor, WeightsError> {
        let [rows, cols] = shape;
        let elements = self.elements(name, &shape)?;
        Tensor::from_vec(transpose(&elements, rows, cols), (cols, rows), device).map_err(|source| {
            WeightsError::Candle {
                name: format!("{}{name}", self.prefix),
                source,
            }
        })
    }
}

/// `values` (rows, cols) row-major, read from the file as they are placed, transposed to (cols, rows), in
/// parallel over blocks of output rows.
fn transpose(values: &Elements, rows: usize, cols: usize) -> Vec<f32> {
    use rayon::prelude::*;
    const TILE: usize = 32;
    let mut out = vec![0.0f32; rows * cols];
    out.par_chunks_mut(TILE * rows.max(1))
        .enumerate()
        .for_each(|(block, dst)| {
            let c0 = block * TILE;
            for r0 in (0..rows).step_by(TILE) {
                for c in c0..(c0 + TILE).min(cols) {
                    for r in r0..(r0 + TILE).min(rows) {
                        // r < rows and c < cols: inside both the (rows, cols) source and this block of
                        // TILE output rows of length `rows`.
                        dst[(c - c0) * rows + r] = values.get(r * cols + c);
                    }
                }
            }
        });
    out
}

#[cfg(test)]
mod transpose_tests {
    #[test]
    fn transposes_odd_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (32, 32), (100, 7)] {
            let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let elements = super::Elements {
                data: &bytes,
                dtype: safetensors::Dtype::F32,
                width: 4,
            };
            let t = super::transpose(&elements, rows, cols);
            for r in 0..rows {
                for c in 0..cols {
                    assert_eq!(
                        t[c * rows + r],
                        values[r * cols + c],
                        "({rows}, {cols}) [{r}][{c}]"
                    );
                }
            }
        }
    }
}
