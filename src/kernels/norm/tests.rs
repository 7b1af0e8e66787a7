use super::*;
use crate::kernels::test_util::*;

#[test]
fn forward_and_backward_match_reference() {
    for (rows, n) in SHAPES {
        let x = values(rows * n, 21, 3.0);
        let w = values(n, 22, 1.5);
        let b = values(n, 23, 1.0);
        let dy = values(rows * n, 24, 1.0);
        let eps = 1e-5f32;
        let (mut y, mut mean, mut rstd) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
        layer_norm(
            &x,
            Some(&w),
            Some(&b),
            rows,
            n,
            eps,
            &mut y,
            &mut mean,
            &mut rstd,
        )
        .unwrap();
        let mut want_y = vec![0.0; rows * n];
        let mut want_dx = vec![0.0; rows * n];
        let mut want_dw = vec![0.0; n];
        let mut want_db = vec![0.0; n];
        for r in 0..rows {
            let row: Vec<f64> = x[r * n..(r + 1) * n].iter().map(|&v| v as f64).collect();
            let mu = row.iter().sum::<f64>() / n as f64;
            let var = row.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / n as f64;
            let rs = 1.0 / (var + eps as f64).sqrt();
            let xh: Vec<f64> = row.iter().map(|v| (v - mu) * rs).collect();
            let g: Vec<f64> = (0..n).map(|j| dy[r * n + j] as f64 * w[j] as f64).collect();
            let mg = g.iter().sum::<f64>() / n as f64;
            let mgx = g.iter().zip(&xh).map(|(a, b)| a * b).sum::<f64>() / n as f64;
            for j in 0..n {
                want_y[r * n + j] = xh[j] * w[j] as f64 + b[j] as f64;
                want_dx[r * n + j] = rs * (g[j] - mg - xh[j] * mgx);
                want_dw[j] += dy[r * n + j] as f64 * xh[j];
                want_db[j] += dy[r * n + j] as f64;
            }
        }
        assert_close(&y, &want_y, 1e-5, 1e-5, "y");
        let (mut dx, mut dw, mut db) = (vec![0.0; rows * n], vec![0.0; n], vec![0.0; n]);
        layer_norm_backward(
            &dy,
            &x,
            Some(&w),
            &mean,
            &rstd,
            rows,
            n,
            &mut dx,
            Some((&mut dw, &mut db)),
        )
        .unwrap();
        assert_close(&dx, &want_dx, 1e-4, 1e-4, "dx");
        assert_close(&dw, &want_dw, 1e-4, 1e-4, "dw");
        assert_close(&db, &want_db, 1e-4, 1e-4, "db");
    }
}

#[test]
fn bitwise_equal_across_thread_counts() {
    let (rows, n) = (1000, 333);
    let x = values(rows * n, 31, 2.0);
    let dy = values(rows * n, 32, 1.0);
    let w = values(n, 33, 1.0);
    let run = |t| {
        with_threads(t, || {
            let (mut y, mut m, mut r) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
            layer_norm(&x, Some(&w), None, rows, n, 1e-5, &mut y, &mut m, &mut r).unwrap();
            let (mut dx, mut dw, mut db) = (vec![0.0; rows * n], vec![0.0; n], vec![0.0; n]);
            layer_norm_backward(
                &dy,
                &x,
                Some(&w),
                &m,
                &r,
                rows,
                n,
                &mut dx,
                Some((&mut dw, &mut db)),
            )
            .unwrap();
            (y, dx, dw, db)
        })
    };
    assert_eq!(run(1), run(2));
}

