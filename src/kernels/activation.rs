//! Elementwise activations, forward and backward, over flat buffers:
//! GELU (erf and tanh forms), ReLU, tanh, sigmoid.
//!
//! - gelu (erf):  y = x·Φ(x), Φ(x) = ½·erfc(−x/√2);  dy/dx = Φ(x) + x·φ(x),
//!   φ(x) = exp(−x²/2)/√(2π). Φ is `simd::normal_cdf`: a polynomial on
//!   vectors with every |x| ≤ 2√2 (absolute error ≤ 1.2e-7), else through
//!   erfc so that it stays relatively accurate in the far left tail. The
//!   derivative takes the same two paths (`gelu_grad`): on vectors with every
//!   |x| ≤ 2√2 it is one polynomial, ½ + x·Q(x² − 4) (absolute error
//!   ≤ 2e-7), instead of Φ's polynomial plus an `exp` for φ.
//! - gelu (tanh): y = ½x(1 + tanh(u)), u = √(2/π)(x + 0.044715x³), evaluated
//!   as x·σ(2u) (same value, no cancellation for x ≪ 0);
//!   dy/dx = σ(2u) + x·σ(2u)(1 − σ(2u))·2u'(x).
//! - relu: dx = dy where x > 0, else 0 (PyTorch: gradient 0 at x = 0).
//! - tanh / sigmoid backward take the forward output y:
//!   dx = dy(1 − y²) and dx = dy·y(1 − y).
//!
//! Work is split into fixed chunks (a multiple of 64 elements) run with
//! rayon; elementwise results do not depend on the thread count.

use rayon::prelude::*;

use super::rows::{elems_per_chunk, ld, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::normal_cdf::{normal_cdf, normal_cdf_poly, POLY_MAX_X2};
use crate::simd::{dispatch, F32Vec, Kernel};

/// Which activation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Gelu,
    GeluTanh,
    Relu,
    Tanh,
    Sigmoid,
}

impl Act {
    pub fn name(self) -> &'static str {
        match self {
            Act::Gelu => "gelu",
            Act::GeluTanh => "gelu_tanh",
            Act::Relu => "relu",
            Act::Tanh => "tanh",
            Act::Sigmoid => "sigmoid",
        }
    }
}

/// 1/√(2π)
const INV_SQRT_2PI: f32 = 0.398_942_3;
/// √(2/π)
const SQRT_2_OVER_PI: f32 = 0.797_884_6;
const GELU_C: f32 = 0.044_715;

#[inline(always)]
unsafe fn fwd<V: F32Vec>(act: Act, x: V::V) -> V::V {
    match act {
        Act::Gelu => V::mul(x, normal_cdf::<V>(x)),
        Act::GeluTanh => V::mul(x, V::sigmoid(gelu_2u::<V>(x))),
        Act::Relu => V::max(V::splat(0.0), x),
        Act::Tanh => V::tanh(x),
        Act::Sigmoid => V::sigmoid(x),
    }
}

/// 2u = 2√(2/π)(x + 0.044715x³).
#[inline(always)]
unsafe fn gelu_2u<V: F32Vec>(x: V::V) -> V::V {
    let x2 = V::mul(x, x);
    let inner = V::fma(V::mul(x2, V::splat(GELU_C)), x, x);
    V::mul(inner, V::splat(2.0 * SQRT_2_OVER_PI))
}

/// Bound on x² of `gelu_grad`'s polynomial path (|x| ≤ 2√2, as `normal_cdf`'s).
const GRAD_POLY_MAX_X2: f32 = 8.0;
/// Q(u), u = x² − 4, lowest degree first: gelu'(x) = ½ + x·Q(x² − 4) on
/// |x| ≤ 2√2. A Chebyshev fit in f64 of (Φ(x) − ½)/x + φ(x) over u ∈ [−4, 4]
/// (fit error 7e-10 on gelu'; with f32 rounding ≤ 1.6e-7 measured), rounded to f32.
#[allow(clippy::excessive_precision)] // coefficients as fitted
const GELU_GRAD_Q: [f32; 12] = [
    2.926_159e-1,
    -5.007_473e-2,
    9.389_013e-3,
    -1.393_638_3e-3,
    1.642_560_5e-4,
    -1.586_752_3e-5,
    1.293_181_6e-6,
    -9.093_515e-8,
    5.591_758e-9,
    -3.081_962_5e-10,
    1.680_601_3e-11,
    -7.541_858e-13,
];

