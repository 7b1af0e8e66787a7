//! Fused Adam/AdamW update, in place over flat buffers, PyTorch's formulas
//! (`torch.optim.AdamW` / `torch.optim.Adam`, amsgrad off):
//!
//! ```text
//! g  ← g + wd·p                       (Adam only: L2 penalty in the gradient)
//! p  ← p·(1 − lr·wd)                  (AdamW only: decoupled decay)
//! m  ← m + (1 − β1)(g − m)            (exp_avg.lerp_(g, 1 − β1))
//! v  ← β2·v + (1 − β2)·g²
//! p  ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
//! ```
//! One read and one write of each buffer. `adam_multi_step` updates a whole
//! parameter group in one call: per-group hyper-parameters, a step count per
//! tensor, work cut into fixed chunks across all tensors
//! (`multi_tensor::chunks`). The update is elementwise, so the result is
//! independent of the thread count and of how the tensors are chunked:
//! `adamw_step` (one tensor) is the same code.

use rayon::prelude::*;

use super::multi_tensor::{chunks, Piece, CHUNK};
use super::rows::{ld, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::{dispatch, F32Vec, Kernel};

/// Hyper-parameters of one AdamW step on one tensor; `step` counts from 1.
#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub step: u64,
}

/// Hyper-parameters shared by a parameter group. `decoupled`: AdamW's decay
/// of the parameter; otherwise Adam's L2 penalty `wd·p` added to the gradient
/// (in f32: `g + f32(wd)·p`, rounded after the product and after the sum).
#[derive(Clone, Copy, Debug)]
pub struct AdamGroup {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub decoupled: bool,
}

/// One tensor of a group: same-length buffers and its own step count (a
/// parameter that had no gradient on some steps is behind the others).
#[derive(Debug)]
pub struct AdamTensor<'a> {
    pub param: &'a mut [f32],
    pub grad: &'a [f32],
    pub exp_avg: &'a mut [f32],
    pub exp_avg_sq: &'a mut [f32],
    pub step: u64,
}

impl AdamGroup {
    fn validate(&self, op: &'static str) -> Result<()> {
        let bad = |arg: &str, want: &str, v: f64| {
            Err(KernelError::value(
                op,
                format!("{arg}: expected {want}, got {v}"),
            ))
        };
        let finite = |v: f64| v.is_finite();
        if !finite(self.lr) || self.lr < 0.0 {
            return bad("lr", "a finite value >= 0", self.lr);
        }
        if !finite(self.eps) || self.eps < 0.0 {
            return bad("eps", "a finite value >= 0", self.eps);
        }
        if !finite(self.beta1) || !(0.0..1.0).contains(&self.beta1) {
            return bad("beta1", "a value in [0, 1)", self.beta1);
        }
        if !finite(self.beta2) || !(0.0..1.0).contains(&self.beta2) {
            return bad("beta2", "a value in [0, 1)", self.beta2);
        }
        if !finite(self.weight_decay) || self.weight_decay < 0.0 {
            return bad("weight_decay", "a finite value >= 0", self.weight_decay);
        }
        Ok(())
    }

    /// The per-element constants for a tensor at `step` (>= 1), in f64 then
    /// rounded once to f32.
    fn consts(&self, step: u64) -> Consts {
        let t = step.min(i32::MAX as u64) as i32;
        let bc1 = 1.0 - self.beta1.powi(t);
        let bc2 = 1.0 - self.beta2.powi(t);
        let (decay, l2) = if self.decoupled {
            (1.0 - self.lr * self.weight_decay, 0.0)
        } else {
            (1.0, self.weight_decay)
        };
        Consts {
            decay: decay as f32,
            l2: l2 as f32,
            one_m_b1: (1.0 - self.beta1) as f32,
            b2: self.beta2 as f32,
            one_m_b2: (1.0 - self.beta2) as f32,
            step_size: (self.lr / bc1) as f32,
            inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
            eps: self.eps as f32,
        }
    }
}

/// Per-element constants, computed once per tensor in f64.
#[derive(Clone, Copy)]
struct Consts {
    decay: f32,
    /// Adam's L2 coefficient; 0 means no penalty (the add is skipped, so a
    /// zero penalty does not turn a −0 gradient into +0).
    l2: f32,
    one_m_b1: f32,
    b2: f32,
    one_m_b2: f32,
    step_size: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
}

/// The four buffers of one piece of a tensor, cut together.
struct Bufs<'a> {
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
}

impl Piece for Bufs<'_> {
    fn len(&self) -> usize {
        self.p.len()
    }
    fn split_at(self, mid: usize) -> (Self, Self) {
        let (p0, p1) = self.p.split_at_mut(mid);
        let (g0, g1) = self.g.split_at(mid);
        let (m0, m1) = self.m.split_at_mut(mid);
        let (v0, v1) = self.v.split_at_mut(mid);
        (
            Bufs {
                p: p0,
                g: g0,
                m: m0,
                v: v0,
            },
            Bufs {
                p: p1,
                g: g1,
                m: m1,
                v: v1,
            },
        )
    }
}

