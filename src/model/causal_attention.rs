//! Causal attention on the CPU that computes only what a query may see. [`attention`] takes query rows in blocks
//! of [`ROWS`]: a block multiplies only the keys its last row sees (the masked half of QKᵀ and of P·V is never
//! computed), its scores softmax(QKᵀ·scale) stay in a scratch buffer in cache, softmax runs in place there, the
//! rows are packed once into the probabilities the analysis keeps (their masked half never stored), and P·V
//! reads the same scratch. Grouped-query heads read their key/value head in place (no repeated copy of the keys
//! and values). [`weighted_values`] is P·V alone, for probabilities made elsewhere (the path that keeps scores).
//!
//! The products are AVX-512 tiles for heads of 64 values where the CPU has AVX-512F ([`avx512`], whose safe
//! functions check every bound before their one `unsafe` call each), else the `gemm` crate's (candle's own CPU
//! gemm; its one `unsafe` call is in [`product`], whose bounds are checked before it runs, in `strided.rs`); on one
//! thread each, the heads and blocks shared among rayon's threads. The probabilities' buffer is not zeroed: the
//! blocks write into its spare capacity, and its length is set (the one `unsafe` line here) only once every block
//! has checked that it wrote all of its share.

use candle_core::{CpuStorage, CustomOp2, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::attentions::triangle;
use super::softmax::contiguous_f32;

#[cfg(target_arch = "x86_64")]
mod avx512;
mod strided;

use strided::{product, Matrix, Strided};

/// Query rows per block: the block's scores (ROWS × t floats, 256 KB at t = 1,024) stay in L2 between the
/// product and the softmax.
const ROWS: usize = 64;

/// Whether these ops take the tensors: CPU, f32, contiguous (both ops read raw rows).
pub fn applies(tensors: &[&Tensor]) -> bool {
    tensors.iter().all(|x| super::softmax::in_place_f32(x))
}

/// The products [`attention`] can run on this CPU, by name, each with the `fast` switch of [`attention`] that
/// picks it (for `attngraph bench --kernels`): the `gemm` crate's always, AVX-512 tiles where the CPU has them.
pub fn product_kernels() -> Vec<(&'static str, bool)> {
    let mut kernels = vec![("gemm crate", false)];
    #[cfg(target_arch = "x86_64")]
    if avx512::Avx512::detect().is_some() {
        kernels.push(("avx512 (heads of 64)", true));
    }
    kernels
}

/// Causal attention of queries `q` (n_head, t_new, d) at positions offset..offset + t_new over keys `k` and values
/// `v` (n_kv_head, t, d), t = offset + t_new, in one pass per block of query rows: the block's scores
/// softmax(q·kᵀ·scale) in a scratch buffer that stays in cache, then (with `keep`) its rows packed into the
/// probabilities returned, then the weighted values P·V from the same scratch. Returns the probabilities packed,
/// n_head · Σ_{q=offset}^{t−1} (q + 1) values: for each head, row q of every new query, keys 0..=q, the layout
/// [`crate::model::attentions::Attentions::push_layer_packed`] keeps as it is; and the weighted values
/// (n_head, t_new, d). No (n_head, t_new, t) buffer is made, zeroed or copied. The products run in AVX-512 tiles
/// where `fast` is asked, the CPU has AVX-512F and heads have 64 values, else in the `gemm` crate.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    scale: f32,
    keep: bool,
    fast: bool,
) -> candle_core::Result<(Option<Vec<f32>>, Tensor)> {
    let (n_head, t_new, dq) = q.dims3()?;
    let dims = Dims::new(n_head, t_new, k.layout(), "causal attention")?;
    if dq != dims.d || v.dims() != k.dims() {
        candle_core::bail!(
            "causal attention: queries of width {dq}, keys {:?}, values {:?}",
            k.dims(),
            v.dims()
        );
    }
    let (t, d, offset) = (dims.t, dims.d, dims.offset());
    // Values of one head's new rows in the packed probabilities.
    let per_head = triangle(t) - triangle(offset);
    // Not zeroed first (25 MB a layer at 1,024 tokens): each value is written once, and the length is set only
    // after every block has checked that it wrote all of its share (the SAFETY note at `set_len`).
    let total = if keep { n_head * per_head } else { 0 };
    let mut probs: Vec<f32> = Vec::with_capacity(total);
    // Debug builds (the tests) start from NaN, so that a probability no block wrote shows in the result.
    #[cfg(debug_assertions)]
    probs.spare_capacity_mut()[..total].fill(std::mem::MaybeUninit::new(f32::NAN));
    let mut heads = vec![0.0f32; n_head * t_new * d];
    with_f32(q, "causal attention", |q| {
        with_f32(k, "causal attention", |k| {
            let products = Products::choose(fast, k, &dims);
            with_f32(v, "causal attention", |v| {
                // One task per head and block of ROWS query rows, each with its own slices of both outputs.
                let mut tasks = Vec::new();
                // The kept probabilities' capacity, handed out block by block in the order the store lays
                // them out (head by head, rows in order); with `keep` off every block gets an empty slice.
                let mut unplaced = &mut probs.spare_capacity_mut()[..total];
                for (h, out) in heads.chunks_mut((t_new * d).max(1)).enumerate() {
                    for (b, out) in out.chunks_mut(ROWS * d).enumerate() {
                        let r0 = b * ROWS;
                        let m = out.len() / d;
                        // Row r0 + i of this head holds offset + r0 + i + 1 values.
                        let len = if keep {
                            triangle(offset + r0 + m) - triangle(offset + r0)
                        } else {
                            0
                        };
                        let Some((mine, rest)) =
                            std::mem::take(&mut unplaced).split_at_mut_checked(len)
                        else {
                            candle_core::bail!(
                                "causal attention: block {b} of head {h} needs {len} probabilities past the \
                                 buffer's end"
                            );
                        };
                        unplaced = rest;
                        tasks.push((h, r0, mine, out));
                    }
                }
                // Every kept probability has a block to write it (heads of width 0 would leave all unplaced).
                if !unplaced.is_empty() {
                    candle_core::bail!(
                        "causal attention: {} of {total} probabilities have no block",
                        unplaced.len()
                    );
                }
                tasks.into_par_iter().try_for_each_init(
                    Vec::new,
                    |scratch: &mut Vec<f32>, (h, r0, packed, out)| {
                        let m = out.len() / d;
                        let first = offset + r0; // keys before the block's first row
                        let seen = first + m; // keys the block's last row sees
                        let ld = products.stride(seen);
                        if scratch.len() < m * ld {
                            scratch.resize(m * ld, 0.0);
                        }
                        let scores = &mut scratch[..m * ld];
                        let q_rows = &q[(h * t_new + r0) * d..(h * t_new + r0 + m) * d];
                        products.scores(scores, ld, q_rows, k, &dims, h, first, scale)?;
                        let mut at = 0;
                        for (i, row) in scores.chunks_mut(ld).enumerate() {
                            let visible = first + i + 1;
                            let (live, masked) = row.split_at_mut(visible);
                            softmax_in_place(live);
                            // P·V reads the block's keys, 0..seen, of every row.
                            masked[..seen - visible].fill(0.0);
                            if keep {
                                // `packed` holds Σ visible over the block's rows, `at` the rows before this one.
                                packed[at..at + visible].write_copy_of_slice(live);
                                at += visible;
                            }
                        }
                        if at != packed.len() {
                            candle_core::bail!(
                                "causal attention: a block wrote {at} of its {} probabilities",
                                packed.len()
                            );
                        }
                        products.weighted_values(out, scores, ld, dims.kv_head(v, h), &dims, first)
                    },
                )
            })
        })
    })?;
    // SAFETY: the capacity is `total`, and all `total` values were written: the blocks' slices are consecutive
    // parts of the first `total` values with none left over, and each block wrote every value of its slice (both
    // checked above, returning an error before this line otherwise).
    unsafe { probs.set_len(total) };
    Ok((
        keep.then_some(probs),
        Tensor::from_vec(heads, (n_head, t_new, d), q.device())?,
    ))
}

