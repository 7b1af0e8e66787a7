//! Fused AdamW update, in place over flat buffers, PyTorch's formulas
//! (`torch.optim.AdamW`, amsgrad off):
//!
//! ```text
//! p  ← p·(1 − lr·wd)
//! m  ← m + (1 − β1)(g − m)            (exp_avg.lerp_(g, 1 − β1))
//! v  ← β2·v + (1 − β2)·g²
//! p  ← p − (lr / (1 − β1^t)) · m / (√v / √(1 − β2^t) + eps)
//! ```
//! `weight_decay = 0` is Adam without decay. One read and one write of each
//! of the four buffers; fixed chunks in parallel (elementwise, so the result
//! is independent of the thread count).

use rayon::prelude::*;

use super::rows::{elems_per_chunk, ld, st, steps};
use crate::error::{KernelError, Result};
use crate::simd::{dispatch, F32Vec, Kernel};

/// Hyper-parameters of one AdamW step; `step` counts from 1.
#[derive(Clone, Copy, Debug)]
pub struct AdamW {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub weight_decay: f64,
    pub step: u64,
}

impl AdamW {
    fn validate(&self) -> Result<()> {
        const OP: &str = "adamw_step";
        let bad = |arg: &str, want: &str, v: f64| {
            Err(KernelError::value(
                OP,
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
        if self.step == 0 {
            return Err(KernelError::value(
                OP,
                "step: expected >= 1 (steps count from 1), got 0",
            ));
        }
        Ok(())
    }
}

/// Per-element constants, computed once in f64.
#[derive(Clone, Copy)]
struct Consts {
    decay: f32,
    one_m_b1: f32,
    b2: f32,
    one_m_b2: f32,
    step_size: f32,
    inv_bc2_sqrt: f32,
    eps: f32,
}

struct Step<'a> {
    p: &'a mut [f32],
    g: &'a [f32],
    m: &'a mut [f32],
    v: &'a mut [f32],
    k: Consts,
}

impl Kernel for Step<'_> {
    type Output = ();
    #[inline(always)]
    unsafe fn run<V: F32Vec>(self) {
        let k = self.k;
        let (decay, a1) = (V::splat(k.decay), V::splat(k.one_m_b1));
        let (b2, a2) = (V::splat(k.b2), V::splat(k.one_m_b2));
        let (ss, ibc, eps) = (
            V::splat(k.step_size),
            V::splat(k.inv_bc2_sqrt),
            V::splat(k.eps),
        );
        for (o, l) in steps::<V>(self.p.len()) {
            let g = ld::<V>(self.g, o, l, 0.0);
            let m = ld::<V>(self.m, o, l, 0.0);
            let m = V::fma(a1, V::sub(g, m), m);
            let v = V::fma(V::mul(g, g), a2, V::mul(ld::<V>(self.v, o, l, 0.0), b2));
            let p = V::mul(ld::<V>(self.p, o, l, 0.0), decay);
            let denom = V::fma(V::sqrt(v), ibc, eps);
            let p = V::fnma(ss, V::div(m, denom), p);
            st::<V>(self.m, o, l, m);
            st::<V>(self.v, o, l, v);
            st::<V>(self.p, o, l, p);
        }
    }
}

/// One AdamW step in place.
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
    h.validate()?;
    let t = h.step.min(i32::MAX as u64) as i32;
    let bc1 = 1.0 - h.beta1.powi(t);
    let bc2 = 1.0 - h.beta2.powi(t);
    let k = Consts {
        decay: (1.0 - h.lr * h.weight_decay) as f32,
        one_m_b1: (1.0 - h.beta1) as f32,
        b2: h.beta2 as f32,
        one_m_b2: (1.0 - h.beta2) as f32,
        step_size: (h.lr / bc1) as f32,
        inv_bc2_sqrt: (1.0 / bc2.sqrt()) as f32,
        eps: h.eps as f32,
    };
    let cl = elems_per_chunk(n);
    param
        .par_chunks_mut(cl)
        .zip(exp_avg.par_chunks_mut(cl))
        .zip(exp_avg_sq.par_chunks_mut(cl))
        .enumerate()
        .for_each(|(c, ((p, m), v))| {
            let g = &grad[c * cl..c * cl + p.len()];
            dispatch(Step { p, g, m, v, k });
        });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(p: &mut [f64], g: &[f64], m: &mut [f64], v: &mut [f64], h: AdamW) {
        let t = h.step as i32;
        for i in 0..p.len() {
            p[i] *= 1.0 - h.lr * h.weight_decay;
            m[i] += (1.0 - h.beta1) * (g[i] - m[i]);
            v[i] = h.beta2 * v[i] + (1.0 - h.beta2) * g[i] * g[i];
            let denom = v[i].sqrt() / (1.0 - h.beta2.powi(t)).sqrt() + h.eps;
            p[i] -= h.lr / (1.0 - h.beta1.powi(t)) * m[i] / denom;
        }
    }

    #[test]
    fn matches_the_reference_over_steps() {
        let n = 1037;
        let h0 = AdamW {
            lr: 1e-2,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.1,
            step: 1,
        };
        let mut p: Vec<f32> = (0..n).map(|i| ((i * 7 % 13) as f32 - 6.0) * 0.1).collect();
        let (mut m, mut v) = (vec![0.0f32; n], vec![0.0f32; n]);
        let mut p64: Vec<f64> = p.iter().map(|&x| x as f64).collect();
        let (mut m64, mut v64) = (vec![0.0; n], vec![0.0; n]);
        for step in 1..=5 {
            let g: Vec<f32> = (0..n).map(|i| ((i + step) as f32 * 0.37).sin()).collect();
            let g64: Vec<f64> = g.iter().map(|&x| x as f64).collect();
            let h = AdamW {
                step: step as u64,
                ..h0
            };
            adamw_step(&mut p, &g, &mut m, &mut v, h).unwrap();
            reference(&mut p64, &g64, &mut m64, &mut v64, h);
        }
        for i in 0..n {
            assert!(
                (p[i] as f64 - p64[i]).abs() < 1e-5,
                "{i}: {} vs {}",
                p[i],
                p64[i]
            );
        }
    }

    #[test]
    fn rejects_bad_hyper_parameters() {
        let h = AdamW {
            lr: f64::NAN,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
            step: 1,
        };
        let (mut p, mut m, mut v) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
        let e = adamw_step(&mut p, &[0.0; 3], &mut m, &mut v, h).unwrap_err();
        assert!(e.message.contains("lr"), "{e}");
        let e = adamw_step(
            &mut p,
            &[0.0; 3],
            &mut m,
            &mut v,
            AdamW {
                step: 0,
                lr: 1e-3,
                ..h
            },
        )
        .unwrap_err();
        assert!(e.message.contains("step"), "{e}");
        let e = adamw_step(&mut p, &[0.0; 2], &mut m, &mut v, AdamW { lr: 1e-3, ..h }).unwrap_err();
        assert!(e.message.contains("same number"), "{e}");
    }
}
