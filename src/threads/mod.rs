//! The rayon pool every kernel runs in, and deterministic work splitting.
//!
//! The pool is sized by `ATTNRS_NUM_THREADS` or the number of cores and can
//! be resized with `set_num_threads`; the first thread to call a kernel is
//! itself one of its workers (see `HOME`). Kernels never ask how many threads
//! there are: they split work into chunks whose size depends only on the
//! problem (`chunk_len`), and reduce in a fixed order, so results are bitwise
//! identical for any thread count.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

mod spin;

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

/// The pool size kernels run with (`set_num_threads` changes it).
fn size() -> &'static AtomicUsize {
    static SIZE: OnceLock<AtomicUsize> = OnceLock::new();
    SIZE.get_or_init(|| AtomicUsize::new(default_threads()))
}

fn builder(n: usize) -> ThreadPoolBuilder {
    ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("attnrs-{i}"))
}

// The first thread to call a kernel (Python's main thread, in practice)
// becomes worker 0 of its own pool (rayon's `use_current_thread`). Its calls
// then start without handing the job to another thread and waiting for it to
// wake up, and it runs its share of every parallel loop itself: a GPT step
// makes ~150 kernel calls of 20–500 µs, where a hand-off (5–50 µs on a VM) is
// a real fraction. A thread can be worker 0 of one pool only, for the life of
// the process, so that pool is kept and used again whenever the pool size
// returns to its size.
thread_local! {
    static HOME: RefCell<Option<Arc<ThreadPool>>> = const { RefCell::new(None) };
}

/// Pools for threads that cannot use a home pool of the current size: they
/// hand their jobs to `n` rayon threads, as a plain `ThreadPool::install`
/// does. Kept per size so that changing the size back and forth reuses them.
fn shared_pool(n: usize) -> Arc<ThreadPool> {
    static SHARED: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = SHARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    pools
        .entry(n)
        .or_insert_with(|| {
            Arc::new(
                builder(n)
                    .build()
                    .expect("attnrs: could not start the thread pool"),
            )
        })
        .clone()
}

/// Whether some thread already has a home pool. Only one thread gets one: a
/// pool holding its creating thread lives as long as the process (rayon
/// leaks it), so a program calling kernels from many threads must not start
/// a pool per thread. No other thread ever sees the home pool, which matters:
/// a home pool of size 1 has no worker but its owner, so a job injected into
/// it from elsewhere would wait for the owner forever.
static HOME_TAKEN: AtomicBool = AtomicBool::new(false);

/// The pool the calling thread runs kernels in for `n` threads, and whether
/// it is the calling thread's home pool.
fn pool_for(n: usize) -> (Arc<ThreadPool>, bool) {
    let home = HOME.with(|h| h.borrow().clone());
    if let Some(pool) = home {
        if pool.current_num_threads() == n {
            return (pool, true);
        }
        return (shared_pool(n), false);
    }
    // Worker threads of any rayon pool (ours or the caller's) cannot become
    // worker 0 of another one.
    if rayon::current_thread_index().is_none() && !HOME_TAKEN.swap(true, Ordering::AcqRel) {
        if let Ok(pool) = builder(n).use_current_thread().build() {
            let pool = Arc::new(pool);
            HOME.with(|h| *h.borrow_mut() = Some(pool.clone()));
            return (pool, true);
        }
    }
    (shared_pool(n), false)
}

/// Runs `f` inside the attnrs pool: every rayon call in `f` uses its threads.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let (pool, home) = pool_for(size().load(Ordering::Relaxed));
    let out = pool.install(f);
    if home {
        spin::keep_warm(&pool);
    }
    out
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
        let out = f();
        spin::touch();
        out
    } else {
        install(f)
    }
}

/// Threads in the attnrs pool.
pub fn num_threads() -> usize {
    size().load(Ordering::Relaxed)
}

/// Replaces the pool with one of `n` threads (`n >= 1`).
pub fn set_num_threads(n: usize) -> crate::Result<()> {
    if n == 0 {
        return Err(crate::KernelError::value(
            "set_num_threads",
            "n: expected >= 1, got 0",
        ));
    }
    size().store(n, Ordering::Relaxed);
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
mod tests;
