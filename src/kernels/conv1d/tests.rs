//! Checks against a direct float64 convolution: forward, every gradient,
//! the streaming step, odd shapes, strided views and thread counts.

use super::*;

/// A small deterministic generator (xorshift) in [-1, 1).
fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Element `(i, j, k)` of a strided view.
fn at(v: &View3<'_>, i: usize, j: usize, k: usize) -> f64 {
    v.data[i * v.strides[0] + j * v.strides[1] + k * v.strides[2]] as f64
}

/// Direct conv in f64: y (B, C_out, T) dense.
fn reference(p: &Conv1d, x: &View3<'_>, w: &View3<'_>, bias: Option<&[f32]>) -> Vec<f64> {
    let mut y = vec![0.0; p.batch * p.c_out * p.len];
    for b in 0..p.batch {
        for o in 0..p.c_out {
            for t in 0..p.len {
                let mut acc = bias.map_or(0.0, |bb| bb[o] as f64);
                for j in 0..p.kernel {
                    let s = t as isize + p.tap_offset(j);
                    if s < 0 || s >= p.len as isize {
                        continue;
                    }
                    for i in 0..p.c_in {
                        acc += at(w, o, i, j) * at(x, b, i, s as usize);
                    }
                }
                y[(b * p.c_out + o) * p.len + t] = acc;
            }
        }
    }
    y
}

/// Reference gradients (dx, dw, db) for the loss Σ y·dy.
fn reference_grads(
    p: &Conv1d,
    x: &View3<'_>,
    w: &View3<'_>,
    dy: &View3<'_>,
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let mut dx = vec![0.0; p.batch * p.c_in * p.len];
    let mut dw = vec![0.0; p.c_out * p.c_in * p.kernel];
    let mut db = vec![0.0; p.c_out];
    for b in 0..p.batch {
        for o in 0..p.c_out {
            for t in 0..p.len {
                let g = at(dy, b, o, t);
                db[o] += g;
                for j in 0..p.kernel {
                    let s = t as isize + p.tap_offset(j);
                    if s < 0 || s >= p.len as isize {
                        continue;
                    }
                    let s = s as usize;
                    for i in 0..p.c_in {
                        dx[(b * p.c_in + i) * p.len + s] += at(w, o, i, j) * g;
                        dw[(o * p.c_in + i) * p.kernel + j] += at(x, b, i, s) * g;
                    }
                }
            }
        }
    }
    (dx, dw, db)
}

