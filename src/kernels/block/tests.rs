use super::*;
use crate::kernels::test_util::{assert_close, gelu64, values, with_threads};

/// The 12 parameter slots in `BlockWeights` order: ln1 w/b, qkv w/b, out w/b,
/// ln2 w/b, fc1 w/b, fc2 w/b (None: absent).
type Params = [Option<Vec<f32>>; 12];

fn shape(
    batch: usize,
    t: usize,
    width: usize,
    heads: usize,
    ff: usize,
    causal: bool,
) -> BlockShape {
    BlockShape {
        batch,
        t,
        width,
        heads,
        ff,
        eps1: 1e-5,
        eps2: 1e-4,
        causal,
    }
}

/// Sizes of the 12 slots.
fn sizes(s: &BlockShape) -> [usize; 12] {
    let (c, f) = (s.width, s.ff);
    [c, c, 3 * c * c, 3 * c, c * c, c, c, c, f * c, f, c * f, c]
}

fn params(s: &BlockShape, bias: bool, seed: u64) -> Params {
    let sz = sizes(s);
    std::array::from_fn(|i| {
        let is_bias = i % 2 == 1;
        let scale = if i == 10 { 0.3 } else { 0.5 };
        match (i, is_bias && !bias) {
            (_, true) => None,
            // LayerNorm weights around 1.
            (0 | 6, _) => Some(
                values(sz[i], seed + i as u64, 0.3)
                    .iter()
                    .map(|v| 1.0 + v)
                    .collect(),
            ),
            _ => Some(values(sz[i], seed + i as u64, scale)),
        }
    })
}

fn weights(p: &Params) -> BlockWeights<'_> {
    let o = |i: usize| p[i].as_deref();
    let r = |i: usize| p[i].as_deref().unwrap();
    BlockWeights {
        ln1_w: o(0),
        ln1_b: o(1),
        qkv_w: r(2),
        qkv_b: o(3),
        out_w: r(4),
        out_b: o(5),
        ln2_w: o(6),
        ln2_b: o(7),
        fc1_w: r(8),
        fc1_b: o(9),
        fc2_w: r(10),
        fc2_b: o(11),
    }
}

/// Runs forward then backward; returns y, dx and the 12 gradients (absent
/// biases: None; LayerNorm slots always filled).
fn run(s: &BlockShape, p: &Params, x: &[f32], dy: &[f32]) -> (Vec<f32>, Vec<f32>, Params) {
    let w = weights(p);
    let n = s.rows() * s.width;
    let mut saved = vec![f32::NAN; s.saved_len()];
    let mut y = vec![f32::NAN; n];
    forward(s, &w, x, &mut saved, &mut y).unwrap();
    let mut scratch = vec![f32::NAN; s.scratch_len()];
    let mut dx = vec![f32::NAN; n];
    let mut g = grad_bufs(s);
    let have: [bool; 12] = std::array::from_fn(|i| p[i].is_some());
    backward(
        s,
        &w,
        x,
        &saved,
        dy,
        &mut scratch,
        grads_of(p, &mut dx, &mut g),
    )
    .unwrap();
    let grads = g.map(Some);
    (
        y,
        dx,
        std::array::from_fn(|i| if have[i] { grads[i].clone() } else { None }),
    )
}

fn opt(on: bool, v: &mut [f32]) -> Option<&mut [f32]> {
    on.then_some(v)
}

// --- f64 reference ----------------------------------------------------------

type P64 = Vec<Option<Vec<f64>>>;

fn to64(p: &Params) -> P64 {
    p.iter()
        .map(|v| v.as_ref().map(|v| v.iter().map(|&a| a as f64).collect()))
        .collect()
}

fn ln64(x: &[f64], c: usize, w: &Option<Vec<f64>>, b: &Option<Vec<f64>>, eps: f32) -> Vec<f64> {
    let mut y = Vec::with_capacity(x.len());
    for r in x.chunks(c) {
        let mean = r.iter().sum::<f64>() / c as f64;
        let var = r.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / c as f64;
        let rs = 1.0 / (var + eps as f64).sqrt();
        for (i, v) in r.iter().enumerate() {
            let (wi, bi) = (
                w.as_ref().map_or(1.0, |w| w[i]),
                b.as_ref().map_or(0.0, |b| b[i]),
            );
            y.push((v - mean) * rs * wi + bi);
        }
    }
    y
}

/// x (rows × inp) · Wᵀ (W out × inp) + b.
fn lin64(x: &[f64], inp: usize, w: &[f64], b: &Option<Vec<f64>>) -> Vec<f64> {
    let out = w.len() / inp;
    let mut y = Vec::with_capacity(x.len() / inp * out);
    for r in x.chunks(inp) {
        for (o, wr) in w.chunks(inp).enumerate() {
            let s: f64 = r.iter().zip(wr).map(|(a, b)| a * b).sum();
            y.push(s + b.as_ref().map_or(0.0, |b| b[o]));
        }
    }
    y
}

