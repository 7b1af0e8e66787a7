use super::*;
use crate::simd;

fn levels() -> Vec<Isa> {
    simd::available()
}

/// (m, n, k) of the tile-product tests: 1, odd and prime sizes, a full
/// 64³ tile, k = 1, one exact AVX2 block.
const ODD_SHAPES: [(usize, usize, usize); 6] = [
    (1, 1, 1),
    (7, 5, 3),
    (9, 33, 17),
    (64, 64, 64),
    (13, 47, 1),
    (6, 16, 5),
];

#[test]
fn gemm_matches_scalar_on_odd_shapes() {
    for &(m, n, k) in &ODD_SHAPES {
        // A's layouts: padded rows (cs = 1), padded columns (rs = 1, a
        // transposed tile) and both strides > 1: each AVX2 access mode.
        for (rs, cs) in [(k + 3, 1), (1, m + 2), (2 * k + 1, 2)] {
            let len = (m - 1) * rs + (k - 1) * cs + 1;
            let a: Vec<f32> = (0..len).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
            let b: Vec<f32> = (0..k * (n + 2))
                .map(|i| ((i * 5 % 11) as f32) - 5.0)
                .collect();
            let bop = BOp {
                data: &b,
                ld: n + 2,
            };
            let mut want = vec![1.0f32; m * (n + 1)];
            let aop = AOp { data: &a, rs, cs };
            gemm(Isa::Scalar, m, n, k, aop, bop, &mut want, n + 1, true);
            for isa in levels() {
                for accumulate in [true, false] {
                    let mut got = vec![1.0f32; m * (n + 1)];
                    gemm(isa, m, n, k, aop, bop, &mut got, n + 1, accumulate);
                    let mut w = want.clone();
                    if !accumulate {
                        // The same product without the 1.0 C held before.
                        for i in 0..m {
                            w[i * (n + 1)..i * (n + 1) + n]
                                .iter_mut()
                                .for_each(|x| *x -= 1.0);
                        }
                    }
                    assert_eq!(got, w, "{isa:?} {m}x{n}x{k} a({rs}, {cs}) acc {accumulate}");
                }
            }
        }
    }
}

