use super::*;

#[test]
fn zeroed_is_zero_at_every_size() {
    for n in [0, 1, 1000, (MIN_BYTES / 4) + 12345, 3 * (MIN_BYTES / 4)] {
        let v = zeroed(&[n]).unwrap();
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|&x| x == 0.0));
    }
}
