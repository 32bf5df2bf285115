//! The packed kernel's register tile, in AVX-512 intrinsics. [`super::PackedLinear`] builds every [`Tile`], with
//! how far each of its pointers may reach, which the tile checks in debug builds.

use std::arch::x86_64::*;

/// Columns of a tile: two 16-lane registers (the panels' width, checked where they are made).
pub const NR: usize = 32;

/// One register tile: rows of `x` (stride `ldx`) times a panel block `w` (kc × NR), into `y` (stride `ldy`),
/// of which the first `cols` columns exist. Starts from `bias` if given, else adds to what `y` holds.
pub struct Tile {
    pub x: *const f32,
    pub ldx: usize,
    pub w: *const f32,
    pub kc: usize,
    pub y: *mut f32,
    pub ldy: usize,
    pub cols: usize,
    pub bias: Option<*const f32>,
    /// Whether the panel block comes from memory in this tile (the first row tile of a block): it then
    /// prefetches [`AHEAD`] steps ahead, into the rest of the block and on into the next.
    pub stream: bool,
    /// Lines (16 values) of the block after this one in memory to fetch into L2, one a step: from the
    /// first, so many.
    pub next: (usize, usize),
    /// Whether this is its task's only row tile (a task of up to [`super::MR`] rows: a short text, the last
    /// rows of a longer one, a generated token): no later tile fetches the next block into L2, so a streaming
    /// tile fetches [`FAR`] steps ahead into L2 itself, and [`NEAR`] steps ahead into L1.
    pub alone: bool,
    pub room: Room,
}

/// Steps of k a streaming tile prefetches ahead: 32 steps of 128 bytes, 4 KB, about what memory's latency
/// covers at the rate a few-row tile consumes the panel.
const AHEAD: usize = 32;

/// Steps of k a lone streaming tile fetches ahead into L2 (8 KB) and into L1 (2 KB). Prefetches into L1 alone
/// are limited by its few fill buffers: with them an 8-token analysis, which reads every weight once, took
/// weights in at about 15 GB/s against the 21 GB/s of a plain read, and with L2 fetched ahead it ran about 10 %
/// faster (median of six rounds, 40.8 → 36.9 ms; 16 tokens and longer, whose tiles are not alone, unchanged;
/// Intel Xeon, family 6 model 167).
const FAR: usize = 64;
const NEAR: usize = 16;

/// How many values each of a tile's pointers has from it to the end of what it may reach: its buffer, or for
/// outputs written in heads, its head.
pub struct Room {
    pub x: usize,
    pub w: usize,
    pub y: usize,
    pub bias: usize,
}

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
    // Every value the tile reads or writes lies inside its buffer (the checks the debug build runs for
    // the kernel's tests; Miri cannot run AVX-512 intrinsics).
    debug_assert!(R >= 1 && t.cols >= 1 && t.cols <= NR);
    debug_assert!((R - 1) * t.ldx + t.kc <= t.room.x, "x read past its end");
    debug_assert!(t.kc * NR <= t.room.w, "panel read past its end");
    debug_assert!(
        (R - 1) * t.ldy + t.cols <= t.room.y,
        "y written past its end"
    );
    debug_assert!(
        t.bias.is_none() || NR <= t.room.bias,
        "bias read past its end"
    );
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
    if t.stream && t.alone {
        for i in 0..t.kc {
            // As below: prefetches never fault, and `wrapping_add` forms addresses past the end defined.
            let far = t.w.wrapping_add((i + FAR) * NR);
            _mm_prefetch::<_MM_HINT_T1>(far.cast());
            _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(16).cast());
            let near = t.w.wrapping_add((i + NEAR) * NR);
            _mm_prefetch::<_MM_HINT_T0>(near.cast());
            _mm_prefetch::<_MM_HINT_T0>(near.wrapping_add(16).cast());
            step!(i);
        }
    } else if t.stream {
        for i in 0..t.kc {
            // A prefetch never faults; `wrapping_add` keeps forming the address defined past the panel's end.
            let ahead = t.w.wrapping_add((i + AHEAD) * NR);
            _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
            _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
            step!(i);
        }
    } else {
        let (first, lines) = t.next;
        let base = t.w.wrapping_add(t.kc * NR + first * 16);
        for i in 0..lines.min(t.kc) {
            _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(i * 16).cast());
            step!(i);
        }
        for i in lines.min(t.kc)..t.kc {
            step!(i);
        }
    }
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
