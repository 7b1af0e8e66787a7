use super::*;
use crate::simd::{available, dispatch_on, Kernel};

/// Applies tanh (`sig` false) or sigmoid to `x` in place on the vector type
/// of the level it is dispatched to (tails through the masked load/store).
struct Apply<'a> {
    sig: bool,
    x: &'a mut [f32],
}

impl Kernel for Apply<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        for c in self.x.chunks_mut(V::LANES) {
            let v = if c.len() == V::LANES {
                V::load(c)
            } else {
                V::load_partial(c, 0.0)
            };
            let y = if self.sig {
                sigmoid::<V>(v)
            } else {
                tanh::<V>(v)
            };
            if c.len() == V::LANES {
                V::store(c, y)
            } else {
                V::store_partial(c, y)
            }
        }
    }
}

/// `x` through tanh (`sig` false) or sigmoid on `isa`.
fn apply(isa: crate::simd::Isa, sig: bool, x: &[f32]) -> Vec<f32> {
    let mut y = x.to_vec();
    dispatch_on(isa, Apply { sig, x: &mut y });
    y
}

fn grid(lo: f32, hi: f32, n: usize) -> Vec<f32> {
    (0..n)
        .map(|k| lo + (hi - lo) * k as f32 / (n - 1) as f32)
        .collect()
}

fn ulp(y: f64) -> f64 {
    let y = (y as f32).abs().max(f32::MIN_POSITIVE);
    (f32::from_bits(y.to_bits() + 1) - y) as f64
}

#[test]
fn rational_tanh_and_sigmoid_accuracy() {
    // A dense grid over the whole curved part, a fine one around 0, and an
    // odd length so every ISA runs a masked tail too.
    let mut x = grid(-20.0, 20.0, (1 << 20) + 3);
    x.extend(grid(-1e-3, 1e-3, 4097));
    for isa in available() {
        let t = apply(isa, false, &x);
        let (mut abs_t, mut ulps) = (0.0f64, 0.0f64);
        for (&v, &y) in x.iter().zip(&t) {
            let want = (v as f64).tanh();
            let e = (y as f64 - want).abs();
            abs_t = abs_t.max(e);
            ulps = ulps.max(e / ulp(want));
        }
        let s = apply(isa, true, &x);
        let mut abs_s = 0.0f64;
        for (&v, &y) in x.iter().zip(&s) {
            let want = 1.0 / (1.0 + (-(v as f64)).exp());
            abs_s = abs_s.max((y as f64 - want).abs());
            assert!((0.0..=1.0).contains(&y), "{isa:?}: sigmoid({v}) = {y}");
        }
        eprintln!("{isa:?}: tanh {abs_t:.3e} abs, {ulps:.2} ulp; sigmoid {abs_s:.3e} abs");
        assert!(
            abs_t <= 3e-7 && ulps <= 5.0,
            "{isa:?}: tanh {abs_t:e} abs, {ulps} ulp"
        );
        assert!(abs_s <= 2e-7, "{isa:?}: sigmoid {abs_s:e} abs");
    }
}

#[test]
fn rational_special_values() {
    let x = [
        f32::NEG_INFINITY,
        f32::INFINITY,
        -200.0,
        200.0,
        0.0,
        -0.0,
        f32::NAN,
    ];
    for isa in available() {
        let t = apply(isa, false, &x);
        assert_eq!(&t[..4], &[-1.0, 1.0, -1.0, 1.0], "{isa:?}");
        assert!(
            t[4] == 0.0 && t[4].is_sign_positive(),
            "{isa:?}: tanh(0) = {}",
            t[4]
        );
        assert!(
            t[5] == 0.0 && t[5].is_sign_negative(),
            "{isa:?}: tanh(-0) = {}",
            t[5]
        );
        assert!(t[6].is_nan(), "{isa:?}");
        let s = apply(isa, true, &x);
        assert_eq!(&s[..5], &[0.0, 1.0, 0.0, 1.0, 0.5], "{isa:?}");
        assert!(s[6].is_nan(), "{isa:?}");
    }
}
