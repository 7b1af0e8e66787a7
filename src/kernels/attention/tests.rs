//! Kernel vs a naive float64 attention (explicit T×T matrices), under every
//! ISA of this machine, with strided operands, masks and odd sizes; and
//! bitwise determinism across thread counts.

use super::backward::{backward_packed_with, backward_tiled};
use super::forward::{forward_rows, forward_tiled, row_stride, FBR};
use super::*;
use crate::kernels::test_util::{values, with_threads};
use crate::simd::{self, Isa};

/// A query-tile height other than `BR_SHORT` and `BR`, tested as well.
const BR_ALT: usize = 16;

fn levels() -> Vec<Isa> {
    simd::available()
}

/// Deterministic values in [-1, 1).
fn rand_vec(n: usize, seed: u64) -> Vec<f32> {
    values(n, seed, 1.0)
}

/// Runs the problem's forward and backward in a pool of 1 and of 3 threads,
/// asserts the outputs are bitwise equal, and returns the 1-thread result.
fn same_under_1_and_3_threads(isa: Isa, pr: &Problem) -> Got {
    let one = with_threads(1, || run(isa, pr));
    let three = with_threads(3, || run(isa, pr));
    assert_eq!(one.o, three.o);
    assert_eq!(one.dq, three.dq);
    assert_eq!(one.dk, three.dk);
    assert_eq!(one.dv, three.dv);
    one
}

struct Problem {
    p: AttnParams,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    dout: Vec<f32>,
    pad: Option<Vec<u8>>,
    add: Option<Vec<f32>>,
}

impl Problem {
    /// The backward's inputs: this problem's q, k, v, dout and the forward's `o`, `lse`.
    fn backward_inputs<'a>(&'a self, o: &'a [f32], lse: &'a [f32]) -> BackwardInputs<'a> {
        BackwardInputs {
            q: &self.q,
            k: &self.k,
            v: &self.v,
            o,
            lse,
            dout: &self.dout,
        }
    }

    /// q, k, v as views of one fused (B, T, 3, H, D) buffer when `fused`
    /// (needs tq == tk and d == dv), else dense (B, H, T, D).
    #[allow(clippy::too_many_arguments)]
    fn new(
        b: usize,
        h: usize,
        tq: usize,
        tk: usize,
        d: usize,
        dv: usize,
        fused: bool,
        seed: u64,
    ) -> Self {
        let mut p = AttnParams::contiguous(b, h, tq, tk, d, dv);
        let (q, k, v);
        if fused {
            assert!(tq == tk && d == dv);
            let buf = rand_vec(b * tq * 3 * h * d, seed);
            let l = Layout {
                batch: tq * 3 * h * d,
                head: d,
                time: 3 * h * d,
                dim: 1,
            };
            (p.q, p.k, p.v) = (l, l, l);
            // Each view starts `which·H·D` elements into the fused buffer.
            q = buf.clone();
            k = buf[h * d..].to_vec();
            v = buf[2 * h * d..].to_vec();
        } else {
            q = rand_vec(b * h * tq * d, seed);
            k = rand_vec(b * h * tk * d, seed + 1);
            v = rand_vec(b * h * tk * dv, seed + 2);
        }
        Problem {
            p,
            q,
            k,
            v,
            dout: rand_vec(b * h * tq * dv, seed + 3),
            pad: None,
            add: None,
        }
    }

    fn masks(&self) -> Masks<'_> {
        Masks {
            key_padding: self.pad.as_ref().map(|d| KeyPadding {
                data: d,
                batch: self.p.tk,
                time: 1,
            }),
            additive: self.add.as_ref().map(|d| Additive {
                data: d,
                layout: Layout {
                    batch: 0,
                    head: 0,
                    time: self.p.tk,
                    dim: 1,
                },
            }),
        }
    }
}

struct Naive {
    o: Vec<f64>,
    lse: Vec<f64>,
    dq: Vec<f64>,
    dk: Vec<f64>,
    dv: Vec<f64>,
}

