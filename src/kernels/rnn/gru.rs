//! GRU gate math for one batch row of one step (PyTorch's gate order r, z, n).
//!
//! r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ (W_hn h + b_hn)),
//! h' = (1 − z) ⊙ n + z ⊙ h, where x_* already include b_ih and h_* = W_h* h + b_h*.

use super::gates;

/// Activates the gates in place, saves W_hn h + b_hn and writes h'.
///
/// # Shapes
/// - `gx`: (3H) x-projection + b_ih in, (r, z, n) out
/// - `hh`: (3H) W_hh h (no bias); `b_hh`: (3H) or None
/// - `h_prev`, `hn`, `h_new`: (H)
#[inline]
pub fn forward_row(
    gx: &mut [f32],
    hh: &[f32],
    b_hh: Option<&[f32]>,
    h_prev: &[f32],
    hn: &mut [f32],
    h_new: &mut [f32],
) {
    let h = h_prev.len();
    let (rz, n) = gx.split_at_mut(2 * h);
    gates::add_assign(rz, &hh[..2 * h]);
    hn.copy_from_slice(&hh[2 * h..]);
    if let Some(b) = b_hh {
        gates::add_assign(rz, &b[..2 * h]);
        gates::add_assign(hn, &b[2 * h..]);
    }
    gates::sigmoid_inplace(rz);
    let (r, z) = rz.split_at(h);
    for ((nv, &rv), &hv) in n.iter_mut().zip(r).zip(hn.iter()) {
        *nv += rv * hv;
    }
    gates::tanh_inplace(n);
    for (((y, &zv), &nv), &hp) in h_new.iter_mut().zip(z).zip(n.iter()).zip(h_prev) {
        *y = nv + zv * (hp - nv);
    }
}

/// Gate gradients of one step: `dgx` for the input side (→ dW_ih, db_ih, dX),
/// `dgh` for the hidden side (→ dW_hh, db_hh, dh), and the direct part of
/// dL/dh, `dh ⊙ z`, into `direct`.
///
/// # Shapes
/// - `g`: (3H) saved (r, z, n); `hn`, `h_prev`, `dh`, `direct`: (H); `dgx`, `dgh`: (3H)
#[inline]
pub fn backward_row(
    g: &[f32],
    hn: &[f32],
    h_prev: &[f32],
    dh: &[f32],
    dgx: &mut [f32],
    dgh: &mut [f32],
    direct: &mut [f32],
) {
    let h = h_prev.len();
    let (r, rest) = g.split_at(h);
    let (z, n) = rest.split_at(h);
    let (dxr, rest) = dgx.split_at_mut(h);
    let (dxz, dxn) = rest.split_at_mut(h);
    let (dhr, rest) = dgh.split_at_mut(h);
    let (dhz, dhn) = rest.split_at_mut(h);
    for k in 0..h {
        let (rv, zv, nv, d_h) = (r[k], z[k], n[k], dh[k]);
        let dn = d_h * (1.0 - zv);
        let dz = d_h * (h_prev[k] - nv);
        let dan = dn * (1.0 - nv * nv);
        let dar = dan * hn[k] * rv * (1.0 - rv);
        let daz = dz * zv * (1.0 - zv);
        dxr[k] = dar;
        dxz[k] = daz;
        dxn[k] = dan;
        dhr[k] = dar;
        dhz[k] = daz;
        dhn[k] = dan * rv;
        direct[k] = d_h * zv;
    }
}
