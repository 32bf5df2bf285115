//! Matrix products with few rows: a short text, or the one to few tokens that typing appends. candle's f32
//! gemm packs the whole weight matrix for every product and fills 16-row tiles, so with one to eight rows most
//! of its time went to copying weights and multiplying padding. This kernel streams each weight row once, in
//! order, against up to 4 input rows held in registers, prefetching the next weight rows (AVX2 + FMA where the
//! CPU has them, detected at run time; plain loops elsewhere). Weights are kept as (out, in) rows for it; see
//! `layers::Linear`. On CPUs with AVX-512 the packed kernel (`packed.rs`) takes every product instead.

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Shape, Tensor};
use rayon::prelude::*;

use super::softmax::contiguous_f32;

/// Products with at most this many rows use the kernel; more go to candle's gemm. Measured on the GPT-2-small
/// shape: the kernel is ahead up to 32 rows (61 against 73 ms for a 32-token analysis), level at 48.
pub const MAX_ROWS: usize = 40;

/// Weight rows (output columns) per parallel task.
const TASK_ROWS: usize = 128;

/// Whether this CPU runs the streaming kernel for rows of length `k`: x86-64 with AVX2 and FMA, `k` a multiple
/// of 8. Everywhere else (ARM, older x86) candle's gemm is faster than a scalar loop would be, so it takes the
/// product.
pub fn streams(k: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        k.is_multiple_of(8) && crate::model::isa::avx2()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = k;
        false
    }
}

/// x·wᵀ for x (m, k) and w (n, k): streamed for few rows on a CPU that has the kernel ([`streams`]), candle's
/// gemm otherwise.
pub fn matmul_t(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let small = x.device().is_cpu()
        && x.dtype() == DType::F32
        && w.dtype() == DType::F32
        && x.is_contiguous()
        && w.is_contiguous()
        && x.rank() == 2
        && x.dim(0).is_ok_and(|m| m <= MAX_ROWS)
        && x.dim(1).is_ok_and(streams);
    if small {
        x.apply_op2_no_bwd(w, &MatmulT)
    } else {
        x.matmul(&w.t()?)
    }
}

struct MatmulT;

impl CustomOp2 for MatmulT {
    fn name(&self) -> &'static str {
        "small-matmul-t"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous_f32(s1, l1, "small matmul")?;
        let w = contiguous_f32(s2, l2, "small matmul")?;
        let (m, k) = l1.shape().dims2()?;
        let (n, k2) = l2.shape().dims2()?;
        if k != k2 {
            candle_core::bail!("small matmul: shapes ({m}, {k}) · ({n}, {k2})ᵀ");
        }
        Ok((
            CpuStorage::F32(matmul_t_f32(x, m, k, w, n)?),
            Shape::from((m, n)),
        ))
    }
}