fn assert_close(got: &[f32], want: &[f64], scale: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = 1e-5 * scale.max(1.0) + 1e-5 * w.abs();
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn check_case(p: Conv1d, strided: bool, with_bias: bool) {
    let (b, ci, co, t, k) = (p.batch, p.c_in, p.c_out, p.len, p.kernel);
    // A strided x: time stride 2 inside a (B, C_in, 2T+1) buffer.
    let (xbuf, xs) = if strided {
        let tt = 2 * t + 1;
        (rand_vec(b * ci * tt, 1), [ci * tt, tt, 2])
    } else {
        (rand_vec(b * ci * t, 1), [ci * t, t, 1])
    };
    let x = View3 {
        data: &xbuf,
        strides: xs,
    };
    // Weights read transposed: stored (K, C_in, C_out), viewed (C_out, C_in, K).
    let wbuf = rand_vec(co * ci * k, 2);
    let w = View3 {
        data: &wbuf,
        strides: [1, co, ci * co],
    };
    let bias = rand_vec(co, 3);
    let bias = with_bias.then_some(&bias[..]);
    let mut y = vec![f32::NAN; b * co * t];
    forward(&p, x, w, bias, &mut y).unwrap();
    let scale = (ci * k) as f64;
    assert_close(&y, &reference(&p, &x, &w, bias), scale, "y");

    let dybuf = rand_vec(b * co * t, 4);
    let dy = View3::dense(&dybuf, [b, co, t]);
    let (rdx, rdw, rdb) = reference_grads(&p, &x, &w, &dy);
    let mut dx = vec![f32::NAN; b * ci * t];
    let mut dw = vec![f32::NAN; co * ci * k];
    let mut db = vec![f32::NAN; co];
    backward(&p, x, w, dy, Some(&mut dx), Some(&mut dw), Some(&mut db)).unwrap();
    assert_close(&dx, &rdx, (co * k) as f64, "dx");
    assert_close(&dw, &rdw, (b * t) as f64, "dw");
    assert_close(&db, &rdb, (b * t) as f64, "db");
}

fn geometry(
    batch: usize,
    c_in: usize,
    c_out: usize,
    len: usize,
    k: usize,
    d: usize,
) -> Vec<Conv1d> {
    [Padding::Causal, Padding::Same]
        .map(|padding| Conv1d {
            batch,
            c_in,
            c_out,
            len,
            kernel: k,
            dilation: d,
            padding,
        })
        .to_vec()
}

#[test]
fn matches_direct_convolution() {
    for (k, d) in [(1, 1), (2, 1), (3, 2), (5, 7), (2, 64), (4, 3)] {
        for &(b, ci, co, t) in &[(2, 3, 5, 17), (1, 1, 1, 9), (3, 7, 2, 4)] {
            for p in geometry(b, ci, co, t, k, d) {
                check_case(p, false, true);
                check_case(p, true, false);
            }
        }
    }
}

#[test]
fn empty_shapes_are_fine() {
    for (b, ci, co, t) in [(0, 2, 3, 5), (2, 0, 3, 5), (2, 3, 0, 5), (2, 3, 4, 0)] {
        for p in geometry(b, ci, co, t, 3, 2) {
            check_case(p, false, true);
        }
    }
}

#[test]
fn rejects_bad_geometry() {
    let mut p = geometry(1, 2, 3, 4, 2, 1)[0];
    let x = vec![0.0; 8];
    let w = vec![0.0; 12];
    let mut y = vec![0.0; 12];
    let xv = View3::dense(&x, [1, 2, 4]);
    let wv = View3::dense(&w, [3, 2, 2]);
    assert!(forward(&p, xv, wv, None, &mut y).is_ok());
    assert!(forward(&p, xv, wv, None, &mut y[..11]).is_err());
    assert!(forward(&p, xv, View3::dense(&w[..11], [3, 2, 2]), None, &mut y).is_err());
    assert!(forward(&p, xv, wv, Some(&[0.0; 2]), &mut y).is_err());
    p.dilation = 0;
    assert!(forward(&p, xv, wv, None, &mut y).is_err());
    p.dilation = 1;
    p.kernel = 0;
    assert!(forward(&p, xv, wv, None, &mut y).is_err());
}

#[test]
fn streaming_equals_full_pass() {
    let (b, ci, co, t, k, d) = (2, 3, 4, 23, 3, 4);
    let p = geometry(b, ci, co, t, k, d)[0];
    let xbuf = rand_vec(b * ci * t, 5);
    let x = View3::dense(&xbuf, [b, ci, t]);
    let wbuf = rand_vec(co * ci * k, 6);
    let w = View3::dense(&wbuf, [co, ci, k]);
    let bias = rand_vec(co, 7);
    let mut y = vec![0.0; b * co * t];
    forward(&p, x, w, Some(&bias), &mut y).unwrap();
    let sp = StreamStep {
        batch: b,
        c_in: ci,
        c_out: co,
        kernel: k,
        dilation: d,
    };
    let mut ring = vec![f32::NAN; sp.ring_len()];
    let mut yt = vec![0.0; b * co];
    for pos in 0..t {
        let xt: Vec<f32> = (0..b * ci).map(|r| xbuf[r * t + pos]).collect();
        step(&sp, &xt, w, Some(&bias), &mut ring, pos, &mut yt).unwrap();
        for r in 0..b * co {
            let full = y[r * t + pos];
            assert!(
                (yt[r] - full).abs() <= 1e-5 * (1.0 + full.abs()),
                "pos {pos}"
            );
        }
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    let p = geometry(3, 16, 24, 700, 3, 5)[0];
    let xbuf = rand_vec(3 * 16 * 700, 8);
    let x = View3::dense(&xbuf, [3, 16, 700]);
    let wbuf = rand_vec(24 * 16 * 3, 9);
    let w = View3::dense(&wbuf, [24, 16, 3]);
    let dybuf = rand_vec(3 * 24 * 700, 10);
    let dy = View3::dense(&dybuf, [3, 24, 700]);
    let run = |n: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap();
        pool.install(|| {
            let mut y = vec![0.0; 3 * 24 * 700];
            forward(&p, x, w, Some(&[0.5; 24]), &mut y).unwrap();
            let mut dx = vec![0.0; 3 * 16 * 700];
            let mut dw = vec![0.0; 24 * 16 * 3];
            let mut db = vec![0.0; 24];
            backward(&p, x, w, dy, Some(&mut dx), Some(&mut dw), Some(&mut db)).unwrap();
            let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<u32>>();
            (bits(y), bits(dx), bits(dw), bits(db))
        })
    };
    let one = run(1);
    for n in [2, 3] {
        assert!(one == run(n), "{n} threads differ from 1");
    }
}
