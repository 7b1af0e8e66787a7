//! The rayon pool every kernel runs in, and deterministic work splitting.
//!
//! The pool is sized by `ATTNRS_NUM_THREADS` or the number of cores and can
//! be replaced with `set_num_threads`. Kernels never ask how many threads
//! there are: they split work into chunks whose size depends only on the
//! problem (`chunk_len`), and reduce in a fixed order, so results are bitwise
//! identical for any thread count.

use std::sync::{Arc, OnceLock, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

fn default_threads() -> usize {
    std::env::var("ATTNRS_NUM_THREADS")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

fn build(n: usize) -> Arc<ThreadPool> {
    Arc::new(
        ThreadPoolBuilder::new()
            .num_threads(n)
            .thread_name(|i| format!("attnrs-{i}"))
            .build()
            .expect("attnrs: could not start the thread pool"),
    )
}

fn slot() -> &'static RwLock<Arc<ThreadPool>> {
    static POOL: OnceLock<RwLock<Arc<ThreadPool>>> = OnceLock::new();
    POOL.get_or_init(|| RwLock::new(build(default_threads())))
}

fn pool() -> Arc<ThreadPool> {
    slot().read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Runs `f` inside the attnrs pool: every rayon call in `f` uses its threads.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    pool().install(f)
}

/// Work (elements or multiply-adds) below which `install_for` runs on the
/// calling thread: handing a job to the pool and waiting for it costs a few
/// µs (tens under load), more than such a job takes.
pub const INLINE_WORK: usize = 1 << 14;

/// Like `install`, but a job with less than `INLINE_WORK` of `work` runs on
/// the calling thread. Results do not change: kernels split work into chunks
/// fixed by the problem, whichever thread runs them.
pub fn install_for<R: Send>(work: usize, f: impl FnOnce() -> R + Send) -> R {
    if work < INLINE_WORK {
        f()
    } else {
        install(f)
    }
}

/// Threads in the attnrs pool.
pub fn num_threads() -> usize {
    pool().current_num_threads()
}

/// Replaces the pool with one of `n` threads (`n >= 1`).
pub fn set_num_threads(n: usize) -> crate::Result<()> {
    if n == 0 {
        return Err(crate::KernelError::value(
            "set_num_threads",
            "n: expected >= 1, got 0",
        ));
    }
    *slot().write().unwrap_or_else(|e| e.into_inner()) = build(n);
    Ok(())
}

/// Length of the chunks that split `total` items of `work_per_item` FLOPs (or
/// bytes) each, chosen from the problem alone so that splitting does not
/// depend on the thread count. At least `min_work` of work per chunk.
pub fn chunk_len(total: usize, work_per_item: usize, min_work: usize) -> usize {
    let per = work_per_item.max(1);
    (min_work.div_ceil(per)).clamp(1, total.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_len_is_bounded() {
        assert_eq!(chunk_len(0, 10, 100), 1);
        assert_eq!(chunk_len(1000, 10, 100), 10);
        assert_eq!(chunk_len(5, 1, 100), 5);
    }

    #[test]
    fn set_threads_rejects_zero() {
        assert!(set_num_threads(0).is_err());
    }
}
