//! Dispatch of the fused gate math to the ISA in use, and the vector helpers
//! the per-mode bodies (`elman`, `lstm`, `gru`) share.
//!
//! Each mode's row math is one generic `#[inline(always)]` body over
//! `V: F32Vec`; `forward_row` / `backward_row` below instantiate them inside
//! one `#[target_feature]` shim per ISA (the pattern `crate::simd` documents).
//! The scalar instantiation is the oracle the vector paths are tested against.

use super::{elman, gru, lstm};
use crate::simd::{isa, scalar::Scalar, F32Vec, Isa};

/// The slices of one batch row at one step, for the forward gate math.
pub enum Fwd<'a> {
    /// `pre` (H): pre-activation in, h' out.
    Elman { relu: bool, pre: &'a mut [f32] },
    /// `g` (4H) pre-activations in, (i, f, g, o) out; the rest (H).
    Lstm {
        g: &'a mut [f32],
        c_prev: &'a [f32],
        c_new: &'a mut [f32],
        tanh_c: &'a mut [f32],
        h_new: &'a mut [f32],
    },
    /// `gx` (3H) x-projection + b_ih in, (r, z, n) out; `hh` (3H) W_hh h;
    /// `b_hh` (3H) or None; `hn` (H) out: W_hn h + b_hn; `h_new` (H) out.
    Gru {
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

#[inline(always)]
unsafe fn fwd<V: F32Vec>(a: Fwd<'_>) {
    match a {
        Fwd::Elman { relu, pre } => elman::forward::<V>(relu, pre),
        Fwd::Lstm {
            g,
            c_prev,
            c_new,
            tanh_c,
            h_new,
        } => lstm::forward::<V>(g, c_prev, c_new, tanh_c, h_new),
        Fwd::Gru {
            gx,
            hh,
            b_hh,
            h_prev,
            hn,
            h_new,
        } => gru::forward::<V>(gx, hh, b_hh, h_prev, hn, h_new),
    }
}

#[inline(always)]
unsafe fn bwd<V: F32Vec>(a: Bwd<'_>) {
    match a {
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

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn fwd_avx512(a: Fwd<'_>) {
    fwd::<crate::simd::x86_avx512::Avx512>(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fwd_avx2(a: Fwd<'_>) {
    fwd::<crate::simd::x86_avx2::Avx2>(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bwd_avx512(a: Bwd<'_>) {
    bwd::<crate::simd::x86_avx512::Avx512>(a)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn bwd_avx2(a: Bwd<'_>) {
    bwd::<crate::simd::x86_avx2::Avx2>(a)
}

/// Forward gate math of one row on the ISA in use.
pub fn forward_row(a: Fwd<'_>) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX-512F (with AVX2 and FMA) only when the CPU has it.
        Isa::Avx512 => unsafe { fwd_avx512(a) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX2 only when the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { fwd_avx2(a) },
        // SAFETY: the scalar path needs no CPU feature.
        _ => unsafe { fwd::<Scalar>(a) },
    }
}

/// Backward gate math of one row on the ISA in use.
pub fn backward_row(a: Bwd<'_>) {
    match isa() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX-512F (with AVX2 and FMA) only when the CPU has it.
        Isa::Avx512 => unsafe { bwd_avx512(a) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: isa() reports AVX2 only when the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { bwd_avx2(a) },
        // SAFETY: the scalar path needs no CPU feature.
        _ => unsafe { bwd::<Scalar>(a) },
    }
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
