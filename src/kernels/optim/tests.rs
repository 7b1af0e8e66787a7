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
