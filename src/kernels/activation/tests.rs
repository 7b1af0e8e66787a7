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

/// The exact GELU vector by vector through `fwd` / `bwd` (the per-vector
/// range test), as the kernel ran before its grouped loop.
struct PerVector<'a> {
    x: &'a [f32],
    dy: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl crate::simd::Kernel for PerVector<'_> {
    type Output = ();
    unsafe fn run<V: F32Vec>(self) {
        for (o, l) in steps::<V>(self.x.len()) {
            let x = ld::<V>(self.x, o, l, 0.0);
            let y = match self.dy {
                None => fwd::<V>(Act::Gelu, x),
                Some(dy) => bwd::<V>(Act::Gelu, x, ld::<V>(dy, o, l, 0.0)),
            };
            st::<V>(self.out, o, l, y);
        }
    }
}

#[test]
fn gelu_groups_give_the_per_vector_bits() {
    // Groups all in range, groups with one lane past 2√2 (in any of the four
    // vectors), NaN lanes alone and beside an out-of-range lane of another
    // vector (the max tree must not hide it), infinities, and lengths that
    // leave partial groups and partial vectors.
    let mut x = values(4099, 7, 2.0);
    for (i, v) in x.iter_mut().enumerate() {
        // Period 512: the groups (32 or 64 elements) start at the same
        // offsets in every period.
        match i % 512 {
            200 => *v = f32::NAN,
            // The same lane of the next vector (8 and 16 lanes on) holds a
            // NaN before or after a flagged 3.5: `maxps` returns whichever
            // is its second operand, and neither may hide the 3.5.
            5 | 141 | 149 => *v = f32::NAN,
            13 | 21 | 133 => *v = 3.5,
            40 => *v = -9.0,
            77 => *v = f32::INFINITY,
            90 => *v = f32::NEG_INFINITY,
            _ => {}
        }
    }
    for (i, v) in x[2048..].iter_mut().enumerate() {
        *v *= if i < 1024 { 0.2 } else { 1.3 };
    }
    let dy = values(x.len(), 8, 1.0);
    for isa in crate::simd::available() {
        for n in [0, 1, 7, 31, 64, 65, 127, 128, 129, 1000, x.len()] {
            for dy in [None, Some(&dy[..n])] {
                let (mut got, mut want) = (vec![0.0f32; n], vec![0.0f32; n]);
                let x = &x[..n];
                let act = Act::Gelu;
                crate::simd::dispatch_on(
                    isa,
                    Map {
                        act,
                        x,
                        dy,
                        out: &mut got,
                    },
                );
                crate::simd::dispatch_on(
                    isa,
                    PerVector {
                        x,
                        dy,
                        out: &mut want,
                    },
                );
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        g.to_bits() == w.to_bits(),
                        "{} n={n} bwd={}: [{i}] x={} got {g} want {w}",
                        isa.name(),
                        dy.is_some(),
                        x[i]
                    );
                }
            }
        }
    }
}
