use super::*;
use crate::kernels::test_util::{values, with_threads};
use crate::simd::{available, dispatch_on};

fn tensors() -> Vec<Vec<f32>> {
    // Odd sizes, an empty one, one spanning several chunks.
    [0usize, 1, 7, 31, 33, 127, 4099, CHUNK + 5, 2 * CHUNK + 17]
        .iter()
        .enumerate()
        .map(|(k, &n)| values(n, k as u64 + 1, 3.0))
        .collect()
}

#[test]
fn norm_matches_f64_reference_and_is_thread_independent() {
    let ts = tensors();
    let xs: Vec<&[f32]> = ts.iter().map(|t| t.as_slice()).collect();
    let want: f64 = ts.iter().flatten().map(|&x| (x as f64) * (x as f64)).sum();
    let one = with_threads(1, || total_norm2(&xs));
    let two = with_threads(2, || total_norm2(&xs));
    assert_eq!(one.to_bits(), two.to_bits());
    assert!(
        (one - want.sqrt()).abs() <= 1e-12 * want.sqrt(),
        "{one} vs {}",
        want.sqrt()
    );
    assert_eq!(total_norm2(&[]), 0.0);
    assert!(total_norm2(&[&[1.0, f32::INFINITY]]).is_infinite());
    assert!(total_norm2(&[&[1.0], &[f32::NAN]]).is_nan());
}

#[test]
fn piece_sums_are_identical_on_every_isa() {
    let x = values(1000, 9, 2.0);
    let want = dispatch_on(crate::simd::Isa::Scalar, SumSquares { x: &x });
    for level in available() {
        let got = dispatch_on(level, SumSquares { x: &x });
        assert_eq!(got.to_bits(), want.to_bits(), "{level:?}");
        let mut y = x.clone();
        dispatch_on(level, Scale { x: &mut y, c: -1.5 });
        assert!(y.iter().zip(&x).all(|(a, b)| *a == b * -1.5), "{level:?}");
    }
}

#[test]
fn scale_multiplies_every_element_once() {
    let mut ts = tensors();
    let want: Vec<Vec<f32>> = ts
        .iter()
        .map(|t| t.iter().map(|&x| x * 0.37f32).collect())
        .collect();
    with_threads(2, || {
        scale(ts.iter_mut().map(|t| t.as_mut_slice()).collect(), 0.37)
    });
    assert_eq!(ts, want);
}

#[test]
fn accumulate_adds_every_element_once_at_any_thread_count() {
    for n in [0usize, 1, 7, CHUNK - 1, CHUNK + 5, 3 * CHUNK + 17] {
        let (a, b) = (values(n, 3, 1.0), values(n, 4, 2.0));
        let want: Vec<f32> = a.iter().zip(&b).map(|(x, y)| x + y).collect();
        for threads in [1, 2, 3] {
            let mut acc = a.clone();
            with_threads(threads, || accumulate(&mut acc, &b));
            assert_eq!(acc, want, "n {n} threads {threads}");
        }
    }
}
