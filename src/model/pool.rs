//! Where a forward pass runs: on one of rayon's threads, with another kept awake beside it.

use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `work` on one of rayon's threads and waits for it, with another of the pool's threads kept awake
/// beside it until it is done.
///
/// Each parallel op of a forward pass then splits its work where it is called, instead of this thread handing
/// every op to the pool and sleeping until it is done: a GPT-2-small analysis runs about a hundred such ops.
/// Measured (`attngraph bench`, random GPT-2-small weights, three alternating rounds in fresh processes, Intel
/// Xeon family 6 model 167, 2 threads): 8 tokens 29.3 → 25.5 ms, 64 tokens 82.8 → 77.5, 256 tokens 288.7 →
/// 282.4, 1,024 tokens alike; typing one more token at 1,024, 63.1 → 51.5 ms. It needs the allocator's single
/// arena (`allocator::tune`): without it the pool threads' allocations missed the tuned heap and 1,024 tokens
/// ran slower, with 20 MB more peak RSS.
///
/// Between ops (a norm, an add, the analysis's own bookkeeping) rayon puts an idle thread to sleep after a few
/// rounds, and the next op wakes it through the kernel, which on a virtual machine takes tens of microseconds
/// while the op waits for its share. So one other thread takes the pool's jobs as they appear
/// ([`keep_awake`]) until `work` returns (or panics): 8 tokens 28.2 → 25.1 ms, 64 tokens 80.6 → 79.6, 256
/// tokens 289.1 → 277.9, 1,024 tokens 1,229.7 → 1,196.7, one more token at 1,024 53.5 → 48.3 (three alternating
/// rounds, same CPU), at the price of that core spinning whenever a pass runs no op.
///
/// Called on one of the pool's threads, it runs `work` there. A pool thread waiting inside one call's work may
/// take up another call's whole work meanwhile, and finish it first: calls from several threads at once share
/// the pool.
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| {
        let owner = rayon::current_thread_index();
        let done = AtomicBool::new(false);
        let (result, ()) = rayon::join(
            || {
                // Set when `work` returns or unwinds: the join waits for both halves before it hands on a panic.
                let _done = SetOnDrop(&done);
                work()
            },
            || keep_awake(owner, &done),
        );
        result
    })
}

/// Takes the pool's jobs as they appear, pausing briefly between tries, until `done`; at once if this is the
/// `owner` thread that runs the work (it takes this job back only when it has nothing else to do, and spinning
/// there would wait on itself).
fn keep_awake(owner: Option<usize>, done: &AtomicBool) {
    if rayon::current_thread_index() == owner {
        return;
    }
    while !done.load(Ordering::Acquire) {
        if rayon::yield_now() != Some(rayon::Yield::Executed) {
            // 16 pauses between tries (a few hundred cycles): with none, its tries on the other thread's queue
            // slowed 256 and 1,024 tokens by 1-2 %.
            for _ in 0..16 {
                std::hint::spin_loop();
            }
        }
    }
}

/// Sets its flag when dropped.
struct SetOnDrop<'a>(&'a AtomicBool);

impl Drop for SetOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::on_pool;
    use rayon::prelude::*;

    #[test]
    fn the_work_runs_on_the_pool_and_its_value_comes_back() {
        let sum: u64 = on_pool(|| {
            assert!(
                rayon::current_thread_index().is_some(),
                "not on a pool thread"
            );
            (1..=1000u64).into_par_iter().sum()
        });
        assert_eq!(sum, 500_500);
        // Called again from a pool thread, it runs there.
        let nested = on_pool(|| on_pool(|| 7));
        assert_eq!(nested, 7);
    }

    #[test]
    fn a_panic_in_the_work_reaches_the_caller_and_stops_the_spinning() {
        let caught = std::panic::catch_unwind(|| {
            on_pool(|| -> u32 {
                let _ = (0..64u32).into_par_iter().map(|i| i * 2).sum::<u32>();
                // Time for another pool thread to take up the spinning job (rayon wakes one when the job is
                // queued): were the flag not set on unwinding, the join would then wait on it forever.
                std::thread::sleep(std::time::Duration::from_millis(50));
                panic!("a failing pass")
            })
        });
        assert!(caught.is_err(), "the panic was lost");
        // The pool is free again: the thread kept awake stopped when the work unwound.
        assert_eq!(on_pool(|| 3), 3);
    }
}