/// Explicit attention in float64; outputs dense (B, H, T, ·).
fn naive(pr: &Problem) -> Naive {
    let p = &pr.p;
    let m = pr.masks();
    let (tq, tk, d, dv) = (p.tq, p.tk, p.d, p.dv);
    let n_bh = p.batch * p.heads;
    let mut out = Naive {
        o: vec![0.0; n_bh * tq * dv],
        lse: vec![0.0; n_bh * tq],
        dq: vec![0.0; n_bh * tq * d],
        dk: vec![0.0; n_bh * tk * d],
        dv: vec![0.0; n_bh * tk * dv],
    };
    let sc = p.scale as f64;
    for b in 0..p.batch {
        for h in 0..p.heads {
            let bh = b * p.heads + h;
            let qe = |i: usize, c: usize| pr.q[p.q.row(b, h, i) + c * p.q.dim] as f64;
            let ke = |j: usize, c: usize| pr.k[p.k.row(b, h, j) + c * p.k.dim] as f64;
            let ve = |j: usize, c: usize| pr.v[p.v.row(b, h, j) + c * p.v.dim] as f64;
            let ge = |i: usize, c: usize| pr.dout[(bh * tq + i) * dv + c] as f64;
            let mut pm = vec![0.0f64; tq * tk];
            for i in 0..tq {
                let mut x = vec![f64::NEG_INFINITY; tk];
                for (j, xv) in x.iter_mut().enumerate() {
                    let vis = j < p.key_end(i)
                        && m.key_padding
                            .is_none_or(|kp| kp.data[b * kp.batch + j] == 0);
                    if vis {
                        let s: f64 = (0..d).map(|c| qe(i, c) * ke(j, c)).sum();
                        let a = m.additive.map_or(0.0, |am| am.data[i * tk + j] as f64);
                        *xv = s * sc + a;
                    }
                }
                let mx = x.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                if mx == f64::NEG_INFINITY {
                    out.lse[bh * tq + i] = f64::NEG_INFINITY;
                    continue;
                }
                let l: f64 = x.iter().map(|&v| (v - mx).exp()).sum();
                out.lse[bh * tq + i] = mx + l.ln();
                for j in 0..tk {
                    pm[i * tk + j] = (x[j] - mx).exp() / l;
                }
            }
            for i in 0..tq {
                for c in 0..dv {
                    out.o[(bh * tq + i) * dv + c] =
                        (0..tk).map(|j| pm[i * tk + j] * ve(j, c)).sum();
                }
                let di: f64 = (0..dv)
                    .map(|c| ge(i, c) * out.o[(bh * tq + i) * dv + c])
                    .sum();
                for j in 0..tk {
                    let pij = pm[i * tk + j];
                    let dp: f64 = (0..dv).map(|c| ge(i, c) * ve(j, c)).sum();
                    let ds = pij * (dp - di) * sc;
                    for c in 0..d {
                        out.dq[(bh * tq + i) * d + c] += ds * ke(j, c);
                        out.dk[(bh * tk + j) * d + c] += ds * qe(i, c);
                    }
                    for c in 0..dv {
                        out.dv[(bh * tk + j) * dv + c] += pij * ge(i, c);
                    }
                }
            }
        }
    }
    out
}

struct Got {
    o: Vec<f32>,
    lse: Vec<f32>,
    dq: Vec<f32>,
    dk: Vec<f32>,
    dv: Vec<f32>,
}

fn run(isa: Isa, pr: &Problem) -> Got {
    run_tiled2(isa, forward_rows(isa, &pr.p), query_rows(&pr.p), pr)
}

/// Forward and backward with `br` query rows per tile.
fn run_tiled(isa: Isa, br: usize, pr: &Problem) -> Got {
    run_tiled2(isa, br, br, pr)
}

