//! The level list and names; and the accuracy of `exp`, `tanh`, `sigmoid`, `erfc`
//! and `normal_cdf` on every ISA this CPU has, in ulp against f64 references over
//! dense grids, plus the special values (±inf, NaN, under/overflow) and the
//! partial load/store helpers.

use super::vector::F32Vec;
use super::{available, dispatch_on, isa, Isa, Kernel};

#[test]
fn scalar_is_always_available_and_last() {
    let a = available();
    assert_eq!(*a.last().unwrap(), Isa::Scalar);
    assert!(a.contains(&isa()));
}

#[test]
fn parse_round_trips() {
    for l in [Isa::Scalar, Isa::Neon, Isa::Avx2, Isa::Avx512] {
        assert_eq!(Isa::parse(l.name()), Some(l));
    }
    assert_eq!(Isa::parse("sse9"), None);
}

#[derive(Clone, Copy)]
enum Op {
    Exp,
    Tanh,
    Sigmoid,
    Erfc,
    NormalCdf,
}

#[inline(always)]
unsafe fn op_v<V: F32Vec>(op: Op, v: V::V) -> V::V {
    match op {
        Op::Exp => V::exp(v),
        Op::Tanh => V::tanh(v),
        Op::Sigmoid => V::sigmoid(v),
        Op::Erfc => V::erfc(v),
        Op::NormalCdf => super::normal_cdf::normal_cdf::<V>(v),
    }
}

/// Applies `op` to `x` with full vectors and a partial tail (no closure, so
/// the vector code inlines into the `#[target_feature]` shims below).
#[inline(always)]
unsafe fn apply<V: F32Vec>(op: Op, x: &[f32], y: &mut [f32]) {
    let mut i = 0;
    while i + V::LANES <= x.len() {
        V::store(&mut y[i..], op_v::<V>(op, V::load(&x[i..])));
        i += V::LANES;
    }
    if i < x.len() {
        V::store_partial(&mut y[i..], op_v::<V>(op, V::load_partial(&x[i..], 0.0)));
    }
}

/// `apply` as a `Kernel`, so `dispatch_on` runs it under each level's shim.
struct Apply<'a> {
    op: Op,
    x: &'a [f32],
    y: &'a mut [f32],
}

impl Kernel for Apply<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        apply::<V>(self.op, self.x, self.y)
    }
}

fn run(isa: Isa, op: Op, x: &[f32]) -> Vec<f32> {
    let mut y = vec![f32::NAN; x.len()];
    dispatch_on(isa, Apply { op, x, y: &mut y });
    y
}

/// |got − want| in units of the f32 ulp at `want` (normal range).
fn ulps(got: f32, want: f64) -> f64 {
    let w = want as f32;
    let a = w.abs().max(f32::MIN_POSITIVE);
    let ulp = (f32::from_bits(a.to_bits() + 1) - a) as f64;
    (got as f64 - want).abs() / ulp
}

fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| lo + (hi - lo) * (i as f32 / (n - 1) as f32))
        .collect()
}

fn max_ulps(isa: Isa, op: Op, x: &[f32], reference: impl Fn(f64) -> f64) -> (f64, f32) {
    let y = run(isa, op, x);
    let mut worst = (0.0, 0.0);
    for (&xi, &yi) in x.iter().zip(&y) {
        let u = ulps(yi, reference(xi as f64));
        if u > worst.0 || u.is_nan() {
            worst = (u, xi);
        }
    }
    worst
}

#[test]
fn exp_is_within_2_ulp_over_the_normal_range() {
    // Normal results: x ∈ [-87.33, 88.72]; a dense grid plus [-1, 1] finer.
    let mut x = grid(-87.33, 88.72, 1 << 21);
    x.extend(grid(-1.0, 1.0, 1 << 18));
    for isa in available() {
        let (u, at) = max_ulps(isa, Op::Exp, &x, f64::exp);
        eprintln!("{}: exp max error {u:.3} ulp at x={at}", isa.name());
        assert!(u <= 2.0, "{}: exp max error {u} ulp at x={at}", isa.name());
    }
}

#[test]
fn exp_subnormal_results_are_within_one_subnormal_step() {
    let x = grid(-103.9, -87.34, 100_003);
    let step = f32::from_bits(1) as f64;
    for isa in available() {
        let y = run(isa, Op::Exp, &x);
        for (&xi, &yi) in x.iter().zip(&y) {
            let err = (yi as f64 - (xi as f64).exp()).abs();
            assert!(err <= step, "{}: exp({xi}) = {yi:e}", isa.name());
        }
    }
}

