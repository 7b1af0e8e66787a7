use super::*;
use crate::kernels::test_util::*;

/// (losses, grad of the reduced loss) in f64.
fn reference(x: &[f32], t: &[i64], c: usize, p: CrossEntropy) -> (Vec<f64>, Vec<f64>, f64) {
    let n = t.len();
    let eps = p.label_smoothing as f64;
    let mut loss = vec![0.0; n];
    let mut grad = vec![0.0; n * c];
    let count = t.iter().filter(|&&v| v != p.ignore_index).count() as f64;
    let gs = if p.reduction == Reduction::Mean {
        1.0 / count
    } else {
        1.0
    };
    for i in 0..n {
        if t[i] == p.ignore_index {
            continue;
        }
        let row: Vec<f64> = x[i * c..(i + 1) * c].iter().map(|&v| v as f64).collect();
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let lse = m + row.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        let ti = t[i] as usize;
        let mean: f64 = row.iter().sum::<f64>() / c as f64;
        loss[i] = (1.0 - eps) * (lse - row[ti]) + eps * (lse - mean);
        for j in 0..c {
            let ind = if j == ti { 1.0 } else { 0.0 };
            grad[i * c + j] = gs * ((row[j] - lse).exp() - (1.0 - eps) * ind - eps / c as f64);
        }
    }
    let total: f64 = loss.iter().sum();
    let red = if p.reduction == Reduction::Mean {
        total / count
    } else {
        total
    };
    (loss, grad, red)
}

#[test]
fn matches_reference_for_every_reduction_and_smoothing() {
    for (n, c) in SHAPES {
        let x = values(n * c, 11, 6.0);
        let t: Vec<i64> = (0..n)
            .map(|i| {
                if i % 4 == 3 {
                    -100
                } else {
                    ((i * 7) % c) as i64
                }
            })
            .collect();
        for red in [Reduction::Mean, Reduction::Sum, Reduction::None] {
            for eps in [0.0, 0.1] {
                let p = CrossEntropy {
                    ignore_index: -100,
                    label_smoothing: eps,
                    reduction: red,
                };
                let (mut loss, mut g) = (vec![0.0; n], vec![0.0; n * c]);
                let total = cross_entropy(&x, &t, n, c, p, &mut loss, &mut g).unwrap();
                let (wl, wg, wt) = reference(&x, &t, c, p);
                assert_close(&loss, &wl, 1e-5, 1e-5, "loss");
                assert_close(&g, &wg, 1e-6, 1e-5, "dlogits");
                assert!((total as f64 - wt).abs() <= 1e-5 * (1.0 + wt.abs()));
            }
        }
    }
}

#[test]
fn all_ignored_mean_is_nan_with_zero_grad() {
    let x = values(6, 1, 1.0);
    let (mut l, mut g) = (vec![0.0; 2], vec![1.0; 6]);
    let p = CrossEntropy {
        ignore_index: 5,
        label_smoothing: 0.0,
        reduction: Reduction::Mean,
    };
    let total = cross_entropy(&x, &[5, 5], 2, 3, p, &mut l, &mut g).unwrap();
    assert!(total.is_nan());
    assert!(g.iter().all(|&v| v == 0.0));
}

#[test]
fn bad_target_is_named() {
    let p = CrossEntropy {
        ignore_index: -100,
        label_smoothing: 0.0,
        reduction: Reduction::Sum,
    };
    let (mut l, mut g) = (vec![0.0; 2], vec![0.0; 6]);
    let e = cross_entropy(&[0.0; 6], &[1, 3], 2, 3, p, &mut l, &mut g).unwrap_err();
    assert!(e.message.contains("target[1] = 3"), "{e}");
}

#[test]
fn bitwise_equal_across_thread_counts() {
    let (n, c) = (512, 300);
    let x = values(n * c, 9, 4.0);
    let t: Vec<i64> = (0..n).map(|i| (i % c) as i64).collect();
    let p = CrossEntropy {
        ignore_index: -100,
        label_smoothing: 0.05,
        reduction: Reduction::Mean,
    };
    let run = |th| {
        with_threads(th, || {
            let (mut l, mut g) = (vec![0.0; n], vec![0.0; n * c]);
            let tot = cross_entropy(&x, &t, n, c, p, &mut l, &mut g).unwrap();
            (tot.to_bits(), l, g)
        })
    };
    assert_eq!(run(1), run(2));
}

