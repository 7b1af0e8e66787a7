use super::*;

#[test]
fn chunk_len_is_bounded() {
    assert_eq!(chunk_len(0, 10, 100), 1);
    assert_eq!(chunk_len(1000, 10, 100), 10);
    assert_eq!(chunk_len(5, 1, 100), 5);
}

#[test]
fn set_threads_rejects_zero() {
    assert!(set_num_threads(0).is_err());
}
