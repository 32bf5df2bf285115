//! The packed weights' buffer: aligned to a cache line, and on Linux backed by huge pages where the kernel
//! grants them.

/// Floats of which the first lies on a 64-byte boundary, a cache line: each of a panel's rows of
/// [`super::NR`] values is then two whole lines, and none of the kernel's 64-byte loads of weights straddles two
/// lines. The allocator aligns to 16 bytes: unless it happened to hand out a line's start, every such load
/// straddled two, and the register tile ran about 6 % slower in L1 (measured beside an aligned copy; Intel Xeon,
/// family 6 model 167).
///
/// On Linux the buffer also asks for transparent huge pages (2 MB) over the whole 2 MB pages it spans, before
/// its values are first written. A text of a few tokens, and each token typed or generated, reads every weight
/// once from memory, and with 4 KB pages that stream left the TLB every 32 steps of a panel. Measured on GPT-2
/// small's shape, the same binary with and without the advice, alternating three times (Intel Xeon, family 6
/// model 167, in a VM whose THP setting is `madvise`): 8-token analyses 6–9 % faster in three such runs, the
/// app's "Continue" 2–7 % faster, 1,024 tokens 1–3 % slower in four, within the spread of single rounds. A
/// kernel without THP refuses the advice, and one with THP off ignores it: pages then stay 4 KB.
pub struct LineAligned {
    buf: Vec<f32>,
    /// Where the aligned values start in `buf`: 0 to 15.
    start: usize,
    len: usize,
}

impl LineAligned {
    /// `len` zeros.
    pub fn zeroed(len: usize) -> Self {
        let buf = vec![0.0f32; len + 15];
        // A float's address is a multiple of 4, so this is a whole number of floats below 16.
        let start = (64 - buf.as_ptr().addr() % 64) % 64 / 4;
        advise_huge_pages(&buf);
        Self { buf, start, len }
    }

    pub fn as_slice(&self) -> &[f32] {
        // start ≤ 15 and buf holds len + 15 values.
        &self.buf[self.start..self.start + self.len]
    }

    pub fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.buf[self.start..self.start + self.len]
    }
}

/// Asks Linux to back the whole 2 MB pages inside `buf` with huge pages (see [`LineAligned`]). Advice only: the
/// values are the same either way, and a refusal (no THP in the kernel, THP off) leaves 4 KB pages, so the
/// result is not an error.
fn advise_huge_pages(buf: &[f32]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let (start, end) = (buf.as_ptr().addr(), buf.as_ptr_range().end.addr());
        let (Some(lo), hi) = (start.checked_next_multiple_of(HUGE), end / HUGE * HUGE) else {
            return;
        };
        if hi > lo {
            // SAFETY: [lo, hi) lies inside `buf` (start ≤ lo < hi ≤ end), so the pointer to lo stays in bounds,
            // and `buf` outlives the call; MADV_HUGEPAGE changes how the range is backed, never its contents.
            let _refused = unsafe {
                libc::madvise(
                    buf.as_ptr().cast::<u8>().add(lo - start).cast_mut().cast(),
                    hi - lo,
                    libc::MADV_HUGEPAGE,
                )
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = buf;
}