struct Step<'a> {
    b: Bufs<'a>,
    k: Consts,
}

impl Kernel for Step<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let (k, b) = (self.k, self.b);
        let (decay, a1) = (V::splat(k.decay), V::splat(k.one_m_b1));
        let (b2, a2) = (V::splat(k.b2), V::splat(k.one_m_b2));
        let (ss, ibc, eps) = (
            V::splat(k.step_size),
            V::splat(k.inv_bc2_sqrt),
            V::splat(k.eps),
        );
        let (fold, l2) = (k.l2 != 0.0, V::splat(k.l2));
        for (o, l) in steps::<V>(b.p.len()) {
            let p = ld::<V>(b.p, o, l, 0.0);
            let mut g = ld::<V>(b.g, o, l, 0.0);
            if fold {
                // Separate product and sum (no FMA): the same roundings as
                // NumPy's `g + np.float32(wd) * p`.
                g = V::add(g, V::mul(l2, p));
            }
            let m = ld::<V>(b.m, o, l, 0.0);
            let m = V::fma(a1, V::sub(g, m), m);
            let v = V::fma(V::mul(g, g), a2, V::mul(ld::<V>(b.v, o, l, 0.0), b2));
            let p = V::mul(p, decay);
            let denom = V::fma(V::sqrt(v), ibc, eps);
            let p = V::fnma(ss, V::div(m, denom), p);
            st::<V>(b.m, o, l, m);
            st::<V>(b.v, o, l, v);
            st::<V>(b.p, o, l, p);
        }
    }
}

/// One Adam/AdamW step in place over every tensor of a group.
///
/// # Shapes
/// - per tensor: param, grad, exp_avg, exp_avg_sq of the same length `n_i`
///   (any lengths across tensors, 0 included), `step >= 1`
pub fn adam_multi_step(tensors: Vec<AdamTensor<'_>>, h: AdamGroup) -> Result<()> {
    const OP: &str = "adam_multi_step";
    h.validate(OP)?;
    for (i, t) in tensors.iter().enumerate() {
        let n = t.param.len();
        if t.grad.len() != n || t.exp_avg.len() != n || t.exp_avg_sq.len() != n {
            return Err(KernelError::shape(
                OP,
                format!(
                    "tensor {i}: param, grad, exp_avg, exp_avg_sq must have the same number \
                     of elements; got {}, {}, {}, {}",
                    n,
                    t.grad.len(),
                    t.exp_avg.len(),
                    t.exp_avg_sq.len()
                ),
            ));
        }
        if t.step == 0 {
            return Err(KernelError::value(
                OP,
                format!("steps[{i}]: expected >= 1 (steps count from 1), got 0"),
            ));
        }
    }
    let consts: Vec<Consts> = tensors.iter().map(|t| h.consts(t.step)).collect();
    let bufs = tensors.into_iter().map(|t| Bufs {
        p: t.param,
        g: t.grad,
        m: t.exp_avg,
        v: t.exp_avg_sq,
    });
    chunks(bufs, CHUNK).into_par_iter().for_each(|pieces| {
        for (i, b) in pieces {
            dispatch(Step { b, k: consts[i] });
        }
    });
    Ok(())
}

/// One AdamW step in place on one tensor (`adam_multi_step` with one tensor).
///
/// # Shapes
/// - param, grad, exp_avg, exp_avg_sq: (n,) each, contiguous
pub fn adamw_step(
    param: &mut [f32],
    grad: &[f32],
    exp_avg: &mut [f32],
    exp_avg_sq: &mut [f32],
    h: AdamW,
) -> Result<()> {
    let n = param.len();
    if grad.len() != n || exp_avg.len() != n || exp_avg_sq.len() != n {
        return Err(KernelError::shape(
            "adamw_step",
            format!(
                "param, grad, exp_avg, exp_avg_sq must have the same number of elements; got {}, {}, {}, {}",
                n,
                grad.len(),
                exp_avg.len(),
                exp_avg_sq.len()
            ),
        ));
    }
    let group = AdamGroup {
        lr: h.lr,
        beta1: h.beta1,
        beta2: h.beta2,
        eps: h.eps,
        weight_decay: h.weight_decay,
        decoupled: true,
    };
    group.validate("adamw_step")?;
    if h.step == 0 {
        return Err(KernelError::value(
            "adamw_step",
            "step: expected >= 1 (steps count from 1), got 0",
        ));
    }
    let t = AdamTensor {
        param,
        grad,
        exp_avg,
        exp_avg_sq,
        step: h.step,
    };
    adam_multi_step(vec![t], group)
}

#[cfg(test)]
mod tests;
