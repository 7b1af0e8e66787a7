//! Every microkernel this host can run, through the generic driver, against
//! the f64 reference: awkward shapes, block edges, alpha/beta, strides,
//! batches with broadcast, and bitwise equality across thread counts.

use super::blocking::{cache_sizes, Blocking, CacheSizes};
use super::driver::{
    column_group, column_row_blocks, gemm_with_caches, grid_row_blocks, reads_a_in_place, splits_k,
};
use super::kernel::MicroKernel;
use super::kernel_scalar::Scalar;
use super::reference::sgemm_reference;
use super::{sgemm, Gemm, Strides};

/// Deterministic values in [-1, 1).
fn fill(len: usize, seed: u64) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            ((s >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect()
}

/// Elements spanned by a view.
fn span(shape: [usize; 3], s: Strides) -> usize {
    if shape.contains(&0) {
        return 0;
    }
    (shape[0] - 1) * s.batch + (shape[1] - 1) * s.row + (shape[2] - 1) * s.col + 1
}

/// Tiny caches: every block size (KC, MC, NC, NC_L3) is reached by small problems.
const TINY: CacheSizes = CacheSizes {
    l1d: 4 << 10,
    l2: 32 << 10,
    l3: 256 << 10,
};

/// Mid-sized caches: A over half of L2 is packed unless C is narrow
/// (`reads_a_in_place`), at sizes a test can afford.
const MID: CacheSizes = CacheSizes {
    l1d: 32 << 10,
    l2: 512 << 10,
    l3: 4 << 20,
};

/// Runs `g` with kernel `K` (and the given caches) and compares with the
/// reference: |c − ref| ≤ 1e-5 · (|alpha|·|A|·|B| + |beta|·|C₀|) elementwise.
fn check<K: MicroKernel>(g: &Gemm, caches: CacheSizes, seed: u64) {
    check_opt::<K>(g, caches, seed, false)
}

/// [`check`], with a bias row added in the store epilogue when `with_bias`.
fn check_opt<K: MicroKernel>(g: &Gemm, caches: CacheSizes, seed: u64, with_bias: bool) {
    let bias = with_bias.then(|| fill(g.n.max(1), seed + 3));
    let a = fill(span([g.batch, g.m, g.k], g.a).max(1), seed);
    let b = fill(span([g.batch, g.k, g.n], g.b).max(1), seed + 1);
    let c0 = if g.beta == 0.0 {
        vec![f32::NAN; span([g.batch, g.m, g.n], g.c).max(1)]
    } else {
        fill(span([g.batch, g.m, g.n], g.c).max(1), seed + 2)
    };
    g.validate(a.len(), b.len(), c0.len()).unwrap();
    let mut got = c0.clone();
    gemm_with_caches::<K>(g, &a, &b, &mut got, bias.as_deref(), caches);
    let mut want = c0.clone();
    sgemm_reference(g, &a, &b, &mut want);
    let add_bias = |c: &mut [f32], bias: &[f32]| {
        for p in 0..g.batch {
            for i in 0..g.m {
                for j in 0..g.n {
                    c[p * g.c.batch + i * g.c.row + j * g.c.col] += bias[j];
                }
            }
        }
    };
    if let Some(bias) = &bias {
        add_bias(&mut want, bias);
    }
    let abs = |v: &[f32]| v.iter().map(|x| x.abs()).collect::<Vec<_>>();
    let mut bound = abs(&c0);
    let gb = Gemm {
        alpha: g.alpha.abs(),
        beta: g.beta.abs(),
        ..*g
    };
    sgemm_reference(&gb, &abs(&a), &abs(&b), &mut bound);
    if let Some(bias) = &bias {
        add_bias(&mut bound, &abs(bias));
    }
    for p in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                let x = p * g.c.batch + i * g.c.row + j * g.c.col;
                let tol = 1e-5 * bound[x] + 1e-30;
                assert!(
                    (got[x] - want[x]).abs() <= tol,
                    "{}: {g:?}: C[{p},{i},{j}] = {} but the reference gives {}",
                    K::NAME,
                    got[x],
                    want[x]
                );
            }
        }
    }
    // Elements of C outside the view are never written.
    let mut inside = vec![false; got.len()];
    for p in 0..g.batch {
        for i in 0..g.m {
            for j in 0..g.n {
                inside[p * g.c.batch + i * g.c.row + j * g.c.col] = true;
            }
        }
    }
    for (x, _) in inside.iter().enumerate().filter(|(_, &ins)| !ins) {
        assert!(
            got[x].to_bits() == c0[x].to_bits(),
            "{}: {g:?}: wrote outside C at {x}",
            K::NAME
        );
    }
}

