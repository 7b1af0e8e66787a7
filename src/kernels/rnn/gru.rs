//! GRU gate math for one batch row of one step (PyTorch's gate order r, z, n).
//!
//! r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ (W_hn h + b_hn)),
//! h' = (1 − z) ⊙ n + z ⊙ h, where x_* already include b_ih and
//! h_* = W_h* h + b_h*.

use super::gates::{ld, st};
use crate::simd::{rational, F32Vec};

/// Writes h'; with `save` also the activations (over `gx`) and
/// W_hn h + b_hn (into `hn`) that backward needs (inference leaves them).
///
/// # Shapes
/// - `gx`: (3H) x-projection + b_ih in, (r, z, n) out
/// - `hh`: (3H) W_hh h (no bias); `b_hh`: (3H) or None
/// - `h_prev`, `h_new`: (H); `hn`: (H), may be empty unless `save`
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub unsafe fn forward<V: F32Vec>(
    save: bool,
    gx: &mut [f32],
    hh: &[f32],
    b_hh: Option<&[f32]>,
    h_prev: &[f32],
    hn: &mut [f32],
    h_new: &mut [f32],
) {
    let h = h_prev.len();
    let (xr, rest) = gx.split_at_mut(h);
    let (xz, xn) = rest.split_at_mut(h);
    let zero = V::splat(0.0);
    let mut k = 0;
    while k < h {
        let e = (k + V::LANES).min(h);
        let (br, bz, bn) = match b_hh {
            Some(b) => (
                ld::<V>(&b[k..e]),
                ld::<V>(&b[h + k..h + e]),
                ld::<V>(&b[2 * h + k..2 * h + e]),
            ),
            None => (zero, zero, zero),
        };
        let hr = V::add(ld::<V>(&hh[k..e]), br);
        let hz = V::add(ld::<V>(&hh[h + k..h + e]), bz);
        let hnv = V::add(ld::<V>(&hh[2 * h + k..2 * h + e]), bn);
        let r = rational::sigmoid::<V>(V::add(ld::<V>(&xr[k..e]), hr));
        let z = rational::sigmoid::<V>(V::add(ld::<V>(&xz[k..e]), hz));
        let n = rational::tanh::<V>(V::fma(r, hnv, ld::<V>(&xn[k..e])));
        let hp = ld::<V>(&h_prev[k..e]);
        if save {
            st::<V>(&mut xr[k..e], r);
            st::<V>(&mut xz[k..e], z);
            st::<V>(&mut xn[k..e], n);
            st::<V>(&mut hn[k..e], hnv);
        }
        st::<V>(&mut h_new[k..e], V::fma(z, V::sub(hp, n), n));
        k = e;
    }
}

/// Gate gradients of one step: `dgx` for the input side (→ dW_ih, db_ih, dX),
/// `dgh` for the hidden side (→ dW_hh, db_hh, dh), and `direct ← dh_t ⊙ z`,
/// with dh_t = dh + dout.
///
/// # Shapes
/// - `g`: (3H) saved (r, z, n); `dgx`, `dgh`: (3H); the rest (H)
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn backward<V: F32Vec>(
    g: &[f32],
    hn: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dout: &[f32],
    dgx: &mut [f32],
    dgh: &mut [f32],
    direct: &mut [f32],
) {
    let h = h_prev.len();
    let one = V::splat(1.0);
    let (dxr, rest) = dgx.split_at_mut(h);
    let (dxz, dxn) = rest.split_at_mut(h);
    let (dhr, rest) = dgh.split_at_mut(h);
    let (dhz, dhn) = rest.split_at_mut(h);
    let mut k = 0;
    while k < h {
        let e = (k + V::LANES).min(h);
        let r = ld::<V>(&g[k..e]);
        let z = ld::<V>(&g[h + k..h + e]);
        let n = ld::<V>(&g[2 * h + k..2 * h + e]);
        let dht = V::add(ld::<V>(&dh[k..e]), ld::<V>(&dout[k..e]));
        let dn = V::mul(dht, V::sub(one, z));
        let dz = V::mul(dht, V::sub(ld::<V>(&h_prev[k..e]), n));
        let dan = V::mul(dn, V::fnma(n, n, one));
        let dar = V::mul(V::mul(dan, ld::<V>(&hn[k..e])), V::mul(r, V::sub(one, r)));
        let daz = V::mul(dz, V::mul(z, V::sub(one, z)));
        st::<V>(&mut dxr[k..e], dar);
        st::<V>(&mut dxz[k..e], daz);
        st::<V>(&mut dxn[k..e], dan);
        st::<V>(&mut dhr[k..e], dar);
        st::<V>(&mut dhz[k..e], daz);
        st::<V>(&mut dhn[k..e], V::mul(dan, r));
        st::<V>(&mut direct[k..e], V::mul(dht, z));
        k = e;
    }
}
