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
