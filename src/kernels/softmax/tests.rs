use super::*;
use crate::kernels::test_util::*;

fn ref_softmax(x: &[f32], rows: usize, n: usize, scale: f32, mask: Option<&[f32]>) -> Vec<f64> {
    let mut out = vec![0.0; rows * n];
    for r in 0..rows {
        let t: Vec<f64> = (0..n)
            .map(|j| x[r * n + j] as f64 * scale as f64 + mask.map_or(0.0, |m| m[j] as f64))
            .collect();
        let m = t.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let s: f64 = t.iter().map(|v| (v - m).exp()).sum();
        for j in 0..n {
            out[r * n + j] = (t[j] - m).exp() / s;
        }
    }
    out
}

#[test]
fn forward_matches_f64_reference() {
    for (rows, n) in SHAPES {
        let x = values(rows * n, 1, 4.0);
        let mask = values(n, 2, 1.0);
        let mut y = vec![0.0; rows * n];
        softmax(&x, &mut y, rows, n, 0.7, Mask::Row(&mask)).unwrap();
        assert_close(
            &y,
            &ref_softmax(&x, rows, n, 0.7, Some(&mask)),
            1e-7,
            1e-5,
            "softmax",
        );
        let full: Vec<f32> = (0..rows).flat_map(|_| mask.iter().cloned()).collect();
        let mut y2 = vec![0.0; rows * n];
        softmax(&x, &mut y2, rows, n, 0.7, Mask::Full(&full)).unwrap();
        assert_eq!(y, y2);
    }
}

#[test]
fn log_softmax_and_backwards_match_reference() {
    for (rows, n) in SHAPES {
        let x = values(rows * n, 3, 5.0);
        let dy = values(rows * n, 4, 1.0);
        let p = ref_softmax(&x, rows, n, 1.0, None);
        let mut y = vec![0.0; rows * n];
        log_softmax(&x, &mut y, rows, n).unwrap();
        let want: Vec<f64> = p.iter().map(|v| v.ln()).collect();
        assert_close(&y, &want, 1e-5, 1e-5, "log_softmax");
        // backward of softmax with scale 2
        let p2 = ref_softmax(&x, rows, n, 2.0, None);
        let y2: Vec<f32> = p2.iter().map(|&v| v as f32).collect();
        let mut dx = vec![0.0; rows * n];
        softmax_backward(&y2, &dy, &mut dx, rows, n, 2.0).unwrap();
        let mut want = vec![0.0; rows * n];
        for r in 0..rows {
            let d: f64 = (0..n)
                .map(|j| dy[r * n + j] as f64 * y2[r * n + j] as f64)
                .sum();
            for j in 0..n {
                let k = r * n + j;
                want[k] = 2.0 * y2[k] as f64 * (dy[k] as f64 - d);
            }
        }
        assert_close(&dx, &want, 1e-6, 1e-5, "softmax_backward");
        let mut dx = vec![0.0; rows * n];
        log_softmax_backward(&y, &dy, &mut dx, rows, n).unwrap();
        for r in 0..rows {
            let s: f64 = (0..n).map(|j| dy[r * n + j] as f64).sum();
            for j in 0..n {
                want[r * n + j] = dy[r * n + j] as f64 - p[r * n + j] * s;
            }
        }
        assert_close(&dx, &want, 1e-5, 1e-5, "log_softmax_backward");
    }
}

#[test]
fn fully_masked_row_is_nan_and_infinite_mask_entries_are_zero() {
    let x = [1.0, 2.0, 3.0, 1.0, 2.0, 3.0];
    let mask = [
        0.0,
        f32::NEG_INFINITY,
        0.0,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
        f32::NEG_INFINITY,
    ];
    let mut y = [0.0; 6];
    softmax(&x, &mut y, 2, 3, 1.0, Mask::Full(&mask)).unwrap();
    assert_eq!(y[1], 0.0);
    assert!((y[0] + y[2] - 1.0).abs() < 1e-6);
    assert!(y[3..].iter().all(|v| v.is_nan()));
}

#[test]
fn bitwise_equal_across_thread_counts() {
    let (rows, n) = (300, 1000);
    let x = values(rows * n, 5, 3.0);
    let run = |t| {
        with_threads(t, || {
            let mut y = vec![0.0; rows * n];
            softmax(&x, &mut y, rows, n, 1.0, Mask::None).unwrap();
            y
        })
    };
    assert_eq!(run(1), run(2));
}

#[test]
fn shape_errors() {
    let mut y = [0.0; 4];
    assert!(softmax(&[0.0; 5], &mut y, 2, 2, 1.0, Mask::None).is_err());
    assert!(softmax(&[0.0; 4], &mut y, 2, 2, 1.0, Mask::Row(&[0.0; 3])).is_err());
}

/// `exp_or_zero` and `V::exp` over arguments around both ends of the clamp,
/// the subnormal range, ±∞ and NaN, each level.
struct ExpBits<'a> {
    t: &'a [f32],
    ours: &'a mut [f32],
    shared: &'a mut [f32],
}

impl Kernel for ExpBits<'_> {
    type Output = ();
    unsafe fn run<V: F32Vec>(self) {
        for (o, l) in steps::<V>(self.t.len()) {
            let t = ld::<V>(self.t, o, l, 0.0);
            st::<V>(self.ours, o, l, exp_or_zero::<V>(t));
            st::<V>(self.shared, o, l, V::exp(t));
        }
    }
}

#[test]
fn exp_or_zero_has_the_exp_bits() {
    let mut t: Vec<f32> = (0..4000).map(|i| -110.0 + i as f32 * 0.0301).collect();
    t.extend([
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        -1e30,
        -104.0,
        f32::from_bits((-104.0f32).to_bits() + 1),
        f32::from_bits((-104.0f32).to_bits() - 1),
        -87.5,
        0.0,
        -0.0,
        88.0,
        100.0,
    ]);
    for isa in crate::simd::available() {
        let (mut ours, mut shared) = (vec![0.0; t.len()], vec![0.0; t.len()]);
        let k = ExpBits {
            t: &t,
            ours: &mut ours,
            shared: &mut shared,
        };
        crate::simd::dispatch_on(isa, k);
        for (i, (a, b)) in ours.iter().zip(&shared).enumerate() {
            assert!(
                a.to_bits() == b.to_bits(),
                "{}: exp({}) = {a} here, {b} from V::exp",
                isa.name(),
                t[i]
            );
        }
    }
}
