use super::*;

#[test]
fn overlap_detection() {
    assert!(non_overlapping(&[1, 3, 4], &[0, 4, 1]));
    assert!(non_overlapping(&[2, 3, 4], &[12, 1, 3]));
    assert!(!non_overlapping(&[2, 3, 4], &[0, 4, 1]));
    assert!(!non_overlapping(&[1, 3, 4], &[0, 2, 1]));
}

#[test]
fn rejects_overflowing_strides() {
    let g = Gemm {
        a: Strides {
            row: usize::MAX / 2,
            col: 1,
            batch: 0,
        },
        ..Gemm::new(3, 4, 5)
    };
    let mut c = vec![0.0; 12];
    assert!(sgemm(&g, &[0.0; 15], &[0.0; 20], &mut c).is_err());
}

#[test]
fn rejects_short_buffers() {
    let g = Gemm::new(3, 4, 5);
    let mut c = vec![0.0; 12];
    assert!(sgemm(&g, &[0.0; 14], &[0.0; 20], &mut c).is_err());
    assert!(sgemm(&g, &[0.0; 15], &[0.0; 20], &mut c).is_ok());
}
