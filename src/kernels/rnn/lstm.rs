//! LSTM gate math for one batch row of one step (PyTorch's gate order i, f, g, o).
//!
//! i = σ(a_i), f = σ(a_f), g = tanh(a_g), o = σ(a_o),
//! c' = f ⊙ c + i ⊙ g, h' = o ⊙ tanh(c').

use super::gates;

/// Activates the gates in place and writes c', tanh(c') and h'.
///
/// # Shapes
/// - `g`: (4H) pre-activations in, (i, f, g, o) out
/// - `c_prev`, `c_new`, `tanh_c`, `h_new`: (H)
#[inline]
pub fn forward_row(
    g: &mut [f32],
    c_prev: &[f32],
    c_new: &mut [f32],
    tanh_c: &mut [f32],
    h_new: &mut [f32],
) {
    let h = c_prev.len();
    let (ifg, o) = g.split_at_mut(3 * h);
    let (i_f, gg) = ifg.split_at_mut(2 * h);
    gates::sigmoid_inplace(i_f);
    gates::sigmoid_inplace(o);
    gates::tanh_inplace(gg);
    let (i, f) = i_f.split_at(h);
    for ((((c, &cp), &iv), &fv), &gv) in c_new.iter_mut().zip(c_prev).zip(i).zip(f).zip(gg.iter()) {
        *c = fv * cp + iv * gv;
    }
    gates::tanh_into(c_new, tanh_c);
    for ((y, &ov), &tc) in h_new.iter_mut().zip(o.iter()).zip(tanh_c.iter()) {
        *y = ov * tc;
    }
}

/// Gate gradients of one step.
///
/// `dc` holds dL/dc' (from the next step) on entry and dL/dc (for the
/// previous step) on exit; `dh` is the total dL/dh'.
///
/// # Shapes
/// - `g`: (4H) saved (i, f, g, o); `tanh_c`, `c_prev`, `dh`, `dc`: (H); `dg`: (4H)
#[inline]
pub fn backward_row(
    g: &[f32],
    tanh_c: &[f32],
    c_prev: &[f32],
    dh: &[f32],
    dc: &mut [f32],
    dg: &mut [f32],
) {
    let h = c_prev.len();
    let (i, rest) = g.split_at(h);
    let (f, rest) = rest.split_at(h);
    let (gg, o) = rest.split_at(h);
    let (di, rest) = dg.split_at_mut(h);
    let (df, rest) = rest.split_at_mut(h);
    let (dgg, d_o) = rest.split_at_mut(h);
    for k in 0..h {
        let (iv, fv, gv, ov, tc) = (i[k], f[k], gg[k], o[k], tanh_c[k]);
        let d_h = dh[k];
        let dct = dc[k] + d_h * ov * (1.0 - tc * tc);
        d_o[k] = d_h * tc * ov * (1.0 - ov);
        di[k] = dct * gv * iv * (1.0 - iv);
        df[k] = dct * c_prev[k] * fv * (1.0 - fv);
        dgg[k] = dct * iv * (1.0 - gv * gv);
        dc[k] = dct * fv;
    }
}
