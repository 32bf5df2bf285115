//! Reads a model's weights from one safetensors file or from shards named by `model.safetensors.index.json`:
//! validates every header (sizes, offsets, dtypes), accepts GPT-2's keys with or without the `transformer.`
//! prefix, checks every shape against `config.json`, and converts to f32.
//!
//! Only safetensors is read. Pickle checkpoints (`pytorch_model.bin`) can execute code when loaded and are refused.

use std::collections::HashMap;
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
        "{path} has no tensor `{name}`: do config.json and the weights belong to the same model?"
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
    #[error("tensor `{name}` in {path} has dtype {dtype}; weights must be F32, F16 or BF16")]
    Dtype {
        /// The file.
        path: String,
        /// The tensor name.
        name: String,
        /// Its dtype.
        dtype: String,
    },
    /// The shard index is not what transformers writes.
    #[error("{path} is not a usable model.safetensors.index.json: {message}")]
    Index {
        /// The index file.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// candle refused to build the tensor.
    #[error("cannot place tensor `{name}` on the device: {source}")]
    Candle {
        /// The tensor name.
        name: String,
        /// candle's error.
        source: candle_core::Error,
    },
    /// The system would not map memory for a tensor's packed copy.
    #[error("cannot set aside memory for the packed weights of `{name}` ({source}): close other programs, or choose a smaller model")]
    Memory {
        /// The tensor name.
        name: String,
        /// The mapping's error.
        source: std::io::Error,
    },
}

impl WeightsError {
    /// The error for a refused mapping of the packed copy of tensor `name`, for `map_err`.
    pub fn memory(name: &str) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Memory {
            name: name.to_owned(),
            source,
        }
    }
}

/// One tensor's elements in the file, converted to f32 as they are read.
pub struct Elements<'a> {
    data: &'a [u8],
    dtype: Dtype,
    width: usize,
    /// The same elements as floats in place, where they can be read so (see [`Elements::new`]).
    floats: Option<&'a [f32]>,
}

impl<'a> Elements<'a> {
    /// The elements of `dtype` (F32, F16 or BF16) in `data`, `width` bytes each. F32 elements on a 4-byte
    /// boundary (in a safetensors file they are where its writer padded the header, as writers do), on a
    /// little-endian CPU, are read as floats in place: packing GPT-2 small's weights decoded each of its 124
    /// million values from four bytes, a third of the time to load it.
    fn new(data: &'a [u8], dtype: Dtype, width: usize) -> Self {
        let floats = (dtype == Dtype::F32 && cfg!(target_endian = "little"))
            .then(|| bytemuck::try_cast_slice(data).ok())
            .flatten();
        Self {
            data,
            dtype,
            width,
            floats,
        }
    }

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
        match self.floats {
            Some(floats) => floats[i],
            None => self.decode(&self.data[i * self.width..(i + 1) * self.width]),
        }
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

/// One safetensors file of a checkpoint.
struct Shard {
    path: String,
    bytes: Bytes,
}

/// An open safetensors checkpoint: one file, or the shards an index names.
pub struct Weights {
    /// The file or the index, for messages.
    path: String,
    shards: Vec<Shard>,
    /// Which shard holds each tensor, by its full name.
    owner: HashMap<String, usize>,
    prefix: &'static str,
}

impl Weights {
    /// Opens and validates a `.safetensors` file, or every shard of a `model.safetensors.index.json` (the shards
    /// sit beside it). No tensor data is copied yet.
    pub fn open(path: &Path) -> Result<Self, WeightsError> {
        let display = path.display().to_string();
        if display.ends_with(".index.json") {
            return Self::open_index(path);
        }
        let shard = Shard {
            bytes: map(path)?,
            path: display.clone(),
        };
        Self::open_shards(display, vec![shard])
    }

    /// Opens a checkpoint compiled into the binary; `name` stands for its path in messages.
    pub fn from_static(name: &str, bytes: &'static [u8]) -> Result<Self, WeightsError> {
        let shard = Shard {
            path: name.to_string(),
            bytes: Bytes::Static(bytes),
        };
        Self::open_shards(name.to_string(), vec![shard])
    }

    /// The files a `model.safetensors.index.json` names in its `weight_map`, each once, in order of first
    /// mention. A name with a path separator or `..` is refused: shards sit beside their index.
    pub fn shard_names(index_text: &str) -> Result<Vec<String>, String> {
        let value: serde_json::Value =
            serde_json::from_str(index_text).map_err(|err| err.to_string())?;
        let map = value
            .get("weight_map")
            .and_then(serde_json::Value::as_object)
            .ok_or("it has no weight_map")?;
        let mut names: Vec<String> = Vec::new();
        for (tensor, file) in map {
            let file = file
                .as_str()
                .ok_or_else(|| format!("the file of {tensor} is not a string"))?;
            if file.contains(['/', '\\'])
                || file.starts_with('.')
                || !file.ends_with(".safetensors")
            {
                return Err(format!(
                    "{file:?} is not the name of a .safetensors file beside the index"
                ));
            }
            if !names.iter().any(|n| n == file) {
                names.push(file.to_string());
            }
        }
        if names.is_empty() {
            return Err("its weight_map is empty".into());
        }
        Ok(names)
    }

