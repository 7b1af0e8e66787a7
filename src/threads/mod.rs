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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex, OnceLock};

use rayon::{ThreadBuilder, ThreadPool, ThreadPoolBuilder};

use crate::error::{fail, KernelError, Result};

mod fork;
mod spin;

/// The most threads a pool may have: far more than any machine this runs on
/// has cores, and few enough that the stacks (2 MiB each) fit in memory.
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (8 * cores).max(256)
}

/// Problems with the `ATTNRS_*` variables this module reads, each naming the
/// variable, its value and the value used instead (the Python package shows
/// them once, as warnings, at import).
pub fn env_warnings() -> Vec<String> {
    let mut out = Vec::new();
    out.extend(default_threads().1.clone());
    out.extend(spin::window_warning());
    out
}

fn default_threads() -> &'static (usize, Option<String>) {
    static DEFAULT: OnceLock<(usize, Option<String>)> = OnceLock::new();
    DEFAULT.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        match std::env::var("ATTNRS_NUM_THREADS") {
            Err(std::env::VarError::NotPresent) => (cores, None),
            Err(std::env::VarError::NotUnicode(v)) => (
                cores,
                Some(format!(
                    "ATTNRS_NUM_THREADS={v:?} is not an integer; using {cores} threads (the number of cores)"
                )),
            ),
            Ok(s) => match s.trim().parse::<usize>() {
                Ok(n) if (1..=max_threads()).contains(&n) => (n, None),
                _ => (
                    cores,
                    Some(format!(
                        "ATTNRS_NUM_THREADS={s:?} is not an integer in 1..={}; using {cores} threads (the number of cores)",
                        max_threads()
                    )),
                ),
            },
        }
    })
}

/// The pool size kernels run with (`set_num_threads` changes it).
fn size() -> &'static AtomicUsize {
    static SIZE: OnceLock<AtomicUsize> = OnceLock::new();
    SIZE.get_or_init(|| AtomicUsize::new(default_threads().0))
}

/// Starts a pool of `n` threads; with `use_current`, the calling thread is
/// worker 0. The other OS threads are started first and only then handed to
/// rayon, so a failure to start one (out of memory, a thread limit) stops
/// and joins the ones already started and leaves the calling thread as it
/// was: rayon's own start-up would have made it worker 0 of a dead pool.
fn start(n: usize, use_current: bool) -> Result<ThreadPool> {
    const OP: &str = "set_num_threads";
    let first = usize::from(use_current);
    let mut ready: Vec<(mpsc::Sender<ThreadBuilder>, std::thread::JoinHandle<()>)> = Vec::new();
    for i in first..n {
        let (tx, rx) = mpsc::channel::<ThreadBuilder>();
        #[allow(unused_mut)]
        let mut tb = std::thread::Builder::new().name(format!("attnrs-{i}"));
        #[cfg(test)]
        {
            let stack = tests::STACK_FOR_TEST.with(|s| s.get());
            if stack > 0 && i >= 2 {
                tb = tb.stack_size(stack);
            }
        }
        // Under test, a guard counts this thread as live until it returns
        // (or until the closure is dropped because it never started).
        #[cfg(test)]
        let live = tests::LiveThread::for_current_test();
        #[cfg(not(test))]
        let live = ();
        let spawned = tb.spawn(move || {
            let _live = &live; // moved in: dropped when the thread returns
            if let Ok(t) = rx.recv() {
                t.run();
            }
        });
        match spawned {
            Ok(h) => ready.push((tx, h)),
            Err(e) => {
                let started = ready.len();
                for (tx, h) in ready {
                    drop(tx); // its thread's `recv` fails and it returns
                    let _ = h.join();
                }
                return Err(KernelError::runtime(
                    OP,
                    format!(
                        "could not start a pool of {n} threads: thread {i} failed to start ({e}); \
                         the {started} started were stopped. Use fewer threads \
                         (attnrs.set_num_threads or ATTNRS_NUM_THREADS)"
                    ),
                ));
            }
        }
    }
    // Rayon asks for exactly n - first threads; the senders of any it does
    // not take are dropped with the builder, and their threads return.
    let mut handoff = ready.into_iter().map(|(tx, _detached)| tx);
    let mut b = ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("attnrs-{i}"))
        .spawn_handler(move |t| {
            let tx = handoff
                .next()
                .ok_or_else(|| std::io::Error::other("no started thread left"))?;
            tx.send(t)
                .map_err(|_| std::io::Error::other("a started thread exited"))
        });
    if use_current {
        b = b.use_current_thread();
    }
    b.build().map_err(|e| {
        KernelError::runtime(OP, format!("could not start a pool of {n} threads: {e}"))
    })
}