/// Self-attention of the (B, T, 3, H, D) rows of `qkv` → (B, T, H, D) rows.
fn attn64(s: &BlockShape, qkv: &[f64]) -> Vec<f64> {
    let (c, t, h) = (s.width, s.t, s.heads);
    let d = c / h;
    let mut o = vec![0.0; s.rows() * c];
    for b in 0..s.batch {
        for hh in 0..h {
            let at = |i: usize, which: usize, k: usize| {
                qkv[(b * t + i) * 3 * c + which * c + hh * d + k]
            };
            for i in 0..t {
                let keys = if s.causal { i + 1 } else { t };
                let sc: Vec<f64> = (0..keys)
                    .map(|j| {
                        (0..d).map(|k| at(i, 0, k) * at(j, 1, k)).sum::<f64>() / (d as f64).sqrt()
                    })
                    .collect();
                let mx = sc.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = sc.iter().map(|v| (v - mx).exp()).collect();
                let z: f64 = e.iter().sum();
                for (j, wj) in e.iter().enumerate() {
                    for k in 0..d {
                        o[(b * t + i) * c + hh * d + k] += wj / z * at(j, 2, k);
                    }
                }
            }
        }
    }
    o
}

fn forward64(s: &BlockShape, p: &P64, x: &[f64]) -> Vec<f64> {
    let (c, f) = (s.width, s.ff);
    let r = |i: usize| p[i].as_deref().unwrap();
    let h1 = ln64(x, c, &p[0], &p[1], s.eps1);
    let qkv = lin64(&h1, c, r(2), &p[3]);
    let o = attn64(s, &qkv);
    let mut x2 = lin64(&o, c, r(4), &p[5]);
    x2.iter_mut().zip(x).for_each(|(a, b)| *a += b);
    let h2 = ln64(&x2, c, &p[6], &p[7], s.eps2);
    let g: Vec<f64> = lin64(&h2, c, r(8), &p[9]).into_iter().map(gelu64).collect();
    let mut y = lin64(&g, f, r(10), &p[11]);
    y.iter_mut().zip(&x2).for_each(|(a, b)| *a += b);
    y
}

/// The loss Σ y·dy of the f64 forward.
fn loss64(s: &BlockShape, p: &P64, x: &[f64], dy: &[f32]) -> f64 {
    forward64(s, p, x)
        .iter()
        .zip(dy)
        .map(|(a, &b)| a * b as f64)
        .sum()
}

/// Checks `grad` against the central difference of `loss64` along a random
/// direction of input `slot` (12: x).
fn check_direction(s: &BlockShape, p: &P64, x: &[f64], dy: &[f32], slot: usize, grad: &[f32]) {
    let dir: Vec<f64> = values(grad.len(), 777 + slot as u64, 1.0)
        .iter()
        .map(|&v| v as f64)
        .collect();
    let h = 1e-4;
    let at = |sign: f64| {
        let shift =
            |v: &[f64]| -> Vec<f64> { v.iter().zip(&dir).map(|(a, d)| a + sign * h * d).collect() };
        if slot == 12 {
            loss64(s, p, &shift(x), dy)
        } else {
            let mut q = p.clone();
            q[slot] = Some(shift(p[slot].as_deref().unwrap()));
            loss64(s, &q, x, dy)
        }
    };
    let numeric = (at(1.0) - at(-1.0)) / (2.0 * h);
    let analytic: f64 = grad.iter().zip(&dir).map(|(&g, d)| g as f64 * d).sum();
    let scale: f64 = grad
        .iter()
        .zip(&dir)
        .map(|(&g, d)| (g as f64 * d).abs())
        .sum();
    assert!(
        (numeric - analytic).abs() <= 1e-4 * scale + 1e-6,
        "slot {slot}: analytic {analytic}, numeric {numeric} (scale {scale})"
    );
}

const CASES: [(usize, usize, usize, usize, usize); 4] = [
    // (batch, t, width, heads, ff): one row, odd sizes, primes, tails.
    (1, 1, 4, 1, 3),
    (2, 5, 12, 3, 20),
    (1, 13, 10, 2, 17),
    (3, 7, 16, 4, 40),
];

