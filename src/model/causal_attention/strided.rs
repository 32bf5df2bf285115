//! The `gemm` crate's product on strided slices, for attention's blocks where the AVX-512 tiles do not run: its
//! one `unsafe` call is in [`product`], which checks every bound first.

/// A destination of rows `row_stride` apart.
pub(super) struct Strided<'a> {
    data: &'a mut [f32],
    row_stride: usize,
}

impl<'a> Strided<'a> {
    pub(super) fn rows(data: &'a mut [f32], row_stride: usize) -> Self {
        Self { data, row_stride }
    }
}

/// A read-only operand: element (i, j) at `i·row_stride + j·col_stride`.
pub(super) struct Matrix<'a> {
    data: &'a [f32],
    row_stride: usize,
    col_stride: usize,
}

impl<'a> Matrix<'a> {
    pub(super) fn new(data: &'a [f32], row_stride: usize, col_stride: usize) -> Self {
        Self {
            data,
            row_stride,
            col_stride,
        }
    }

    /// Whether element (rows − 1, cols − 1), the farthest, lies in the slice.
    fn holds(&self, rows: usize, cols: usize) -> bool {
        farthest(rows, self.row_stride, cols, self.col_stride).is_some_and(|i| i < self.data.len())
    }
}

/// (rows − 1)·row_stride + (cols − 1)·col_stride, or None if it overflows or a count is 0.
fn farthest(rows: usize, row_stride: usize, cols: usize, col_stride: usize) -> Option<usize> {
    (rows.checked_sub(1)?.checked_mul(row_stride)?)
        .checked_add(cols.checked_sub(1)?.checked_mul(col_stride)?)
}

/// dst[i][j] = scale · Σ_l lhs[i][l] · rhs[l][j] for i < m, j < n, l < k: the `gemm` crate on this thread. Fails,
/// without calling it, when any element it would touch lies outside its slice.
pub(super) fn product(
    dst: Strided<'_>,
    lhs: Matrix<'_>,
    rhs: Matrix<'_>,
    [m, n, k]: [usize; 3],
    scale: f32,
) -> candle_core::Result<()> {
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        candle_core::bail!("causal attention: a product over an inner width of 0");
    }
    // Rows of dst must not overlap (each holds n values), and the farthest element of each operand must lie in
    // its slice.
    let dst_fits = n <= dst.row_stride
        && farthest(m, dst.row_stride, n, 1).is_some_and(|i| i < dst.data.len());
    if !dst_fits || !lhs.holds(m, k) || !rhs.holds(k, n) {
        candle_core::bail!("causal attention: a {m}×{k} by {k}×{n} product outside its buffers");
    }
    // Every stride is at most the length of a slice (the checks above), so it fits isize.
    let stride = |s: usize| s as isize;
    // SAFETY: the checks above put every element the product reads or writes, (m−1, n−1) of dst, (m−1, k−1) of
    // lhs and (k−1, n−1) of rhs with all strides non-negative, inside its slice, and keep dst's rows apart; dst
    // is borrowed mutably, so nothing else reads or writes it meanwhile, and lhs and rhs are shared borrows that
    // outlive the call.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.data.as_mut_ptr(),
            1,
            stride(dst.row_stride),
            false,
            lhs.data.as_ptr(),
            stride(lhs.col_stride),
            stride(lhs.row_stride),
            rhs.data.as_ptr(),
            stride(rhs.col_stride),
            stride(rhs.row_stride),
            0.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}