#[test]
fn exp_special_values() {
    let x = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        -1000.0,
        1000.0,
        88.73,
        89.5,
        -104.0,
        0.0,
        -0.0,
        88.72,
    ];
    for isa in available() {
        let y = run(isa, Op::Exp, &x);
        let n = isa.name();
        assert_eq!(y[0], 0.0, "{n}: exp(-inf)");
        assert_eq!(y[1], f32::INFINITY, "{n}: exp(inf)");
        assert!(y[2].is_nan(), "{n}: exp(nan)");
        assert_eq!(y[3], 0.0, "{n}: exp(-1000)");
        assert_eq!(y[4], f32::INFINITY, "{n}: exp(1000)");
        assert_eq!(y[5], f32::INFINITY, "{n}: exp(88.73)");
        assert_eq!(y[6], f32::INFINITY, "{n}: exp(89.5)");
        assert_eq!(y[7], 0.0, "{n}: exp(-104)");
        assert_eq!(y[8], 1.0, "{n}: exp(0)");
        assert_eq!(y[9], 1.0, "{n}: exp(-0)");
        assert!(
            y[10].is_finite() && y[10] > 3.3e38,
            "{n}: exp(88.72) = {}",
            y[10]
        );
    }
}

#[test]
fn tanh_and_sigmoid_are_within_4_ulp() {
    let mut x = grid(-12.0, 12.0, 1 << 20);
    x.extend(grid(-1e-3, 1e-3, 4097));
    for isa in available() {
        let (u, at) = max_ulps(isa, Op::Tanh, &x, f64::tanh);
        eprintln!("{}: tanh max error {u:.3} ulp at x={at}", isa.name());
        assert!(u <= 4.0, "{}: tanh max error {u} ulp at x={at}", isa.name());
        let (u, at) = max_ulps(isa, Op::Sigmoid, &x, |v| 1.0 / (1.0 + (-v).exp()));
        eprintln!("{}: sigmoid max error {u:.3} ulp at x={at}", isa.name());
        assert!(
            u <= 4.0,
            "{}: sigmoid max error {u} ulp at x={at}",
            isa.name()
        );
    }
}

#[test]
fn tanh_sigmoid_special_values() {
    let x = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        f32::NAN,
        -200.0,
        200.0,
        0.0,
    ];
    for isa in available() {
        let t = run(isa, Op::Tanh, &x);
        assert_eq!(&t[..2], &[-1.0, 1.0]);
        assert!(t[2].is_nan());
        assert_eq!(&t[3..], &[-1.0, 1.0, 0.0]);
        let s = run(isa, Op::Sigmoid, &x);
        assert_eq!(&s[..2], &[0.0, 1.0]);
        assert!(s[2].is_nan());
        assert_eq!(&s[3..], &[0.0, 1.0, 0.5]);
    }
}