/// x (m, k) · w (n, k)ᵀ; an error if the slices' lengths are not m·k and n·k.
pub(crate) fn matmul_t_f32(
    x: &[f32],
    m: usize,
    k: usize,
    w: &[f32],
    n: usize,
) -> candle_core::Result<Vec<f32>> {
    if x.len() != m * k || w.len() != n * k {
        candle_core::bail!(
            "small matmul: {} and {} values for shapes ({m}, {k}) and ({n}, {k})",
            x.len(),
            w.len()
        );
    }
    let starts: Vec<usize> = (0..n).step_by(TASK_ROWS).collect();
    let blocks: Vec<(usize, usize, Vec<f32>)> = starts
        .par_iter()
        .map(|&n0| {
            let width = TASK_ROWS.min(n - n0);
            let mut block = vec![0.0f32; m * width];
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if k.is_multiple_of(8) && crate::model::isa::avx2() {
                done = width - width % 2;
                // SAFETY: the features were just detected; x.len() = m·k and w.len() = n·k (checked above),
                // block.len() = m·width, n0 + width ≤ n, done ≤ width is even and k is a multiple of 8:
                // `dot_rows`'s requirements hold.
                unsafe { avx::dot_rows(x, m, k, w, n0, done, &mut block, width) };
            }
            for c in done..width {
                // n0 + c < n, and w holds n rows of k.
                let wr = &w[(n0 + c) * k..(n0 + c + 1) * k];
                // x holds m rows of k; block holds m rows of `width`.
                for (r, xr) in x.chunks_exact(k.max(1)).enumerate().take(m) {
                    block[r * width + c] = xr.iter().zip(wr).fold(0.0f32, |a, (&p, &q)| a + p * q);
                }
            }
            (n0, width, block)
        })
        .collect();
    let mut y = vec![0.0f32; m * n];
    for (n0, width, block) in blocks {
        for (dst, src) in y
            .chunks_exact_mut(n.max(1))
            .zip(block.chunks_exact(width.max(1)))
        {
            // n0 + width ≤ n: each block covers columns n0..n0 + width of a row of n.
            dst[n0..n0 + width].copy_from_slice(src);
        }
    }
    Ok(y)
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use std::arch::x86_64::*;

    /// block[r][c] = x[r]·w[n0 + c] for c in 0..cols (even), in tiles of R input rows × W weight rows with
    /// R·W ≈ 8 accumulators (enough independent FMA chains to hide their latency), 8 lanes at a time along k
    /// (a multiple of 8). `stride` is the block's row length.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; x.len() ≥ m·k, w.len() ≥ (n0 + cols)·k, block.len() ≥ m·stride with
    /// cols ≤ stride; cols is even and k is a multiple of 8.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_rows(
        x: &[f32],
        m: usize,
        k: usize,
        w: &[f32],
        n0: usize,
        cols: usize,
        block: &mut [f32],
        stride: usize,
    ) {
        let (xp, wp, yp) = (x.as_ptr(), w.as_ptr(), block.as_mut_ptr());
        // Weight rows outside, input rows inside: the few weight rows of a tile stay in L1 while every input
        // row passes them.
        let mut c = 0;
        while c < cols {
            let mut r = 0;
            let mut step = 2;
            while r < m {
                let rows = (m - r).min(4);
                let args = (
                    xp.add(r * k),
                    k,
                    wp.add((n0 + c) * k),
                    yp.add(r * stride + c),
                    stride,
                    // What each pointer may reach, for the tile's debug checks.
                    [
                        x.len() - r * k,
                        w.len() - (n0 + c) * k,
                        block.len() - (r * stride + c),
                    ],
                );
                step = match (m, cols - c) {
                    // A single input row: 8 weight rows at once keep 8 FMA chains going.
                    (1, left) if left >= 8 => tile::<1, 8>(args),
                    (1, _) => tile::<1, 2>(args),
                    _ => match rows {
                        1 => tile::<1, 2>(args),
                        2 => tile::<2, 2>(args),
                        3 => tile::<3, 2>(args),
                        _ => tile::<4, 2>(args),
                    },
                };
                r += rows;
            }
            c += step;
        }
    }

    /// x, k, w, y, the block's stride, and how many values x, w and y each have from the pointer to the end of
    /// their buffer.
    type Args = (*const f32, usize, *const f32, *mut f32, usize, [usize; 3]);

    /// R input rows × W consecutive weight rows; returns W.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `x` has R rows of k values, `w` W rows of k values, `y` R rows (at `stride`)
    /// with W writable values each, and k is a multiple of 8; the last element of the arguments says how far
    /// each reaches.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize, const W: usize>((x, k, w, y, stride, room): Args) -> usize {
        // Every value read or written lies inside its buffer (checked in debug builds, the kernel's tests;
        // Miri cannot run AVX intrinsics).
        debug_assert!(k.is_multiple_of(8));
        debug_assert!(R * k <= room[0], "x read past its end");
        debug_assert!(W * k <= room[1], "w read past its end");
        debug_assert!(
            (R - 1) * stride + W <= room[2],
            "block written past its end"
        );
        let mut acc = [[_mm256_setzero_ps(); W]; R];
        for kk in (0..k).step_by(8) {
            let mut wv = [_mm256_setzero_ps(); W];
            for (j, v) in wv.iter_mut().enumerate() {
                *v = _mm256_loadu_ps(w.add(j * k + kk));
                // With several input rows the loads wait on memory: fetch the next tile's weight rows while
                // these multiply (a hint: it never faults, and `wrapping_add` keeps the address arithmetic
                // defined past the last row). One input row streams fast enough without.
                if R > 1 {
                    _mm_prefetch::<_MM_HINT_T0>(w.wrapping_add((W + j) * k + kk).cast::<i8>());
                }
            }
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm256_loadu_ps(x.add(r * k + kk));
                for (acc, &wj) in a.iter_mut().zip(&wv) {
                    *acc = _mm256_fmadd_ps(xv, wj, *acc);
                }
            }
        }
        for (r, a) in acc.iter().enumerate() {
            for (j, &v) in a.iter().enumerate() {
                *y.add(r * stride + j) = hsum(v);
            }
        }
        W
    }

    /// The sum of the eight lanes.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA (the intrinsics read only the register).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::test_values::test_values as values;

    #[test]
    fn without_the_kernel_candles_gemm_takes_the_product() {
        // k = 12 is no multiple of 8: the path a CPU without AVX2/FMA (or an ARM one) takes for every k.
        let (m, k, n) = (3, 12, 7);
        assert!(!streams(k));
        let (xv, wv) = (values(m * k, 3), values(n * k, 4));
        let x = Tensor::from_vec(xv.clone(), (m, k), &candle_core::Device::Cpu).unwrap();
        let w = Tensor::from_vec(wv.clone(), (n, k), &candle_core::Device::Cpu).unwrap();
        let y: Vec<f32> = matmul_t(&x, &w)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for r in 0..m {
            for c in 0..n {
                let want: f64 = (0..k)
                    .map(|i| f64::from(xv[r * k + i]) * f64::from(wv[c * k + i]))
                    .sum();
                assert!((f64::from(y[r * n + c]) - want).abs() < 1e-5);
            }
        }
    }

    #[test]
    fn equals_a_plain_f64_product_at_odd_shapes() {
        #[cfg(target_arch = "x86_64")]
        let streamed = crate::model::isa::avx2();
        #[cfg(not(target_arch = "x86_64"))]
        let streamed = false;
        if !streamed {
            crate::skip_report::report(
                "small_matmul::equals_a_plain_f64_product_at_odd_shapes",
                "the AVX2/FMA few-row kernel (the plain loop was tested in its place)",
                "this CPU has no AVX2 and FMA",
            );
        }
        // Row counts around the 4-row tile, odd weight counts around the 2-row tile and the task size, and a
        // k that is not a multiple of 8 (the plain loop).
        for (m, k, n) in [
            (1, 8, 16),
            (1, 16, 13),
            (2, 16, 10),
            (6, 32, 70),
            (3, 24, 51),
            (4, 40, 129),
            (5, 16, 17),
            (16, 64, 300),
            (37, 24, 45),
            (2, 12, 3),
        ] {
            let (x, w) = (values(m * k, 1), values(n * k, 2));
            let y = matmul_t_f32(&x, m, k, &w, n).unwrap();
            for r in 0..m {
                for c in 0..n {
                    let want: f64 = (0..k)
                        .map(|i| f64::from(x[r * k + i]) * f64::from(w[c * k + i]))
                        .sum();
                    assert!(
                        (f64::from(y[r * n + c]) - want).abs() < 1e-5,
                        "({m}, {k}, {n}) [{r}][{c}]"
                    );
                }
            }
        }
    }
}