// The first thread to call a kernel (Python's main thread, in practice)
// becomes worker 0 of its own pool (rayon's `use_current_thread`). Its calls
// then start without handing the job to another thread and waiting for it to
// wake up, and it runs its share of every parallel loop itself: a GPT step
// makes ~150 kernel calls of 20–500 µs, where a hand-off (5–50 µs on a VM) is
// a real fraction. A thread can be worker 0 of one pool only, for the life of
// the process, so that pool is kept and used again whenever the pool size
// returns to its size. Each pool remembers the fork generation it was started
// in (see `fork`): in a forked child its other threads do not exist, so it
// is never used there.
thread_local! {
    static HOME: RefCell<Option<(u64, Arc<ThreadPool>)>> = const { RefCell::new(None) };
}

/// Pools for threads that cannot use a home pool of the current size: they
/// hand their jobs to `n` rayon threads, as a plain `ThreadPool::install`
/// does. Kept per size so that changing the size back and forth reuses them.
/// The map belongs to one fork generation; a child starts a new one.
/// The fork generation the shared pools belong to, and the pools by size.
type SharedPools = (u64, HashMap<usize, Arc<ThreadPool>>);

fn shared_pool(n: usize) -> Result<Arc<ThreadPool>> {
    static SHARED: OnceLock<Mutex<SharedPools>> = OnceLock::new();
    let mut pools = SHARED
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let gen = fork::generation();
    if pools.0 != gen {
        // Pools of the parent process: their threads are gone. Dropping one
        // would signal them, so they are leaked instead.
        std::mem::forget(std::mem::take(&mut pools.1));
        pools.0 = gen;
    }
    if let Some(p) = pools.1.get(&n) {
        return Ok(p.clone());
    }
    let pool = Arc::new(start(n, false)?);
    pools.1.insert(n, pool.clone());
    Ok(pool)
}

/// The fork generation + 1 in which some thread took a home pool (0: none).
/// Only one thread gets one per process: a pool holding its creating thread
/// lives as long as the process (rayon leaks it), so a program calling
/// kernels from many threads must not start a pool per thread. No other
/// thread ever sees the home pool, which matters: a home pool of size 1 has
/// no worker but its owner, so a job injected into it from elsewhere would
/// wait for the owner forever.
static HOME_TAKEN: AtomicU64 = AtomicU64::new(0);

/// The pool the calling thread runs kernels in for `n` threads, and whether
/// it is the calling thread's home pool.
fn pool_for(n: usize) -> Result<(Arc<ThreadPool>, bool)> {
    let gen = fork::generation();
    let home = HOME.with(|h| h.borrow().clone());
    if let Some((home_gen, pool)) = home {
        if home_gen == gen && pool.current_num_threads() == n {
            return Ok((pool, true));
        }
        return Ok((shared_pool(n)?, false));
    }
    // Worker threads of any rayon pool (ours or the caller's) cannot become
    // worker 0 of another one.
    let mark = gen + 1;
    let taken = HOME_TAKEN.load(Ordering::Acquire);
    if rayon::current_thread_index().is_none()
        && taken != mark
        && HOME_TAKEN
            .compare_exchange(taken, mark, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    {
        match start(n, true) {
            Ok(pool) => {
                let pool = Arc::new(pool);
                HOME.with(|h| *h.borrow_mut() = Some((gen, pool.clone())));
                return Ok((pool, true));
            }
            Err(e) => {
                // Let the next call try again (perhaps with fewer threads).
                HOME_TAKEN.store(taken, Ordering::Release);
                return Err(e);
            }
        }
    }
    Ok((shared_pool(n)?, false))
}

/// Runs `f` inside the attnrs pool: every rayon call in `f` uses its threads.
///
/// If the pool cannot start, this unwinds with a `Runtime` `KernelError`
/// (which `error::catch` returns) and the pool size goes back to one that
/// ran before, or to 1, so that the next call works.
pub fn install<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let n = size().load(Ordering::Relaxed);
    let (pool, home) = match pool_for(n) {
        Ok(p) => p,
        Err(e) => {
            let back = last_good();
            let _ = size().compare_exchange(n, back, Ordering::AcqRel, Ordering::Relaxed);
            fail(KernelError::runtime(
                e.op,
                format!("{}; the pool size is now {back}", e.message),
            ))
        }
    };
    LAST_GOOD.store(n, Ordering::Relaxed);
    let out = pool.install(f);
    if home {
        spin::keep_warm(&pool);
    }
    out
}

/// The last pool size a kernel ran with (0: none yet).
static LAST_GOOD: AtomicUsize = AtomicUsize::new(0);

fn last_good() -> usize {
    match LAST_GOOD.load(Ordering::Relaxed) {
        0 => 1,
        n => n,
    }
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

/// Replaces the pool with one of `n` threads (`1 <= n <= max_threads()`).
///
/// The pool is started now, so that a size the system cannot give fails
/// here, with the old size kept, rather than in the next kernel call.
pub fn set_num_threads(n: usize) -> Result<()> {
    if !(1..=max_threads()).contains(&n) {
        return Err(KernelError::value(
            "set_num_threads",
            format!("n: expected an integer in 1..={}, got {n}", max_threads()),
        ));
    }
    pool_for(n)?;
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
