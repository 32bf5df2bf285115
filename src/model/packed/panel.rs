//! One panel of a packed product: its blocks along k in turn, each passed by the task's row tiles, the first of
//! which streams the block from memory while the later ones fetch the next block into L2.

use super::tasks::SharedOut;
#[cfg(target_arch = "x86_64")]
use super::tasks::NR;
#[cfg(target_arch = "x86_64")]
use super::tile;
use super::{Kernel, PackedLinear};

impl PackedLinear {
    /// Output columns of panel `p` for `rows` of the m, in blocks of `block` along k.
    ///
    /// # Safety
    /// p < ⌈n / NR⌉, `rows` ⊆ 0..m, `x` holds m rows of k values starting `ldx` ≥ k
    /// apart, `out` places m·n values of which this call alone writes these rows' columns of panel `p`.
    #[cfg(target_arch = "x86_64")]
    #[allow(clippy::too_many_arguments)] // As `forward_placed`.
    pub(super) unsafe fn panel(
        &self,
        kernel: Kernel,
        x: &[f32],
        ldx: usize,
        rows: std::ops::Range<usize>,
        p: usize,
        block: usize,
        out: &SharedOut,
    ) {
        let (n, k) = (self.n, self.k);
        let cols = NR.min(n - p * NR);
        let data = self.data.as_slice();
        let panel = data.as_ptr().add(p * k * NR);
        let bias = self.bias.as_ptr().add(p * NR);
        let tall = kernel.rows();
        let tiles = rows.len().div_ceil(tall);
        let mut k0 = 0;
        loop {
            let kc = block.min(k - k0);
            let mut r = rows.start;
            while r < rows.end {
                // The blocks after this one in memory (along k, then on into the next panel) come from memory
                // too: the tiles after the first fetch one of them into L2, each its share of its 2·kc lines
                // (at most one a step), the next block at once where a block has many tiles or their shares
                // fill more than half their steps, the one after it spread over their steps where it has few
                // (`tile::FEW_TILES`). A block of no steps (k = 0) fetches nothing.
                let j = (r - rows.start) / tall;
                let fetch = if j >= 1 && tiles >= 2 && kc > 0 {
                    let total = 2 * kc;
                    // share ≥ 1: kc ≥ 1 and total ≥ 2.
                    let share = total.div_ceil(tiles - 1).min(kc);
                    let first = (j - 1) * share;
                    let lines = share.min(total.saturating_sub(first));
                    let (ahead, every) = match kc / share {
                        every if every >= 2 && tiles <= tile::FEW_TILES => (2, every),
                        _ => (1, 1),
                    };
                    tile::Fetch {
                        first,
                        lines,
                        ahead,
                        every,
                    }
                } else {
                    tile::Fetch::default()
                };
                let (y, ldy, room) = out.at(p, r);
                let tile = tile::Tile {
                    x: x.as_ptr().add(r * ldx + k0),
                    ldx,
                    w: panel.add(k0 * NR),
                    kc,
                    y,
                    ldy,
                    cols,
                    bias: (k0 == 0).then_some(bias),
                    // The first row tile meets the block coming from memory; the later ones read it from L1.
                    stream: r == rows.start,
                    fetch,
                    far: tiles <= 2,
                    // What each pointer may reach, from it to the end of its buffer (for outputs written in heads,
                    // of its head): the tile checks its reads and writes against these in debug builds (the tests).
                    room: tile::Room {
                        x: x.len() - (r * ldx + k0),
                        w: data.len() - (p * k + k0) * NR,
                        y: room,
                        bias: self.bias.len() - p * NR,
                    },
                };
                r += kernel.tile(&tile, rows.end - r);
                debug_assert!(r <= rows.end, "a tile ran past its task's rows");
            }
            k0 += kc;
            if k0 >= k {
                return;
            }
        }
    }

    /// Elsewhere no [`Kernel`] exists, so no product reaches a panel.
    ///
    /// # Safety
    /// None needed: it does nothing (the signature matches the x86-64 one).
    #[cfg(not(target_arch = "x86_64"))]
    #[allow(clippy::too_many_arguments)] // As `forward_placed`.
    pub(super) unsafe fn panel(
        &self,
        _: Kernel,
        _: &[f32],
        _: usize,
        _: std::ops::Range<usize>,
        _: usize,
        _: usize,
        _: &SharedOut,
    ) {
    }
}