/// How a block's two products run: the `gemm` crate's, or the AVX-512 tiles for heads of 64 values, with every
/// key head packed once for all its blocks.
enum Products {
    Gemm,
    #[cfg(target_arch = "x86_64")]
    Avx512 {
        cpu: avx512::Avx512,
        /// Each key/value head's keys packed by [`avx512::pack_keys`], one after another.
        keys: Vec<f32>,
    },
}

impl Products {
    /// The AVX-512 tiles where `fast` is asked, the CPU has AVX-512F and heads have 64 values; else `gemm`.
    fn choose(fast: bool, k: &[f32], dims: &Dims) -> Self {
        #[cfg(target_arch = "x86_64")]
        if let Some(cpu) = avx512::Avx512::detect().filter(|_| fast && dims.d == avx512::D) {
            let per_head = avx512::padded(dims.t) * avx512::D;
            let heads = dims.t * dims.d; // values of one key head in `k`
            let mut keys = vec![0.0f32; k.len() / heads.max(1) * per_head];
            keys.par_chunks_mut(per_head.max(1))
                .zip(k.par_chunks(heads.max(1)))
                .for_each(|(packed, head)| avx512::pack_keys(head, dims.t, packed));
            return Self::Avx512 { cpu, keys };
        }
        let _ = (fast, k, dims);
        Self::Gemm
    }

