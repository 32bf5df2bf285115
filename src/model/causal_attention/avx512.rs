//! Attention's two products for heads of 64 values, in AVX-512 intrinsics: the scores q·kᵀ of a block of query
//! rows against keys packed once per head, and P·V against the values as they lie. Both broadcast one value of
//! their left side at a time against 16-lane registers of the right side, as the packed kernel does, and both
//! stop each tile of rows at the keys its last row sees.
//!
//! The `gemm` crate these replace runs at AVX2 width on a stable toolchain: about 65 GFLOP/s on the Intel Xeon of
//! docs/PERFORMANCE.md, where these tiles run at the packed kernel's rate.
//!
//! The safe functions check every bound the tiles rely on before the one `unsafe` call each makes, and take an
//! [`Avx512`], which only [`Avx512::detect`] makes, on a CPU with AVX-512F.

use std::arch::x86_64::*;

/// The head size these kernels take.
pub const D: usize = 64;

/// Keys a score tile covers: two panels of 16. Packed keys and score rows are padded to a multiple of it.
pub const KEYS: usize = 32;

/// Query rows of a score tile: 24 accumulators, two weight registers and a broadcast, of 32 registers.
const SCORE_ROWS: usize = 12;

/// Query rows of a P·V tile: four registers of output each, 24 accumulators.
const VALUE_ROWS: usize = 6;

/// Proof that this CPU has AVX-512F: the kernels take one, so none can run where the instructions are missing.
#[derive(Clone, Copy, Debug)]
pub struct Avx512(());

impl Avx512 {
    /// One, if this CPU has AVX-512F.
    pub fn detect() -> Option<Self> {
        // `isa::avx512` says yes only where the CPU has AVX-512F.
        crate::model::isa::avx512().then_some(Self(()))
    }
}

/// `t` rounded up to a whole number of score tiles' keys.
pub fn padded(t: usize) -> usize {
    t.div_ceil(KEYS) * KEYS
}

/// Keys `k` (`t` rows of [`D`] values) as [`scores`] reads them, into `out` ([`padded`]`(t)·D` values): panels
/// of 16 keys, each D steps of 16 lanes, `out[(p·D + l)·16 + c]` = value l of key 16p + c, zero past `t`.
///
/// # Panics
/// If `k` holds fewer than `t` rows or `out` is not that size: a caller's bug.
pub fn pack_keys(k: &[f32], t: usize, out: &mut [f32]) {
    assert!(
        k.len() >= t * D && out.len() == padded(t) * D,
        "{t} keys of {D} in {} values, packed into {}",
        k.len(),
        out.len()
    );
    for (p, panel) in out.chunks_exact_mut(16 * D).enumerate() {
        for (l, lanes) in panel.chunks_exact_mut(16).enumerate() {
            for (c, slot) in lanes.iter_mut().enumerate() {
                let key = p * 16 + c;
                // key < t: row `key` of `k` holds D values (checked above).
                *slot = if key < t { k[key * D + l] } else { 0.0 };
            }
        }
    }
}

/// Scores of `m` query rows `q` (rows of [`D`]) that see keys 0..=first + i (row i): `dst[i·ld + j]` = scale ·
/// q_i · k_j for every key j of row i's tile of rows, up to the keys its last row sees, rounded up to
/// [`KEYS`]; past that, a row of `dst` is left as it was. `kt` is the keys packed by [`pack_keys`].
///
/// # Panics
/// If a buffer is smaller than that needs: a caller's bug.
#[allow(clippy::too_many_arguments)] // the shapes of three buffers, as the gemm call it replaces takes them
pub fn scores(
    _cpu: Avx512,
    dst: &mut [f32],
    ld: usize,
    q: &[f32],
    kt: &[f32],
    m: usize,
    first: usize,
    scale: f32,
) {
    if m == 0 {
        return;
    }
    // Keys the last tile writes (first + m rounded up to KEYS), if that does not overflow.
    let Some(reach) = first
        .checked_add(m)
        .and_then(|n| n.checked_next_multiple_of(KEYS))
    else {
        panic!("scores of {m} rows after {first}: more keys than a usize counts");
    };
    assert!(
        within(q.len(), m, D, 0)
            && within(kt.len(), reach, D, 0)
            && ld >= reach
            && within(dst.len(), m - 1, ld, reach),
        "scores of {m} rows after {first}: queries {}, keys {}, output {} at stride {ld}",
        q.len(),
        kt.len(),
        dst.len()
    );
    // SAFETY: the CPU has AVX-512F (`_cpu` exists); with no overflow in the checks above, every tile reads rows
    // r..r + R of q (R·D values from r·D, r + R ≤ m), the packed keys up to `padded(first + r + R)` ≤ reach, and
    // writes rows r..r + R of dst up to that column, all inside the slices (checked above); dst is borrowed
    // mutably and the others shared.
    unsafe {
        scores_unchecked(
            dst.as_mut_ptr(),
            ld,
            q.as_ptr(),
            kt.as_ptr(),
            m,
            first,
            scale,
        )
    }
}