/// Forward with `fbr` and backward with `bbr` query rows per tile.
fn run_tiled2(isa: Isa, fbr: usize, bbr: usize, pr: &Problem) -> Got {
    let p = &pr.p;
    let n_bh = p.batch * p.heads;
    let mut got = Got {
        o: vec![f32::NAN; n_bh * p.tq * p.dv],
        lse: vec![f32::NAN; n_bh * p.tq],
        dq: vec![f32::NAN; n_bh * p.tq * p.d],
        dk: vec![f32::NAN; n_bh * p.tk * p.d],
        dv: vec![f32::NAN; n_bh * p.tk * p.dv],
    };
    let m = pr.masks();
    forward_tiled(
        isa,
        fbr,
        p,
        &m,
        &pr.q,
        &pr.k,
        &pr.v,
        &mut got.o,
        &mut got.lse,
    )
    .unwrap();
    let g = GradLayouts {
        dout: Layout::contiguous(p.heads, p.tq, p.dv),
        dq: Layout::contiguous(p.heads, p.tq, p.d),
        dk: Layout::contiguous(p.heads, p.tk, p.d),
        dv: Layout::contiguous(p.heads, p.tk, p.dv),
    };
    let x = pr.backward_inputs(&got.o, &got.lse);
    let (mut dq, mut dk, mut dv) = (got.dq.clone(), got.dk.clone(), got.dv.clone());
    backward_tiled(isa, bbr, p, &g, &m, x, &mut dq, &mut dk, &mut dv).unwrap();
    (got.dq, got.dk, got.dv) = (dq, dk, dv);
    got
}

/// Every output (o, lse, dq, dk, dv) against the naive reference.
fn close_all(label: &str, got: &Got, want: &Naive) {
    close(&format!("{label} o"), &got.o, &want.o, 2e-5);
    close(&format!("{label} lse"), &got.lse, &want.lse, 2e-5);
    close(&format!("{label} dq"), &got.dq, &want.dq, 5e-5);
    close(&format!("{label} dk"), &got.dk, &want.dk, 5e-5);
    close(&format!("{label} dv"), &got.dv, &want.dv, 5e-5);
}

fn close(what: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1.0f64, |m, v| m.max(v.abs()));
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = if w.is_infinite() {
            g as f64 == w
        } else {
            (g as f64 - w).abs() <= tol * scale
        };
        assert!(ok, "{what}[{i}]: got {g}, want {w}");
    }
}

fn check(pr: &Problem, label: &str) {
    let want = naive(pr);
    for isa in levels() {
        let got = run(isa, pr);
        let l = format!("{label} {isa:?}");
        close_all(&l, &got, &want);
    }
}

#[test]
fn dense_shapes_match_naive() {
    for &(b, h, tq, tk, d, dv) in &[
        (1, 1, 1, 1, 1, 1),
        (2, 3, 7, 7, 8, 8),
        (1, 2, 65, 130, 63, 17),
        (1, 1, 130, 1, 5, 3),
        (2, 1, 1, 300, 16, 16),
    ] {
        check(
            &Problem::new(b, h, tq, tk, d, dv, false, 7),
            &format!("dense {b} {h} {tq} {tk} {d} {dv}"),
        );
    }
}

#[test]
fn causal_and_offset_match_naive() {
    for &(tq, tk, off) in &[
        (70, 70, 0),
        (129, 129, 0),
        (5, 140, 135),
        (100, 60, 0),
        (60, 100, 0),
        (1, 200, 199),
    ] {
        let mut pr = Problem::new(1, 2, tq, tk, 16, 16, false, 11);
        pr.p.causal = true;
        pr.p.causal_offset = off;
        check(&pr, &format!("causal {tq} {tk} {off}"));
    }
}

#[test]
fn masks_match_naive() {
    let (b, tq, tk) = (2, 67, 75);
    let mut pr = Problem::new(b, 2, tq, tk, 8, 8, false, 3);
    pr.pad = Some(
        (0..b * tk)
            .map(|i| u8::from(i % 5 == 1 || i >= b * tk - 80))
            .collect(),
    );
    pr.add = Some(rand_vec(tq * tk, 99).iter().map(|v| v * 2.0).collect());
    check(&pr, "pad+add");
    // A fully padded batch row: zero output, −∞ LSE, zero grads.
    let mut pr = Problem::new(b, 1, 9, 9, 4, 4, false, 5);
    pr.pad = Some((0..b * 9).map(|i| u8::from(i < 9)).collect());
    pr.p.causal = true;
    check(&pr, "all-masked");
    let got = run(Isa::Scalar, &pr);
    assert!(got.o[..9 * 4].iter().all(|&v| v == 0.0));
}

