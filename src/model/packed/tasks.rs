//! How a packed product is cut into work: panels of [`NR`] output columns, register tiles of [`MR`] rows, tasks
//! of a chunk of rows by a group of panels, and the output buffers (rows, or runs of columns split into heads as
//! they are computed) through which the tasks each write values of their own.

/// Output columns per panel: two 16-lane registers.
pub const NR: usize = 32;
/// Input rows per register tile: 2 × 12 accumulators + 2 weight registers + 1 broadcast fit the 32 registers.
pub const MR: usize = 12;
/// Input rows per AVX2 register tile: 6 × 2 accumulators + 2 weight registers + 1 broadcast fit the 16 registers
/// (for each half of a panel in turn). It divides [`MR`], so tasks cut in whole AVX-512 tiles are whole AVX2
/// tiles too.
pub const MR_AVX2: usize = 6;
const _: () = assert!(MR.is_multiple_of(MR_AVX2));

/// Input rows per task, at most: 16 row tiles, which pass each panel block while it is in L1, their outputs in
/// the panel's columns (24 KB) staying in cache from one block along k to the next. With all 1,024 rows of a long
/// text in one task, a panel's outputs lay on 1,024 pages and the kernel ran 10–25 % slower alone and whole
/// analyses about 5 % slower (Intel Xeon, family 6 model 167; tasks of 96 and 192 rows ran alike).
pub(super) const ROWS_PER_TASK: usize = 16 * MR;

/// The fewest row tiles [`rows_per_task`] sizes a task for, however long the inputs: with fewer, a long inner
/// dimension (a Llama MLP's 11,008) would read its whole weight matrix from memory once for every few dozen rows,
/// a cost that the inputs' trips to L3 (what a smaller task saves) do not outweigh. [`row_chunks`] may still cut
/// chunks smaller, to give every thread its share.
const MIN_TASK_TILES: usize = 8;

/// Rows per task for inputs of `k` values on a core whose L2 cache holds `l2` bytes (unknown: taken as 1 MB,
/// the smallest of current AVX-512 server cores): as many whole row tiles as fill no more than half of L2 with
/// their inputs, from [`MIN_TASK_TILES`] up to [`ROWS_PER_TASK`].
///
/// A task passes all its rows' inputs once for every panel, so they should stay in L2 from one panel to the
/// next. With k = 3,072 (GPT-2's MLP output projection, its rows padded as the analysis lays them out) 192 rows
/// are 2.4 MB, more than Intel's 2 MB L2, and every panel read them again from L3. `attngraph bench --kernels`,
/// Intel Xeon (family 6 model 167, L2 2 MB): that layer ran at 377–380 GFLOP/s at 1,024 rows and 386–391 at 256
/// with 192-row tasks, 390–393 and 386–396 with tasks of 36 to 96 rows; k = 768 (192 rows are 590 KB) ran
/// fastest at 192.
pub(super) fn rows_per_task(k: usize, l2: Option<usize>) -> usize {
    let half = l2.unwrap_or(1 << 20) / 2;
    let tile_bytes = MR * k.max(1) * size_of::<f32>();
    (half / tile_bytes).clamp(MIN_TASK_TILES, ROWS_PER_TASK / MR) * MR
}

/// The chunks of rows a product's tasks take, in order: as few as tasks of `per` rows allow (a positive multiple
/// of [`MR`], from [`rows_per_task`]), then rounded up to a multiple of `threads` when there are several (but no
/// more than there are row tiles), and cut at whole row tiles as evenly as they go. Each chunk starts on a
/// multiple of [`MR`]; together they cover 0..m.
///
/// Tasks run chunk by chunk, every group of panels of one chunk before the next chunk, and rayon, halving the
/// tasks between threads, usually hands each thread a contiguous run of them: a thread keeps its chunk's input
/// rows in its L2 cache while the weights stream past them, and the threads' runs hold as many rows. Ordered panels first, every task
/// read its rows afresh; 192-row chunks left 1,024 rows as 576 and 448 for two threads and 256 rows as 192 and
/// 64. `attngraph bench --kernels`, Intel Xeon (family 6 model 167): the attention's output projection
/// 264–274 → 309–315 GFLOP/s at 1,024 rows and 274–285 → 298–299 at 256, the MLP's first layer 279–288 → 305–310 at
/// 1,024; a text of up to `per` tokens stays one chunk (192 with GPT-2's 768 inputs on a 2 MB L2; split, each
/// weight came from memory twice: 64 rows ran 5–10 % slower).
pub(super) fn row_chunks(
    m: usize,
    threads: usize,
    per: usize,
) -> impl Iterator<Item = std::ops::Range<usize>> {
    let tiles = m.div_ceil(MR);
    let chunks = match m.div_ceil(per.max(1)) {
        0 | 1 => 1,
        c => c.div_ceil(threads.max(1)) * threads.max(1),
    }
    // One tile at least in each (m ≥ 1 here; for m = 0 one empty chunk).
    .min(tiles.max(1));
    // Chunk c holds tiles c·tiles/chunks..(c + 1)·tiles/chunks: at most ⌈tiles / chunks⌉ ≤ per / MR of them,
    // since chunks ≥ ⌈m / per⌉ and per is a multiple of MR.
    (0..chunks)
        .map(move |c| (c * tiles / chunks * MR).min(m)..((c + 1) * tiles / chunks * MR).min(m))
}

/// Where a product's outputs go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Placement {
    /// One buffer of m rows of n outputs, row-major.
    Rows,
    /// Equal runs of the columns, one buffer each, every run as heads of `d` columns: (run / d, m, d).
    Heads { d: usize },
}

/// The output buffers of one product, shared by its tasks; each writes disjoint values.
pub(super) struct SharedOut {
    /// Each buffer's first value.
    pub(super) bases: Vec<*mut f32>,
    pub(super) m: usize,
    pub(super) n: usize,
    /// Values in each buffer: m·n / the number of buffers.
    pub(super) len: usize,
    pub(super) placement: Placement,
}

impl SharedOut {
    /// Where output column p·NR of row r goes, the stride from one row's to the next's, and how many values lie
    /// from there to the end of its rows (the buffer's end, or its head's). Within a panel, columns lie side by
    /// side: a head is a multiple of NR wide (checked where the placement is chosen), so a panel never straddles
    /// two heads or two buffers.
    /// Each (row, column) of m × n lands on its own value, and together they fill every buffer.
    pub(super) fn at(&self, p: usize, r: usize) -> (*mut f32, usize, usize) {
        let col = p * NR;
        let (buffer, at, stride, end) = match self.placement {
            Placement::Rows => (0, r * self.n + col, self.n, self.len),
            Placement::Heads { d } => {
                let run = self.n / self.bases.len();
                let (c, head_len) = (col % run, self.m * d);
                let head = c / d;
                // The room ends with the head: a tile spilling into the next one fails the debug check.
                (
                    col / run,
                    head * head_len + r * d + c % d,
                    d,
                    (head + 1) * head_len,
                )
            }
        };
        // The buffer index is below the number of buffers (col < n); the address is formed with
        // `wrapping_add`, defined whatever it is, and used only by the tile, whose debug build checks its
        // writes against the room.
        (self.bases[buffer].wrapping_add(at), stride, end - at)
    }
}
// SAFETY: tasks write disjoint values (see `PackedLinear::forward_placed`), and the buffers outlive the parallel
// loop that uses them.
unsafe impl Sync for SharedOut {}
