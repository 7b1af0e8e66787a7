use super::*;

#[test]
fn zeroed_is_zero_at_every_size() {
    for n in [0, 1, 1000, (MIN_BYTES / 4) + 12345, 3 * (MIN_BYTES / 4)] {
        let v = zeroed(&[n]).unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}

#[test]
fn scratch_is_reused_and_sized() {
    let n = KEEP_MIN_BYTES / 4 + 77;
    let mut a = Scratch::take(&[n]).unwrap();
    assert_eq!(a.len(), n);
    a.fill(3.0);
    let ptr = a.as_ptr();
    drop(a);
    // The kept buffer comes back (any contents), shorter or longer within its capacity.
    let b = Scratch::take(&[n - 10]).unwrap();
    assert_eq!(b.len(), n - 10);
    let reused = b.as_ptr() == ptr;
    drop(b);
    let c = Scratch::take(&[n]).unwrap();
    assert_eq!(c.len(), n);
    if reused {
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(c[n - 11], 3.0, "contents are kept, not cleared");
    }
    // Small buffers are not kept; sizes overflow cleanly.
    drop(Scratch::take(&[10]).unwrap());
    assert!(Scratch::take(&[usize::MAX, 2]).is_err());
}