#[test]
fn fused_qkv_views_match_naive() {
    let mut pr = Problem::new(2, 3, 70, 70, 12, 12, true, 21);
    check(&pr, "fused");
    pr.p.causal = true;
    check(&pr, "fused causal");
}

#[test]
fn results_do_not_depend_on_thread_count() {
    let mut pr = Problem::new(1, 1, 300, 300, 32, 32, false, 8);
    pr.p.causal = true;
    same_under_1_and_3_threads(simd::isa(), &pr);
}

#[test]
fn outputs_with_a_column_stride_give_the_bits_of_dense_ones() {
    // O, dQ, dK and dV every other float of their buffers (column stride 2)
    // are written row by row after the tiles; dense ones by the last
    // products' stores. Both give the same bits, with one key-tile group
    // (B·H ≥ 16) and several, and with keys no query sees (Tq < Tk, causal).
    let cases = [
        (1, 2, 70, 70),
        (4, 4, 64, 64),
        (1, 16, 60, 100),
        (1, 1, 60, 100),
    ]
    .map(|c| (c, true))
    .into_iter()
    .chain([((2, 3, 33, 150), false)]);
    for ((b, h, tq, tk), causal) in cases {
        let mut pr = Problem::new(b, h, tq, tk, 8, 8, false, 5);
        pr.p.causal = causal;
        let wide = |t: usize| Layout {
            batch: h * t * 16,
            head: t * 16,
            time: 16,
            dim: 2,
        };
        let mut sp = pr.p;
        sp.o = wide(tq);
        let g = GradLayouts {
            dout: Layout::contiguous(h, tq, 8),
            dq: wide(tq),
            dk: wide(tk),
            dv: wide(tk),
        };
        let every_other = |x: &[f32]| x.iter().step_by(2).copied().collect::<Vec<_>>();
        for isa in levels() {
            let what = format!("{isa:?} {b} {h} {tq} {tk} {causal}");
            let want = run(isa, &pr);
            let (mut o, mut lse) = (vec![f32::NAN; 2 * want.o.len()], vec![0.0; want.lse.len()]);
            let m = Masks::default();
            forward::forward_with(isa, &sp, &m, &pr.q, &pr.k, &pr.v, &mut o, &mut lse).unwrap();
            assert_eq!(every_other(&o), want.o, "{what}: o");
            assert_eq!(lse, want.lse, "{what}: lse");
            let x = pr.backward_inputs(&want.o, &want.lse);
            let [mut dq, mut dk, mut dv] =
                [want.dq.len(), want.dk.len(), want.dv.len()].map(|n| vec![f32::NAN; 2 * n]);
            backward::backward_with(isa, &pr.p, &g, &m, x, &mut dq, &mut dk, &mut dv).unwrap();
            assert_eq!(every_other(&dq), want.dq, "{what}: dq");
            assert_eq!(every_other(&dk), want.dk, "{what}: dk");
            assert_eq!(every_other(&dv), want.dv, "{what}: dv");
        }
    }
}

#[test]
fn no_keys_give_zero_outputs_and_gradients() {
    // Tk = 0: no key tile, so no product writes O or dQ; they are zeros.
    for isa in levels() {
        let pr = Problem::new(2, 9, 37, 0, 5, 6, false, 2);
        let got = run(isa, &pr);
        assert!(got.o.iter().all(|&v| v == 0.0), "{isa:?}: o");
        assert!(
            got.lse.iter().all(|&v| v == f32::NEG_INFINITY),
            "{isa:?}: lse"
        );
        assert!(got.dq.iter().all(|&v| v == 0.0), "{isa:?}: dq");
    }
}

#[test]
fn rejects_bad_layouts() {
    let p = AttnParams::contiguous(1, 1, 4, 4, 2, 2);
    let (q, mut o, mut lse) = (vec![0.0; 8], vec![0.0; 8], vec![0.0; 4]);
    assert!(forward(&p, &Masks::default(), &q[..7], &q, &q, &mut o, &mut lse).is_err());
    let mut bad = p;
    bad.o.time = 0;
    assert!(forward(&bad, &Masks::default(), &q, &q, &q, &mut o, &mut lse).is_err());
    bad = p;
    bad.scale = f32::NAN;
    assert!(forward(&bad, &Masks::default(), &q, &q, &q, &mut o, &mut lse).is_err());
}

