use super::*;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

thread_local! {
    pub(super) static STACK_FOR_TEST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    /// Set by a test that watches the threads `start` spawns from this thread.
    static LIVE_FOR_TEST: std::cell::RefCell<Option<Arc<AtomicUsize>>> =
        const { std::cell::RefCell::new(None) };
}

/// Counts one pool thread as live from its spawn until it returns. Only the
/// pools started by a watching test count, so tests running beside it (each
/// with its own pools and threads) cannot change the count.
pub(super) struct LiveThread(Option<Arc<AtomicUsize>>);

impl LiveThread {
    pub(super) fn for_current_test() -> Self {
        let counter = LIVE_FOR_TEST.with(|l| l.borrow().clone());
        if let Some(c) = &counter {
            c.fetch_add(1, Ordering::SeqCst);
        }
        LiveThread(counter)
    }
}

impl Drop for LiveThread {
    fn drop(&mut self) {
        if let Some(c) = &self.0 {
            c.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

#[test]
fn chunk_len_is_bounded() {
    assert_eq!(chunk_len(0, 10, 100), 1);
    assert_eq!(chunk_len(1000, 10, 100), 10);
    assert_eq!(chunk_len(5, 1, 100), 5);
}

#[test]
fn set_threads_rejects_zero_and_absurd_counts() {
    assert!(set_num_threads(0).is_err());
    let e = set_num_threads(max_threads() + 1).unwrap_err();
    assert!(e.to_string().contains("expected an integer in 1..="), "{e}");
}

#[test]
fn failed_start_stops_the_threads_it_started() {
    // A thread that cannot start: a stack larger than the address space
    // is refused by the OS, after the first threads started fine.
    // Counted per test, not by /proc/self/task: tests run in parallel and
    // start threads of their own, which made a process-wide count flaky.
    let live = Arc::new(AtomicUsize::new(0));
    LIVE_FOR_TEST.with(|l| *l.borrow_mut() = Some(live.clone()));
    let e = start_with_stack(4, 1 << 50).unwrap_err();
    LIVE_FOR_TEST.with(|l| *l.borrow_mut() = None);
    assert!(e.to_string().contains("could not start"), "{e}");
    assert!(e.to_string().contains("the 2 started were stopped"), "{e}");
    assert_eq!(
        live.load(Ordering::SeqCst),
        0,
        "a started thread is still running"
    );
}

/// `start`, with every thread after the second asking for `stack` bytes.
fn start_with_stack(n: usize, stack: usize) -> Result<ThreadPool> {
    STACK_FOR_TEST.with(|s| s.set(stack));
    let r = start(n, false);
    STACK_FOR_TEST.with(|s| s.set(0));
    r
}
