use super::*;
use crate::kernels::test_util::*;

fn erfc64(x: f64) -> f64 {
    // Abramowitz–Stegun 7.1.26 is too coarse; integrate the tail numerically
    // with Simpson on [|x|, |x| + 12] (smooth integrand, ample accuracy).
    let a = x.abs();
    let steps = 4000;
    let h = 12.0 / steps as f64;
    let f = |t: f64| (-t * t).exp();
    let mut s = f(a) + f(a + 12.0);
    for i in 1..steps {
        s += f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
    }
    let tail = s * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt();
    if x >= 0.0 {
        tail
    } else {
        2.0 - tail
    }
}

fn reference(act: Act, x: f64) -> (f64, f64) {
    match act {
        Act::Gelu => {
            let cdf = 0.5 * erfc64(-x / 2f64.sqrt());
            let pdf = (-0.5 * x * x).exp() / (2.0 * std::f64::consts::PI).sqrt();
            (x * cdf, cdf + x * pdf)
        }
        Act::GeluTanh => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let u = k * (x + 0.044715 * x * x * x);
            let t = u.tanh();
            let du = k * (1.0 + 3.0 * 0.044715 * x * x);
            (
                0.5 * x * (1.0 + t),
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du,
            )
        }
        Act::Relu => (x.max(0.0), if x > 0.0 { 1.0 } else { 0.0 }),
        Act::Tanh => (x.tanh(), 1.0 - x.tanh().powi(2)),
        Act::Sigmoid => {
            let s = 1.0 / (1.0 + (-x).exp());
            (s, s * (1.0 - s))
        }
    }
}

#[test]
fn forward_and_backward_match_reference() {
    let x: Vec<f32> = values(1001, 41, 8.0);
    let dy = values(1001, 42, 1.0);
    for act in [Act::Gelu, Act::GeluTanh, Act::Relu, Act::Tanh, Act::Sigmoid] {
        let mut y = vec![0.0; x.len()];
        forward(act, &x, &mut y).unwrap();
        let want: Vec<f64> = x.iter().map(|&v| reference(act, v as f64).0).collect();
        assert_close(&y, &want, 1e-6, 1e-5, act.name());
        let saved = if matches!(act, Act::Tanh | Act::Sigmoid) {
            &y
        } else {
            &x
        };
        let mut dx = vec![0.0; x.len()];
        backward(act, saved, &dy, &mut dx).unwrap();
        let want: Vec<f64> = x
            .iter()
            .zip(&dy)
            .map(|(&v, &d)| d as f64 * reference(act, v as f64).1)
            .collect();
        assert_close(&dx, &want, 1e-5, 1e-4, act.name());
    }
}

#[test]
fn gelu_grad_polynomial_is_accurate_on_every_isa() {
    // Every vector of this grid lies in |x| <= 2√2 (the polynomial path of
    // `gelu_grad`); the last points straddle the bound, so the tail vector
    // (and, with 8 lanes, a few more) takes the cdf + exp path as well.
    let lim = 2.0 * std::f32::consts::SQRT_2;
    let n = 1 << 14;
    let mut x: Vec<f32> = (0..n)
        .map(|i| -lim + 2.0 * lim * (i as f32 / (n - 1) as f32))
        .collect();
    x.retain(|&v| v * v <= 8.0);
    x.extend([2.9, -2.9, 3.5, -4.0, 0.0]); // past the bound: the other path
    let dy = vec![1.0f32; x.len()];
    for isa in crate::simd::available() {
        let mut dx = vec![0.0f32; x.len()];
        crate::simd::dispatch_on(
            isa,
            Map {
                act: Act::Gelu,
                x: &x,
                dy: Some(&dy),
                out: &mut dx,
            },
        );
        let (mut worst, mut at) = (0.0f64, 0.0f32);
        for (&xi, &gi) in x.iter().zip(&dx) {
            let err = (gi as f64 - reference(Act::Gelu, xi as f64).1).abs();
            if err > worst || err.is_nan() {
                (worst, at) = (err, xi);
            }
        }
        println!("{}: gelu' max abs error {worst:e} at {at}", isa.name());
        assert!(
            worst <= 2.5e-7,
            "{}: gelu' |error| {worst:e} at x = {at}",
            isa.name()
        );
    }
}