fn shapes<K: MicroKernel>() -> Vec<(usize, usize, usize)> {
    let (mr, nr) = (K::MR, K::NR);
    let mut v = vec![
        (0, 5, 3),
        (5, 0, 3),
        (3, 5, 0),
        (1, 1, 1),
        (1, 1, 4096),
        (7, 13, 17),
        (mr - 1, nr - 1, 31),
        (mr, nr, 32),
        (mr + 1, nr + 1, 33),
        (2 * mr + 1, 3 * nr - 1, 5),
        (37, 131, 97),
        (64, 64, 64),
        (1, 257, 64),
        (129, 1, 64),
        (5, 100, 9),
        (11, 90, 20),
        (3, 1000, 70),
        (1, 1024, 1024),
    ];
    v.extend(
        [(mr - 1, nr + 1, 1), (mr + 1, nr - 1, 2)]
            .iter()
            .filter(|s| s.0 > 0 && s.1 > 0),
    );
    v
}

fn shapes_and_blocks<K: MicroKernel>() {
    for (s, &(m, n, k)) in shapes::<K>().iter().enumerate() {
        let g = Gemm::new(m, n, k);
        check::<K>(&g, cache_sizes(), s as u64);
        check::<K>(&g, TINY, s as u64);
    }
    // Around the KC / MC / NC / NC_L3 edges of the real and the tiny caches
    // (300×300: an A read in place because it fits half of the real L2).
    for (s, &(m, n, k)) in [
        (300, 400, 300),
        (97, 65, 515),
        (13, 300, 1025),
        (130, 257, 64),
        (61, 700, 260),
        (200, 150, 513),
    ]
    .iter()
    .enumerate()
    {
        let g = Gemm::new(m, n, k);
        check::<K>(&g, cache_sizes(), 100 + s as u64);
        check::<K>(&g, TINY, 100 + s as u64);
    }
}

fn alpha_beta_strides_batch<K: MicroKernel>() {
    let (m, n, k) = (K::MR * 3 + 2, K::NR + 5, 41);
    let base = Gemm::new(m, n, k);
    let cases = [
        Gemm {
            alpha: 0.5,
            beta: -1.5,
            ..base
        },
        Gemm {
            alpha: -2.0,
            beta: 1.0,
            ..base
        },
        Gemm {
            alpha: 0.0,
            beta: 0.25,
            ..base
        },
        // Transposed operands and a column-major C.
        Gemm {
            a: Strides::row_major_transposed(k, m),
            ..base
        },
        Gemm {
            b: Strides::row_major_transposed(n, k),
            ..base
        },
        Gemm {
            c: Strides::row_major_transposed(n, m),
            beta: 0.5,
            ..base
        },
        // Rows with gaps, and strides on both axes (no unit stride at all).
        Gemm {
            a: Strides {
                row: k + 3,
                col: 1,
                batch: 0,
            },
            b: Strides {
                row: 2 * n + 1,
                col: 2,
                batch: 0,
            },
            c: Strides {
                row: 2 * n + 7,
                col: 2,
                batch: 0,
            },
            beta: 1.0,
            ..base
        },
        Gemm {
            a: Strides {
                row: 3,
                col: 3 * m + 1,
                batch: 0,
            },
            c: Strides {
                row: 1,
                col: m + 2,
                batch: 0,
            },
            ..base
        },
        // Batches: dense, broadcast A, broadcast B, strided C.
        Gemm {
            batch: 3,
            a: Strides::row_major(m, k),
            b: Strides::row_major(k, n),
            ..base
        },
        Gemm {
            batch: 9,
            a: Strides::row_major(m, k).with_batch(0),
            ..base
        }
        .with_dense_c(),
        Gemm {
            batch: 4,
            b: Strides::row_major(k, n).with_batch(0),
            ..base
        }
        .with_dense_c(),
        Gemm {
            batch: 10,
            a: Strides::row_major(m, k),
            b: Strides::row_major_transposed(n, k),
            c: Strides {
                row: n,
                col: 1,
                batch: m * n + 3,
            },
            beta: 2.0,
            ..base
        },
    ];
    // The one-row path: alpha, beta and a strided C.
    let row = Gemm {
        alpha: 0.5,
        beta: -1.5,
        c: Strides {
            row: 1000,
            col: 3,
            batch: 0,
        },
        ..Gemm::new(1, 1500, 50)
    };
    for (s, g) in cases.iter().chain([&row]).enumerate() {
        check::<K>(g, cache_sizes(), 200 + s as u64);
        check::<K>(g, TINY, 200 + s as u64);
    }
}

