//! What a register tile is handed, whichever instructions run it: its pointers, how far each may reach, and
//! how it prefetches the panel. [`super::PackedLinear`] builds every [`Tile`]; the tile checks the reaches in
//! debug builds.

/// Columns of a tile: a panel's width (checked where the panels are made).
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
    /// The lines of a block to come that this tile fetches into L2 (none for the first row tile of a block).
    pub fetch: Fetch,
    /// Whether a streaming tile fetches [`FAR`] steps ahead into L2 itself, and [`NEAR`] steps ahead into L1:
    /// where its block has at most two row tiles (a short text, a generated token; tasks' chunks are cut
    /// evenly, so a long text's are not short). With one, no later tile fetches the next block into L2; with two, the second fetches at most a
    /// line a step, half of it. Giving the first tile of two the far fetch too made an 8-token analysis on
    /// AVX2's tiles (6 and 2 rows) about 10 % faster and 16 tokens on AVX-512's (12 and 4) about 10 % (AMD EPYC,
    /// Zen 4; docs/PERFORMANCE.md step 24); letting the second then fetch nothing made 8 tokens slower.
    pub far: bool,
    pub room: Room,
}

/// Steps of k a streaming tile prefetches ahead: 32 steps of 128 bytes, 4 KB, about what memory's latency
/// covers at the rate a few-row tile consumes the panel.
pub const AHEAD: usize = 32;

/// Steps of k a streaming tile with [`Tile::far`] fetches ahead into L2 (8 KB) and into L1 (2 KB). Prefetches
/// into L1 alone are limited by its few fill buffers: with them an 8-token analysis, which reads every weight
/// once, took weights in at about 15 GB/s against the 21 GB/s of a plain read, and with L2 fetched ahead it ran
/// about 10 % faster (median of six rounds, 40.8 → 36.9 ms; 16 tokens and longer, whose tiles were then not
/// far, unchanged; Intel Xeon, family 6 model 167).
pub const FAR: usize = 64;
pub const NEAR: usize = 16;

/// The share of a later block's lines (16 values each) that a row tile after the first of its block fetches
/// into L2 while it multiplies: lines `first..first + lines` of the block `ahead` blocks after its own in memory
/// (the next along k, or on into the next panel), one line every `every` steps.
#[derive(Clone, Copy, Debug, Default)]
pub struct Fetch {
    pub first: usize,
    pub lines: usize,
    pub ahead: usize,
    pub every: usize,
}

/// Row tiles per block (a task's chunk of rows) up to which the later tiles fetch two blocks ahead, spread over
/// their steps (where their shares leave at least two steps a line); with more, they fetch the next block,
/// their shares of it at once. With few tiles a block passes quickly (a text of 64 tokens: six tiles, about 5 µs
/// a block), too soon for the next block's lines to arrive if they are asked for one after another: spread
/// evenly over the steps and two blocks ahead, a whole analysis of 64 tokens ran 5 % faster (Intel Xeon, family
/// 6 model 167). Spreading them in chunks of 14–16 tiles too (1,024 tokens on 2 threads, k = 768) made 1,024
/// tokens 1–2 % slower. Chunks of 5–8 tiles also come from long texts where tasks are short (k = 3,072: 8 tiles)
/// or threads many; the 1,024-token runs of step 23 include the first (docs/PERFORMANCE.md).
pub const FEW_TILES: usize = 8;

/// How many values each of a tile's pointers has from it to the end of what it may reach: its buffer, or for
/// outputs written in heads, its head.
pub struct Room {
    pub x: usize,
    pub w: usize,
    pub y: usize,
    pub bias: usize,
}

impl Tile {
    /// Checks, in debug builds (the kernel's tests; Miri cannot run vector intrinsics), that every value a tile
    /// of `rows` rows reads or writes lies inside its buffer.
    #[inline]
    pub fn debug_check_reach(&self, rows: usize) {
        debug_assert!(rows >= 1 && self.cols >= 1 && self.cols <= NR);
        debug_assert!(
            (rows - 1) * self.ldx + self.kc <= self.room.x,
            "x read past its end"
        );
        debug_assert!(self.kc * NR <= self.room.w, "panel read past its end");
        debug_assert!(
            (rows - 1) * self.ldy + self.cols <= self.room.y,
            "y written past its end"
        );
        debug_assert!(
            self.bias.is_none() || NR <= self.room.bias,
            "bias read past its end"
        );
    }
}

/// Runs `$step!(i)` for every step i of the block `$t` (a [`Tile`]) multiplies, with the prefetches its place in
/// the task asks for: a streaming tile with [`Tile::far`] fetches [`FAR`] steps ahead into L2 and [`NEAR`] into
/// L1, another streaming tile [`AHEAD`] steps into L1, and a later tile its share of a later block's lines into
/// L2 ([`Fetch`]). Both register tiles walk a block so; a macro, not a function taking a closure, so that each
/// step is compiled inside the tile's own `#[target_feature]` function. Expands inside an `unsafe` function on
/// x86-64.
macro_rules! walk_block {
    ($t:expr, $step:ident) => {{
        let t: &$crate::model::packed::tile::Tile = $t;
        let nr = $crate::model::packed::tile::NR;
        if t.stream && t.far {
            for i in 0..t.kc {
                // A prefetch never faults; `wrapping_add` forms the addresses past the end defined.
                let far =
                    t.w.wrapping_add((i + $crate::model::packed::tile::FAR) * nr);
                _mm_prefetch::<_MM_HINT_T1>(far.cast());
                _mm_prefetch::<_MM_HINT_T1>(far.wrapping_add(16).cast());
                let near =
                    t.w.wrapping_add((i + $crate::model::packed::tile::NEAR) * nr);
                _mm_prefetch::<_MM_HINT_T0>(near.cast());
                _mm_prefetch::<_MM_HINT_T0>(near.wrapping_add(16).cast());
                $step!(i);
            }
        } else if t.stream {
            for i in 0..t.kc {
                // As above.
                let ahead =
                    t.w.wrapping_add((i + $crate::model::packed::tile::AHEAD) * nr);
                _mm_prefetch::<_MM_HINT_T0>(ahead.cast());
                _mm_prefetch::<_MM_HINT_T0>(ahead.wrapping_add(16).cast());
                $step!(i);
            }
        } else {
            let f = t.fetch;
            // As above: a prefetch never faults, and the addresses are formed with `wrapping_add`.
            let base = t.w.wrapping_add(f.ahead * t.kc * nr + f.first * 16);
            let lines = f.lines.min(t.kc);
            // At most kc / lines steps a line, so that the steps of the spread loop below stay in the block.
            let every = match lines {
                0 => 1,
                lines => f.every.min(t.kc / lines),
            };
            if every <= 1 {
                for i in 0..lines {
                    _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(i * 16).cast());
                    $step!(i);
                }
                for i in lines..t.kc {
                    $step!(i);
                }
            } else {
                // every · lines ≤ kc (above), so i < kc at every step.
                let mut i = 0;
                for l in 0..lines {
                    _mm_prefetch::<_MM_HINT_T1>(base.wrapping_add(l * 16).cast());
                    for _ in 0..every {
                        $step!(i);
                        i += 1;
                    }
                }
                while i < t.kc {
                    $step!(i);
                    i += 1;
                }
            }
        }
    }};
}
pub(super) use walk_block;
