use super::*;

#[test]
fn child_sees_a_new_generation() {
    extern "C" {
        fn fork() -> i32;
        fn waitpid(pid: i32, status: *mut i32, options: i32) -> i32;
        fn _exit(code: i32) -> !;
    }
    let before = generation();
    // SAFETY: the child only reads an atomic and exits without running
    // destructors or touching locks.
    let pid = unsafe { fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let code = if GENERATION.load(Ordering::Acquire) == before + 1 {
            0
        } else {
            1
        };
        // SAFETY: `_exit` ends the child immediately.
        unsafe { _exit(code) }
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked; `status` is a valid out pointer.
    unsafe { waitpid(pid, &mut status, 0) };
    assert_eq!(status, 0, "the child saw no new generation");
    assert_eq!(generation(), before);
}
