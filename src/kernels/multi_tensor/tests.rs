use super::*;

#[test]
fn chunks_cover_the_concatenation_in_order() {
    let lens = [5usize, 0, 1, 12, 3];
    let data: Vec<Vec<f32>> = lens
        .iter()
        .scan(0.0f32, |k, &n| {
            let v = (0..n).map(|j| *k + j as f32).collect();
            *k += n as f32;
            Some(v)
        })
        .collect();
    let cs = chunks(data.iter().map(|v| v.as_slice()), 4);
    // 21 elements in chunks of 4: five full chunks and one of 1.
    assert_eq!(cs.len(), 6);
    let mut flat = Vec::new();
    for (c, pieces) in cs.iter().enumerate() {
        let n: usize = pieces.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(n, if c < 5 { 4 } else { 1 });
        for (i, p) in pieces {
            assert!(!p.is_empty() && lens[*i] > 0);
            flat.extend_from_slice(p);
        }
    }
    let want: Vec<f32> = (0..21).map(|x| x as f32).collect();
    assert_eq!(flat, want);
    assert!(chunks(Vec::<&[f32]>::new(), 4).is_empty());
}