/// gelu'(x) = Φ(x) + x·φ(x) per lane: one polynomial when every lane has
/// |x| ≤ 2√2, else Φ (`normal_cdf`, relatively accurate in the left tail)
/// plus x·φ(x) through `exp`.
#[inline(always)]
unsafe fn gelu_grad<V: F32Vec>(x: V::V) -> V::V {
    let x2 = V::mul(x, x);
    if V::any_gt(x2, V::splat(GRAD_POLY_MAX_X2)) {
        let cdf = normal_cdf::<V>(x);
        let pdf = V::mul(V::exp(V::mul(x2, V::splat(-0.5))), V::splat(INV_SQRT_2PI));
        return V::fma(x, pdf, cdf);
    }
    gelu_grad_poly::<V, 1>([x], [x2])[0]
}

/// gelu' by its polynomial alone on `N` vectors side by side (x and x²
/// given), the same operations per vector as `gelu_grad`'s fast path.
/// Accurate only where x² ≤ `GRAD_POLY_MAX_X2` (the caller checks).
#[inline(always)]
unsafe fn gelu_grad_poly<V: F32Vec, const N: usize>(x: [V::V; N], x2: [V::V; N]) -> [V::V; N] {
    let u = x2.map(|x2| V::sub(x2, V::splat(4.0)));
    let mut q = [V::splat(GELU_GRAD_Q[GELU_GRAD_Q.len() - 1]); N];
    for &c in GELU_GRAD_Q[..GELU_GRAD_Q.len() - 1].iter().rev() {
        for i in 0..N {
            q[i] = V::fma(q[i], u[i], V::splat(c));
        }
        crate::simd::normal_cdf::lockstep::<V, N>(&mut q);
    }
    for i in 0..N {
        q[i] = V::fma(x[i], q[i], V::splat(0.5));
    }
    q
}

/// Vectors per group of the exact-GELU loops (`gelu_map`).
const GELU_GROUP: usize = 4;

/// Whether every lane of every `x2` (squares, so ≥ 0 or NaN) is ≤ `bound`
/// or NaN: no lane that `any_gt(x2, bound)` would flag. The running max is
/// always `maxps`'s second operand (the x86 rule on every ISA:
/// `if a > b { a } else { b }`), so once a lane is flagged it stays ≥ that
/// value or becomes NaN and stays NaN; a NaN at the end counts as flagged
/// (a NaN input may send a group down the per-vector path, never the
/// other way).
#[inline(always)]
unsafe fn all_le<V: F32Vec>(x2: &[V::V; GELU_GROUP], bound: f32) -> bool {
    let mut m = x2[0];
    for &v in &x2[1..] {
        m = V::max(v, m);
    }
    let m = V::select_gt(m, V::splat(-1.0), m, V::splat(f32::INFINITY));
    !V::any_gt(m, V::splat(bound))
}

/// Exact GELU forward (`dy` None) or backward over a chunk. Groups of
/// `GELU_GROUP` whole vectors whose lanes all lie in the polynomials' range
/// (the usual case for activations of O(1)) run the polynomials side by side
/// — independent FMA chains instead of one latency-bound chain per vector
/// and one range test per group; any other group, and the tail, run vector
/// by vector through `fwd` / `bwd`. Every vector takes the path and the
/// operations it takes in `fwd` / `bwd`, so the bits are theirs.
#[inline(always)]
unsafe fn gelu_map<V: F32Vec>(x: &[f32], dy: Option<&[f32]>, out: &mut [f32]) {
    let w = GELU_GROUP * V::LANES;
    let whole = x.len() / w * w;
    // Whole groups as fixed-length chunks: no bounds check (so no branch)
    // between a group's vectors, which would let LLVM sink each vector's
    // polynomial into its own block, after the previous vector's store.
    let groups = x[..whole]
        .chunks_exact(w)
        .zip(out[..whole].chunks_exact_mut(w));
    match dy {
        None => groups.for_each(|(xc, oc)| gelu_group::<V>(xc, None, oc)),
        Some(dy) => groups
            .zip(dy[..whole].chunks_exact(w))
            .for_each(|((xc, oc), dc)| gelu_group::<V>(xc, Some(dc), oc)),
    }
    for (o, l) in steps::<V>(x.len() - whole) {
        let o = whole + o;
        let xv = ld::<V>(x, o, l, 0.0);
        let y = match dy {
            None => fwd::<V>(Act::Gelu, xv),
            Some(dy) => bwd::<V>(Act::Gelu, xv, ld::<V>(dy, o, l, 0.0)),
        };
        st::<V>(out, o, l, y);
    }
}