#[test]
fn forward_and_every_gradient_match_the_f64_reference() {
    for &(b, t, c, h, f) in &CASES {
        for causal in [false, true] {
            for bias in [true, false] {
                let s = shape(b, t, c, h, f, causal);
                let p = params(&s, bias, 10 * c as u64 + t as u64);
                let x = values(s.rows() * c, 1, 1.0);
                let dy = values(s.rows() * c, 2, 1.0);
                let (y, dx, g) = run(&s, &p, &x, &dy);
                let p64 = to64(&p);
                let x64: Vec<f64> = x.iter().map(|&v| v as f64).collect();
                let what = format!("y b{b} t{t} c{c} h{h} f{f} causal {causal} bias {bias}");
                assert_close(&y, &forward64(&s, &p64, &x64), 2e-5, 2e-5, &what);
                check_direction(&s, &p64, &x64, &dy, 12, &dx);
                for (slot, gi) in g.iter().enumerate() {
                    if let Some(gi) = gi {
                        check_direction(&s, &p64, &x64, &dy, slot, gi);
                    }
                }
            }
        }
    }
}

#[test]
fn results_do_not_depend_on_the_thread_count() {
    // Large enough that the GEMMs, LayerNorms and attention split their work,
    // that the batch runs in 2 or 3 uneven parts (one per thread) and that
    // dW = dYᵀ·x runs its two K slices side by side.
    let s = shape(7, 79, 32, 4, 96, true);
    assert_eq!(with_threads(1, || s.parts()), [7]);
    assert_eq!(with_threads(2, || s.parts()), [4, 3]);
    assert_eq!(with_threads(3, || s.parts()), [3, 2, 2]);
    check_thread_invariance(&s);
    // T > the attention's key tile and B·H < 16: the backward groups each
    // head's key tiles by B·H, so a part must be grouped as the whole batch.
    let s = shape(3, 300, 16, 2, 24, true);
    assert_eq!(with_threads(2, || s.parts()), [2, 1]);
    check_thread_invariance(&s);
}

fn check_thread_invariance(s: &BlockShape) {
    let s = *s;
    let p = params(&s, true, 5);
    let x = values(s.rows() * s.width, 3, 1.0);
    let dy = values(s.rows() * s.width, 4, 1.0);
    let one = with_threads(1, || run(&s, &p, &x, &dy));
    for threads in [2, 3] {
        let many = with_threads(threads, || run(&s, &p, &x, &dy));
        assert_eq!(one.0, many.0, "y, {threads} threads");
        assert_eq!(one.1, many.1, "dx, {threads} threads");
        assert_eq!(one.2, many.2, "grads, {threads} threads");
    }
}

#[test]
fn bad_sizes_are_refused() {
    let s = shape(2, 3, 8, 2, 12, false);
    let p = params(&s, true, 1);
    let x = values(s.rows() * s.width, 1, 1.0);
    let mut saved = vec![0.0; s.saved_len()];
    let mut y = vec![0.0; s.rows() * s.width];
    let msg = |r: Result<()>| r.unwrap_err().to_string();
    let e = msg(forward(&s, &weights(&p), &x[1..], &mut saved, &mut y));
    assert!(
        e.contains("transformer_block") && e.contains("x: expected 48 elements, got 47"),
        "{e}"
    );
    let e = msg(forward(&s, &weights(&p), &x, &mut saved[1..], &mut y));
    assert!(e.contains("saved: expected"), "{e}");
    let mut short = p.clone();
    short[8].as_mut().unwrap().pop();
    let e = msg(forward(&s, &weights(&short), &x, &mut saved, &mut y));
    assert!(
        e.contains("fc1 weight: expected 96 elements, got 95"),
        "{e}"
    );
    short = p.clone();
    short[3].as_mut().unwrap().push(0.0);
    let e = msg(forward(&s, &weights(&short), &x, &mut saved, &mut y));
    assert!(e.contains("qkv bias: expected 24 elements, got 25"), "{e}");
    let e = msg(forward(
        &BlockShape { heads: 3, ..s },
        &weights(&p),
        &x,
        &mut saved,
        &mut y,
    ));
    assert!(e.contains("multiple of heads 3"), "{e}");
    let e = msg(forward(
        &BlockShape {
            eps2: f32::NAN,
            ..s
        },
        &weights(&p),
        &x,
        &mut saved,
        &mut y,
    ));
    assert!(e.contains("eps2"), "{e}");
    let mut scratch = vec![0.0; s.scratch_len() - 1];
    let mut dx = vec![0.0; x.len()];
    let mut g: [Vec<f32>; 4] = std::array::from_fn(|_| vec![0.0; s.width]);
    let [a, b, c, d] = &mut g;
    let grads = BlockGrads {
        dx: &mut dx,
        ln1_w: a,
        ln1_b: b,
        qkv_w: None,
        qkv_b: None,
        out_w: None,
        out_b: None,
        ln2_w: c,
        ln2_b: d,
        fc1_w: None,
        fc1_b: None,
        fc2_w: None,
        fc2_b: None,
    };
    let e = msg(backward(
        &s,
        &weights(&p),
        &x,
        &saved,
        &x,
        &mut scratch,
        grads,
    ));
    assert!(e.contains("scratch: expected"), "{e}");
}

