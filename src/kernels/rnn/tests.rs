//! The kernels against a naive f64 step-by-step reference (forward) and
//! central finite differences of that reference (every gradient).

use super::*;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.next() * scale).collect()
    }
}

fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Parameters and inputs of one case, in f64 for the reference.
struct Case {
    mode: Mode,
    d: Dims,
    x: Vec<f64>,
    h0: Vec<f64>,
    c0: Vec<f64>,
    w_ih: Vec<f64>,
    w_hh: Vec<f64>,
    b_ih: Vec<f64>,
    b_hh: Vec<f64>,
    lengths: Option<Vec<usize>>,
}

/// Reference forward: (out, h_n, c_n).
fn reference(c: &Case) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let Dims {
        batch: b,
        steps: t,
        input: ni,
        hidden: h,
    } = c.d;
    let gh = c.d.gh(c.mode);
    let mut out = vec![0.0; b * t * h];
    let mut hn = c.h0.clone();
    let mut cn = c.c0.clone();
    for r in 0..b {
        let len = c.lengths.as_ref().map_or(t, |l| l[r]);
        let mut hs: Vec<f64> = c.h0[r * h..(r + 1) * h].to_vec();
        let mut cs: Vec<f64> = if c.mode.has_cell() {
            c.c0[r * h..(r + 1) * h].to_vec()
        } else {
            vec![]
        };
        for s in 0..len {
            let xr = &c.x[(r * t + s) * ni..(r * t + s + 1) * ni];
            let gx: Vec<f64> = (0..gh)
                .map(|g| c.b_ih[g] + (0..ni).map(|k| c.w_ih[g * ni + k] * xr[k]).sum::<f64>())
                .collect();
            let ghh: Vec<f64> = (0..gh)
                .map(|g| c.b_hh[g] + (0..h).map(|k| c.w_hh[g * h + k] * hs[k]).sum::<f64>())
                .collect();
            match c.mode {
                Mode::RnnTanh => hs = (0..h).map(|k| (gx[k] + ghh[k]).tanh()).collect(),
                Mode::RnnRelu => hs = (0..h).map(|k| (gx[k] + ghh[k]).max(0.0)).collect(),
                Mode::Lstm => {
                    let a = |q: usize, k: usize| gx[q * h + k] + ghh[q * h + k];
                    for k in 0..h {
                        let (i, f, g, o) =
                            (sig(a(0, k)), sig(a(1, k)), a(2, k).tanh(), sig(a(3, k)));
                        cs[k] = f * cs[k] + i * g;
                        hs[k] = o * cs[k].tanh();
                    }
                }
                Mode::Gru => {
                    hs = (0..h)
                        .map(|k| {
                            let r_ = sig(gx[k] + ghh[k]);
                            let z = sig(gx[h + k] + ghh[h + k]);
                            let n = (gx[2 * h + k] + r_ * ghh[2 * h + k]).tanh();
                            (1.0 - z) * n + z * hs[k]
                        })
                        .collect()
                }
            }
            out[(r * t + s) * h..(r * t + s + 1) * h].copy_from_slice(&hs);
        }
        hn[r * h..(r + 1) * h].copy_from_slice(&hs);
        if c.mode.has_cell() {
            cn[r * h..(r + 1) * h].copy_from_slice(&cs);
        }
    }
    (out, hn, cn)
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

fn make(mode: Mode, d: Dims, lengths: Option<Vec<usize>>, seed: u64) -> Case {
    let mut rng = Rng(seed);
    let gh = d.gh(mode);
    let f = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    Case {
        mode,
        d,
        x: f(rng.vec(d.rows() * d.input, 1.0)),
        h0: f(rng.vec(d.batch * d.hidden, 0.5)),
        c0: if mode.has_cell() {
            f(rng.vec(d.batch * d.hidden, 0.5))
        } else {
            vec![]
        },
        w_ih: f(rng.vec(gh * d.input, 0.6)),
        w_hh: f(rng.vec(gh * d.hidden, 0.6)),
        b_ih: f(rng.vec(gh, 0.3)),
        b_hh: f(rng.vec(gh, 0.3)),
        lengths,
    }
}