impl Gemm {
    /// The same product with alpha = −0.5, beta = 0.75 and C's rows 3
    /// floats apart (test helper).
    fn scaled_into_strided_c(self) -> Self {
        Gemm {
            alpha: -0.5,
            beta: 0.75,
            c: Strides {
                row: self.n + 3,
                col: 1,
                batch: self.m * (self.n + 3),
            },
            ..self
        }
    }

    /// A dense row-major C for this batch (test helper).
    fn with_dense_c(self) -> Self {
        Gemm {
            c: Strides::row_major(self.m, self.n),
            ..self
        }
    }
}

/// Bitwise identical results in pools of 1, 2 and 3 threads (the row-task
/// path, A packed per task, splits its rows by the pool's size).
fn threads_bitwise<K: MicroKernel>() {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let problems = [
        Gemm::new(150, 170, 700),
        Gemm::new(300, 300, 64),
        Gemm::new(50, 300, 600),
        Gemm::new(600, 70, 500),
        Gemm::new(300, 260, 300),
        // A GPT lm head: column groups of unequal width, split by rows too.
        Gemm::new(768, 65, 128),
        Gemm {
            batch: 16,
            ..Gemm::new(40, 40, 40)
        },
        Gemm {
            batch: 3,
            b: Strides::row_major(200, 260).with_batch(0),
            ..Gemm::new(90, 260, 200)
        },
    ];
    for (s, g) in problems.iter().enumerate() {
        let g = Gemm {
            c: Strides::row_major(g.m, g.n),
            ..*g
        };
        let a = fill(span([g.batch, g.m, g.k], g.a), 300 + s as u64);
        let b = fill(span([g.batch, g.k, g.n], g.b), 400 + s as u64);
        let run = |threads: usize, caches: CacheSizes| {
            let mut c = vec![0.0f32; g.batch * g.m * g.n];
            pool(threads).install(|| gemm_with_caches::<K>(&g, &a, &b, &mut c, None, caches));
            c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
        };
        for caches in [cache_sizes(), TINY, MID] {
            let one = run(1, caches);
            assert_eq!(one, run(2, caches), "{}: {g:?}", K::NAME);
            assert_eq!(one, run(3, caches), "{}: {g:?} (3 threads)", K::NAME);
        }
    }
}

/// The K-split path (K's slices side by side, partials added in slice
/// order): bitwise the one-thread result (slices one after the other), with
/// a remainder slice, row and column tails, alpha ≠ 1, A transposed (a
/// Linear layer's dW = dYᵀ·x) and B transposed; and close to the reference.
fn k_slices_side_by_side<K: MicroKernel>() {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    for (s, &(m, n, k)) in [(61, 77, 1100), (7, 300, 1500), (128, 2 * K::NR + 1, 1027)]
        .iter()
        .enumerate()
    {
        let g = Gemm::new(m, n, k);
        let variants = [
            g,
            Gemm {
                alpha: -0.7,
                a: Strides::row_major_transposed(k, m),
                ..g
            },
            Gemm {
                b: Strides::row_major_transposed(n, k),
                ..g
            },
        ];
        for (v, g) in variants.iter().enumerate() {
            let seed = 1700 + 10 * s as u64 + v as u64;
            let a = fill(span([1, m, k], g.a), seed);
            let b = fill(span([1, k, n], g.b), seed + 5);
            for caches in [cache_sizes(), MID] {
                let bl = Blocking::new(caches, K::MR, K::NR, m, n, k);
                let split = pool(2).install(|| splits_k(g, &bl, caches, false));
                assert!(split, "{}: {g:?} does not take the K-split path", K::NAME);
                let run = |threads: usize| {
                    let mut c = vec![f32::NAN; m * n];
                    pool(threads)
                        .install(|| gemm_with_caches::<K>(g, &a, &b, &mut c, None, caches));
                    c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
                };
                let one = run(1);
                assert_eq!(one, run(2), "{}: {g:?}", K::NAME);
                assert_eq!(one, run(3), "{}: {g:?} (3 threads)", K::NAME);
                pool(2).install(|| check::<K>(g, caches, seed));
            }
        }
    }
}

