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

/// The default window, and the largest one `ATTNRS_SPIN_US` may ask for:
/// spinning is for the short gaps between the calls of a training step, and
/// a long window only burns idle CPU time.
const DEFAULT_US: u64 = 1000;
const MAX_US: u64 = 100_000;

fn spin_setting() -> &'static (Duration, Option<String>) {
    static SPIN: OnceLock<(Duration, Option<String>)> = OnceLock::new();
    SPIN.get_or_init(|| {
        let (us, warning) = match std::env::var("ATTNRS_SPIN_US") {
            Err(std::env::VarError::NotPresent) => (DEFAULT_US, None),
            Err(e) => (DEFAULT_US, Some(format!("ATTNRS_SPIN_US: {e}; using {DEFAULT_US}"))),
            Ok(s) => match s.trim().parse::<u64>() {
                Ok(us) if us <= MAX_US => (us, None),
                Ok(_) => (
                    MAX_US,
                    Some(format!("ATTNRS_SPIN_US={s:?} is above the limit {MAX_US}; using {MAX_US}")),
                ),
                Err(_) => (
                    DEFAULT_US,
                    Some(format!(
                        "ATTNRS_SPIN_US={s:?} is not an integer in 0..={MAX_US} (µs); using {DEFAULT_US}"
                    )),
                ),
            },
        };
        (Duration::from_micros(us), warning)
    })
}

fn spin_window() -> Duration {
    spin_setting().0
}

/// What was wrong with `ATTNRS_SPIN_US`, if anything.
pub(super) fn window_warning() -> Option<String> {
    spin_setting().1.clone()
}

/// In a forked child: the spin jobs of the parent's pools do not exist.
pub(super) fn forget_spinners() {
    SPINNERS.store(0, Ordering::Release);
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