/// erfc via the continued fraction-free series / asymptotics is not in std;
/// the reference is `erfc(z) = exp(-z²)·w(z)` from a f64 Taylor/Lentz pair.
fn erfc64(x: f64) -> f64 {
    if x < 0.0 {
        return 2.0 - erfc64(-x);
    }
    if x < 2.5 {
        // erf Maclaurin series, converges fast for x < 2.5 in f64.
        let mut term = x;
        let mut sum = x;
        let x2 = x * x;
        let mut k = 0.0;
        loop {
            k += 1.0;
            term *= -x2 / k;
            let add = term / (2.0 * k + 1.0);
            sum += add;
            if add.abs() < 1e-17 * sum.abs() {
                break;
            }
        }
        1.0 - sum * 2.0 / std::f64::consts::PI.sqrt()
    } else {
        // Continued fraction (Lentz) for erfc, accurate for x ≥ 2.5.
        let mut f = x;
        let tiny = 1e-300;
        let mut c = f;
        let mut d = 0.0;
        for n in 1..200 {
            let a = n as f64 / 2.0;
            d = x + a * d;
            d = if d.abs() < tiny { tiny } else { d };
            c = x + a / c;
            c = if c.abs() < tiny { tiny } else { c };
            d = 1.0 / d;
            let delta = c * d;
            f *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (-x * x).exp() / (f * std::f64::consts::PI.sqrt())
    }
}

#[test]
fn erfc_relative_error_is_small_on_both_tails() {
    let x = grid(-6.0, 9.0, 1 << 19);
    for isa in available() {
        let y = run(isa, Op::Erfc, &x);
        for (&xi, &yi) in x.iter().zip(&y) {
            let want = erfc64(xi as f64);
            let rel = (yi as f64 - want).abs() / want;
            assert!(
                rel < 1e-6,
                "{}: erfc({xi}) = {yi:e}, want {want:e}",
                isa.name()
            );
        }
        let s = run(isa, Op::Erfc, &[f32::INFINITY, f32::NEG_INFINITY, f32::NAN]);
        assert_eq!(&s[..2], &[0.0, 2.0]);
        assert!(s[2].is_nan());
    }
}

#[test]
fn partial_loads_and_stores_touch_only_the_slice() {
    for isa in available() {
        for n in 0..40 {
            let x: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
            let y = run(isa, Op::Exp, &x);
            for (i, (&xi, &yi)) in x.iter().zip(&y).enumerate() {
                assert!(
                    ulps(yi, (xi as f64).exp()) <= 2.0,
                    "{} n={n} i={i}",
                    isa.name()
                );
            }
        }
    }
}

fn normal_cdf64(x: f64) -> f64 {
    0.5 * erfc64(-x / std::f64::consts::SQRT_2)
}

#[test]
fn normal_cdf_polynomial_is_within_1_2e_7_absolute() {
    // Every vector of this grid lies in |x| <= 2√2: the polynomial path.
    let lim = 2.0 * std::f32::consts::SQRT_2;
    let mut x = grid(-lim, lim, 1 << 20);
    x.retain(|&v| v * v <= 8.0);
    for isa in available() {
        let y = run(isa, Op::NormalCdf, &x);
        let (mut worst, mut at) = (0.0f64, 0.0f32);
        for (&xi, &yi) in x.iter().zip(&y) {
            let err = (yi as f64 - normal_cdf64(xi as f64)).abs();
            if err > worst || err.is_nan() {
                (worst, at) = (err, xi);
            }
        }
        println!(
            "{}: normal_cdf polynomial max abs error {worst:e} at {at}",
            isa.name()
        );
        assert!(
            worst <= 1.2e-7,
            "{}: |error| {worst:e} at x = {at}",
            isa.name()
        );
    }
}

#[test]
fn normal_cdf_is_relatively_accurate_outside_the_polynomial_range() {
    // Vectors with a lane beyond 2√2 take ½·erfc(−x/√2). Its relative error
    // grows with x² in the left tail because −x/√2 is rounded to f32
    // (d ln erfc(z)/dz ≈ −2z, plus erfc's own z² rounding): bound
    // 2e-6 + 3z²·2⁻²⁴ relative, down to x = −12 (Φ ≈ 1.8e-33, still normal).
    let x: Vec<f32> = grid(-12.0, -2.9, 1 << 18)
        .into_iter()
        .chain(grid(2.9, 9.0, 1 << 16))
        .collect();
    for isa in available() {
        let y = run(isa, Op::NormalCdf, &x);
        let mut worst = 0.0f64;
        for (&xi, &yi) in x.iter().zip(&y) {
            let want = normal_cdf64(xi as f64);
            let rel = (yi as f64 - want).abs() / want;
            let z2 = (xi as f64).powi(2) / 2.0;
            let bound = 2e-6 + 3.0 * z2 * f32::EPSILON as f64 / 2.0;
            worst = worst.max(rel / bound);
            assert!(
                rel <= bound,
                "{}: Φ({xi}) = {yi:e}, want {want:e}",
                isa.name()
            );
        }
        println!(
            "{}: normal_cdf tail worst rel error / bound {worst:.3}",
            isa.name()
        );
    }
}

#[test]
fn normal_cdf_mixed_vectors_and_special_values() {
    // One far lane sends the whole vector down the erfc path; both paths
    // agree to the polynomial's bound on in-range lanes.
    for isa in available() {
        let mut x = grid(-2.5, 2.5, 64);
        x[5] = -9.0;
        x.extend([f32::INFINITY, f32::NEG_INFINITY, f32::NAN, 0.0]);
        let y = run(isa, Op::NormalCdf, &x);
        for (&xi, &yi) in x.iter().zip(&y).take(64) {
            let want = normal_cdf64(xi as f64);
            assert!((yi as f64 - want).abs() <= 1.2e-7 || (yi as f64 - want).abs() / want <= 1e-5);
        }
        assert_eq!(y[64], 1.0, "{}", isa.name());
        assert_eq!(y[65], 0.0, "{}", isa.name());
        assert!(y[66].is_nan(), "{}", isa.name());
        assert_eq!(y[67], 0.5, "{}", isa.name());
        let nan_vec = run(isa, Op::NormalCdf, &[0.5, f32::NAN, -0.5]);
        assert!(nan_vec[1].is_nan(), "{}", isa.name());
    }
}