    fn open_index(path: &Path) -> Result<Self, WeightsError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| WeightsError::Io {
            path: display.clone(),
            source,
        })?;
        let names = Self::shard_names(&text).map_err(|message| WeightsError::Index {
            path: display.clone(),
            message,
        })?;
        let folder = path.parent().unwrap_or(Path::new("."));
        let shards = names
            .iter()
            .map(|name| {
                let file = folder.join(name);
                Ok(Shard {
                    bytes: map(&file)?,
                    path: file.display().to_string(),
                })
            })
            .collect::<Result<Vec<_>, WeightsError>>()?;
        Self::open_shards(display, shards)
    }

    fn open_shards(display: String, shards: Vec<Shard>) -> Result<Self, WeightsError> {
        let mut owner = HashMap::new();
        for (index, shard) in shards.iter().enumerate() {
            let tensors =
                SafeTensors::deserialize(&shard.bytes).map_err(|err| WeightsError::Corrupt {
                    path: shard.path.clone(),
                    message: err.to_string(),
                })?;
            for name in tensors.names() {
                owner.insert(name.to_string(), index);
            }
        }
        let prefix = if owner.keys().any(|name| name.starts_with("transformer.")) {
            "transformer."
        } else {
            ""
        };
        Ok(Self {
            path: display,
            shards,
            owner,
            prefix,
        })
    }

    /// Whether the checkpoint holds tensor `name` (without prefix).
    pub fn has(&self, name: &str) -> bool {
        self.owner.contains_key(&format!("{}{name}", self.prefix))
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
        let full = format!("{}{name}", self.prefix);
        let missing = || WeightsError::Missing {
            path: self.path.clone(),
            name: full.clone(),
        };
        // Every index in `owner` was pushed with its shard in `open_shards`.
        let shard = &self.shards[*self.owner.get(&full).ok_or_else(missing)?];
        let tensors =
            SafeTensors::deserialize(&shard.bytes).map_err(|err| WeightsError::Corrupt {
                path: shard.path.clone(),
                message: err.to_string(),
            })?;
        let view = tensors.tensor(&full).map_err(|_| missing())?;
        if view.shape() != shape {
            return Err(WeightsError::Shape {
                path: shard.path.clone(),
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
                    path: shard.path.clone(),
                    name: full,
                    dtype: format!("{other:?}"),
                })
            }
        };
        Ok(Elements::new(view.data(), view.dtype(), width))
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

/// Maps a file read-only.
fn map(path: &Path) -> Result<Bytes, WeightsError> {
    let io = |source| WeightsError::Io {
        path: path.display().to_string(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    // SAFETY: the map is read-only and lives inside `Weights`; every tensor is copied out of it while loading.
    // A file truncated by another process while mapped would fault, the accepted risk of every mmap loader
    // (safetensors, candle); the header and all offsets are validated against the file size first.
    let mmap = unsafe { memmap2::Mmap::map(&file) }.map_err(io)?;
    Ok(Bytes::Mapped(mmap))
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
    /// F32 elements read in place where aligned and decoded where not give the same values.
    #[test]
    fn aligned_and_unaligned_f32_read_alike() {
        let values: Vec<f32> = (0..37).map(|i| i as f32 * 0.37 - 5.0).collect();
        let le: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        // Bytes on a 4-byte boundary (a u32 buffer's), then one byte past it.
        let mut words = vec![0u32; values.len() + 2];
        let buffer: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        for at in [0, 1] {
            buffer[at..at + le.len()].copy_from_slice(&le);
            let e = super::Elements::new(&buffer[at..at + le.len()], safetensors::Dtype::F32, 4);
            assert_eq!(
                e.floats.is_some(),
                at == 0,
                "read in place only when aligned"
            );
            let read: Vec<f32> = (0..e.len()).map(|i| e.get(i)).collect();
            assert_eq!(read, values, "from byte {at}");
        }
    }

    #[test]
    fn transposes_odd_shapes() {
        for (rows, cols) in [(1, 1), (3, 70), (65, 33), (32, 32), (100, 7)] {
            let values: Vec<f32> = (0..rows * cols).map(|i| i as f32).collect();
            let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let elements = super::Elements::new(&bytes, safetensors::Dtype::F32, 4);
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