/// One group of `gelu_map`: `GELU_GROUP` whole vectors of x (and of dy for
/// the backward) into `out`.
#[inline(always)]
unsafe fn gelu_group<V: F32Vec>(x: &[f32], dy: Option<&[f32]>, out: &mut [f32]) {
    let xs: [V::V; GELU_GROUP] = std::array::from_fn(|i| V::load(&x[i * V::LANES..]));
    let x2 = xs.map(|v| V::mul(v, v));
    match dy {
        None if all_le::<V>(&x2, POLY_MAX_X2) => {
            let cdf = normal_cdf_poly::<V, GELU_GROUP>(xs);
            for i in 0..GELU_GROUP {
                V::store(&mut out[i * V::LANES..], V::mul(xs[i], cdf[i]));
            }
        }
        Some(dy) if all_le::<V>(&x2, GRAD_POLY_MAX_X2) => {
            let g = gelu_grad_poly::<V, GELU_GROUP>(xs, x2);
            for i in 0..GELU_GROUP {
                let d = V::load(&dy[i * V::LANES..]);
                V::store(&mut out[i * V::LANES..], V::mul(d, g[i]));
            }
        }
        _ => {
            for (i, &xv) in xs.iter().enumerate() {
                let at = i * V::LANES;
                let y = match dy {
                    None => fwd::<V>(Act::Gelu, xv),
                    Some(dy) => bwd::<V>(Act::Gelu, xv, V::load(&dy[at..])),
                };
                V::store(&mut out[at..], y);
            }
        }
    }
}

/// dx from (x or y, dy): x for the GELUs and ReLU, y for tanh and sigmoid.
#[inline(always)]
unsafe fn bwd<V: F32Vec>(act: Act, v: V::V, dy: V::V) -> V::V {
    let one = V::splat(1.0);
    match act {
        Act::Gelu => V::mul(dy, gelu_grad::<V>(v)),
        Act::GeluTanh => {
            let x = v;
            let s = V::sigmoid(gelu_2u::<V>(x));
            // d(2u)/dx = 2√(2/π)(1 + 3·0.044715·x²)
            let du = V::mul(
                V::fma(V::mul(x, x), V::splat(3.0 * GELU_C), one),
                V::splat(2.0 * SQRT_2_OVER_PI),
            );
            let ds = V::mul(V::mul(s, V::sub(one, s)), du);
            V::mul(dy, V::fma(x, ds, s))
        }
        Act::Relu => V::select_gt(v, V::splat(0.0), dy, V::splat(0.0)),
        Act::Tanh => V::mul(dy, V::fnma(v, v, one)),
        Act::Sigmoid => V::mul(dy, V::mul(v, V::sub(one, v))),
    }
}

struct Map<'a> {
    act: Act,
    x: &'a [f32],
    /// `Some(dy)`: backward (x holds the forward input or output).
    dy: Option<&'a [f32]>,
    out: &'a mut [f32],
}

impl Kernel for Map<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let act = self.act;
        if act == Act::Gelu {
            return gelu_map::<V>(self.x, self.dy, self.out);
        }
        match self.dy {
            None => {
                for (o, l) in steps::<V>(self.x.len()) {
                    st::<V>(self.out, o, l, fwd::<V>(act, ld::<V>(self.x, o, l, 0.0)));
                }
            }
            Some(dy) => {
                for (o, l) in steps::<V>(self.x.len()) {
                    let v = bwd::<V>(act, ld::<V>(self.x, o, l, 0.0), ld::<V>(dy, o, l, 0.0));
                    st::<V>(self.out, o, l, v);
                }
            }
        }
    }
}

fn map(act: Act, x: &[f32], dy: Option<&[f32]>, out: &mut [f32]) -> Result<()> {
    let op = act.name();
    if out.len() != x.len() || dy.is_some_and(|d| d.len() != x.len()) {
        return Err(KernelError::shape(
            op,
            format!(
                "input, grad and out must have the same number of elements; got {}, {} and {}",
                x.len(),
                dy.map_or(x.len(), |d| d.len()),
                out.len()
            ),
        ));
    }
    let cl = elems_per_chunk(x.len());
    out.par_chunks_mut(cl).enumerate().for_each(|(c, oc)| {
        let r = c * cl..c * cl + oc.len();
        dispatch(Map {
            act,
            x: &x[r.clone()],
            dy: dy.map(|d| &d[r]),
            out: oc,
        });
    });
    Ok(())
}

/// `out = act(x)` elementwise.
///
/// # Shapes
/// - x, out: any, same number of elements, contiguous
pub fn forward(act: Act, x: &[f32], out: &mut [f32]) -> Result<()> {
    map(act, x, None, out)
}

/// `out = dy ⊙ act'(…)` elementwise; `saved` is the forward input x for
/// `Gelu`, `GeluTanh` and `Relu`, the forward output y for `Tanh` and `Sigmoid`.
///
/// # Shapes
/// - saved, dy, out: same number of elements, contiguous
pub fn backward(act: Act, saved: &[f32], dy: &[f32], out: &mut [f32]) -> Result<()> {
    map(act, saved, Some(dy), out)
}

#[cfg(test)]
mod tests;