fn all<K: MicroKernel>() {
    if !K::available() {
        eprintln!("{}: not available on this CPU, skipped", K::NAME);
        return;
    }
    shapes_and_blocks::<K>();
    alpha_beta_strides_batch::<K>();
    threads_bitwise::<K>();
    k_slices_side_by_side::<K>();
    bias_epilogue::<K>();
    column_tasks::<K>();
    narrow_c_a_in_place::<K>();
    tiles::<K>();
    packing_layouts::<K>();
    panel_order_bitwise::<K>();
}

/// `K::pack_a` and `K::pack_b` give the packed layouts exactly —
/// element (i, p) of A at `(i / MR)·kc·MR + p·MR + i % MR`, (p, j) of B at
/// `(j / NR)·kc·NR + p·NR + j % NR`, zeros in the padding — for row-major,
/// column-major and padded sources, row and column tails, and depths with
/// and without a remainder of 8 (A's transposing block, B's rows per pass),
/// both packs on one thread and in parallel (a column-major A of more than
/// one panel is packed through B's row-major route).
fn packing_layouts<K: MicroKernel>() {
    use super::pack::MatRef;
    let (mr, nr) = (K::MR, K::NR);
    for &kc in &[1, 7, 8, 9, 16, 23, 64, 67] {
        for &rows in &[1, mr - 1, mr, mr + 1, 2 * mr + 3, 3 * mr, 9 * nr + 5] {
            for (rs, cs, pad) in [(kc + 3, 1, 0), (1, rows + 2, 1), (2 * kc + 1, 2, 5)] {
                // rows × kc at strides (rs, cs) after `pad` floats; value 1000·i + p.
                let len = pad + (rows - 1) * rs + (kc - 1) * cs + 1;
                let mut data = vec![f32::NAN; len];
                for i in 0..rows {
                    for p in 0..kc {
                        data[pad + i * rs + p * cs] = (1000 * i + p) as f32;
                    }
                }
                let src = MatRef {
                    data: &data,
                    off: pad,
                    rs,
                    cs,
                };
                let mut pa = vec![f32::NAN; rows.div_ceil(mr) * kc * mr + 3];
                for parallel in [false, true] {
                    K::pack_a(&mut pa, src, rows, kc, parallel);
                    for i in 0..rows.div_ceil(mr) * mr {
                        for p in 0..kc {
                            let want = if i < rows { (1000 * i + p) as f32 } else { 0.0 };
                            let got = pa[(i / mr) * kc * mr + p * mr + i % mr];
                            assert_eq!(
                                got,
                                want,
                                "{} pack_a {rows}×{kc} ({rs},{cs}) at ({i},{p})",
                                K::NAME
                            );
                        }
                    }
                    assert!(pa[rows.div_ceil(mr) * kc * mr..].iter().all(|x| x.is_nan()));
                }
                // The same block seen as B (kc × rows): B(p, j) = src(j, p).
                let mut pb = vec![f32::NAN; rows.div_ceil(nr) * kc * nr + 3];
                for parallel in [false, true] {
                    K::pack_b(&mut pb, src.t(), kc, rows, parallel);
                    for j in 0..rows.div_ceil(nr) * nr {
                        for p in 0..kc {
                            let want = if j < rows { (1000 * j + p) as f32 } else { 0.0 };
                            let got = pb[(j / nr) * kc * nr + p * nr + j % nr];
                            assert_eq!(got, want, "{} pack_b {kc}×{rows} at ({p},{j})", K::NAME);
                        }
                    }
                    assert!(pb[rows.div_ceil(nr) * kc * nr..].iter().all(|x| x.is_nan()));
                }
            }
        }
    }
}

