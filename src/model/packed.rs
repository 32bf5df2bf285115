//! Linear layers on CPUs with AVX-512 or AVX2: weights packed once, at load time, into panels of 32 output
//! columns, and multiplied by a register-tiled kernel that uses the full vector width ([`Kernel`]).
//!
//! candle's f32 gemm (the `gemm` crate) uses AVX2 on stable Rust and packs the weight matrix again for every
//! product: measured on the GPT-2-small shape with a 64-token text, 17% of an analysis went to that packing
//! and half to its 256-bit kernel. Here a panel holds, for every input index, its 32 weights side by side
//! (`[panel][k][32]`), so the kernel reads each panel in order, two registers per step, and multiplies them
//! against up to [`MR`] input rows broadcast one value at a time: 2·MR independent accumulators, enough to keep
//! both FMA pipes busy. The bias is where the accumulators start. Input rows are read in place: packing them
//! (MR rows interleaved along k, so a tile's broadcasts lie side by side) ran the layers alone up to 10 % faster
//! but whole analyses 6–7 % slower, at 64 and 1,024 tokens alike (Intel Xeon, family 6 model 167).
//!
//! A product is shared among rayon's threads in tasks of a chunk of rows (as many as keep their inputs in half of
//! L2, [`tasks::rows_per_task`]) by a group of panels;
//! each task writes its own rows of its own columns. Along k the panel is cut into blocks sized from the CPU's
//! L1 data cache ([`block_len`]), so that the block in use and the input rows it meets stay in L1 while the
//! task's row tiles pass it.

use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::cpu_caches::cache_bytes;
use super::softmax::f32_rows;
pub use kernel::Kernel;
use memory::WeightMemory;
use tasks::{row_chunks, rows_per_task, Placement, SharedOut};
pub use tasks::{MR, NR};

// The kernels' tiles are as wide as a panel.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(tile::NR == NR);

/// The length along k of a panel block: the block (len × [`NR`] floats) and the [`MR`] input rows a tile reads
/// beside it (MR × len) fill no more than 95% of the L1 data cache, in steps of 16. 48 KB (AMD Zen 5, Intel
/// Ice Lake and later): 256, a 32 KB block. 32 KB (AMD Zen 4, Intel Skylake-SP, Cascade Lake): 176. Unknown: as
/// for 32 KB. `ATTNGRAPH_KC` overrides it, to measure; a value that is not a positive whole number is an error
/// that says so.
pub fn block_len() -> Result<usize, String> {
    static LEN: std::sync::OnceLock<Result<usize, String>> = std::sync::OnceLock::new();
    LEN.get_or_init(|| match std::env::var("ATTNGRAPH_KC") {
        Err(_) => Ok(block_len_for(cache_bytes(1))),
        Ok(v) => match v.parse::<usize>() {
            Ok(len) if len > 0 => Ok(len),
            _ => Err(format!(
                "ATTNGRAPH_KC={v:?} is not a positive whole number: set one, or unset it for {} from the L1 cache",
                block_len_for(cache_bytes(1))
            )),
        },
    })
    .clone()
}

/// Rows per task for inputs of `k` values, from this CPU's L2 cache ([`tasks::rows_per_task`]).
fn task_rows(k: usize) -> usize {
    static L2: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    rows_per_task(k, *L2.get_or_init(|| cache_bytes(2)))
}

/// [`block_len`] for an L1 data cache of `l1` bytes.
fn block_len_for(l1: Option<usize>) -> usize {
    let l1 = l1.unwrap_or(32 * 1024);
    (l1 * 95 / 100 / ((NR + MR) * 4) / 16 * 16).clamp(64, 512)
}

/// Whether this CPU runs the packed kernel (at the level `ATTNGRAPH_ISA` allows).
pub fn supported() -> bool {
    Kernel::detected().is_some()
}

/// A weight matrix of `n` outputs by `k` inputs, with its bias, in panels of [`NR`] output columns:
/// `data[p·k·NR + i·NR + j]` is the weight from input `i` to output `p·NR + j` (0 past `n`).
pub struct PackedLinear {
    n: usize,
    k: usize,
    data: WeightMemory,
    /// `n` values rounded up to whole panels (0 past `n`).
    bias: Vec<f32>,
}