fn run_forward(c: &Case) -> Output {
    run_forward_as(c, forward)
}

type ForwardFn = fn(
    Mode,
    &Dims,
    &[f32],
    &[f32],
    Option<&[f32]>,
    &Weights<'_>,
    Option<&[usize]>,
) -> crate::Result<Output>;

/// `c` through `forward` or `infer`.
fn run_forward_as(c: &Case, f: ForwardFn) -> Output {
    let (x, h0, c0) = (f32s(&c.x), f32s(&c.h0), f32s(&c.c0));
    let (wi, wh, bi, bh) = (f32s(&c.w_ih), f32s(&c.w_hh), f32s(&c.b_ih), f32s(&c.b_hh));
    let w = Weights {
        w_ih: &wi,
        w_hh: &wh,
        b_ih: Some(&bi),
        b_hh: Some(&bh),
    };
    let c0 = c.mode.has_cell().then_some(&c0[..]);
    f(c.mode, &c.d, &x, &h0, c0, &w, c.lengths.as_deref()).unwrap()
}

fn assert_close(name: &str, got: &[f32], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{name}: length");
    for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g as f64 - w).abs() <= tol * (1.0 + w.abs()),
            "{name}[{k}]: got {g}, want {w}"
        );
    }
}

const MODES: [Mode; 4] = [Mode::RnnTanh, Mode::RnnRelu, Mode::Lstm, Mode::Gru];

fn dims(batch: usize, steps: usize, input: usize, hidden: usize) -> Dims {
    Dims {
        batch,
        steps,
        input,
        hidden,
    }
}

#[test]
fn forward_matches_reference() {
    for mode in MODES {
        for (d, lens) in [
            (dims(1, 1, 1, 1), None),
            (dims(3, 7, 5, 17), None),
            (dims(4, 6, 3, 9), Some(vec![6, 1, 0, 4])),
            // several blocks of batch rows, the last one short
            (
                dims(40, 5, 3, 9),
                Some((0..40).map(|r| (r * 7) % 6).collect()),
            ),
        ] {
            let c = make(mode, d, lens, 7);
            let (out, hn, cn) = reference(&c);
            let o = run_forward(&c);
            assert_close("out", &o.out, &out, 2e-5);
            assert_close("h_n", &o.h_n, &hn, 2e-5);
            assert_close("c_n", &o.c_n, &cn, 2e-5);
        }
    }
}

/// L = Σ out ⊙ R + Σ h_n ⊙ S (+ Σ c_n ⊙ U), as the reference computes it.
fn loss(c: &Case, r: &[f64], s: &[f64], u: &[f64]) -> f64 {
    let (out, hn, cn) = reference(c);
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    dot(&out, r) + dot(&hn, s) + dot(&cn, u)
}

fn field(c: &mut Case, which: usize) -> &mut Vec<f64> {
    match which {
        0 => &mut c.x,
        1 => &mut c.h0,
        2 => &mut c.c0,
        3 => &mut c.w_ih,
        4 => &mut c.w_hh,
        5 => &mut c.b_ih,
        _ => &mut c.b_hh,
    }
}

fn numeric(c: &mut Case, which: usize, r: &[f64], s: &[f64], u: &[f64]) -> Vec<f64> {
    let eps = 1e-6;
    (0..field(c, which).len())
        .map(|k| {
            let orig = field(c, which)[k];
            field(c, which)[k] = orig + eps;
            let lp = loss(c, r, s, u);
            field(c, which)[k] = orig - eps;
            let lm = loss(c, r, s, u);
            field(c, which)[k] = orig;
            (lp - lm) / (2.0 * eps)
        })
        .collect()
}