#[test]
fn short_query_tiles_match_naive_and_long_tiles() {
    // Awkward lengths around the 16- and 32-row and 64-key tiles (and past the
    // 128 cut-off: the forced short tiles must be right at any length).
    for &t in &[1, 15, 16, 17, 63, 64, 65, 255, 256, 257] {
        for causal in [false, true] {
            let mut pr = Problem::new(1, 2, t, t, 8, 8, t % 2 == 0, 30 + t as u64);
            pr.p.causal = causal;
            let want = naive(&pr);
            for isa in levels() {
                // Another height (session 4's 16 rows) and a forward and backward
                // of different heights.
                let mid = run_tiled2(isa, BR_ALT, BR_SHORT, &pr);
                let short = run_tiled(isa, BR_SHORT, &pr);
                let long = run_tiled(isa, BR, &pr);
                let l = format!("t {t} causal {causal} {isa:?}");
                close_all(&format!("{l} rows {BR_ALT}/{BR_SHORT}"), &mid, &want);
                close_all(
                    &format!("{l} rows {BR_ALT}"),
                    &run_tiled(isa, BR_ALT, &pr),
                    &want,
                );
                close_all(&l, &short, &want);
                // The two tilings differ only by rounding (dK and dV sum the
                // query tiles in other groups).
                let as64 = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<_>>();
                close(&format!("{l} o short/long"), &short.o, &as64(&long.o), 1e-6);
                close(
                    &format!("{l} dq short/long"),
                    &short.dq,
                    &as64(&long.dq),
                    1e-6,
                );
                close(
                    &format!("{l} dk short/long"),
                    &short.dk,
                    &as64(&long.dk),
                    1e-6,
                );
                close(
                    &format!("{l} dv short/long"),
                    &short.dv,
                    &as64(&long.dv),
                    1e-6,
                );
            }
        }
    }
}

#[test]
fn short_query_tiles_with_offset_and_masks_match_naive() {
    for &(tq, tk, off) in &[(17, 40, 23), (3, 65, 62), (40, 17, 0), (65, 65, 5)] {
        let mut pr = Problem::new(2, 1, tq, tk, 12, 5, false, 41);
        pr.p.causal = true;
        pr.p.causal_offset = off;
        pr.pad = Some((0..2 * tk).map(|i| u8::from(i % 7 == 3)).collect());
        pr.add = Some(rand_vec(tq * tk, 77));
        let want = naive(&pr);
        for isa in levels() {
            for bbr in [BR_ALT, BR_SHORT] {
                let got = run_tiled2(isa, BR_ALT, bbr, &pr);
                let l = format!("{tq} {tk} {off} {isa:?} bwd rows {bbr}");
                close(&format!("{l} o"), &got.o, &want.o, 2e-5);
                close(&format!("{l} dq"), &got.dq, &want.dq, 5e-5);
                close(&format!("{l} dk"), &got.dk, &want.dk, 5e-5);
                close(&format!("{l} dv"), &got.dv, &want.dv, 5e-5);
            }
        }
    }
}

/// dq, dk, dv of a fused problem written into one (B, T, 3, H, D) buffer.
fn run_packed(isa: Isa, pr: &Problem, o: &[f32], lse: &[f32]) -> Result<Vec<f32>> {
    let p = &pr.p;
    let (b, h, t, d) = (p.batch, p.heads, p.tq, p.d);
    let mut buf = vec![f32::NAN; b * t * 3 * h * d];
    let packed = PackedGrads {
        which: h * d,
        layout: p.q, // the fused (B, T, 3, H, D) strides
    };
    let x = pr.backward_inputs(o, lse);
    let dout = Layout::contiguous(h, t, d);
    backward_packed_with(
        isa,
        (query_rows(p), p.batch),
        p,
        dout,
        packed,
        &pr.masks(),
        x,
        &mut buf,
    )?;
    Ok(buf)
}