/// A row-major A too big to be read in place for its size alone, but C
/// narrow enough that B's KC×N block fits L2: A is read in place
/// (row tails padded per micro-panel), a column-major A of the same size
/// is still packed, and both match the reference — with alpha/beta, a
/// strided C, a bias, K over two KC slices, column tails. Bitwise equality
/// across thread counts: `threads_bitwise` (600×70×500 and 300×260×300
/// read A in place under the real caches and MID) and, for a packed A,
/// `panel_order_bitwise`.
fn narrow_c_a_in_place<K: MicroKernel>() {
    let n = 2 * K::NR + 5;
    for (s, &(m, k)) in [(250, 600), (301, 263)].iter().enumerate() {
        let g = Gemm::new(m, n, k);
        let bl = Blocking::new(MID, K::MR, K::NR, m, n, k);
        assert!(
            m * k > 1 << 16 && reads_a_in_place::<K>(&g, MID, &bl),
            "{m}×{n}×{k}"
        );
        let gt = Gemm {
            a: Strides::row_major_transposed(k, m),
            ..g
        };
        assert!(!reads_a_in_place::<K>(&gt, MID, &bl), "{m}×{n}×{k} Aᵀ");
        let seed = 1500 + 10 * s as u64;
        for (v, g) in [g, g.scaled_into_strided_c(), gt].iter().enumerate() {
            check_opt::<K>(g, MID, seed + v as u64, v == 1);
        }
    }
}

/// The column-task path (A small and read in place, B packed by each task):
/// column tails, K deeper than one KC slice, alpha/beta, a bias, a strided
/// C, A and B transposed. Bitwise equality across thread counts for this
/// path is in `threads_bitwise` (50×300×600, 300×300×64).
fn column_tasks<K: MicroKernel>() {
    // A of at most 32 768 elements takes this path with any caches.
    for (s, &(m, n, k)) in [
        (130, 257, 64),
        (97, 333, 300),
        (50, 300, 600),
        (61, 2 * K::NR + 3, 500),
    ]
    .iter()
    .enumerate()
    {
        let g = Gemm::new(m, n, k);
        for caches in [cache_sizes(), TINY] {
            let bl = Blocking::new(caches, K::MR, K::NR, m, n, k);
            assert!(column_group::<K>(&g, caches, &bl, true) > 0, "{m}×{n}×{k}");
        }
        let seed = 1300 + 10 * s as u64;
        let variants = [
            g,
            g.scaled_into_strided_c(),
            Gemm {
                a: Strides::row_major_transposed(k, m),
                b: Strides::row_major_transposed(n, k),
                ..g
            },
        ];
        for (v, g) in variants.iter().enumerate() {
            for caches in [cache_sizes(), TINY] {
                check_opt::<K>(g, caches, seed + v as u64, v == 1);
            }
        }
    }
}

