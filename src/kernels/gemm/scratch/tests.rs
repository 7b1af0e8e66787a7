use super::*;

#[test]
fn aligned_and_reentrant() {
    with_scratch(Slot::B, 100, |outer| {
        assert_eq!(outer.as_ptr() as usize % 64, 0);
        outer.fill(1.0);
        with_scratch(Slot::B, 50, |inner| {
            assert_eq!(inner.len(), 50);
            inner.fill(2.0);
        });
        assert!(outer.iter().all(|&x| x == 1.0));
    });
}

#[test]
fn large_buffers_are_huge_page_aligned_and_reused() {
    let len = HUGE_MIN / 4 + 3;
    let first = with_scratch(Slot::Edge, len, |buf| {
        assert_eq!(buf.len(), len);
        assert_eq!(buf.as_ptr() as usize % HUGE_PAGE, 0);
        assert!(
            buf.iter().all(|&x| x == 0.0),
            "a fresh buffer is zero-filled"
        );
        buf.fill(3.0);
        buf.as_ptr() as usize
    });
    // A smaller request on the same thread takes the kept buffer back.
    let again = with_scratch(Slot::Edge, 10, |buf| {
        assert_eq!(buf.len(), 10);
        buf.as_ptr() as usize
    });
    assert_eq!(first, again);
}

#[test]
fn impossible_sizes_fail_with_a_memory_error() {
    let caught = std::panic::catch_unwind(|| with_scratch(Slot::Edge, usize::MAX / 2, |_| ()));
    let payload = caught.expect_err("an impossible buffer must not be handed out");
    assert!(payload.downcast_ref::<KernelError>().is_some());
}