impl PackedLinear {
    /// From a weight stored (in, out) row-major, as GPT-2's Conv1D keeps it.
    #[cfg(test)]
    fn from_in_out(weight: &[f32], k: usize, n: usize, bias: Option<&[f32]>) -> Self {
        Self::pack(k, n, bias, |i, o| weight[i * n + o]).expect("memory for a test's weights")
    }

    /// From a weight stored (out, in) row-major, as an embedding table used as the LM head.
    #[cfg(test)]
    fn from_out_in(weight: &[f32], n: usize, k: usize, bias: Option<&[f32]>) -> Self {
        Self::pack(k, n, bias, |i, o| weight[o * k + i]).expect("memory for a test's weights")
    }

    /// From `at(i, o)`, the weight from input `i` to output `o`, for i < k and o < n. An error if the system
    /// cannot map memory for them.
    pub fn pack(
        k: usize,
        n: usize,
        bias: Option<&[f32]>,
        at: impl Fn(usize, usize) -> f32 + Sync,
    ) -> std::io::Result<Self> {
        let panels = n.div_ceil(NR);
        let len = panels.checked_mul(k).and_then(|v| v.checked_mul(NR));
        let len = len.ok_or_else(|| memory::does_not_fit(format!("{k} × {n} weights")))?;
        let mut data = WeightMemory::zeroed(len)?;
        data.as_mut_slice()
            .par_chunks_mut((k * NR).max(1))
            .enumerate()
            .for_each(|(p, panel)| {
                for (i, row) in panel.chunks_exact_mut(NR).enumerate() {
                    for (j, w) in row.iter_mut().enumerate().take(n - p * NR) {
                        *w = at(i, p * NR + j);
                    }
                }
            });
        let mut padded = vec![0.0f32; panels * NR];
        if let Some(bias) = bias {
            for (d, &b) in padded.iter_mut().zip(bias) {
                *d = b;
            }
        }
        Ok(Self {
            n,
            k,
            data,
            bias: padded,
        })
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Inputs.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The weights into output `o` (a row of the (out, in) matrix): the embedding of token `o` when this is
    /// the LM head.
    pub fn row(&self, o: usize) -> Vec<f32> {
        let base = (o / NR) * self.k * NR + o % NR;
        // o < n places `base` in panel o / NR, whose k rows of NR values all lie inside `data`.
        let data = self.data.as_slice();
        (0..self.k).map(|i| data[base + i * NR]).collect()
    }

    /// x·W + b for x (…, k), on the CPU: (…, n).
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.apply_op1_no_bwd(self)
    }

    /// x·W + b for `m` rows of `k` values: `m · n` values. An error on a CPU without AVX-512F or AVX2 and FMA
    /// (the model keeps its weights unpacked there).
    pub fn forward_f32(&self, x: &[f32], m: usize) -> candle_core::Result<Vec<f32>> {
        self.forward_strided(x, m, self.k)
    }

    /// [`PackedLinear::forward_f32`] for rows that start `ldx` ≥ k values apart in `x`, which holds exactly
    /// (m − 1)·ldx + k values (the last row ends at its k-th value; none for m = 0): rows laid out
    /// `mlp::padded_stride` apart are read faster. An error for any other length or ldx < k.
    pub fn forward_strided(
        &self,
        x: &[f32],
        m: usize,
        ldx: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let block = block_len().map_err(candle_core::Error::msg)?;
        self.forward_blocks(Kernel::required()?, x, m, ldx, block)
    }

    /// [`PackedLinear::forward_strided`] on `kernel`'s tiles with panel blocks of `block` along k.
    pub fn forward_blocks(
        &self,
        kernel: Kernel,
        x: &[f32],
        m: usize,
        ldx: usize,
        block: usize,
    ) -> candle_core::Result<Vec<f32>> {
        let mut y = Vec::new();
        self.forward_placed(
            kernel,
            x,
            m,
            ldx,
            block,
            Placement::Rows,
            std::slice::from_mut(&mut y),
        )?;
        Ok(y)
    }

