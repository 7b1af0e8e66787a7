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