    /// The row stride of a block's scores over `seen` keys.
    fn stride(&self, seen: usize) -> usize {
        match self {
            Self::Gemm => seen,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 { .. } => avx512::padded(seen),
        }
    }

    /// Scores of query head `h`'s rows `q_rows` (rows of d), row i seeing keys 0..=first + i, into `dst` at stride
    /// `ld` (from [`Products::stride`]): every key a row sees, maybe more.
    #[allow(clippy::too_many_arguments)]
    fn scores(
        &self,
        dst: &mut [f32],
        ld: usize,
        q_rows: &[f32],
        k: &[f32],
        dims: &Dims,
        h: usize,
        first: usize,
        scale: f32,
    ) -> candle_core::Result<()> {
        let m = q_rows.len() / dims.d.max(1);
        match self {
            // dst[i][j] = scale · q_i · k_j for j < first + m: lhs q (m × d), rhs kᵀ (d × (first + m)).
            Self::Gemm => product(
                Strided::rows(dst, ld),
                Matrix::new(q_rows, dims.d, 1),
                Matrix::new(dims.kv_head(k, h), 1, dims.d),
                [m, first + m, dims.d],
                scale,
            ),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 { cpu, keys } => {
                let per_head = avx512::padded(dims.t) * avx512::D;
                let start = h / dims.group * per_head;
                // h < n_head, so its key head's packed keys lie in `keys` (one block per key head).
                let packed = &keys[start..start + per_head];
                avx512::scores(*cpu, dst, ld, q_rows, packed, m, first, scale);
                Ok(())
            }
        }
    }

    /// out (m rows of d) = P (m rows at stride `ld`, zero past each row's keys up to first + m) · `values`.
    fn weighted_values(
        &self,
        out: &mut [f32],
        p: &[f32],
        ld: usize,
        values: &[f32],
        dims: &Dims,
        first: usize,
    ) -> candle_core::Result<()> {
        let m = out.len() / dims.d.max(1);
        match self {
            Self::Gemm => product(
                Strided::rows(out, dims.d),
                Matrix::new(p, ld, 1),
                Matrix::new(values, dims.d, 1),
                [m, dims.d, first + m],
                1.0,
            ),
            #[cfg(target_arch = "x86_64")]
            Self::Avx512 { cpu, .. } => {
                avx512::weighted_values(*cpu, out, p, ld, values, m, first);
                Ok(())
            }
        }
    }
}

/// `f` on the values of `x`, a contiguous f32 tensor on the CPU, in place.
fn with_f32<R>(
    x: &Tensor,
    what: &str,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let (storage, layout) = x.storage_and_layout();
    match &*storage {
        candle_core::Storage::Cpu(cpu) => f(contiguous_f32(cpu, layout, what)?),
        _ => candle_core::bail!("{what}: a tensor off the CPU"),
    }
}