/// The fused residual forms are bitwise the residual sum (plain f32 adds)
/// followed by the unfused kernel, at 1, 2 and 3 threads.
#[test]
fn residual_forms_equal_add_then_layer_norm_bitwise() {
    let shapes = SHAPES.iter().copied().chain([(1000, 333), (1, 1), (7, 1)]);
    for (rows, n) in shapes {
        let a = values(rows * n, 41, 2.0);
        let res = values(rows * n, 42, 1.0);
        let dy = values(rows * n, 43, 1.0);
        let w = values(n, 44, 1.0);
        let b = values(n, 45, 1.0);
        let sum: Vec<f32> = a.iter().zip(&res).map(|(p, q)| p + q).collect();
        let (mut y0, mut m0, mut r0) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
        layer_norm(
            &sum,
            Some(&w),
            Some(&b),
            rows,
            n,
            1e-5,
            &mut y0,
            &mut m0,
            &mut r0,
        )
        .unwrap();
        let (mut dx0, mut dw0, mut db0) = (vec![0.0; rows * n], vec![0.0; n], vec![0.0; n]);
        let dwb0 = Some((&mut dw0[..], &mut db0[..]));
        layer_norm_backward(&dy, &sum, Some(&w), &m0, &r0, rows, n, &mut dx0, dwb0).unwrap();
        dx0.iter_mut().zip(&res).for_each(|(p, q)| *p += q);
        for t in [1, 2, 3] {
            with_threads(t, || {
                let mut x = a.clone();
                let (mut y, mut m, mut r) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
                layer_norm_with(
                    LnInput::Sum(&mut x, &res),
                    (Some(&w), Some(&b)),
                    rows,
                    n,
                    1e-5,
                    &mut y,
                    (&mut m, &mut r),
                )
                .unwrap();
                assert_eq!(
                    (&x, &y, &m, &r),
                    (&sum, &y0, &m0, &r0),
                    "forward {rows}x{n} t{t}"
                );
                let (mut dx, mut dw, mut db) = (vec![0.0; rows * n], vec![0.0; n], vec![0.0; n]);
                let dwb = Some((&mut dw[..], &mut db[..]));
                layer_norm_backward_with(
                    &dy,
                    &x,
                    Some(&w),
                    (&m, &r),
                    rows,
                    n,
                    &mut dx,
                    dwb,
                    Some(&res),
                )
                .unwrap();
                assert_eq!(
                    (&dx, &dw, &db),
                    (&dx0, &dw0, &db0),
                    "backward {rows}x{n} t{t}"
                );
            });
        }
    }
}

#[test]
fn residual_forms_check_the_residual_length() {
    let (rows, n) = (3, 4);
    let (mut x, res) = (vec![0.0; rows * n], vec![0.0; rows * n - 1]);
    let (mut y, mut m, mut r) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
    let e = layer_norm_with(
        LnInput::Sum(&mut x, &res),
        (None, None),
        rows,
        n,
        1e-5,
        &mut y,
        (&mut m, &mut r),
    )
    .unwrap_err();
    assert!(
        e.message.contains("residual: expected 12 elements, got 11"),
        "{}",
        e.message
    );
    let mut dx = vec![0.0; rows * n];
    let e = layer_norm_backward_with(&x, &x, None, (&m, &r), rows, n, &mut dx, None, Some(&res))
        .unwrap_err();
    assert!(
        e.op == "layer_norm_backward" && e.message.contains("residual"),
        "{}",
        e.message
    );
}

/// Shapes for the chunk-kernel tests: tails of every ISA, one column, one
/// row, primes, the GPT's (768, 128) and widths past a `ParamSums` column
/// block (4 vectors) and past its row tile (4096 floats).
const KERNEL_SHAPES: [(usize, usize); 10] = [
    (1, 1),
    (7, 1),
    (3, 7),
    (2, 17),
    (13, 31),
    (5, 67),
    (33, 129),
    (768, 128),
    (40, 257),
    (3, 4099),
];

/// `f(isa, rows, n)` for every ISA this CPU has and every `KERNEL_SHAPES` shape.
fn each_isa_and_shape(mut f: impl FnMut(crate::simd::Isa, usize, usize)) {
    for isa in crate::simd::available() {
        for (rows, n) in KERNEL_SHAPES {
            f(isa, rows, n);
        }
    }
}

/// Mean and rstd of each row in f64, rounded to f32.
fn stats64(x: &[f32], n: usize, eps: f32) -> (Vec<f32>, Vec<f32>) {
    x.chunks_exact(n)
        .map(|row| {
            let mu = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - mu).powi(2)).sum::<f64>() / n as f64;
            (mu as f32, (1.0 / (var + eps as f64).sqrt()) as f32)
        })
        .unzip()
}

