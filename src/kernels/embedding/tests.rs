use super::*;

#[test]
fn gather_and_scatter_match_a_loop() {
    let (num, d) = (7, 5);
    let w: Vec<f32> = (0..num * d).map(|i| i as f32 * 0.5).collect();
    let ids = [3i64, 0, 6, 3, 3, 1];
    let mut out = vec![0.0; ids.len() * d];
    embedding(&w, num, d, &ids, &mut out).unwrap();
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(
            &out[i * d..(i + 1) * d],
            &w[id as usize * d..(id as usize + 1) * d]
        );
    }
    let dy: Vec<f32> = (0..ids.len() * d).map(|i| (i as f32).sin()).collect();
    let mut dw = vec![f32::NAN; num * d];
    embedding_backward(&dy, &ids, num, d, &mut dw).unwrap();
    let mut want = vec![0.0f32; num * d];
    for (i, &id) in ids.iter().enumerate() {
        for j in 0..d {
            want[id as usize * d + j] += dy[i * d + j];
        }
    }
    assert_eq!(dw, want);
}

#[test]
fn bad_ids_are_named() {
    let w = vec![0.0; 6];
    let mut out = vec![0.0; 6];
    let e = embedding(&w, 3, 2, &[0, 3, 1], &mut out).unwrap_err();
    assert!(e.message.contains("ids[1] = 3"), "{e}");
    let e = embedding(&w, 3, 2, &[-1, 0, 1], &mut out).unwrap_err();
    assert!(e.message.contains("ids[0] = -1"), "{e}");
}
