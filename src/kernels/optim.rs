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

    use crate::kernels::test_util::{values, with_threads};
    use crate::simd::{available, dispatch_on};

    const SIZES: [usize; 8] = [1, 0, 7, 33, 127, 4099, CHUNK + 5, 2 * CHUNK + 17];

    struct State {
        p: Vec<f32>,
        m: Vec<f32>,
        v: Vec<f32>,
    }

    fn states() -> Vec<State> {
        SIZES
            .iter()
            .enumerate()
            .map(|(k, &n)| State {
                p: values(n, 10 + k as u64, 1.0),
                m: values(n, 20 + k as u64, 0.1),
                v: values(n, 30 + k as u64, 0.01)
                    .iter()
                    .map(|x| x.abs())
                    .collect(),
            })
            .collect()
    }

    fn group(decoupled: bool) -> AdamGroup {
        AdamGroup {
            lr: 3e-3,
            beta1: 0.85,
            beta2: 0.99,
            eps: 1e-7,
            weight_decay: 0.1,
            decoupled,
        }
    }

    fn multi(st: &mut [State], gs: &[Vec<f32>], steps: &[u64], h: AdamGroup) {
        let ts = st
            .iter_mut()
            .zip(gs)
            .zip(steps)
            .map(|((s, g), &step)| AdamTensor {
                param: &mut s.p,
                grad: g,
                exp_avg: &mut s.m,
                exp_avg_sq: &mut s.v,
                step,
            })
            .collect();
        adam_multi_step(ts, h).unwrap();
    }

    /// The one-call-per-tensor path the optimizer used before the multi-tensor
    /// kernel: Adam's L2 term folded into the gradient by the caller
    /// (`g + f32(wd)·p`, as NumPy does), then the AdamW kernel without decay.
    fn one_by_one(st: &mut [State], gs: &[Vec<f32>], steps: &[u64], h: AdamGroup) {
        for ((s, g), &step) in st.iter_mut().zip(gs).zip(steps) {
            let (g, wd) = if h.decoupled {
                (g.clone(), h.weight_decay)
            } else {
                let l2 = h.weight_decay as f32;
                let g: Vec<f32> = g.iter().zip(&s.p).map(|(&g, &p)| g + l2 * p).collect();
                (g, 0.0)
            };
            let one = AdamW {
                lr: h.lr,
                beta1: h.beta1,
                beta2: h.beta2,
                eps: h.eps,
                weight_decay: wd,
                step,
            };
            adamw_step(&mut s.p, &g, &mut s.m, &mut s.v, one).unwrap();
        }
    }

    #[test]
    fn multi_step_is_bitwise_the_per_tensor_path() {
        for decoupled in [true, false] {
            let h = group(decoupled);
            let (mut a, mut b, mut c) = (states(), states(), states());
            // Different step counts per tensor, as after steps without a grad.
            let mut steps: Vec<u64> = (0..SIZES.len() as u64).map(|i| 1 + i % 3).collect();
            for round in 0..3u64 {
                let gs: Vec<Vec<f32>> = SIZES
                    .iter()
                    .enumerate()
                    .map(|(k, &n)| values(n, 100 * round + k as u64, 2.0))
                    .collect();
                with_threads(1, || multi(&mut a, &gs, &steps, h));
                with_threads(2, || multi(&mut b, &gs, &steps, h));
                one_by_one(&mut c, &gs, &steps, h);
                for s in steps.iter_mut() {
                    *s += 1;
                }
            }
            for ((a, b), c) in a.iter().zip(&b).zip(&c) {
                for (x, y) in [(&a.p, &c.p), (&a.m, &c.m), (&a.v, &c.v), (&a.p, &b.p)] {
                    let same = x.iter().zip(y).all(|(u, w)| u.to_bits() == w.to_bits());
                    assert!(same, "decoupled={decoupled}, n={}", x.len());
                }
            }
        }
    }

    #[test]
    fn pieces_do_not_change_the_result_on_any_isa() {
        let n = 301;
        let g = values(n, 5, 1.0);
        let k = group(false).consts(4);
        for level in available() {
            let mut whole = State {
                p: values(n, 1, 1.0),
                m: values(n, 2, 0.1),
                v: values(n, 3, 0.1).iter().map(|x| x.abs()).collect(),
            };
            let mut cut = State {
                p: whole.p.clone(),
                m: whole.m.clone(),
                v: whole.v.clone(),
            };
            let b = Bufs {
                p: &mut whole.p,
                g: &g,
                m: &mut whole.m,
                v: &mut whole.v,
            };
            dispatch_on(level, Step { b, k });
            let b = Bufs {
                p: &mut cut.p,
                g: &g,
                m: &mut cut.m,
                v: &mut cut.v,
            };
            for (_, b) in chunks([b], 37).into_iter().flatten() {
                dispatch_on(level, Step { b, k });
            }
            assert!(whole
                .p
                .iter()
                .zip(&cut.p)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(whole
                .m
                .iter()
                .zip(&cut.m)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(whole
                .v
                .iter()
                .zip(&cut.v)
                .all(|(x, y)| x.to_bits() == y.to_bits()));
        }
    }

    #[test]
    fn adam_l2_matches_the_reference() {
        let n = 1037;
        let h = group(false);
        let mut st = vec![State {
            p: values(n, 1, 1.0),
            m: vec![0.0; n],
            v: vec![0.0; n],
        }];
        let mut p64: Vec<f64> = st[0].p.iter().map(|&x| x as f64).collect();
        let (mut m64, mut v64) = (vec![0.0; n], vec![0.0; n]);
        for step in 1..=5u64 {
            let g = values(n, 50 + step, 1.0);
            multi(&mut st, std::slice::from_ref(&g), &[step], h);
            // Adam: L2 into the gradient, then the undecayed update.
            let g64: Vec<f64> = g
                .iter()
                .zip(&p64)
                .map(|(&g, &p)| g as f64 + h.weight_decay * p)
                .collect();
            let one = AdamW {
                lr: h.lr,
                beta1: h.beta1,
                beta2: h.beta2,
                eps: h.eps,
                weight_decay: 0.0,
                step,
            };
            reference(&mut p64, &g64, &mut m64, &mut v64, one);
        }
        for (i, (&got, &want)) in st[0].p.iter().zip(&p64).enumerate() {
            assert!((got as f64 - want).abs() < 1e-5, "{i}: {got} vs {want}");
        }
    }

    #[test]
    fn multi_rejects_mismatched_lengths_and_step_zero() {
        let (mut p, mut m, mut v) = (vec![0.0; 3], vec![0.0; 3], vec![0.0; 3]);
        let t = AdamTensor {
            param: &mut p,
            grad: &[0.0; 2],
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            step: 1,
        };
        let e = adam_multi_step(vec![t], group(true)).unwrap_err();
        assert!(
            e.message.contains("tensor 0") && e.message.contains("same number"),
            "{e}"
        );
        let t = AdamTensor {
            param: &mut p,
            grad: &[0.0; 3],
            exp_avg: &mut m,
            exp_avg_sq: &mut v,
            step: 0,
        };
        let e = adam_multi_step(vec![t], group(true)).unwrap_err();
        assert!(e.message.contains("steps[0]"), "{e}");
        let bad = AdamGroup {
            beta2: 1.0,
            ..group(true)
        };
        let e = adam_multi_step(Vec::new(), bad).unwrap_err();
        assert!(e.message.contains("beta2"), "{e}");
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