/// The microkernel alone, on every tile it can be handed: each row count
/// `1..=MR` (the AVX kernels pick a body per row count), column counts at
/// the edges, depths around the unroll of K (0–3 left over), and A packed,
/// read in place by rows (`a_cs = 1`), column-major in place (`a_rs = 1`)
/// and with both strides > 1 — each a separately compiled A access in the
/// AVX2 kernel — with and without beta and a bias.
fn tiles<K: MicroKernel>() {
    use super::kernel::Tile;
    let (mr, nr) = (K::MR, K::NR);
    for k in [1, 2, 3, 4, 5, 8, 17, 64] {
        // (a_rs, a_cs) of each A layout; A holds the MR×k block.
        let layouts = [(1, mr), (k + 3, 1), (1, mr + 2), (2 * k + 1, 2)];
        for (li, &(a_rs, a_cs)) in layouts.iter().enumerate() {
            let a = fill((mr - 1) * a_rs + (k - 1) * a_cs + 1, 40 + li as u64);
            let b = fill(k * nr, 50 + k as u64);
            let bias = fill(nr, 60);
            for m in 1..=mr {
                for n in [1, nr / 2, nr - 1, nr] {
                    for (beta, with_bias) in [(0.0f32, false), (0.5, true)] {
                        let c_rs = nr + 1;
                        let c0 = fill(mr * c_rs, 70 + m as u64);
                        let mut c = c0.clone();
                        let tile = Tile {
                            k,
                            a: a.as_ptr(),
                            a_rs,
                            a_cs,
                            b: b.as_ptr(),
                            b_rs: nr,
                            c: c.as_mut_ptr(),
                            c_rs,
                            c_cs: 1,
                            alpha: 1.25,
                            beta,
                            m,
                            n,
                            bias: if with_bias {
                                bias.as_ptr()
                            } else {
                                std::ptr::null()
                            },
                        };
                        // SAFETY: K is available (checked by `all`); A spans
                        // MR rows × k at its strides, B k × NR, C MR × c_rs
                        // with m ≤ MR, n ≤ NR < c_rs, the bias NR floats.
                        unsafe { K::run(&tile) };
                        for i in 0..mr {
                            for j in 0..c_rs {
                                let x = i * c_rs + j;
                                if i >= m || j >= n {
                                    assert_eq!(
                                        c[x].to_bits(),
                                        c0[x].to_bits(),
                                        "{}: wrote ({i}, {j})",
                                        K::NAME
                                    );
                                    continue;
                                }
                                let mut want = 0.0f64;
                                for p in 0..k {
                                    want += a[i * a_rs + p * a_cs] as f64 * b[p * nr + j] as f64;
                                }
                                want = 1.25 * want + beta as f64 * c0[x] as f64;
                                if with_bias {
                                    want += bias[j] as f64;
                                }
                                assert!(
                                    (c[x] as f64 - want).abs() <= 1e-5 * (1.0 + k as f64),
                                    "{}: k={k} layout {li} m={m} n={n} ({i}, {j}): {} vs {want}",
                                    K::NAME,
                                    c[x]
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The fused bias (a Linear layer's `x·Wᵀ + b`): every shape and block edge,
/// B as a transposed weight read in place or row-major, with and without
/// beta, and the same bits on 1 and 2 threads.
fn bias_epilogue<K: MicroKernel>() {
    let (mr, nr) = (K::MR, K::NR);
    let mut edges = shapes::<K>();
    edges.extend([
        (97, 65, 515),
        (13, 300, 1025),
        (130, 257, 64),
        (61, 700, 260),
        (200, 150, 513),
        (6 * mr + 1, 2 * nr + 3, 128),
        (768, 65, 128),
        (768, 384, 128),
    ]);
    for (s, &(m, n, k)) in edges.iter().enumerate() {
        let seed = 900 + s as u64;
        // W is n × k row-major; B = Wᵀ is read through swapped strides.
        let wt = Gemm {
            b: Strides::row_major_transposed(n, k),
            ..Gemm::new(m, n, k)
        };
        for caches in [cache_sizes(), TINY] {
            check_opt::<K>(&wt, caches, seed, true);
            check_opt::<K>(&Gemm::new(m, n, k), caches, seed, true);
        }
        let scaled = Gemm {
            alpha: -0.5,
            beta: 0.75,
            ..wt
        };
        check_opt::<K>(&scaled, TINY, seed, true);
    }
    let g = Gemm {
        b: Strides::row_major_transposed(384, 128),
        ..Gemm::new(768, 384, 128)
    };
    let a = fill(768 * 128, 5);
    let b = fill(384 * 128, 6);
    let bias = fill(384, 7);
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    let run = |threads: usize, caches: CacheSizes| {
        let mut c = vec![0.0f32; 768 * 384];
        pool(threads).install(|| gemm_with_caches::<K>(&g, &a, &b, &mut c, Some(&bias), caches));
        c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
    };
    for caches in [cache_sizes(), TINY] {
        assert_eq!(run(1, caches), run(2, caches), "{}: bias", K::NAME);
    }
}

#[test]
fn scalar_kernel() {
    all::<Scalar>();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx2_kernel() {
    all::<super::kernel_avx2::Avx2>();
}

#[cfg(target_arch = "x86_64")]
#[test]
fn avx512_kernel() {
    all::<super::kernel_avx512::Avx512>();
}

#[cfg(target_arch = "aarch64")]
#[test]
fn neon_kernel() {
    all::<super::kernel_neon::Neon>();
}

#[test]
fn dispatched_sgemm_matches_reference() {
    let g = Gemm {
        alpha: 1.5,
        beta: 0.5,
        ..Gemm::new(33, 70, 129)
    };
    let a = fill(33 * 129, 1);
    let b = fill(129 * 70, 2);
    let mut c = fill(33 * 70, 3);
    let mut want = c.clone();
    sgemm(&g, &a, &b, &mut c).unwrap();
    sgemm_reference(&g, &a, &b, &mut want);
    for (x, y) in c.iter().zip(&want) {
        assert!((x - y).abs() < 1e-3, "{x} vs {y}");
    }
}

/// sgemm called from inside rayon tasks (as the attention and RNN kernels
/// do), with parallel inner products, gives the same bits as serial calls.
/// The grid's row blocks become a multiple of the pool's threads when the
/// rows allow (whole MR panels per block), and stay as MC gives them on
/// one thread or when not parallel.
#[test]
fn grid_row_blocks_fill_the_pool() {
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    pool(2).install(|| {
        assert_eq!(grid_row_blocks(19, 1, 128, true), 20);
        assert_eq!(grid_row_blocks(19, 1, 128, false), 19);
        assert_eq!(grid_row_blocks(3, 2, 10, true), 3);
        assert_eq!(grid_row_blocks(1, 1, 1, true), 1);
        assert_eq!(grid_row_blocks(0, 1, 1, true), 1);
    });
    pool(3).install(|| {
        assert_eq!(grid_row_blocks(19, 1, 128, true), 21);
        assert_eq!(grid_row_blocks(2, 1, 2, true), 2);
    });
    pool(1).install(|| assert_eq!(grid_row_blocks(19, 1, 128, true), 19));
}

/// Column groups that share unevenly (not a multiple of the threads, or a
/// short last group) get one row block per thread when the rows allow (at
/// least 4 MR panels a block); even ones keep all rows.
#[test]
fn column_row_blocks_even_out_the_groups() {
    // (n, group width, MR panels of rows, threads) → row blocks
    assert_eq!(column_row_blocks(65, 64, 128, 2), 2); // lm head: 64 + 1 columns
    assert_eq!(column_row_blocks(384, 64, 128, 2), 1); // 6 full groups
    assert_eq!(column_row_blocks(128, 64, 128, 2), 1);
    assert_eq!(column_row_blocks(192, 64, 128, 2), 2); // 3 groups
    assert_eq!(column_row_blocks(192, 64, 128, 3), 1);
    assert_eq!(column_row_blocks(65, 64, 128, 3), 3);
    assert_eq!(column_row_blocks(65, 64, 8, 3), 2); // 4 panels a block at least
    assert_eq!(column_row_blocks(65, 64, 7, 2), 1);
    assert_eq!(column_row_blocks(65, 64, 128, 1), 1);
    assert_eq!(column_row_blocks(5, 0, 128, 2), 2);
}

#[test]
fn nested_calls_from_rayon_tasks() {
    use rayon::prelude::*;
    let g = Gemm::new(130, 150, 300);
    let a = fill(130 * 300, 11);
    let bs: Vec<Vec<f32>> = (0..6).map(|s| fill(300 * 150, 20 + s)).collect();
    let serial: Vec<Vec<f32>> = bs
        .iter()
        .map(|b| {
            let mut c = vec![0.0; 130 * 150];
            sgemm(&g, &a, b, &mut c).unwrap();
            c
        })
        .collect();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let nested: Vec<Vec<f32>> = pool.install(|| {
        bs.par_iter()
            .map(|b| {
                let mut c = vec![0.0; 130 * 150];
                sgemm(&g, &a, b, &mut c).unwrap();
                c
            })
            .collect()
    });
    assert_eq!(serial, nested);
}

/// `K` with the B-panel order switched off: the driver then runs packed
/// products through `block` (the A-panel order), as every kernel without
/// `run_part` does.
#[derive(Debug, Clone, Copy)]
struct BlockOrder<K>(std::marker::PhantomData<K>);

impl<K: MicroKernel> MicroKernel for BlockOrder<K> {
    const MR: usize = K::MR;
    const NR: usize = K::NR;
    const NAME: &'static str = K::NAME;

    fn available() -> bool {
        K::available()
    }

    fn pack_a(
        dst: &mut [f32],
        src: super::pack::MatRef<'_>,
        rows: usize,
        kc: usize,
        parallel: bool,
    ) {
        K::pack_a(dst, src, rows, kc, parallel)
    }

    fn pack_b(
        dst: &mut [f32],
        src: super::pack::MatRef<'_>,
        kc: usize,
        cols: usize,
        parallel: bool,
    ) {
        K::pack_b(dst, src, kc, cols, parallel)
    }

    unsafe fn run(t: &super::kernel::Tile) {
        // SAFETY: forwarded with the caller's contract.
        unsafe { K::run(t) }
    }
}

/// The B-panel order (`driver::panel_major`, kernels with `run_part`) is
/// bitwise the A-panel order: K slices in parts (AVX2 with the tiny and mid
/// caches: 3 and 2 parts, a shorter last part; whole with the mid caches at
/// K = 250 and with this machine's), row and column tails (the last rows
/// computed with the panel's padding), several K
/// slices with beta and bias, transposed A and B, 1 and 2 threads; and it
/// matches the reference.
fn panel_order_bitwise<K: MicroKernel>() {
    if !K::PARTS {
        return;
    }
    let pool = |n| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build()
            .unwrap()
    };
    // C is wide enough that B's KC×N block overflows L2, so A is packed
    // (`reads_a_in_place`); on this machine's caches N grows with its L2
    // (KC depends on K and L1 only, not on N).
    let kc = Blocking::new(cache_sizes(), K::MR, K::NR, 700, 1000, 520).kc;
    let wide = 1000.max(cache_sizes().l2 / (kc * 4) + 37);
    let cases = [
        (TINY, 301, 150, 500),
        (TINY, 97, 167, 700),
        (MID, 301, 270, 500),
        (MID, 260, 370, 1100),
        // One part per slice (a 250-step panel fits half of L1) with row
        // and column tails: the padded last rows stored as `run` rounds them.
        (MID, 301, 530, 250),
        (cache_sizes(), 700, wide, 520),
    ];
    for (s, &(caches, m, n, k)) in cases.iter().enumerate() {
        let plain = Gemm::new(m, n, k);
        let variants = [
            plain,
            Gemm {
                alpha: 0.5,
                beta: -1.25,
                ..plain
            },
            Gemm {
                a: Strides::row_major_transposed(k, m),
                b: Strides::row_major_transposed(n, k),
                ..plain
            },
        ];
        for (v, g) in variants.iter().enumerate() {
            let bl = Blocking::new(caches, K::MR, K::NR, m, n, k);
            assert!(
                !reads_a_in_place::<K>(g, caches, &bl),
                "{g:?}: A is not packed"
            );
            let seed = 2100 + 10 * s as u64 + v as u64;
            let a = fill(span([1, m, k], g.a), seed);
            let b = fill(span([1, k, n], g.b), seed + 1);
            let c0 = fill(m * n, seed + 2);
            let bias = fill(n, seed + 3);
            let run = |threads: usize, order: bool, with_bias: bool| {
                let mut c = c0.clone();
                let bias = with_bias.then_some(&bias[..]);
                pool(threads).install(|| {
                    if order {
                        gemm_with_caches::<K>(g, &a, &b, &mut c, bias, caches)
                    } else {
                        gemm_with_caches::<BlockOrder<K>>(g, &a, &b, &mut c, bias, caches)
                    }
                });
                c.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            };
            for threads in [1, 2] {
                for with_bias in [false, true] {
                    assert_eq!(
                        run(threads, true, with_bias),
                        run(threads, false, with_bias),
                        "{}: {g:?}, {threads} threads, bias {with_bias}",
                        K::NAME
                    );
                }
            }
            check_opt::<K>(g, caches, seed, v == 1);
        }
    }
}