#[test]
fn backward_matches_finite_differences() {
    for mode in MODES {
        for (d, lens) in [
            (dims(2, 5, 3, 4), None),
            (dims(3, 4, 2, 3), Some(vec![4, 2, 0])),
            // two blocks of batch rows (the second short), odd T
            (dims(14, 3, 2, 3), Some((0..14).map(|r| r % 4).collect())),
        ] {
            let mut c = make(mode, d, lens, 11);
            if mode == Mode::RnnRelu {
                // keep pre-activations away from the kink at 0
                c.b_ih.iter_mut().for_each(|v| *v += 0.8);
            }
            let mut rng = Rng(3);
            let bh = d.batch * d.hidden;
            let r: Vec<f64> = rng
                .vec(d.rows() * d.hidden, 1.0)
                .into_iter()
                .map(f64::from)
                .collect();
            let s: Vec<f64> = rng.vec(bh, 1.0).into_iter().map(f64::from).collect();
            let u: Vec<f64> = if mode.has_cell() {
                rng.vec(bh, 1.0).into_iter().map(f64::from).collect()
            } else {
                vec![]
            };
            let o = run_forward(&c);
            let (x, wi, wh) = (f32s(&c.x), f32s(&c.w_ih), f32s(&c.w_hh));
            let (bi, bhh) = (f32s(&c.b_ih), f32s(&c.b_hh));
            let w = Weights {
                w_ih: &wi,
                w_hh: &wh,
                b_ih: Some(&bi),
                b_hh: Some(&bhh),
            };
            let (rf, sf, uf) = (f32s(&r), f32s(&s), f32s(&u));
            let dc_n = mode.has_cell().then_some(&uf[..]);
            let g = backward(
                mode,
                &d,
                &x,
                &w,
                c.lengths.as_deref(),
                &o.saved.view(),
                &rf,
                Some(&sf),
                dc_n,
                true,
            )
            .unwrap();
            let tol = 2e-4;
            assert_close("dx", &g.dx, &numeric(&mut c, 0, &r, &s, &u), tol);
            assert_close("dh0", &g.dh0, &numeric(&mut c, 1, &r, &s, &u), tol);
            if mode.has_cell() {
                assert_close("dc0", &g.dc0, &numeric(&mut c, 2, &r, &s, &u), tol);
            }
            assert_close("dw_ih", &g.dw_ih, &numeric(&mut c, 3, &r, &s, &u), tol);
            assert_close("dw_hh", &g.dw_hh, &numeric(&mut c, 4, &r, &s, &u), tol);
            assert_close("db_ih", &g.db_ih, &numeric(&mut c, 5, &r, &s, &u), tol);
            assert_close("db_hh", &g.db_hh, &numeric(&mut c, 6, &r, &s, &u), tol);
        }
    }
}

#[test]
fn bad_shapes_are_errors() {
    let c = make(Mode::Lstm, dims(2, 3, 4, 5), None, 1);
    let (x, h0) = (f32s(&c.x), f32s(&c.h0));
    let (wi, wh) = (f32s(&c.w_ih), f32s(&c.w_hh));
    let w = Weights {
        w_ih: &wi,
        w_hh: &wh,
        b_ih: None,
        b_hh: None,
    };
    let d = c.d;
    assert!(forward(Mode::Lstm, &d, &x[1..], &h0, None, &w, None).is_err());
    assert!(forward(Mode::Gru, &d, &x, &h0, None, &w, None).is_err());
    assert!(forward(Mode::Lstm, &d, &x, &h0, None, &w, Some(&[1, 4])).is_err());
    assert!(forward(Mode::RnnTanh, &d, &x, &h0, Some(&h0), &w, None).is_err());
    assert!(forward(Mode::Lstm, &dims(0, 3, 4, 5), &[], &[], None, &w, None).is_err());
    assert!(forward(Mode::Lstm, &d, &x, &h0, None, &w, Some(&[3, 0])).is_ok());
}

/// Forward and backward of `c` (output gradient from seed 9) in the current pool.
fn fwd_bwd(c: &Case, need_dx: bool) -> (Output, Grads) {
    let (x, wi, wh) = (f32s(&c.x), f32s(&c.w_ih), f32s(&c.w_hh));
    let (bi, bhh) = (f32s(&c.b_ih), f32s(&c.b_hh));
    let dout = Rng(9).vec(c.d.rows() * c.d.hidden, 1.0);
    let o = run_forward(c);
    let w = Weights {
        w_ih: &wi,
        w_hh: &wh,
        b_ih: Some(&bi),
        b_hh: Some(&bhh),
    };
    let g = backward(
        c.mode,
        &c.d,
        &x,
        &w,
        c.lengths.as_deref(),
        &o.saved.view(),
        &dout,
        None,
        None,
        need_dx,
    )
    .unwrap();
    (o, g)
}

fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

fn assert_same(a: &(Output, Grads), b: &(Output, Grads), what: &str) {
    let ((oa, ga), (ob, gb)) = (a, b);
    assert_eq!(oa.out, ob.out, "{what}: out");
    assert_eq!(oa.h_n, ob.h_n, "{what}: h_n");
    assert_eq!(oa.c_n, ob.c_n, "{what}: c_n");
    for (name, x, y) in [
        ("dh0", &ga.dh0, &gb.dh0),
        ("dc0", &ga.dc0, &gb.dc0),
        ("dw_ih", &ga.dw_ih, &gb.dw_ih),
        ("dw_hh", &ga.dw_hh, &gb.dw_hh),
        ("db_ih", &ga.db_ih, &gb.db_ih),
        ("db_hh", &ga.db_hh, &gb.db_hh),
    ] {
        assert_eq!(x, y, "{what}: {name}");
    }
}

#[test]
fn thread_count_does_not_change_bits() {
    // 32 rows: one block of the time loop per thread; 4 rows: one block whose
    // per-step GEMM is large enough to split over the pool instead.
    for (mode, batch, hidden) in MODES.iter().flat_map(|&m| [(m, 32, 70), (m, 4, 400)]) {
        let lens = Some((0..batch).map(|r| 9 - r % 5).collect());
        let c = make(mode, dims(batch, 9, 13, hidden), lens, 5);
        let a = in_pool(1, || fwd_bwd(&c, true));
        let b = in_pool(3, || fwd_bwd(&c, true));
        assert_same(&a, &b, mode.name());
        assert_eq!(a.1.dx, b.1.dx);
    }
}

#[test]
fn batch_cuts_and_a_skipped_dx_change_no_bits() {
    // B = 1, odd H, prime T, batches that leave short tail tiles on every
    // ISA, under pools that cut the batch into 1, 2, 3 and 5 blocks.
    for mode in MODES {
        for (batch, steps, hidden) in [(1, 7, 33), (7, 13, 37), (13, 5, 64), (20, 3, 17)] {
            let c = make(mode, dims(batch, steps, 11, hidden), None, 3);
            let want = in_pool(1, || fwd_bwd(&c, true));
            let (out_want, _, _) = reference(&c);
            assert_close("out", &want.0.out, &out_want, 2e-4);
            for threads in [2, 3, 5] {
                let got = in_pool(threads, || fwd_bwd(&c, true));
                assert_same(&want, &got, &format!("{} B{batch} {threads}t", mode.name()));
                assert_eq!(want.1.dx, got.1.dx);
                let skip = in_pool(threads, || fwd_bwd(&c, false));
                assert!(skip.1.dx.is_empty(), "dx computed though not needed");
                assert_same(
                    &want,
                    &skip,
                    &format!("{} B{batch} {threads}t no dx", mode.name()),
                );
            }
        }
    }
}

#[test]
fn inference_gives_the_training_forward_bits_and_saves_nothing() {
    // With and without lengths (0, 1, full), one and several blocks, odd H.
    for mode in MODES {
        for (batch, steps, hidden, lens) in [
            (1, 1, 1, None),
            (7, 13, 37, Some(vec![13, 0, 1, 5, 13, 12, 2])),
            (20, 6, 17, None),
            (4, 5, 400, Some(vec![5, 3, 0, 4])),
        ] {
            let c = make(mode, dims(batch, steps, 11, hidden), lens, 11);
            for threads in [1, 3] {
                let want = in_pool(threads, || run_forward(&c));
                let got = in_pool(threads, || run_forward_as(&c, infer));
                let what = format!("{} B{batch} H{hidden} {threads}t", mode.name());
                assert_eq!(got.out, want.out, "{what}: out");
                assert_eq!(got.h_n, want.h_n, "{what}: h_n");
                assert_eq!(got.c_n, want.c_n, "{what}: c_n");
                let s = &got.saved;
                assert!(
                    s.gates.is_empty() && s.hprev.is_empty() && s.cprev.is_empty(),
                    "{what}: inference kept saved buffers"
                );
                assert!(s.extra.is_empty(), "{what}: inference kept saved buffers");
            }
        }
    }
}

