//! Elman RNN gate math for one batch row of one step.
//!
//! Forward: h' = act(a) with a = W_ih x + b_ih + W_hh h + b_hh (already summed
//! by the GEMMs). Backward: da = dh ⊙ act'(a), written from the saved h'.

use super::gates;

/// `pre ← act(pre)`; `pre` then holds h'.
///
/// # Shapes
/// - `pre`: (H)
#[inline]
pub fn forward_row(relu: bool, pre: &mut [f32]) {
    if relu {
        gates::relu_inplace(pre);
    } else {
        gates::tanh_inplace(pre);
    }
}

/// `dg ← dh ⊙ act'(·)` from the saved output `h` (tanh' = 1 − h², relu' = [h > 0]).
///
/// # Shapes
/// - `h`, `dh`, `dg`: (H)
#[inline]
pub fn backward_row(relu: bool, h: &[f32], dh: &[f32], dg: &mut [f32]) {
    if relu {
        for ((g, &y), &d) in dg.iter_mut().zip(h).zip(dh) {
            *g = if y > 0.0 { d } else { 0.0 };
        }
    } else {
        for ((g, &y), &d) in dg.iter_mut().zip(h).zip(dh) {
            *g = d * (1.0 - y * y);
        }
    }
}
