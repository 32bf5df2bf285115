//! The packed kernel's register tile in AVX-512 intrinsics: up to 12 rows by a panel's 32 columns, two 16-lane
//! registers a row.

use std::arch::x86_64::*;

use super::tile::{walk_block, Tile, NR};

/// R rows of the tile; returns R.
///
/// # Safety
/// AVX-512F is available; `x` has R rows of kc values at stride ldx, `w` kc·NR values, `y` R rows with
/// `cols` writable columns at stride ldy, which also hold initialised values where `bias` is `None` (the tile
/// adds to them), `bias` NR values; `room` says how far each reaches. Past `cols`,
/// the output's second register is stored and loaded masked: the lanes past the buffer are never touched,
/// and their address is formed with `wrapping_add`, which (unlike `add`) is defined past the end.
#[inline]
#[target_feature(enable = "avx512f")]
pub unsafe fn tile<const R: usize>(t: &Tile) -> usize {
    t.debug_check_reach(R);
    let lo = mask(t.cols);
    let hi = mask(t.cols.saturating_sub(16));
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    for (r, a) in acc.iter_mut().enumerate() {
        *a = match t.bias {
            Some(b) => [_mm512_loadu_ps(b), _mm512_loadu_ps(b.add(16))],
            None => {
                let y = t.y.add(r * t.ldy);
                [
                    _mm512_maskz_loadu_ps(lo, y),
                    _mm512_maskz_loadu_ps(hi, y.wrapping_add(16)),
                ]
            }
        };
    }
    // One step of k: two weight registers against R broadcast inputs.
    macro_rules! step {
        ($i:expr) => {{
            let i = $i;
            let w0 = _mm512_loadu_ps(t.w.add(i * NR));
            let w1 = _mm512_loadu_ps(t.w.add(i * NR + 16));
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm512_set1_ps(*t.x.add(r * t.ldx + i));
                a[0] = _mm512_fmadd_ps(xv, w0, a[0]);
                a[1] = _mm512_fmadd_ps(xv, w1, a[1]);
            }
        }};
    }
    walk_block!(t, step);
    for (r, a) in acc.iter().enumerate() {
        let y = t.y.add(r * t.ldy);
        _mm512_mask_storeu_ps(y, lo, a[0]);
        _mm512_mask_storeu_ps(y.wrapping_add(16), hi, a[1]);
    }
    R
}

/// The first `cols` of 16 lanes.
fn mask(cols: usize) -> __mmask16 {
    if cols >= 16 {
        0xffff
    } else {
        ((1u32 << cols) - 1) as __mmask16
    }
}
