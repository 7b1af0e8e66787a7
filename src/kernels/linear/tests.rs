//! Linear forward and backward against an f64 triple loop, over odd sizes,
//! strided inputs, missing bias and partial gradients, and bitwise equal on
//! 1 and 2 threads. (The bias epilogue of every microkernel, at every block
//! edge, is tested in `gemm::kernel_tests`.)

use super::*;
use crate::kernels::test_util::values;

fn fill(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed, 1.0)
}

/// (y, dx, dw, db) in f64 from the definitions.
fn oracle(p: &Linear, x: &[f32], w: &[f32], b: &[f32], dy: &[f32]) -> [Vec<f64>; 4] {
    let xe = |i: usize, q: usize| x[i * p.x.row + q * p.x.col] as f64;
    let we = |j: usize, q: usize| w[j * p.w.row + q * p.w.col] as f64;
    let (r, n, o) = (p.rows, p.inp, p.out);
    let mut y = vec![0.0; r * o];
    let mut dx = vec![0.0; r * n];
    let mut dw = vec![0.0; o * n];
    let mut db = vec![0.0; o];
    for i in 0..r {
        for j in 0..o {
            y[i * o + j] = b[j] as f64 + (0..n).map(|q| xe(i, q) * we(j, q)).sum::<f64>();
            let g = dy[i * o + j] as f64;
            db[j] += g;
            for q in 0..n {
                dx[i * n + q] += g * we(j, q);
                dw[j * n + q] += g * xe(i, q);
            }
        }
    }
    [y, dx, dw, db]
}

fn close(what: &str, got: &[f32], want: &[f64], scale: f64) {
    assert_eq!(got.len(), want.len(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= 1e-5 * scale + 1e-5 * w.abs(),
            "{what}[{i}] = {g}, expected {w}"
        );
    }
}

/// Runs forward and backward (all gradients) of `p` on deterministic data.
fn run(p: &Linear, bias: bool, seed: u64) -> [Vec<f32>; 4] {
    let span = |rows: usize, cols: usize, s: Strides| (rows - 1) * s.row + (cols - 1) * s.col + 1;
    let x = fill(span(p.rows, p.inp, p.x), seed);
    let w = fill(span(p.out, p.inp, p.w), seed + 1);
    let b = fill(p.out, seed + 2);
    let dy = fill(p.rows * p.out, seed + 3);
    let mut y = vec![f32::NAN; p.rows * p.out];
    forward(p, &x, &w, bias.then_some(&b[..]), &mut y).unwrap();
    let mut dx = vec![f32::NAN; p.rows * p.inp];
    let mut dw = vec![f32::NAN; p.out * p.inp];
    let mut db = vec![f32::NAN; p.out];
    let grads = Grads {
        x: Some(&mut dx),
        w: Some(&mut dw),
        b: Some(&mut db),
    };
    backward(p, &x, &w, &dy, grads).unwrap();
    let zero = vec![0.0f32; p.out];
    let [wy, wdx, wdw, wdb] = oracle(p, &x, &w, if bias { &b } else { &zero }, &dy);
    close("y", &y, &wy, p.inp as f64);
    close("dx", &dx, &wdx, p.out as f64);
    close("dw", &dw, &wdw, p.rows as f64);
    close("db", &db, &wdb, p.rows as f64);
    [y, dx, dw, db]
}

#[test]
fn matches_oracle_on_odd_shapes() {
    for (s, &(r, n, o)) in [
        (1, 1, 1),
        (1, 7, 65),
        (3, 128, 65),
        (7, 13, 17),
        (97, 65, 130),
        (129, 31, 257),
        (200, 300, 7),
        (768, 128, 65),
    ]
    .iter()
    .enumerate()
    {
        run(&Linear::new(r, n, o), true, 10 * s as u64);
        run(&Linear::new(r, n, o), false, 10 * s as u64 + 5);
    }
}

#[test]
fn strided_inputs() {
    // x a column slice of a wider matrix, W a transposed view.
    let p = Linear {
        x: Strides {
            row: 50,
            col: 1,
            batch: 0,
        },
        w: Strides::row_major_transposed(40, 23),
        ..Linear::new(31, 40, 23)
    };
    run(&p, true, 77);
    let p = Linear {
        x: Strides::row_major_transposed(40, 300),
        ..Linear::new(300, 40, 70)
    };
    run(&p, true, 78);
}

#[test]
fn partial_gradients_leave_the_rest_alone() {
    let p = Linear::new(50, 20, 30);
    let (x, w, dy) = (fill(1000, 1), fill(600, 2), fill(1500, 3));
    let mut dw = vec![0.0f32; 600];
    let grads = Grads {
        x: None,
        w: Some(&mut dw),
        b: None,
    };
    backward(&p, &x, &w, &dy, grads).unwrap();
    let mut full = vec![0.0f32; 600];
    let mut dx = vec![0.0f32; 1000];
    let grads = Grads {
        x: Some(&mut dx),
        w: Some(&mut full),
        b: None,
    };
    backward(&p, &x, &w, &dy, grads).unwrap();
    assert_eq!(dw, full);
}

#[test]
fn same_bits_on_one_and_two_threads() {
    for &(r, n, o) in &[
        (768, 128, 384),
        (768, 512, 128),
        (768, 128, 65),
        (100, 30, 20),
    ] {
        let p = Linear::new(r, n, o);
        let pool = |t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        };
        let one = pool(1).install(|| run(&p, true, 5));
        let two = pool(2).install(|| run(&p, true, 5));
        let bits = |v: &[Vec<f32>; 4]| {
            v.iter()
                .map(|a| a.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(bits(&one), bits(&two), "{r}x{n}x{o}");
    }
}

#[test]
fn rejects_wrong_lengths() {
    let p = Linear::new(4, 3, 2);
    let (x, w) = (fill(12, 1), fill(6, 2));
    let mut y = vec![0.0; 8];
    assert!(forward(&p, &x, &w, Some(&[0.0; 3]), &mut y).is_err());
    assert!(forward(&p, &x[..11], &w, None, &mut y).is_err());
    assert!(forward(&p, &x, &w, None, &mut y[..7]).is_err());
    let mut dw = vec![0.0; 5];
    let grads = Grads {
        x: None,
        w: Some(&mut dw),
        b: None,
    };
    assert!(backward(&p, &x, &w, &[0.0; 8], grads).is_err());
}

#[test]
fn bias_sums_add_each_columns_rows_in_order() {
    // The register-blocked strips must give the bits of the plain loop:
    // each column starts at 0 and adds its rows top to bottom.
    for &(rows, out) in &[(1, 1), (5, 63), (7, 64), (9, 65), (33, 300), (4, 513)] {
        let dy = fill(rows * out, rows as u64 + out as u64);
        let mut want = vec![0.0f32; out];
        for row in dy.chunks_exact(out) {
            for (w, &v) in want.iter_mut().zip(row) {
                *w += v;
            }
        }
        for parallel in [false, true] {
            let mut db = vec![f32::NAN; out];
            super::column_sums(&dy, rows, out, &mut db, parallel);
            assert_eq!(db, want, "rows {rows} out {out} parallel {parallel}");
        }
    }
}