/// `ParamSums` (blocks of columns summed in registers over tiles of rows)
/// gives the bits of the backward's per-row partials (`Bwd` with dw, db) on
/// every ISA; both within f32 rounding of the f64 sums.
#[test]
fn param_sums_equal_the_backward_partials_bitwise() {
    each_isa_and_shape(|isa, rows, n| {
        let x = values(rows * n, 51, 2.0);
        let dy = values(rows * n, 52, 1.0);
        let (mean, rstd) = stats64(&x, n, 1e-5);
        let (mut dw0, mut db0, mut dx) = (vec![0.0; n], vec![0.0; n], vec![0.0; rows * n]);
        crate::simd::dispatch_on(
            isa,
            Bwd {
                dy: &dy,
                x: &x,
                w: None,
                mean: &mean,
                rstd: &rstd,
                dx: &mut dx,
                res: &[],
                dw: &mut dw0,
                db: &mut db0,
                n,
            },
        );
        let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
        crate::simd::dispatch_on(
            isa,
            ParamSums {
                dy: &dy,
                x: &x,
                mean: &mean,
                rstd: &rstd,
                dw: &mut dw,
                db: &mut db,
            },
        );
        let what = format!("{} {rows}x{n}", isa.name());
        assert_eq!((&dw, &db), (&dw0, &db0), "{what}");
        let mut want_dw = vec![0.0f64; n];
        let mut want_db = vec![0.0f64; n];
        for r in 0..rows {
            for j in 0..n {
                let d = dy[r * n + j] as f64;
                let xh = (x[r * n + j] as f64 - mean[r] as f64) * rstd[r] as f64;
                want_dw[j] += d * xh;
                want_db[j] += d;
            }
        }
        let tol = 1e-5 * (rows as f64).sqrt();
        assert_close(&dw, &want_dw, tol, 1e-5, &what);
        assert_close(&db, &want_db, tol, 1e-5, &what);
    });
}

/// The forward chunk kernel with and without weight and bias (each its own
/// loop) against f64, on every ISA; its `Sum` form gives bitwise the sum
/// and then the plain form.
#[test]
fn forward_affine_forms_and_sum_on_every_isa() {
    each_isa_and_shape(|isa, rows, n| {
        let x = values(rows * n, 61, 3.0);
        let res = values(rows * n, 62, 1.0);
        let w = values(n, 63, 1.5);
        let b = values(n, 64, 1.0);
        let sum: Vec<f32> = x.iter().zip(&res).map(|(p, q)| p + q).collect();
        for (wo, bo) in [
            (None, None),
            (Some(&w[..]), None),
            (None, Some(&b[..])),
            (Some(&w[..]), Some(&b[..])),
        ] {
            let what = format!(
                "{} {rows}x{n} w {} b {}",
                isa.name(),
                wo.is_some(),
                bo.is_some()
            );
            let run = |input: LnInput<'_>| {
                let (mut y, mut m, mut r) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
                let k = Fwd {
                    x: input,
                    y: &mut y,
                    mean: &mut m,
                    rstd: &mut r,
                    w: wo,
                    b: bo,
                    n,
                    eps: 1e-5,
                };
                crate::simd::dispatch_on(isa, k);
                (y, m, r)
            };
            let plain = run(LnInput::Plain(&sum));
            let mut xs = x.clone();
            let fused = run(LnInput::Sum(&mut xs, &res));
            assert_eq!(xs, sum, "{what}");
            assert_eq!(fused, plain, "{what}");
            let (mu, rs) = stats64(&sum, n, 1e-5);
            let want: Vec<f64> = (0..rows * n)
                .map(|i| {
                    let (r, j) = (i / n, i % n);
                    let v = (sum[i] as f64 - mu[r] as f64) * rs[r] as f64;
                    v * wo.map_or(1.0, |w| w[j] as f64) + bo.map_or(0.0, |b| b[j] as f64)
                })
                .collect();
            assert_close(&plain.0, &want, 1e-5, 1e-5, &what);
            assert_close(
                &plain.2,
                &rs.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                1e-6,
                1e-5,
                &what,
            );
        }
    });
}

/// The backward's residual added in its dx pass gives bitwise dx and then
/// the addition, on every ISA.
#[test]
fn backward_residual_in_the_dx_pass_on_every_isa() {
    each_isa_and_shape(|isa, rows, n| {
        let x = values(rows * n, 71, 2.0);
        let dy = values(rows * n, 72, 1.0);
        let res = values(rows * n, 73, 1.0);
        let w = values(n, 74, 1.0);
        let (mean, rstd) = stats64(&x, n, 1e-5);
        let run = |res: &[f32]| {
            let mut dx = vec![0.0; rows * n];
            let k = Bwd {
                dy: &dy,
                x: &x,
                w: Some(&w),
                mean: &mean,
                rstd: &rstd,
                dx: &mut dx,
                res,
                dw: &mut [],
                db: &mut [],
                n,
            };
            crate::simd::dispatch_on(isa, k);
            dx
        };
        let mut want = run(&[]);
        want.iter_mut().zip(&res).for_each(|(p, q)| *p += q);
        assert_eq!(run(&res), want, "{} {rows}x{n}", isa.name());
    });
}
