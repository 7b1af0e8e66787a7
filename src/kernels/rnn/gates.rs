//! Dispatch of the fused gate math to the ISA in use, and the vector helpers
//! the per-mode bodies (`elman`, `lstm`, `gru`) share.
//!
//! Each mode's row math is one generic `#[inline(always)]` body over
//! `V: F32Vec`; `Fwd` / `Bwd` are `crate::simd::Kernel`s, so
//! `forward_row` / `backward_row` run them through `crate::simd::dispatch`
//! like every other fused kernel. The scalar instantiation is the oracle the
//! vector paths are tested against.

use super::{elman, gru, lstm};
use crate::simd::{dispatch, F32Vec, Kernel};

/// The slices of one batch row at one step, for the forward gate math.
pub enum Fwd<'a> {
    /// `pre` (H): input part of the pre-activation in, h' out; `hh` (H): W_hh h.
    Elman {
        relu: bool,
        pre: &'a mut [f32],
        hh: &'a [f32],
    },
    /// `g` (4H) input part of the pre-activations in, (i, f, g, o) out
    /// when `save`; `hh` (4H) W_hh h; the rest (H), `tanh_c` empty unless `save`.
    Lstm {
        save: bool,
        g: &'a mut [f32],
        hh: &'a [f32],
        c_prev: &'a [f32],
        c_new: &'a mut [f32],
        tanh_c: &'a mut [f32],
        h_new: &'a mut [f32],
    },
    /// `gx` (3H) x-projection + b_ih in, (r, z, n) out; `hh` (3H) W_hh h;
    /// `b_hh` (3H) or None; `hn` (H) out: W_hn h + b_hn; `h_new` (H) out.
    /// Without `save` only `h_new` is written (`hn` may be empty).
    Gru {
        save: bool,
        gx: &'a mut [f32],
        hh: &'a [f32],
        b_hh: Option<&'a [f32]>,
        h_prev: &'a [f32],
        hn: &'a mut [f32],
        h_new: &'a mut [f32],
    },
}

/// The slices of one batch row at one step, for the backward gate math.
/// `dh` is dL/dh' from later steps and `dout` the output gradient of this step
/// (both (H)); `direct` (H) receives the part of dL/dh that bypasses W_hh.
pub enum Bwd<'a> {
    Elman {
        relu: bool,
        h: &'a [f32],
        dh: &'a [f32],
        dout: &'a [f32],
        dg: &'a mut [f32],
        direct: &'a mut [f32],
    },
    /// `dc` (H): dL/dc' in, dL/dc out.
    Lstm {
        g: &'a [f32],
        tanh_c: &'a [f32],
        c_prev: &'a [f32],
        dh: &'a [f32],
        dout: &'a [f32],
        dc: &'a mut [f32],
        dg: &'a mut [f32],
        direct: &'a mut [f32],
    },
    Gru {
        g: &'a [f32],
        hn: &'a [f32],
        h_prev: &'a [f32],
        dh: &'a [f32],
        dout: &'a [f32],
        dgx: &'a mut [f32],
        dgh: &'a mut [f32],
        direct: &'a mut [f32],
    },
}

/// Loads `s` (at most `V::LANES` elements; a short tail is zero-filled).
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub(super) unsafe fn ld<V: F32Vec>(s: &[f32]) -> V::V {
    if s.len() == V::LANES {
        V::load(s)
    } else {
        V::load_partial(s, 0.0)
    }
}

/// Stores the first `d.len()` (at most `V::LANES`) lanes of `v` into `d`.
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub(super) unsafe fn st<V: F32Vec>(d: &mut [f32], v: V::V) {
    if d.len() == V::LANES {
        V::store(d, v)
    } else {
        V::store_partial(d, v)
    }
}

impl Kernel for Fwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        match self {
            Fwd::Elman { relu, pre, hh } => elman::forward::<V>(relu, pre, hh),
            Fwd::Lstm {
                save,
                g,
                hh,
                c_prev,
                c_new,
                tanh_c,
                h_new,
            } => lstm::forward::<V>(save, g, hh, c_prev, c_new, tanh_c, h_new),
            Fwd::Gru {
                save,
                gx,
                hh,
                b_hh,
                h_prev,
                hn,
                h_new,
            } => gru::forward::<V>(save, gx, hh, b_hh, h_prev, hn, h_new),
        }
    }
}

impl Kernel for Bwd<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        match self {
            Bwd::Elman {
                relu,
                h,
                dh,
                dout,
                dg,
                direct,
            } => elman::backward::<V>(relu, h, dh, dout, dg, direct),
            Bwd::Lstm {
                g,
                tanh_c,
                c_prev,
                dh,
                dout,
                dc,
                dg,
                direct,
            } => lstm::backward::<V>(g, tanh_c, c_prev, dh, dout, dc, dg, direct),
            Bwd::Gru {
                g,
                hn,
                h_prev,
                dh,
                dout,
                dgx,
                dgh,
                direct,
            } => gru::backward::<V>(g, hn, h_prev, dh, dout, dgx, dgh, direct),
        }
    }
}

/// Forward gate math of one row on the ISA in use.
pub fn forward_row(a: Fwd<'_>) {
    dispatch(a)
}

/// Backward gate math of one row on the ISA in use.
pub fn backward_row(a: Bwd<'_>) {
    dispatch(a)
}

/// `x ← x + b` (plain loop; the compiler vectorizes it).
#[inline]
pub fn add_assign(x: &mut [f32], b: &[f32]) {
    for (v, &w) in x.iter_mut().zip(b) {
        *v += w;
    }
}

#[cfg(test)]
mod tests;
