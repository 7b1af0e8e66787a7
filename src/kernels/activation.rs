//! Elementwise activations, forward and backward, over flat buffers:
//! GELU (erf and tanh forms), ReLU, tanh, sigmoid.
//!
//! - gelu (erf):  y = x·Φ(x), Φ(x) = ½·erfc(−x/√2);  dy/dx = Φ(x) + x·φ(x),
//!   φ(x) = exp(−x²/2)/√(2π). Φ is `simd::normal_cdf`: a polynomial on
//!   vectors with every |x| ≤ 2√2 (absolute error ≤ 1.2e-7), else through
//!   erfc so that it stays relatively accurate in the far left tail.
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
use crate::simd::normal_cdf::normal_cdf;
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

/// dx from (x or y, dy): x for the GELUs and ReLU, y for tanh and sigmoid.
#[inline(always)]
unsafe fn bwd<V: F32Vec>(act: Act, v: V::V, dy: V::V) -> V::V {
    let one = V::splat(1.0);
    match act {
        Act::Gelu => {
            let x = v;
            let cdf = normal_cdf::<V>(x);
            let pdf = V::mul(
                V::exp(V::mul(V::mul(x, x), V::splat(-0.5))),
                V::splat(INV_SQRT_2PI),
            );
            V::mul(dy, V::fma(x, pdf, cdf))
        }
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