#[test]
fn weight_grads_match_f64_and_do_not_depend_on_the_pool() {
    // Rows under two chunks (one product each), exactly two chunks, and
    // tails that leave a short last chunk; odd widths on every side.
    let mut rng = Rng(17);
    for (bt, gh, i, h) in [
        (1, 3, 2, 5),
        (13, 7, 1, 3),
        (2048, 5, 3, 16),
        (2053, 37, 19, 5),
        (4099, 1, 7, 2),
    ] {
        let dg_x = rng.vec(bt * gh, 1.0);
        let dg_h = rng.vec(bt * gh, 1.0);
        let x = rng.vec(bt * i, 1.0);
        let hp = rng.vec(bt * h, 1.0);
        let run = || driver::weight_grads(gh, i, h, bt, &dg_x, &x, &dg_h, &hp).unwrap();
        let (dw_ih, dw_hh) = in_pool(1, run);
        for (name, got, dg, xs, n) in [
            ("dw_ih", &dw_ih, &dg_x, &x, i),
            ("dw_hh", &dw_hh, &dg_h, &hp, h),
        ] {
            assert_eq!(got.len(), gh * n, "{name} bt {bt}");
            for g in 0..gh {
                for j in 0..n {
                    let (mut want, mut mag) = (0.0f64, 0.0f64);
                    for r in 0..bt {
                        let p = dg[r * gh + g] as f64 * xs[r * n + j] as f64;
                        want += p;
                        mag += p.abs();
                    }
                    let err = (got[g * n + j] as f64 - want).abs();
                    assert!(
                        err <= 1e-5 * mag + 1e-7,
                        "{name} bt {bt} [{g},{j}]: {} vs {want}",
                        got[g * n + j]
                    );
                }
            }
        }
        for threads in [2, 3, 5] {
            let (a, b) = in_pool(threads, run);
            assert_eq!(a, dw_ih, "dw_ih bt {bt} {threads}t");
            assert_eq!(b, dw_hh, "dw_hh bt {bt} {threads}t");
        }
    }
}

#[test]
fn kept_backward_buffers_never_leak_old_data() {
    // Large enough (LSTM 16 MiB, GRU 12 MiB of gate gradients; Elman's 4 MiB
    // are zero-filled afresh) for the backward to take its gate-gradient
    // buffers from the kept ones. Poisoned kept buffers (NaN) and zeroed ones must give the same
    // bits, with sequences shorter than T (steps whose gradients are written
    // as zeros). W_hh is scaled down so that 256 steps stay finite.
    for mode in MODES {
        let lens = (0..64).map(|r| 256 - 3 * r).collect();
        let mut c = make(mode, dims(64, 256, 8, 64), Some(lens), 4);
        c.w_hh.iter_mut().for_each(|w| *w /= 8.0);
        let poison = |value: f32| {
            let n = c.d.rows() * c.d.gh(mode);
            let mut kept: Vec<_> = (0..3)
                .map(|_| super::buf::Scratch::take(&[n]).unwrap())
                .collect();
            kept.iter_mut().for_each(|b| b.fill(value));
        };
        poison(f32::NAN);
        let a = in_pool(2, || fwd_bwd(&c, true));
        poison(0.0);
        let b = in_pool(2, || fwd_bwd(&c, true));
        let g = &a.1;
        let all =
            g.dx.iter()
                .chain(&g.dh0)
                .chain(&g.dw_ih)
                .chain(&g.dw_hh)
                .chain(&g.db_ih);
        assert!(
            all.clone().all(|v| v.is_finite()),
            "{}: gradients not finite",
            mode.name()
        );
        assert_same(&a, &b, mode.name());
        assert_eq!(a.1.dx, b.1.dx);
    }
}