/// Gradient buffers of one block (NaN-filled), in `Params` order.
fn grad_bufs(s: &BlockShape) -> [Vec<f32>; 12] {
    let sz = sizes(s);
    std::array::from_fn(|i| vec![f32::NAN; sz[i]])
}

fn grads_of<'a>(p: &Params, dx: &'a mut [f32], g: &'a mut [Vec<f32>; 12]) -> BlockGrads<'a> {
    let have: [bool; 12] = std::array::from_fn(|i| p[i].is_some());
    let [g0, g1, g2, g3, g4, g5, g6, g7, g8, g9, g10, g11] = g;
    BlockGrads {
        dx,
        ln1_w: g0,
        ln1_b: g1,
        qkv_w: opt(true, g2),
        qkv_b: opt(have[3], g3),
        out_w: opt(true, g4),
        out_b: opt(have[5], g5),
        ln2_w: g6,
        ln2_b: g7,
        fc1_w: opt(true, g8),
        fc1_b: opt(have[9], g9),
        fc2_w: opt(true, g10),
        fc2_b: opt(have[11], g11),
    }
}

#[test]
fn a_stack_is_its_blocks_one_by_one() {
    // Two blocks with their own eps and biases (the second has none); 2 threads,
    // so each block also runs in parts.
    let s0 = shape(3, 37, 16, 4, 24, true);
    let s1 = BlockShape {
        eps1: 1e-3,
        eps2: 1e-6,
        ..s0
    };
    let (p0, p1) = (params(&s0, true, 7), params(&s1, false, 8));
    let n = s0.rows() * s0.width;
    let (x, dy) = (values(n, 1, 1.0), values(n, 2, 1.0));
    with_threads(2, || {
        // One by one: block 1 gets block 0's output, block 0 gets block 1's dx.
        let mut sv = vec![f32::NAN; s0.saved_len()];
        let mut y0 = vec![f32::NAN; n];
        forward(&s0, &weights(&p0), &x, &mut sv, &mut y0).unwrap();
        let (y1, dx1, g1) = run(&s1, &p1, &y0, &dy);
        let (_, dx0, g0) = run(&s0, &p0, &x, &dx1);
        // As a stack.
        let shapes = [s0, s1];
        let ws = [weights(&p0), weights(&p1)];
        let mut saved = [
            vec![f32::NAN; s0.saved_len()],
            vec![f32::NAN; s1.saved_len()],
        ];
        let mut ys = [vec![f32::NAN; n], vec![f32::NAN; n]];
        {
            let [a, b] = &mut saved;
            let [c, d] = &mut ys;
            forward_stack(&shapes, &ws, &x, vec![a, b], vec![c, d]).unwrap();
        }
        assert_eq!(ys[0], y0);
        assert_eq!(ys[1], y1);
        let mut scratch = vec![f32::NAN; s0.scratch_len()];
        let (mut dxs0, mut dxs1) = (vec![f32::NAN; n], vec![f32::NAN; n]);
        let (mut gs0, mut gs1) = (grad_bufs(&s0), grad_bufs(&s1));
        let grads = vec![
            grads_of(&p0, &mut dxs0, &mut gs0),
            grads_of(&p1, &mut dxs1, &mut gs1),
        ];
        let svs = [&saved[0][..], &saved[1][..]];
        backward_stack(&shapes, &ws, &[&x, &ys[0]], &svs, &dy, &mut scratch, grads).unwrap();
        assert_eq!(dxs1, dx1);
        assert_eq!(dxs0, dx0);
        for (p, got, want) in [(&p0, &gs0, &g0), (&p1, &gs1, &g1)] {
            for i in 0..12 {
                if p[i].is_some() {
                    assert_eq!(Some(&got[i]), want[i].as_ref(), "slot {i}");
                }
            }
        }
    });
}

#[test]
fn a_stack_needs_one_entry_per_block() {
    let s = shape(1, 4, 8, 2, 8, false);
    let p = params(&s, true, 3);
    let x = values(32, 1, 1.0);
    let mut y = vec![0.0; 32];
    let mut sv = vec![0.0; s.saved_len()];
    let err = forward_stack(&[s, s], &[weights(&p)], &x, vec![&mut sv], vec![&mut y]).unwrap_err();
    assert!(err.to_string().contains("one entry per block"), "{err}");
    let err = forward_stack(&[], &[], &x, vec![], vec![]).unwrap_err();
    assert!(err.to_string().contains("at least one block"), "{err}");
}