/// P·V of `m` rows of probabilities `p` (stride `ld`; row i sees keys 0..=first + i and holds zeros after them up
/// to first + m) and values `v` (rows of [`D`]): `out[i·D + c]` = Σ_j p[i·ld + j] · v[j·D + c].
///
/// # Panics
/// If a buffer is smaller than that needs: a caller's bug.
pub fn weighted_values(
    _cpu: Avx512,
    out: &mut [f32],
    p: &[f32],
    ld: usize,
    v: &[f32],
    m: usize,
    first: usize,
) {
    if m == 0 {
        return;
    }
    let Some(seen) = first.checked_add(m) else {
        panic!("P·V of {m} rows after {first}: more keys than a usize counts");
    };
    assert!(
        within(out.len(), m, D, 0)
            && within(v.len(), seen, D, 0)
            && ld >= seen
            && within(p.len(), m - 1, ld, seen),
        "P·V of {m} rows after {first}: probabilities {} at stride {ld}, values {}, output {}",
        p.len(),
        v.len(),
        out.len()
    );
    // SAFETY: the CPU has AVX-512F (`_cpu` exists); with no overflow in the checks above, a tile of rows r..r + R
    // reads those rows of p up to column first + r + R ≤ seen, that many rows of v, and writes its R rows of out,
    // all inside the slices (checked above); out is borrowed mutably and the others shared.
    unsafe { weighted_unchecked(out.as_mut_ptr(), p.as_ptr(), ld, v.as_ptr(), m, first) }
}

/// Whether `len` values hold `rows` rows of `stride` and then `last` more, with no overflow on the way (the
/// checks hold in release builds, where arithmetic wraps).
fn within(len: usize, rows: usize, stride: usize, last: usize) -> bool {
    rows.checked_mul(stride)
        .and_then(|n| n.checked_add(last))
        .is_some_and(|n| n <= len)
}

/// Calls `$tile::<R>` with R the rows left.
macro_rules! by_rows {
    ($rows:expr, $tile:ident $args:tt; $($r:literal)*) => {
        match $rows {
            $($r => $tile::<$r> $args,)*
            _ => unreachable!("a tile of {} rows", $rows),
        }
    };
}

#[target_feature(enable = "avx512f")]
unsafe fn scores_unchecked(
    dst: *mut f32,
    ld: usize,
    q: *const f32,
    kt: *const f32,
    m: usize,
    first: usize,
    scale: f32,
) {
    let scale = _mm512_set1_ps(scale);
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(SCORE_ROWS);
        // The tile's last row sees keys 0..first + r + rows.
        for key in (0..padded(first + r + rows)).step_by(KEYS) {
            let (d, x, w) = (dst.add(r * ld + key), q.add(r * D), kt.add(key * D));
            by_rows!(rows, score_tile (d, ld, x, w, scale); 1 2 3 4 5 6 7 8 9 10 11 12);
        }
        r += rows;
    }
}

/// R rows of scores against 32 keys: `w` is the first of two consecutive packed panels.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn score_tile<const R: usize>(
    dst: *mut f32,
    ld: usize,
    q: *const f32,
    w: *const f32,
    scale: __m512,
) {
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for l in 0..D {
        let w0 = _mm512_loadu_ps(w.add(l * 16));
        let w1 = _mm512_loadu_ps(w.add(16 * D + l * 16));
        for (r, a) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(*q.add(r * D + l));
            a[0] = _mm512_fmadd_ps(x, w0, a[0]);
            a[1] = _mm512_fmadd_ps(x, w1, a[1]);
        }
    }
    for (r, a) in acc.iter().enumerate() {
        _mm512_storeu_ps(dst.add(r * ld), _mm512_mul_ps(a[0], scale));
        _mm512_storeu_ps(dst.add(r * ld + 16), _mm512_mul_ps(a[1], scale));
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn weighted_unchecked(
    out: *mut f32,
    p: *const f32,
    ld: usize,
    v: *const f32,
    m: usize,
    first: usize,
) {
    let mut r = 0;
    while r < m {
        let rows = (m - r).min(VALUE_ROWS);
        // Past the tile's last row's keys, every row of the tile holds zeros: they add nothing.
        let keys = first + r + rows;
        let (o, x) = (out.add(r * D), p.add(r * ld));
        by_rows!(rows, value_tile (o, x, ld, v, keys); 1 2 3 4 5 6);
        r += rows;
    }
}

/// R rows of P·V over `keys` keys.
#[inline]
#[target_feature(enable = "avx512f")]
unsafe fn value_tile<const R: usize>(
    out: *mut f32,
    p: *const f32,
    ld: usize,
    v: *const f32,
    keys: usize,
) {
    let mut acc = [[_mm512_setzero_ps(); 4]; R];
    for j in 0..keys {
        let row = v.add(j * D);
        let vs = [
            _mm512_loadu_ps(row),
            _mm512_loadu_ps(row.add(16)),
            _mm512_loadu_ps(row.add(32)),
            _mm512_loadu_ps(row.add(48)),
        ];
        for (r, a) in acc.iter_mut().enumerate() {
            let x = _mm512_set1_ps(*p.add(r * ld + j));
            for (lane, w) in a.iter_mut().zip(vs) {
                *lane = _mm512_fmadd_ps(x, w, *lane);
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (c, lane) in a.iter().enumerate() {
            _mm512_storeu_ps(out.add(r * D + 16 * c), *lane);
        }
    }
}
