//! Tuning of the C allocator for the model's large, short-lived buffers.
//!
//! One GPT-2-small window of 1,024 tokens allocates and frees several gigabytes of 10–100 MB tensors (attention
//! scores, MLP activations, logits). glibc serves each of those with a fresh `mmap` and returns it with `munmap`,
//! so every page is faulted in and zeroed again on every use: measured, 30–40 % of the time of
//! `attngraph perplexity` went to the kernel. Turning glibc's use of `mmap` for large blocks off
//! (`M_MMAP_MAX` = 0: every block comes from the heap) and keeping up to 1 GiB of freed memory at the top of
//! the heap (`M_TRIM_THRESHOLD`) lets those buffers be reused as they are. Analyses and perplexity windows run
//! on rayon's threads (`model::pool::on_pool`), which glibc would serve from arenas of their own: heaps of at
//! most 64 MiB, which the large blocks do not fit (measured with them: 1,024 tokens slower and 20 MB more peak
//! RSS). One arena for every thread (`M_ARENA_MAX` = 1) keeps all of them on the main heap. Threads then share
//! its lock; its cost was not measured apart, and the timings with it are no slower at any length.

/// Applies the tuning; call once, before the model runs. Does nothing outside Linux with glibc.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called before any thread of ours allocates
    // concurrently and the values are within glibc's documented ranges.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}
