use super::*;

thread_local! {
    pub(super) static STACK_FOR_TEST: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
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
    let before = os_threads();
    let e = start_with_stack(4, 1 << 50).unwrap_err();
    assert!(e.to_string().contains("could not start"), "{e}");
    assert_eq!(os_threads(), before);
}

fn os_threads() -> Option<usize> {
    std::fs::read_dir("/proc/self/task").ok().map(|d| d.count())
}

/// `start`, with every thread after the second asking for `stack` bytes.
fn start_with_stack(n: usize, stack: usize) -> Result<ThreadPool> {
    STACK_FOR_TEST.with(|s| s.set(stack));
    let r = start(n, false);
    STACK_FOR_TEST.with(|s| s.set(0));
    r
}