    /// [`PackedLinear::forward_blocks`] into `y`, whose memory is reused (its values are replaced by the m·n
    /// results).
    fn forward_into(
        &self,
        x: &[f32],
        m: usize,
        ldx: usize,
        block: usize,
        y: &mut Vec<f32>,
    ) -> candle_core::Result<()> {
        self.forward_placed(
            Kernel::required()?,
            x,
            m,
            ldx,
            block,
            Placement::Rows,
            std::slice::from_mut(y),
        )
    }

    /// Whether [`PackedLinear::forward_heads`] can write the outputs as `parts` equal runs of heads of `d`: heads
    /// a positive multiple of [`NR`] wide, so that no panel straddles two, dividing each run.
    pub fn places_heads(&self, d: usize, parts: usize) -> bool {
        parts >= 1
            && d >= NR
            && d.is_multiple_of(NR)
            && self.n.is_multiple_of(parts)
            && (self.n / parts).is_multiple_of(d)
    }

    /// x·W + b for `m` rows of k values in `x`, written as `parts` buffers of heads: buffer i holds output
    /// columns i·n/parts..(i + 1)·n/parts as (n / parts / d, m, d), head h its columns h·d..(h + 1)·d of every
    /// row. What the rows reshaped to (m, n / d, d) and transposed hold, written where it belongs by the
    /// product itself. An error unless d is a positive multiple of [`NR`] dividing n / parts.
    pub fn forward_heads_f32(
        &self,
        x: &[f32],
        m: usize,
        d: usize,
        parts: usize,
    ) -> candle_core::Result<Vec<Vec<f32>>> {
        let mut outs = vec![Vec::new(); parts];
        let block = block_len().map_err(candle_core::Error::msg)?;
        self.forward_placed(
            Kernel::required()?,
            x,
            m,
            self.k,
            block,
            Placement::Heads { d },
            &mut outs,
        )?;
        Ok(outs)
    }

    /// x (…, k) on the CPU through [`PackedLinear::forward_heads_f32`]: `parts` tensors (n / parts / d, rows, d),
    /// rows the product of x's leading dimensions.
    pub fn forward_heads(
        &self,
        x: &Tensor,
        d: usize,
        parts: usize,
    ) -> candle_core::Result<Vec<Tensor>> {
        let dims = x.dims();
        let Some((_, lead)) = dims.split_last().filter(|(&width, _)| width == self.k) else {
            candle_core::bail!("packed linear: input {dims:?} against {} inputs", self.k);
        };
        let rows = lead.iter().product();
        let outs = super::softmax::with_values(x, |v| self.forward_heads_f32(v, rows, d, parts))??;
        // The product ran, so parts ≥ 1 and d ≥ NR: the divisor is not zero.
        let heads = self.n / (parts * d);
        outs.into_iter()
            .map(|o| Tensor::from_vec(o, (heads, rows, d), x.device()))
            .collect()
    }

