//! The packed weights' memory: an anonymous mapping of its own rather than a block of the allocator's heap.
//!
//! A mapping starts on a page, so each of a panel's rows of [`super::NR`] floats is two whole cache lines and
//! none of the kernel's 64-byte loads of weights straddles two. The heap aligns to 16 bytes: unless it happened
//! to hand out a line's start, every such load straddled two lines, and the register tile ran about 6 % slower
//! in L1 (measured beside an aligned copy; Intel Xeon, family 6 model 167).
//!
//! On Linux, weights of 2 MB or more also start on a 2 MB boundary, and ask for transparent huge pages before
//! anything is written to them: over their whole 2 MB pages, and over a last part of at least 1 MB (a huge page
//! there leaves at most 1 MB unused; under the `madvise` setting a shorter last part stays in 4 KB pages). A
//! text of a few tokens, and each token typed or generated, reads every weight once from memory, touching a new
//! 4 KB page every 32 steps of a panel. Measured on GPT-2 small's shape (Intel Xeon, family 6 model 167, in a
//! VM whose THP setting is `madvise`), alternating with the build before, medians of three or four rounds:
//! 8-token analyses 5–9 % faster, typing a token 2–5 % faster. At 1,024 tokens the build before ran 1–3 %
//! faster in four such comparisons, while this build with and without the advice ran alike, so that was not
//! traced to the pages (docs/PERFORMANCE.md, step 10). The cost is the unused end of the last huge page of some
//! matrices, at most 1 MB each: peak RSS 524 → 549 MB at 64 tokens, 920 → 947 MB at 1,024 (586 and 984 MB when
//! every matrix ended on a huge page). A kernel without THP refuses the advice, and one with THP off ignores
//! it; the pages are then 4 KB and the values the same, so neither is an error. The mapping is the weights'
//! alone, so the advice ends with it: the heap, which later holds activations, is never advised.

use std::io;

/// A transparent huge page on x86-64 and AArch64 Linux.
#[cfg(target_os = "linux")]
const HUGE_PAGE: usize = 2 << 20;

/// The error for `what` (a count of values) too large to map.
pub fn does_not_fit(what: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::OutOfMemory,
        format!("{what} do not fit in memory"),
    )
}

/// `len` floats in a mapping of their own (see the module's note).
pub struct WeightMemory {
    map: memmap2::MmapMut,
    /// Where the floats start in the mapping, in bytes: 0, or up to a 2 MB boundary.
    start: usize,
    len: usize,
}

impl WeightMemory {
    /// `len` zeros. An error if the system cannot map that much memory.
    pub fn zeroed(len: usize) -> io::Result<Self> {
        let too_big = || does_not_fit(format!("{len} floats"));
        let bytes = len.checked_mul(size_of::<f32>()).ok_or_else(too_big)?;
        // Room to start on a 2 MB boundary and end on one; the parts before and after the floats are never
        // written, so they take address space but no resident memory.
        #[cfg(target_os = "linux")]
        let (mapped, align) = if bytes >= HUGE_PAGE {
            let mapped = bytes
                .checked_next_multiple_of(HUGE_PAGE)
                .and_then(|b| b.checked_add(HUGE_PAGE));
            (mapped.ok_or_else(too_big)?, HUGE_PAGE)
        } else {
            (bytes, 1)
        };
        #[cfg(not(target_os = "linux"))]
        let (mapped, align) = (bytes, 1);
        // Anonymous pages read as zeros until written.
        let map = memmap2::MmapMut::map_anon(mapped)?;
        let at = map.as_ptr().addr();
        // A mapping cannot end past the address space, so its aligned start exists; it is under `align` bytes in.
        let start = at.next_multiple_of(align) - at;
        #[cfg(target_os = "linux")]
        if align == HUGE_PAGE {
            // Huge pages over the whole 2 MB of the floats, and over their last part where that is at least half
            // of one (see the module's note).
            // start < 2 MB and the huge part ends within the floats' last 2 MB, so it lies inside the mapping.
            let last = bytes % HUGE_PAGE;
            let huge = if last >= HUGE_PAGE / 2 {
                bytes - last + HUGE_PAGE
            } else {
                bytes - last
            };
            // Advice only (see the module's note): refused or ignored, the weights are the same.
            let _advice = map.advise_range(memmap2::Advice::HugePage, start, huge);
        }
        Ok(Self { map, start, len })
    }

    /// The floats.
    pub fn as_slice(&self) -> &[f32] {
        // start + 4·len ≤ the mapping's length (made so above); its start is a page's, and `start` a multiple
        // of 4, so the floats are aligned.
        bytemuck::cast_slice(&self.map[self.start..self.start + size_of::<f32>() * self.len])
    }

    /// The floats, to write.
    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        let end = self.start + size_of::<f32>() * self.len;
        bytemuck::cast_slice_mut(&mut self.map[self.start..end])
    }
}
