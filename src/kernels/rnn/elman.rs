//! Elman RNN gate math for one batch row of one step.
//!
//! Forward: h' = act(a) with a = W_ih x + b_ih + W_hh h + b_hh (already summed
//! by the GEMMs). Backward: da = (dh + dout) ⊙ act'(a), from the saved h'
//! (tanh' = 1 − h'², relu' = [h' > 0]).

use super::gates::{ld, st};
use crate::simd::{rational, F32Vec};

/// `pre ← act(pre + hh)` (H): the input part plus the recurrent GEMM's
/// W_hh h; `pre` then holds h'.
///
/// # Safety
/// The CPU supports `V`'s ISA; `hh` is as long as `pre`.
#[inline(always)]
pub unsafe fn forward<V: F32Vec>(relu: bool, pre: &mut [f32], hh: &[f32]) {
    let zero = V::splat(0.0);
    for (s, r) in pre.chunks_mut(V::LANES).zip(hh.chunks(V::LANES)) {
        let a = V::add(ld::<V>(s), ld::<V>(r));
        // max(0, a) keeps a NaN in `a` (the second operand wins on NaN)
        st::<V>(
            s,
            if relu {
                V::max(zero, a)
            } else {
                rational::tanh::<V>(a)
            },
        );
    }
}

/// `dg ← (dh + dout) ⊙ act'`, `direct ← 0` (all (H)).
///
/// # Safety
/// The CPU supports `V`'s ISA; every slice has the length of `h`.
#[inline(always)]
pub unsafe fn backward<V: F32Vec>(
    relu: bool,
    h: &[f32],
    dh: &[f32],
    dout: &[f32],
    dg: &mut [f32],
    direct: &mut [f32],
) {
    let (zero, one) = (V::splat(0.0), V::splat(1.0));
    let n = h.len();
    let mut k = 0;
    while k < n {
        let e = (k + V::LANES).min(n);
        let y = ld::<V>(&h[k..e]);
        let d = V::add(ld::<V>(&dh[k..e]), ld::<V>(&dout[k..e]));
        let g = if relu {
            V::select_gt(y, zero, d, zero)
        } else {
            V::mul(d, V::fnma(y, y, one))
        };
        st::<V>(&mut dg[k..e], g);
        k = e;
    }
    direct.fill(0.0);
}