/// The row kernel with the shared `V::exp` on the −∞ tail lanes (as before
/// `exp_or_zero`): the reference for `rows_give_the_bits_of_the_plain_loop`.
struct PlainRows<'a>(Rows<'a>);

impl Kernel for PlainRows<'_> {
    type Output = ();
    unsafe fn run<V: F32Vec>(self) {
        use crate::kernels::rows::{ld, st, steps};
        let r = self.0;
        let c = r.c;
        let rows = r.x.chunks_exact(c).zip(r.grad.chunks_exact_mut(c));
        for (((x, g), &t), loss) in rows.zip(r.target).zip(r.loss.iter_mut()) {
            if t == r.ignore {
                *loss = 0.0;
                g.fill(0.0);
                continue;
            }
            let t = t as usize;
            let ninf = f32::NEG_INFINITY;
            let (mut mx, mut sx) = (V::splat(ninf), V::splat(0.0));
            for (o, n) in steps::<V>(c) {
                mx = V::max(mx, ld::<V>(x, o, n, ninf));
                sx = V::add(sx, ld::<V>(x, o, n, 0.0));
            }
            let m = V::hmax(mx);
            let mv = V::splat(m);
            let mut se = V::splat(0.0);
            for (o, n) in steps::<V>(c) {
                let e = V::exp(V::sub(ld::<V>(x, o, n, ninf), mv));
                st::<V>(g, o, n, e);
                se = V::add(se, e);
            }
            let sum = V::hsum(se);
            let ln_sum = sum.ln();
            let scale = V::splat(r.gscale / sum);
            let off = V::splat(r.gscale * r.eps / c as f32);
            for (o, n) in steps::<V>(c) {
                st::<V>(g, o, n, V::sub(V::mul(ld::<V>(g, o, n, 0.0), scale), off));
            }
            g[t] -= r.gscale * (1.0 - r.eps);
            let mean_x = V::hsum(sx) / c as f32;
            let nll = (m - x[t]) + ln_sum;
            let smooth = (m - mean_x) + ln_sum;
            *loss = (1.0 - r.eps) * nll + r.eps * smooth;
        }
    }
}

#[test]
fn rows_give_the_bits_of_the_plain_loop() {
    // Every class count from 1 to 40 (every tail length on every ISA) and 65;
    // rows with a NaN, +inf, all -inf, a logit 200 below the max (exp
    // underflows), smoothing on and off, ignored rows.
    for isa in crate::simd::available() {
        for c in (1..=40).chain([65]) {
            let n = 6;
            let mut x = values(n * c, c as u64, 5.0);
            x[c + (c / 2)] = f32::NAN;
            x[2 * c + c - 1] = f32::INFINITY;
            x[3 * c..4 * c].fill(f32::NEG_INFINITY);
            x[4 * c] = -200.0;
            let t: Vec<i64> = (0..n)
                .map(|i| if i == 5 { -100 } else { ((i * 3) % c) as i64 })
                .collect();
            for eps in [0.0, 0.1] {
                let run = |plain: bool| {
                    let (mut loss, mut grad) = (vec![0.0f32; n], vec![0.0f32; n * c]);
                    let rows = Rows {
                        x: &x,
                        target: &t,
                        loss: &mut loss,
                        grad: &mut grad,
                        c,
                        ignore: -100,
                        eps,
                        gscale: 0.2,
                    };
                    if plain {
                        crate::simd::dispatch_on(isa, PlainRows(rows));
                    } else {
                        crate::simd::dispatch_on(isa, rows);
                    }
                    let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                    (bits(&loss), bits(&grad))
                };
                assert_eq!(
                    run(false),
                    run(true),
                    "{}, c = {c}, eps = {eps}",
                    isa.name()
                );
            }
        }
    }
}
