//! Noticing that the process was forked.
//!
//! A forked child has only the thread that called `fork`; the workers of
//! every pool started before are gone, so a job handed to one of those pools
//! would wait forever. A `pthread_atfork` child handler bumps a generation
//! number; pools remember the generation they were started in, and a child
//! starts new ones (or leaves them to a later call) instead of using them.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Once;

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// How many forks lie between the process that started and this one.
pub(super) fn generation() -> u64 {
    register();
    GENERATION.load(Ordering::Acquire)
}

#[cfg(unix)]
fn register() {
    static ONCE: Once = Once::new();
    extern "C" fn in_child() {
        // Only atomic stores: the child of a multi-threaded process may run
        // nothing that takes a lock before it calls `exec` or returns here.
        GENERATION.fetch_add(1, Ordering::AcqRel);
        super::spin::forget_spinners();
    }
    extern "C" {
        fn pthread_atfork(
            prepare: Option<extern "C" fn()>,
            parent: Option<extern "C" fn()>,
            child: Option<extern "C" fn()>,
        ) -> i32;
    }
    ONCE.call_once(|| {
        // SAFETY: registers a handler that only touches atomics; the
        // function pointers are 'static. A failure (ENOMEM) leaves fork
        // undetected, as it was before.
        unsafe {
            pthread_atfork(None, None, Some(in_child));
        }
    });
}

#[cfg(not(unix))]
fn register() {}

#[cfg(all(test, target_os = "linux"))]
mod tests;
