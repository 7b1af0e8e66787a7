//! LSTM gate math for one batch row of one step (PyTorch's gate order i, f, g, o).
//!
//! i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o),
//! c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').

use super::gates::{ld, st};
use crate::simd::{rational, F32Vec};

/// Activates the gates and writes c' and h'; with `save` also the
/// activations (over `g`) and tanh(c') that backward needs, else `g` and
/// `tanh_c` are left as they are (inference).
///
/// # Shapes
/// - `g`: (4H) input part of the pre-activations in, (i, f, g, o) out
/// - `hh`: (4H) the recurrent part W_hh h, added to `g` first
/// - `c_prev`, `c_new`, `h_new`: (H); `tanh_c`: (H), may be empty unless `save`
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
pub unsafe fn forward<V: F32Vec>(
    save: bool,
    g: &mut [f32],
    hh: &[f32],
    c_prev: &[f32],
    c_new: &mut [f32],
    tanh_c: &mut [f32],
    h_new: &mut [f32],
) {
    let h = c_prev.len();
    let (gi, rest) = g.split_at_mut(h);
    let (gf, rest) = rest.split_at_mut(h);
    let (gg, go) = rest.split_at_mut(h);
    let (hi, rest) = hh.split_at(h);
    let (hf, rest) = rest.split_at(h);
    let (hg, ho) = rest.split_at(h);
    let mut k = 0;
    while k < h {
        let e = (k + V::LANES).min(h);
        // (no closure here: a closure would not inherit the caller's target features)
        let i = rational::sigmoid::<V>(V::add(ld::<V>(&gi[k..e]), ld::<V>(&hi[k..e])));
        let f = rational::sigmoid::<V>(V::add(ld::<V>(&gf[k..e]), ld::<V>(&hf[k..e])));
        let gv = rational::tanh::<V>(V::add(ld::<V>(&gg[k..e]), ld::<V>(&hg[k..e])));
        let o = rational::sigmoid::<V>(V::add(ld::<V>(&go[k..e]), ld::<V>(&ho[k..e])));
        let c = V::fma(f, ld::<V>(&c_prev[k..e]), V::mul(i, gv));
        let tc = rational::tanh::<V>(c);
        if save {
            st::<V>(&mut gi[k..e], i);
            st::<V>(&mut gf[k..e], f);
            st::<V>(&mut gg[k..e], gv);
            st::<V>(&mut go[k..e], o);
            st::<V>(&mut tanh_c[k..e], tc);
        }
        st::<V>(&mut c_new[k..e], c);
        st::<V>(&mut h_new[k..e], V::mul(o, tc));
        k = e;
    }
}

/// Gate gradients of one step.
///
/// With dh_t = dh + dout and dc_t = dc + dh_t ⊙ o ⊙ (1 − tanh²c'):
/// d_o = dh_t ⊙ tanh c' ⊙ o(1−o), d_i = dc_t ⊙ g ⊙ i(1−i),
/// d_f = dc_t ⊙ c ⊙ f(1−f), d_g = dc_t ⊙ i ⊙ (1−g²); `dc ← dc_t ⊙ f`.
///
/// # Shapes
/// - `g`: (4H) saved (i, f, g, o); `dg`: (4H); the rest (H)
///
/// # Safety
/// The CPU supports `V`'s ISA.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub unsafe fn backward<V: F32Vec>(
    g: &[f32],
    tanh_c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dout: &[f32],
    dc: &mut [f32],
    dg: &mut [f32],
    direct: &mut [f32],
) {
    let h = c_prev.len();
    let one = V::splat(1.0);
    let (di, rest) = dg.split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dgg, d_o) = rest.split_at_mut(h);
    let mut k = 0;
    while k < h {
        let e = (k + V::LANES).min(h);
        let i = ld::<V>(&g[k..e]);
        let f = ld::<V>(&g[h + k..h + e]);
        let gv = ld::<V>(&g[2 * h + k..2 * h + e]);
        let o = ld::<V>(&g[3 * h + k..3 * h + e]);
        let tc = ld::<V>(&tanh_c[k..e]);
        let dht = V::add(ld::<V>(&dh[k..e]), ld::<V>(&dout[k..e]));
        let dct = V::fma(V::mul(dht, o), V::fnma(tc, tc, one), ld::<V>(&dc[k..e]));
        let do_ = V::mul(V::mul(dht, tc), V::mul(o, V::sub(one, o)));
        let di_ = V::mul(V::mul(dct, gv), V::mul(i, V::sub(one, i)));
        let cp = ld::<V>(&c_prev[k..e]);
        let df_ = V::mul(V::mul(dct, cp), V::mul(f, V::sub(one, f)));
        let dg_ = V::mul(V::mul(dct, i), V::fnma(gv, gv, one));
        st::<V>(&mut di[k..e], di_);
        st::<V>(&mut df[k..e], df_);
        st::<V>(&mut dgg[k..e], dg_);
        st::<V>(&mut d_o[k..e], do_);
        st::<V>(&mut dc[k..e], V::mul(dct, f));
        k = e;
    }
    direct.fill(0.0);
}