/// Weighted values P·V of probabilities `p` (n_head, t_new, t) and values `v` (n_kv_head, t, d): (n_head, t_new,
/// d). A block of rows reads the keys its last row sees, so up to 63 entries above the diagonal, which must be 0,
/// as a causal softmax leaves them.
pub fn weighted_values(p: &Tensor, v: &Tensor) -> candle_core::Result<Tensor> {
    p.apply_op2_no_bwd(v, &WeightedValues)
}

/// The shapes both ops check: rows, keys, width, query heads per key/value head.
struct Dims {
    t_new: usize,
    t: usize,
    d: usize,
    group: usize,
}

impl Dims {
    fn new(n_head: usize, t_new: usize, kv: &Layout, op: &str) -> candle_core::Result<Self> {
        let (n_kv, t, d) = kv.shape().dims3()?;
        if n_kv == 0 || !n_head.is_multiple_of(n_kv) || t < t_new {
            candle_core::bail!(
                "{op}: {n_head} query heads over {t_new} rows cannot read {n_kv} key/value heads of {t} positions"
            );
        }
        Ok(Self {
            t_new,
            t,
            d,
            group: n_head / n_kv,
        })
    }

    /// Cached positions before the first query row.
    fn offset(&self) -> usize {
        self.t - self.t_new
    }

    /// The key/value rows head `h` reads: (t, d) of its key/value head.
    fn kv_head<'a>(&self, kv: &'a [f32], h: usize) -> &'a [f32] {
        let size = self.t * self.d;
        let start = h / self.group * size;
        // h < n_head, so h / group < n_kv and the slice lies in the (n_kv, t, d) buffer the layout checked.
        &kv[start..start + size]
    }
}

struct WeightedValues;

impl CustomOp2 for WeightedValues {
    fn name(&self) -> &'static str {
        "causal-weighted-values"
    }

    fn cpu_fwd(
        &self,
        ps: &CpuStorage,
        pl: &Layout,
        vs: &CpuStorage,
        vl: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let p = contiguous_f32(ps, pl, "causal weighted values")?;
        let v = contiguous_f32(vs, vl, "causal weighted values")?;
        let (n_head, t_new, tp) = pl.shape().dims3()?;
        let dims = Dims::new(n_head, t_new, vl, "causal weighted values")?;
        if tp != dims.t {
            candle_core::bail!(
                "causal weighted values: probabilities over {tp} keys, values of {}",
                dims.t
            );
        }
        let (t, d, offset) = (dims.t, dims.d, dims.offset());
        let mut out = vec![0.0f32; n_head * t_new * d];
        let mut tasks: Vec<(usize, usize, &mut [f32])> = Vec::new();
        for (h, head) in out.chunks_mut((t_new * d).max(1)).enumerate() {
            for (b, rows) in head.chunks_mut(ROWS * d).enumerate() {
                tasks.push((h, b * ROWS, rows));
            }
        }
        tasks.into_par_iter().try_for_each(|(h, r0, rows)| {
            let m = rows.len() / d;
            let seen = offset + r0 + m;
            let p_rows = &p[(h * t_new + r0) * t..(h * t_new + r0 + m) * t];
            let values = dims.kv_head(v, h);
            // rows = p (m × seen, rows of t) · v (seen × d): the entries past `seen` are zero and not read.
            product(
                Strided::rows(rows, d),
                Matrix::new(p_rows, t, 1),
                Matrix::new(values, d, 1),
                [m, d, seen],
                1.0,
            )
        })?;
        Ok((CpuStorage::F32(out), Shape::from((n_head, t_new, d))))
    }
}

/// Softmax of one row in place (the row is not empty: every query sees at least itself).
fn softmax_in_place(row: &mut [f32]) {
    let inv = 1.0 / super::vexp::exp_in_place(row);
    row.iter_mut().for_each(|x| *x *= inv);
}

#[cfg(test)]
mod tests;