/// `gemm_band` on operands that honour the band's promise (A zero outside
/// it) equals the full product on every level (up to the sign of zero), and
/// with `ColsFrom` the used columns are the full product's; shapes with odd
/// sizes, 1, primes and partial strips and blocks, offsets of both signs.
#[test]
fn gemm_band_matches_full_product_inside_the_band() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (7, 5, 3),
        (13, 29, 17),
        (64, 64, 64),
        (37, 19, 41),
        (6, 16, 5),
    ] {
        for d in [-70isize, -9, -1, 0, 1, 5, 11, 70] {
            for band in [Band::KFrom(d), Band::KTo(d), Band::ColsFrom(d)] {
                // A's layouts as in the full test: rows, columns, any strides.
                for (rs, cs) in [(k + 3, 1), (1, m + 2), (2 * k + 1, 2)] {
                    let len = (m - 1) * rs + (k - 1) * cs + 1;
                    let mut a: Vec<f32> = (0..len).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
                    for i in 0..m {
                        for p in 0..k {
                            let (i, p) = (i as isize, p as isize);
                            let zero = match band {
                                Band::KFrom(d) => p < i + d,
                                Band::KTo(d) => p >= i + d,
                                _ => false,
                            };
                            if zero {
                                a[i as usize * rs + p as usize * cs] = 0.0;
                            }
                        }
                    }
                    let b: Vec<f32> = (0..k * (n + 2))
                        .map(|i| ((i * 5 % 11) as f32) - 5.0)
                        .collect();
                    let (aop, bop) = (
                        AOp { data: &a, rs, cs },
                        BOp {
                            data: &b,
                            ld: n + 2,
                        },
                    );
                    for accumulate in [true, false] {
                        let mut want = vec![1.0f32; m * (n + 1)];
                        gemm(Isa::Scalar, m, n, k, aop, bop, &mut want, n + 1, accumulate);
                        for isa in levels() {
                            let mut got = vec![1.0f32; m * (n + 1)];
                            gemm_band(isa, m, n, k, aop, bop, &mut got, n + 1, accumulate, band);
                            for i in 0..m {
                                for c in 0..n + 1 {
                                    let (g, w) = (got[i * (n + 1) + c], want[i * (n + 1) + c]);
                                    let used = match band {
                                        Band::ColsFrom(d) => (c as isize) >= i as isize + d,
                                        _ => true,
                                    };
                                    let skipped = if accumulate { 1.0 } else { 0.0 };
                                    assert!(
                                        g == w || (!used && c < n && g == skipped),
                                        "{isa:?} {m}x{n}x{k} {band:?} a({rs}, {cs}) acc {accumulate} \
                                         C[{i}][{c}] = {g}, want {w}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn exp_is_accurate_and_zero_at_minus_infinity() {
    let xs: Vec<f32> = (-200..=80)
        .map(|i| i as f32 * 0.45)
        .chain([f32::NEG_INFINITY, 0.0])
        .collect();
    for isa in levels() {
        let mut v = xs.clone();
        let s = exp_sum(isa, &mut v, 0.0);
        let mut want_sum = 0.0f64;
        for (&x, &y) in xs.iter().zip(&v) {
            let w = (x as f64).exp();
            want_sum += if x < -87.33 { 0.0 } else { w };
            if x < -87.33 {
                // Underflow: 0 or a denormal (the shared SIMD exp rounds
                // subnormal results; the scalar path uses f32::exp).
                assert!(y <= 1.2e-38, "{isa:?} exp({x}) = {y}");
            } else {
                assert!(
                    ((y as f64) - w).abs() <= 4e-7 * w,
                    "{isa:?} exp({x}) = {y}, want {w}"
                );
            }
        }
        assert!(((s as f64) - want_sum).abs() <= 1e-5 * want_sum);
    }
}

/// The probabilities' exp (`exp_scaled_sub_rows`; on x86 its own base-2
/// body, see `tile_exp`) on every level: accurate over the range a score
/// minus its max can take, exactly 0 at −∞ and far below, NaN kept, +∞ on
/// overflow, in every lane position of full and partial vectors.
#[test]
fn probability_exp_is_accurate_with_exact_zeros() {
    let args: Vec<f32> = (-300..=40)
        .map(|i| i as f32 * 0.37 + 0.011)
        .chain([f32::NEG_INFINITY, 0.0, -0.0, 1e-7, -1e-7, -200.0, 100.0])
        .collect();
    for isa in levels() {
        for &(scale, sub) in &[(1.0f32, 0.0f32), (0.125, -0.75), (2.5, 3.0)] {
            for width in [1, 3, 8, 13, 16, 17, 31, 64] {
                for chunk in args.chunks(width) {
                    let w = chunk.len();
                    let (ld, rows) = (w + 5, 2);
                    let mut x = vec![7.0f32; rows * ld];
                    // Row r holds the arguments divided back by `scale` and shifted by `sub`.
                    let xs: Vec<f32> = chunk.iter().map(|&a| (a + sub) / scale).collect();
                    for r in 0..rows {
                        x[r * ld..r * ld + w].copy_from_slice(&xs);
                    }
                    let subs = vec![sub; w];
                    exp_scaled_sub_rows(isa, &mut x, ld, rows, w, scale, &subs, None);
                    for r in 0..rows {
                        for (c, &xv) in xs.iter().enumerate() {
                            let y = x[r * ld + c];
                            let a = (xv as f64) * scale as f64 - sub as f64;
                            let want = a.exp();
                            if a < -87.0 {
                                // 0, a subnormal, or (on x86) 2⁻¹²⁶·P(f) just below e⁻⁸⁷.
                                assert!((0.0..=1.7e-38).contains(&y), "{isa:?} exp({a}) = {y}");
                                if xv == f32::NEG_INFINITY || a < -110.0 {
                                    assert_eq!(y, 0.0, "{isa:?} exp({a})");
                                }
                            } else if want > f32::MAX as f64 {
                                assert_eq!(y, f32::INFINITY, "{isa:?} exp({a})");
                            } else {
                                // 1e-6 relative, plus the argument's own f32 rounding.
                                let tol = 1e-6 * want * (1.0 + a.abs());
                                assert!(
                                    (y as f64 - want).abs() <= tol,
                                    "{isa:?} exp({a}) = {y}, want {want}"
                                );
                            }
                        }
                        // The padding between rows is untouched.
                        assert!(x[r * ld + w..(r + 1) * ld].iter().all(|&v| v == 7.0));
                    }
                }
            }
        }
        let mut nan = vec![f32::NAN, 0.0, f32::NAN];
        exp_scaled_sub(isa, &mut nan, 1.0, &[0.0; 3]);
        assert!(
            nan[0].is_nan() && nan[2].is_nan() && nan[1] == 1.0,
            "{isa:?} {nan:?}"
        );
    }
}

#[test]
fn row_ops_match_scalar() {
    let x: Vec<f32> = (0..37)
        .map(|i| ((i * 13 % 17) as f32) * 0.3 - 2.0)
        .collect();
    let y: Vec<f32> = (0..37).map(|i| ((i * 3 % 7) as f32) * 0.5 - 1.0).collect();
    for isa in levels() {
        let (mut a, mut b) = (x.clone(), x.clone());
        assert_eq!(
            scale_max(isa, &mut a, 0.5),
            scale_max(Isa::Scalar, &mut b, 0.5)
        );
        assert_eq!(a, b);
        exp_scaled_sub(isa, &mut a, 0.7, &y);
        exp_scaled_sub(Isa::Scalar, &mut b, 0.7, &y);
        for (u, v) in a.iter().zip(&b) {
            assert!((u - v).abs() <= 1e-6 * v.abs().max(1.0));
        }
        // Many rows in one call = one call per row, bit for bit.
        for width in [1, 5, 16, 17, 33] {
            let (ld, rows) = (width + 3, 4);
            let src: Vec<f32> = (0..rows * ld)
                .map(|i| ((i * 7 % 19) as f32) * 0.4 - 3.0)
                .collect();
            let (mut many, mut one) = (src.clone(), src.clone());
            exp_scaled_sub_rows(isa, &mut many, ld, rows, width, 0.7, &y, None);
            for r in 0..rows {
                exp_scaled_sub(isa, &mut one[r * ld..r * ld + width], 0.7, &y);
            }
            assert_eq!(many, one, "{isa:?} width {width}");
        }
        let (mut p, mut q) = (x.clone(), x.clone());
        softmax_grad(isa, &mut p, &y, &x);
        softmax_grad(Isa::Scalar, &mut q, &y, &x);
        assert_eq!(p, q);
        // Many rows in one call = one call per row, bit for bit.
        for width in [1, 5, 16, 17, 33] {
            let (ld, rows) = (width + 3, 4);
            let src: Vec<f32> = (0..rows * ld)
                .map(|i| ((i * 7 % 19) as f32) * 0.4 - 3.0)
                .collect();
            let dp: Vec<f32> = (0..rows * ld)
                .map(|i| ((i * 5 % 11) as f32) * 0.3 - 1.0)
                .collect();
            let (mut many, mut one) = (src.clone(), src.clone());
            softmax_grad_rows(isa, &mut many, &dp, ld, rows, width, &y);
            for r in 0..rows {
                let row = r * ld..r * ld + width;
                softmax_grad(isa, &mut one[row.clone()], &dp[row], &y);
            }
            assert_eq!(many, one, "{isa:?} width {width}");
        }
        let d = dot(isa, &x, &y) - dot(Isa::Scalar, &x, &y);
        assert!(d.abs() < 1e-4);
        let (mut p, mut q) = (x.clone(), x.clone());
        scale_axpy(isa, &mut p, 0.5, 2.0, &y);
        scale_axpy(Isa::Scalar, &mut q, 0.5, 2.0, &y);
        for (u, v) in p.iter().zip(&q) {
            assert!((u - v).abs() <= 1e-6);
        }
    }
}

/// `len` scores in [−2, 3.5], −∞ (a masked score) at every index ≡ `at` mod `every`.
fn score_tile(len: usize, every: usize, at: usize) -> Vec<f32> {
    (0..len)
        .map(|i| {
            if i % every == at {
                f32::NEG_INFINITY
            } else {
                ((i * 37 % 23) as f32) * 0.25 - 2.0
            }
        })
        .collect()
}

#[test]
fn column_max_and_sum_match_row_by_row() {
    // Widths around every vector length (1 … 33, primes), row counts 0 … 13,
    // a row stride wider than the width; −∞ entries (masked scores) included.
    for isa in levels() {
        for width in [1usize, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33] {
            for rows in [0usize, 1, 2, 5, 13] {
                let ld = width + 3;
                let x = score_tile(rows.max(1) * ld, 7, 3);
                let (mut mx, mut sm) = (vec![7.0; width + 2], vec![7.0; width + 2]);
                col_max_rows(isa, &x, ld, rows, width, &mut mx);
                col_sum_rows(isa, &x, ld, rows, width, &mut sm);
                for i in 0..width {
                    let (mut m, mut s) = (f32::NEG_INFINITY, 0.0f32);
                    for r in 0..rows {
                        m = m.max(x[r * ld + i]);
                        s += x[r * ld + i];
                    }
                    assert_eq!(mx[i], m, "{isa:?} max w {width} rows {rows} col {i}");
                    // Bit for bit: the rows are added in order.
                    assert_eq!(
                        sm[i].to_bits(),
                        s.to_bits(),
                        "{isa:?} sum w {width} rows {rows} col {i}"
                    );
                }
                // Entries past the width are left alone.
                assert_eq!(&mx[width..], &[7.0, 7.0]);
                assert_eq!(&sm[width..], &[7.0, 7.0]);
            }
        }
    }
}

/// Runs `check(isa, [m, n, k], A, B, band, what)` over the cases of the
/// store-mode tests: the odd shapes, k = 0, partial strips; each band of
/// `bands`; A in rows, columns and any strides; every level. C has n + 1 columns.
fn for_store_cases(bands: &[Band], mut check: impl FnMut(Isa, [usize; 3], AOp, BOp, Band, &str)) {
    let shapes = ODD_SHAPES.iter().chain(&[(1, 9, 0), (37, 19, 41)]);
    for &(m, n, k) in shapes {
        for &band in bands {
            for (rs, cs) in [(k + 3, 1), (1, m + 2), (2 * k + 1, 2)] {
                let len = if k == 0 {
                    1
                } else {
                    (m - 1) * rs + (k - 1) * cs + 1
                };
                let a: Vec<f32> = (0..len)
                    .map(|i| ((i * 7 % 13) as f32) * 0.3 - 1.7)
                    .collect();
                let b: Vec<f32> = (0..k.max(1) * (n + 2))
                    .map(|i| ((i * 5 % 11) as f32) * 0.7 - 3.1)
                    .collect();
                let aop = AOp { data: &a, rs, cs };
                let bop = BOp {
                    data: &b,
                    ld: n + 2,
                };
                for isa in levels() {
                    let what = format!("{isa:?} {m}x{n}x{k} {band:?} a({rs}, {cs})");
                    check(isa, [m, n, k], aop, bop, band, &what);
                }
            }
        }
    }
}

/// `run_gemm` into C (n + 1 columns) with the given store mode.
#[allow(clippy::too_many_arguments)]
fn run_store(
    isa: Isa,
    [m, n, k]: [usize; 3],
    a: AOp,
    b: BOp,
    c: &mut [f32],
    c_scale: Option<&[f32]>,
    c_grad: Option<&[f32]>,
    band: Band,
) {
    let ldc = n + 1;
    let accumulate = c_grad.is_none();
    run_gemm(
        isa,
        Gemm {
            c,
            a,
            b,
            band,
            m,
            c_grad,
            n,
            c_scale,
            k,
            accumulate,
            ldc,
            out: None,
        },
    )
}

fn same_bits(got: &[f32], want: &[f32], what: &str) {
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits() || (g.is_nan() && w.is_nan()),
            "{what} C[{i}] = {g}, want {w}"
        );
    }
}

#[test]
fn rescaled_product_equals_scaling_first() {
    // C = s·C + A·B in the store against scaling C's rows in a pass of its
    // own and then accumulating, bit for bit; scales 1, 0, negative, and
    // −0.0 / NaN entries in C.
    let bands = [Band::Full, Band::KTo(1), Band::KTo(-5), Band::KFrom(3)];
    for_store_cases(&bands, |isa, [m, n, k], aop, bop, band, what| {
        let c0: Vec<f32> = (0..m * (n + 1))
            .map(|i| match i % 17 {
                3 => -0.0,
                11 => f32::NAN,
                _ => ((i * 3 % 19) as f32) * 0.45 - 4.0,
            })
            .collect();
        let s: Vec<f32> = (0..m)
            .map(|i| [1.0, 0.0, 0.37, -1.25, 3.0][i % 5])
            .collect();
        let mut want = c0.clone();
        for i in 0..m {
            for c in &mut want[i * (n + 1)..i * (n + 1) + n] {
                *c *= s[i];
            }
        }
        gemm_band(isa, m, n, k, aop, bop, &mut want, n + 1, true, band);
        let mut got = c0;
        run_store(isa, [m, n, k], aop, bop, &mut got, Some(&s), None, band);
        same_bits(&got, &want, what);
    });
}

#[test]
fn probabilities_with_column_sums_equal_the_two_passes() {
    // run_exp with sums = exp_scaled_sub_rows then col_sum_rows, bit
    // for bit, on every level: widths 1 … 65 (tails, primes), 0 … 13 rows,
    // a row stride wider than the width, −∞ (masked) scores and an −∞ row
    // max; and with `masked_before` (causal cuts before, inside and past
    // the tile) the same bits as the exps of the −∞ it promises.
    let cuts = [
        None,
        Some(-20isize),
        Some(-9),
        Some(-1),
        Some(0),
        Some(3),
        Some(70),
    ];
    for (isa, cut) in levels().into_iter().flat_map(|i| cuts.map(|c| (i, c))) {
        for width in [1usize, 3, 7, 8, 9, 16, 17, 31, 33, 64, 65] {
            for rows in [0usize, 1, 2, 5, 13] {
                let ld = width + 3;
                let mut x0 = score_tile(rows.max(1) * ld, 9, 4);
                for r in 0..rows {
                    let c = (r as isize + cut.unwrap_or(0)).clamp(0, width as isize) as usize;
                    x0[r * ld..r * ld + c].fill(f32::NEG_INFINITY);
                }
                let sub: Vec<f32> = (0..width)
                    .map(|i| {
                        if i % 5 == 2 {
                            f32::INFINITY
                        } else {
                            (i % 4) as f32 * 0.5
                        }
                    })
                    .collect();
                for scale in [0.125f32, 1.0] {
                    let mut want = x0.clone();
                    let mut want_s = vec![7.0; width + 2];
                    exp_scaled_sub_rows(isa, &mut want, ld, rows, width, scale, &sub, None);
                    col_sum_rows(isa, &want, ld, rows, width, &mut want_s);
                    let mut got = x0.clone();
                    let mut got_s = vec![7.0; width + 2];
                    let g = ExpScaledSub {
                        x: &mut got,
                        ld,
                        rows,
                        width,
                        scale,
                        sub: &sub,
                        sums: Some(&mut got_s),
                        masked_before: cut,
                    };
                    run_exp(isa, g);
                    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                    assert_eq!(bits(&got), bits(&want), "{isa:?} w {width} rows {rows}");
                    assert_eq!(
                        bits(&got_s),
                        bits(&want_s),
                        "{isa:?} sums w {width} rows {rows}"
                    );
                }
            }
        }
    }
}

#[test]
fn softmax_gradient_in_the_store_equals_the_two_passes() {
    // C = P ⊙ (A·B − d[column]) in the product's store against the product
    // into a tile of its own and then softmax_grad_rows, bit for bit, also
    // with the causal band of dPᵀ; P with zeros, −0.0 and NaN.
    let bands = [
        Band::Full,
        Band::ColsFrom(0),
        Band::ColsFrom(-7),
        Band::ColsFrom(9),
    ];
    for_store_cases(&bands, |isa, [m, n, k], aop, bop, band, what| {
        let p0: Vec<f32> = (0..m * (n + 1))
            .map(|i| match i % 13 {
                2 => 0.0,
                5 => -0.0,
                9 => f32::NAN,
                _ => ((i * 3 % 19) as f32) * 0.05,
            })
            .collect();
        let d: Vec<f32> = (0..n).map(|j| (j % 7) as f32 * 0.6 - 1.5).collect();
        let mut dp = vec![0.0f32; m * (n + 1)];
        gemm_band(isa, m, n, k, aop, bop, &mut dp, n + 1, false, band);
        let mut want = p0.clone();
        softmax_grad_rows(isa, &mut want, &dp, n + 1, m, n, &d);
        let mut got = p0;
        run_store(isa, [m, n, k], aop, bop, &mut got, None, Some(&d), band);
        same_bits(&got, &want, what);
    });
}

#[test]
fn product_written_out_equals_storing_then_writing() {
    // With `out`, the m × n result goes to rows `rs` floats apart of another
    // buffer, times a factor per row or one for all, instead of C: bit for
    // bit what the same product stored in C and then scaled gives, for the
    // plain write, accumulating, and accumulating after a rescale (the
    // forward's O = α·O + P·V); nothing else of the buffer is touched.
    let bands = [Band::Full, Band::KTo(1), Band::KFrom(3), Band::ColsFrom(2)];
    for_store_cases(&bands, |isa, [m, n, k], aop, bop, band, what| {
        let c0: Vec<f32> = (0..m * (n + 1))
            .map(|i| ((i * 3 % 19) as f32) * 0.45 - 4.0)
            .collect();
        let s: Vec<f32> = (0..m).map(|i| [1.0, 0.0, 0.37, -1.25][i % 4]).collect();
        let f: Vec<f32> = (0..m).map(|i| [0.5, 1.0, -3.0, 0.0, 0.1][i % 5]).collect();
        let rs = n + 5;
        for (mode, accumulate, c_scale) in [
            ("write", false, None),
            ("add", true, None),
            ("rescale", true, Some(&s[..])),
        ] {
            for mul in [RowMul::All(0.7), RowMul::All(1.0), RowMul::Row(&f)] {
                let mut want = c0.clone();
                let g = |c, out| Gemm {
                    m,
                    n,
                    k,
                    a: aop,
                    b: bop,
                    c,
                    ldc: n + 1,
                    accumulate,
                    c_scale,
                    c_grad: None,
                    band,
                    out,
                };
                run_gemm(isa, g(&mut want, None));
                let mut buf = vec![f32::NAN; m * rs + 3];
                let mut c = c0.clone();
                // SAFETY: rows i < m of n floats at i·rs + 1 lie in `buf`,
                // which nothing else references while the product runs.
                let out = unsafe { OutRows::new(buf.as_mut_ptr().add(1), rs, mul) };
                run_gemm(isa, g(&mut c, Some(out)));
                for (at, &v) in buf.iter().enumerate() {
                    let (i, j) = ((at.max(1) - 1) / rs, (at.max(1) - 1) % rs);
                    if at == 0 || i >= m || j >= n {
                        assert!(v.is_nan(), "{what} {mode}: element {at} touched");
                        continue;
                    }
                    let fi = match mul {
                        RowMul::All(x) => x,
                        RowMul::Row(f) => f[i],
                    };
                    let w = want[i * (n + 1) + j] * fi;
                    assert!(
                        v.to_bits() == w.to_bits() || (v.is_nan() && w.is_nan()),
                        "{what} {mode} {mul:?}: out[{i}][{j}] = {v}, want {w}"
                    );
                }
            }
        }
    });
}

#[test]
fn neg_inf_before_cuts_each_row_like_a_fill() {
    // Widths around one and two vectors of every level, cuts before, inside
    // and past the tile.
    for &(rows, width, ld) in &[
        (1, 1, 1),
        (5, 7, 9),
        (9, 17, 17),
        (33, 32, 64),
        (13, 47, 50),
    ] {
        for d in [-40isize, -3, 0, 1, 5, 16, 60] {
            let x0: Vec<f32> = (0..(rows - 1) * ld + width).map(|i| i as f32).collect();
            let mut want = x0.clone();
            for r in 0..rows {
                let cut = (r as isize + d).clamp(0, width as isize) as usize;
                want[r * ld..r * ld + cut].fill(f32::NEG_INFINITY);
            }
            for isa in levels() {
                let mut got = x0.clone();
                neg_inf_before(isa, &mut got, ld, rows, width, d);
                assert_eq!(got, want, "{isa:?} rows {rows} width {width} d {d}");
            }
        }
    }
}

#[test]
fn dot_rows_equals_dot_per_row() {
    for &(rows, width, lda, ldb) in &[
        (1, 1, 1, 1),
        (3, 7, 7, 9),
        (17, 33, 40, 35),
        (5, 64, 64, 128),
    ] {
        let a: Vec<f32> = (0..(rows - 1) * lda + width)
            .map(|i| ((i * 7 % 13) as f32) * 0.37 - 2.0)
            .collect();
        let b: Vec<f32> = (0..(rows - 1) * ldb + width)
            .map(|i| ((i * 5 % 11) as f32) * 0.53 - 2.5)
            .collect();
        for isa in levels() {
            let mut got = vec![f32::NAN; rows];
            dot_rows(isa, (&a, lda), (&b, ldb), width, &mut got);
            for (r, g) in got.iter().enumerate() {
                let want = dot(
                    isa,
                    &a[r * lda..r * lda + width],
                    &b[r * ldb..r * ldb + width],
                );
                assert_eq!(g.to_bits(), want.to_bits(), "{isa:?} row {r}");
                let exact: f64 = (0..width)
                    .map(|i| a[r * lda + i] as f64 * b[r * ldb + i] as f64)
                    .sum();
                assert!(
                    (*g as f64 - exact).abs() <= 1e-4 * (1.0 + exact.abs()),
                    "{isa:?} row {r}"
                );
            }
        }
    }
}
