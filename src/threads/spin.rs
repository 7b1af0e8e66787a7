//! Keeping the home pool's workers awake between kernel calls.
//!
//! A training step makes many short kernel calls separated by a little
//! Python. Rayon workers with nothing to do yield a few dozen times and then
//! sleep on a futex, so the next call's parallel loop waits for the kernel to
//! wake them (tens of µs on a VM) or runs unsplit. Like an OpenMP runtime's
//! spin-wait (`GOMP_SPINCOUNT`, `KMP_BLOCKTIME`), after each call the other
//! workers are given a job that keeps looking for work for `ATTNRS_SPIN_US`
//! µs (default 1000; 0 turns it off) since the last call ended. It trades idle
//! CPU time for latency; it never changes results.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use rayon::{ThreadPool, Yield};

fn spin_window() -> Duration {
    static SPIN: OnceLock<Duration> = OnceLock::new();
    *SPIN.get_or_init(|| {
        let us = std::env::var("ATTNRS_SPIN_US")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1000);
        Duration::from_micros(us)
    })
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// When the home thread's last kernel call ended, in ns since `epoch()`.
static LAST_CALL_END: AtomicU64 = AtomicU64::new(0);
/// Spin jobs spawned and not yet finished.
static SPINNERS: AtomicUsize = AtomicUsize::new(0);

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// Records that the home thread finished a kernel call (cheap: one clock read).
pub(super) fn touch() {
    LAST_CALL_END.store(now_ns(), Ordering::Relaxed);
}

/// Called by the home thread after a call on `pool`: make sure each of the
/// pool's other workers runs a spin job.
pub(super) fn keep_warm(pool: &ThreadPool) {
    let window = spin_window();
    if window.is_zero() {
        return;
    }
    touch();
    let others = pool.current_num_threads().saturating_sub(1);
    while SPINNERS.load(Ordering::Acquire) < others {
        SPINNERS.fetch_add(1, Ordering::AcqRel);
        let window_ns = window.as_nanos() as u64;
        pool.spawn(move || spin(window_ns));
    }
}

fn spin(window_ns: u64) {
    // Worker 0 is the home thread itself: it can pick up injected jobs while
    // it waits inside a parallel loop, and must not spin there.
    if rayon::current_thread_index() != Some(0) {
        loop {
            match rayon::yield_now() {
                Some(Yield::Executed) => {}
                _ => {
                    let idle = now_ns().saturating_sub(LAST_CALL_END.load(Ordering::Relaxed));
                    if idle > window_ns {
                        break;
                    }
                    for _ in 0..64 {
                        std::hint::spin_loop();
                    }
                }
            }
        }
    }
    SPINNERS.fetch_sub(1, Ordering::AcqRel);
}
