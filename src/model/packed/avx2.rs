//! The packed kernel's register tile in AVX2 and FMA, for CPUs without AVX-512: up to
//! [`super::tasks::MR_AVX2`] rows by a panel's 32 columns, taken as two halves of 16 columns one after the
//! other. A half holds 6 rows × 2 eight-lane accumulators, 2 weight registers and a broadcast: 15 of the 16
//! registers, the shape of BLIS's and OpenBLAS's Haswell kernels. The panels are those the AVX-512 kernel reads,
//! so a model packs its weights once for either.

use std::arch::x86_64::*;

use super::tile::{walk_block, Tile, NR};

/// R rows of the tile, R ≤ [`super::tasks::MR_AVX2`]; returns R.
///
/// # Safety
/// AVX2 and FMA are available; `x` has R rows of kc values at stride ldx, `w` kc·NR values, `y` R rows with
/// `cols` writable columns at stride ldy, which also hold initialised values where `bias` is `None` (the tile
/// adds to them), `bias` NR values; `room` says how far each reaches. Registers that reach past `cols` are
/// loaded and stored masked (`vmaskmovps` never touches a masked lane), their addresses formed with
/// `wrapping_add`, which (unlike `add`) is defined past the end; a half wholly past `cols` is skipped.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub unsafe fn tile<const R: usize>(t: &Tile) -> usize {
    t.debug_check_reach(R);
    for half in [0, 16] {
        if t.cols <= half {
            break;
        }
        let lanes = [mask(t.cols - half), mask((t.cols - half).saturating_sub(8))];
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for (r, a) in acc.iter_mut().enumerate() {
            *a = match t.bias {
                Some(b) => [
                    _mm256_loadu_ps(b.add(half)),
                    _mm256_loadu_ps(b.add(half + 8)),
                ],
                None => {
                    let y = t.y.wrapping_add(r * t.ldy + half);
                    [
                        _mm256_maskload_ps(y, lanes[0]),
                        _mm256_maskload_ps(y.wrapping_add(8), lanes[1]),
                    ]
                }
            };
        }
        // One step of k: this half's two weight registers against R broadcast inputs.
        macro_rules! step {
            ($i:expr) => {{
                let i = $i;
                let w0 = _mm256_loadu_ps(t.w.add(i * NR + half));
                let w1 = _mm256_loadu_ps(t.w.add(i * NR + half + 8));
                for (r, a) in acc.iter_mut().enumerate() {
                    let xv = _mm256_broadcast_ss(&*t.x.add(r * t.ldx + i));
                    a[0] = _mm256_fmadd_ps(xv, w0, a[0]);
                    a[1] = _mm256_fmadd_ps(xv, w1, a[1]);
                }
            }};
        }
        // The first half meets the block as the AVX-512 tile does, and fetches both of each step's lines: the
        // second half finds its own in cache.
        if half > 0 {
            for i in 0..t.kc {
                step!(i);
            }
        } else {
            walk_block!(t, step);
        }
        for (r, a) in acc.iter().enumerate() {
            let y = t.y.wrapping_add(r * t.ldy + half);
            _mm256_maskstore_ps(y, lanes[0], a[0]);
            _mm256_maskstore_ps(y.wrapping_add(8), lanes[1], a[1]);
        }
    }
    R
}

/// The first `cols` of 8 lanes, as `vmaskmovps` reads a mask: all bits set in a lane that is used.
#[inline]
#[target_feature(enable = "avx2")]
fn mask(cols: usize) -> __m256i {
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    // cols.min(8) ≤ 8 fits an i32.
    _mm256_cmpgt_epi32(_mm256_set1_epi32(cols.min(8) as i32), lane)
}