    /// The product into `outs`, laid out as `placement` says: one buffer for [`Placement::Rows`], any number
    /// of equal parts of the columns for [`Placement::Heads`]. Each buffer's memory is reused, its values
    /// replaced.
    #[allow(clippy::too_many_arguments)] // Each is a part of the product; the public ones take fewer.
    fn forward_placed(
        &self,
        kernel: Kernel,
        x: &[f32],
        m: usize,
        ldx: usize,
        block: usize,
        placement: Placement,
        outs: &mut [Vec<f32>],
    ) -> candle_core::Result<()> {
        let (n, k) = (self.n, self.k);
        if block == 0 {
            candle_core::bail!("packed linear: panel blocks of length 0");
        }
        let fits = match m {
            0 => x.is_empty(),
            m => {
                ldx >= k && Some(x.len()) == (m - 1).checked_mul(ldx).and_then(|v| v.checked_add(k))
            }
        };
        if !fits {
            candle_core::bail!(
                "packed linear: {} values are not {m} rows of {k} that start {ldx} apart",
                x.len()
            );
        }
        let parts = outs.len();
        let placed = match placement {
            Placement::Rows => parts == 1,
            Placement::Heads { d } => self.places_heads(d, parts),
        };
        if !placed {
            candle_core::bail!(
                "packed linear: {n} outputs cannot be written as {parts} buffers of {placement:?}"
            );
        }
        // Not zeroed first: every value is written before anything reads it (the SAFETY note at `set_len`). At
        // 1,024 tokens the four products of a block wrote 28 MB, zeroed on one thread beforehand.
        let Some(len) = m.checked_mul(n).map(|all| all / parts) else {
            candle_core::bail!(
                "packed linear: {m} rows of {n} outputs are more than memory can hold"
            );
        };
        for y in outs.iter_mut() {
            y.clear();
            y.try_reserve(len).map_err(|err| {
                candle_core::Error::msg(format!(
                    "packed linear: no memory for {m} × {n} outputs: {err}"
                ))
            })?;
            // Debug builds (the tests) start from NaN, so that a value the tiles failed to write shows in the
            // result instead of whatever the allocator's memory held, often the last product's right answer.
            #[cfg(debug_assertions)]
            y.spare_capacity_mut()[..len].fill(std::mem::MaybeUninit::new(f32::NAN));
        }
        if m == 0 || n == 0 {
            return Ok(());
        }
        let panels = n.div_ceil(NR);
        // Tasks of a chunk of rows by a group of panels: enough for rayon to balance two to a few dozen threads,
        // each still a few panels wide.
        let threads = rayon::current_num_threads();
        let group = (panels / (threads * 8)).clamp(1, 16);
        let groups = panels.div_ceil(group);
        let chunks: Vec<_> = row_chunks(m, threads, task_rows(k)).collect();
        let out = SharedOut {
            bases: outs
                .iter_mut()
                .map(|y| y.spare_capacity_mut().as_mut_ptr().cast::<f32>())
                .collect(),
            m,
            n,
            len,
            placement,
        };
        (0..groups * chunks.len()).into_par_iter().for_each(|task| {
            // Chunk by chunk (see `row_chunks`); task < groups · chunks.len(), so the index is in range.
            let (rows, g) = (chunks[task / groups].clone(), task % groups);
            for p in g * group..((g + 1) * group).min(panels) {
                // SAFETY: `kernel` exists, so the CPU has its instructions; the lengths were checked or made above
                // (x: m rows of k, ldx apart; data: panels·k·NR; bias: panels·NR; each buffer: a capacity of at least `len`,
                // written before it is read, as the note at `set_len` says), and each task writes only its own
                // rows of its own panels' columns p·NR..min((p+1)·NR, n), each of which `SharedOut::at` places
                // at a value of its own, so no two tasks touch the same value.
                unsafe { self.panel(kernel, x, ldx, rows.clone(), p, block, &out) };
            }
        });
        for y in outs.iter_mut() {
            // SAFETY: each capacity is at least `len`, and all `len` values of each buffer are written: the tasks
            // cover every chunk of rows (which together cover 0..m) by every group of panels, and the m·n outputs
            // fill the buffers exactly (`SharedOut::at`); in each task, the first block along k (k0 = 0, which
            // runs even for k = 0) stores all `cols` columns of every row of the task (its row tiles step through
            // them all), and a tile reads an output, to add to it, only in a later block along k, after that
            // store, in the same task. A panic in a task would leave the lengths at 0.
            unsafe { y.set_len(len) };
        }
        Ok(())
    }
}

impl CustomOp1 for PackedLinear {
    fn name(&self) -> &'static str {
        "packed-linear"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = f32_rows(storage, layout, "packed linear")?;
        if x.width != self.k {
            candle_core::bail!(
                "packed linear: input {:?} against {} inputs",
                layout.dims(),
                self.k
            );
        }
        let mut shape = x.lead.to_vec();
        shape.push(self.n);
        Ok((
            CpuStorage::F32(self.forward_f32(x.values, x.rows)?),
            Shape::from(shape),
        ))
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
mod memory;
pub mod mlp;
mod panel;
mod tasks;
#[cfg(target_arch = "x86_64")]
mod tile;

#[cfg(test)]
mod tests;