#[test]
fn packed_grads_match_separate_grads_bitwise() {
    for &(b, h, t, causal) in &[
        (2, 3, 70, true),
        (12, 4, 64, true),
        (1, 2, 33, false),
        (1, 1, 1, true),
    ] {
        let mut pr = Problem::new(b, h, t, t, 8, 8, true, 51);
        pr.p.causal = causal;
        let d = 8;
        for isa in levels() {
            let sep = run(isa, &pr);
            let buf = run_packed(isa, &pr, &sep.o, &sep.lse).unwrap();
            // buf is (B, T, 3, H, D); sep.* are (B, H, T, D).
            for (w, want) in [&sep.dq, &sep.dk, &sep.dv].into_iter().enumerate() {
                for bb in 0..b {
                    for hh in 0..h {
                        for i in 0..t {
                            let got = &buf[((bb * t + i) * 3 + w) * h * d + hh * d..][..d];
                            let exp = &want[((bb * h + hh) * t + i) * d..][..d];
                            assert_eq!(got, exp, "{isa:?} b {b} t {t} grad {w}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn packed_grads_reject_overlap_and_bad_shapes() {
    let pr = Problem::new(1, 2, 5, 5, 4, 4, true, 3);
    let got = run(Isa::Scalar, &pr);
    let p = &pr.p;
    let x = pr.backward_inputs(&got.o, &got.lse);
    let dout = Layout::contiguous(2, 5, 4);
    let mut buf = vec![0.0f32; 5 * 3 * 2 * 4];
    let call = |pp: &AttnParams, packed: PackedGrads, buf: &mut [f32]| {
        backward_packed_with(
            Isa::Scalar,
            (16, pp.batch),
            pp,
            dout,
            packed,
            &Masks::default(),
            x,
            buf,
        )
        .map_err(|e| e.to_string())
    };
    // dq, dk and dv on top of one another.
    let e = call(
        p,
        PackedGrads {
            which: 0,
            layout: p.q,
        },
        &mut buf,
    )
    .unwrap_err();
    assert!(e.contains("dqkv") && e.contains("overlap"), "{e}");
    // Too short a buffer.
    let e = call(
        p,
        PackedGrads {
            which: 8,
            layout: p.q,
        },
        &mut buf[..100],
    )
    .unwrap_err();
    assert!(e.contains("dqkv"), "{e}");
    // Tq != Tk cannot share one buffer.
    let mut short = *p;
    short.tq = 4;
    let e = call(
        &short,
        PackedGrads {
            which: 8,
            layout: p.q,
        },
        &mut buf,
    )
    .unwrap_err();
    assert!(e.contains("Tq == Tk"), "{e}");
    assert!(call(
        p,
        PackedGrads {
            which: 8,
            layout: p.q
        },
        &mut buf
    )
    .is_ok());
}

#[test]
fn short_tiles_do_not_depend_on_thread_count() {
    // (1, 1, 128): two key-tile groups; (12, 4, 64): one group per head.
    for &(b, h, t) in &[(1, 1, 128), (12, 4, 64)] {
        let mut pr = Problem::new(b, h, t, t, 32, 32, true, 9);
        pr.p.causal = true;
        let isa = simd::isa();
        let one = same_under_1_and_3_threads(isa, &pr);
        let p1 = with_threads(1, || run_packed(isa, &pr, &one.o, &one.lse).unwrap());
        let p3 = with_threads(3, || run_packed(isa, &pr, &one.o, &one.lse).unwrap());
        assert_eq!(p1, p3);
    }
}

#[test]
fn gather_t_transposes_any_block() {
    for isa in simd::available() {
        for &rows in &[0, 1, 7, 8, 9, 17, 64] {
            for &cols in &[0, 1, 5, 8, 13, 16, 32, 33] {
                for &cs in &[1, 3] {
                    let (base, rs) = (5, cols * cs + 2);
                    let src = rand_vec(base + rows * rs + cols * cs + 1, 1);
                    let ld = rows + 3;
                    let mut dst = vec![f32::NAN; cols * ld];
                    gather_t(isa, &mut dst, ld, &src, base, rs, cs, rows, cols);
                    for r in 0..rows {
                        for c in 0..cols {
                            assert_eq!(dst[c * ld + r], src[base + r * rs + c * cs], "{isa:?}");
                        }
                    }
                }
            }
        }
    }
}

/// (B, H, T, D) rows of `l`'s view of `src`, as a dense copy.
fn dense_copy(src: &[f32], l: Layout, (b, h, t, d): (usize, usize, usize, usize)) -> Vec<f32> {
    let mut out = Vec::with_capacity(b * h * t * d);
    for bh in 0..b * h {
        for i in 0..t {
            let at = l.row(bh / h, bh % h, i);
            out.extend_from_slice(&src[at..at + d]);
        }
    }
    out
}

/// Asserts that the (B, T, 3, H, D) buffer holds `want`'s dq, dk, dv (B, H, T, D), bit for bit.
fn assert_packed_is(
    buf: &[f32],
    want: &Got,
    (b, h, t, d): (usize, usize, usize, usize),
    what: &str,
) {
    for (w, g) in [&want.dq, &want.dk, &want.dv].into_iter().enumerate() {
        for bh in 0..b * h {
            let (bb, hh) = (bh / h, bh % h);
            for i in 0..t {
                let got = &buf[((bb * t + i) * 3 + w) * h * d + hh * d..][..d];
                assert_eq!(got, &g[(bh * t + i) * d..][..d], "{what}: grad {w}");
            }
        }
    }
}

#[test]
fn strided_rows_give_the_bits_of_dense_ones() {
    // Heads of a fused projection (rows 3·H·D apart) and dO rows H·D apart
    // (as MultiheadAttention passes them) against dense copies read in place.
    // The first two crowd L1 (`crowds_l1`: copied), the others are read in place.
    for &(b, h, t, d, causal) in &[
        (1, 8, 70, 64, true),
        (1, 16, 131, 16, false),
        (2, 3, 131, 12, false),
        (3, 1, 5, 4, false),
    ] {
        let dims = (b, h, t, d);
        let mut fused = Problem::new(b, h, t, t, d, d, true, 61);
        fused.p.causal = causal;
        let mut dense = Problem::new(b, h, t, t, d, d, false, 61);
        dense.p.causal = causal;
        let l = fused.p.q;
        dense.q = dense_copy(&fused.q, l, dims);
        dense.k = dense_copy(&fused.k, l, dims);
        dense.v = dense_copy(&fused.v, l, dims);
        dense.dout = fused.dout.clone();
        let rows = Layout {
            batch: t * h * d,
            head: d,
            time: h * d,
            dim: 1,
        };
        let mut dout_rows = vec![0.0; b * t * h * d];
        for bh in 0..b * h {
            for i in 0..t {
                let at = rows.row(bh / h, bh % h, i);
                dout_rows[at..at + d].copy_from_slice(&fused.dout[(bh * t + i) * d..][..d]);
            }
        }
        for isa in levels() {
            let what = format!("{isa:?} b {b} h {h} t {t} d {d} causal {causal}");
            let want = run(isa, &dense);
            let got = run(isa, &fused);
            assert_eq!(got.o, want.o, "{what}: o");
            assert_eq!(got.lse, want.lse, "{what}: lse");
            assert_eq!(
                (&got.dq, &got.dk, &got.dv),
                (&want.dq, &want.dk, &want.dv),
                "{what}"
            );
            let x = BackwardInputs {
                dout: &dout_rows,
                ..fused.backward_inputs(&got.o, &got.lse)
            };
            let mut buf = vec![f32::NAN; b * t * 3 * h * d];
            let packed = PackedGrads {
                which: h * d,
                layout: l,
            };
            let (p, m) = (&fused.p, Masks::default());
            backward_packed_with(isa, (query_rows(p), b), p, rows, packed, &m, x, &mut buf)
                .unwrap();
            assert_packed_is(&buf, &want, dims, &what);
        }
    }
}

#[test]
fn a_part_of_the_batch_gets_the_whole_batchs_bits() {
    // B·H = 15 and 4 key tiles: the whole batch takes 2 key-tile groups per
    // head; sequences 3..5 alone (B·H = 6) would take 3 and sum dQ in another
    // order (`backward_packed` on them fails this test); `backward_packed_part`
    // groups them as the whole batch does.
    let (b, h, t, d) = (5, 3, 200, 8);
    for causal in [false, true] {
        let mut pr = Problem::new(b, h, t, t, d, d, true, 71);
        pr.p.causal = causal;
        let whole = run(simd::isa(), &pr);
        let (first, n) = (3, 2);
        let p = AttnParams { batch: n, ..pr.p };
        let off = first * pr.p.q.batch; // the part's first element of every fused operand
        let x = BackwardInputs {
            q: &pr.q[off..],
            k: &pr.k[off..],
            v: &pr.v[off..],
            o: &whole.o[first * h * t * d..],
            lse: &whole.lse[first * h * t..],
            dout: &pr.dout[first * h * t * d..],
        };
        let packed = PackedGrads {
            which: h * d,
            layout: p.q,
        };
        let dout = Layout::contiguous(h, t, d);
        let mut buf = vec![f32::NAN; n * t * 3 * h * d];
        let m = Masks::default();
        with_threads(2, || {
            backward_packed_part(&p, dout, packed, &m, x, b, &mut buf)
        })
        .unwrap();
        let tail = |g: &[f32]| g[first * h * t * d..].to_vec();
        let want = Got {
            o: vec![],
            lse: vec![],
            dq: tail(&whole.dq),
            dk: tail(&whole.dk),
            dv: tail(&whole.dv),
        };
        assert_packed_is(&buf, &want, (n, h, t, d), &format!("causal {causal}"));
    }
}

#[test]
fn crowded_rows_are_those_of_wide_fused_projections() {
    // MultiheadAttention(512, 8): q/k/v rows 1536 floats apart, dO rows 512.
    assert!(crowds_l1(64, 64, 1536) && crowds_l1(64, 64, 512));
    // nanoGPT's (C = 128, D = 32) rows spread over the sets; dense rows never crowd.
    assert!(!crowds_l1(64, 32, 384) && !crowds_l1(32, 32, 128));
    assert!(!crowds_l1(64, 64, 64) && !crowds_l1(1, 64, 4096) && !crowds_l1(64, 8, 24));
    // A 4 KiB multiple: every row starts in the same set.
    assert!(crowds_l1(64, 16, 1024) && crowds_l1(16, 64, 2048));
}

/// The forward's query tile height changes no bit of O or the LSE (every
/// query row's sums run in the same order): `FBR`, `BR`, `BR_SHORT` and
/// `BR_ALT` rows on every level, dense and fused operands, masks, lengths
/// around the tiles (1, primes, past 128 and 256), and against float64.
#[test]
fn forward_tile_height_changes_no_bit() {
    for &(b, h, tq, tk, d, fused) in &[
        (1, 1, 1, 1, 3, false),
        (2, 3, 131, 131, 16, true),
        (1, 2, 257, 67, 13, false),
        (1, 1, 129, 300, 64, false),
    ] {
        let mut pr = Problem::new(b, h, tq, tk, d, d, fused, 90 + tq as u64);
        if tk == 300 {
            pr.pad = Some((0..b * tk).map(|i| u8::from(i % 5 == 1)).collect());
            pr.add = Some(rand_vec(tq * tk, 91));
        }
        let want = naive(&pr);
        for isa in levels() {
            let tall = run_tiled2(isa, FBR, BR, &pr);
            let l = format!("{b} {h} {tq} {tk} {d} {isa:?}");
            close_all(&format!("{l} rows {FBR}"), &tall, &want);
            for br in [BR, BR_SHORT, BR_ALT] {
                let got = run_tiled2(isa, br, BR, &pr);
                assert_eq!(got.o, tall.o, "{l} o rows {br}");
                assert_eq!(got.lse, tall.lse, "{l} lse rows {br}");
            }
        }
    }
}

#[test]
fn forward_row_stride_spreads_l1_sets() {
    // 128 floats = 512 bytes would put the tile rows into 8 L1 sets.
    assert_eq!(row_stride(FBR), FBR + 16);
    assert_eq!(row_stride(BR), BR);
    assert_eq!(row_stride(BR_SHORT), BR);
    for br in [BR_SHORT, BR, FBR] {
        let lines = row_stride(br) / 16;
        assert!(
            row_stride(br) >= br && !lines.is_multiple_of(8),
            "rows {br}"
        );
    }
}
