use super::*;

fn check_layouts(rows: usize, cols: usize, rs: usize, cs: usize) {
    // A rows×cols matrix with value 100·i + j, at the given strides.
    let mut data = vec![f32::NAN; rs * (rows - 1) + cs * (cols - 1) + 1];
    for i in 0..rows {
        for j in 0..cols {
            data[i * rs + j * cs] = (100 * i + j) as f32;
        }
    }
    let src = MatRef {
        data: &data,
        off: 0,
        rs,
        cs,
    };
    let mut pa = vec![f32::NAN; 2 * 4 * cols];
    pack_a::<4>(&mut pa, src, rows, cols, true);
    for i in 0..rows.div_ceil(4) * 4 {
        for p in 0..cols {
            let want = if i < rows { (100 * i + p) as f32 } else { 0.0 };
            assert_eq!(pa[(i / 4) * 4 * cols + p * 4 + i % 4], want);
        }
    }
    // B = src.t() is cols × rows (kc × width): element (p, j) = src(j, p).
    let mut pb = vec![f32::NAN; 2 * 4 * cols];
    pack_b::<4>(&mut pb, src.t(), cols, rows, false);
    for j in 0..rows.div_ceil(4) * 4 {
        for p in 0..cols {
            let want = if j < rows { (100 * j + p) as f32 } else { 0.0 };
            assert_eq!(pb[(j / 4) * 4 * cols + p * 4 + j % 4], want);
        }
    }
}

#[test]
fn packs_row_major_col_major_and_strided() {
    check_layouts(7, 5, 5, 1);
    check_layouts(7, 5, 1, 7);
    check_layouts(7, 5, 13, 2);
    // kc ≥ 8: the transposing fast path, with a tail.
    check_layouts(7, 21, 21, 1);
    check_layouts(3, 16, 1, 3);
    // A column-major A of several panels (B's row-major route, narrow
    // panels): passes of 8 steps with the next pass prefetched, and a tail.
    check_layouts(7, 37, 1, 9);
}

/// A column-major A (`rs = 1`, columns `lda` apart) packed into 6-row panels
/// through `pack_a` (the transposed, narrow-row route) and through
/// `pack_narrow_rows` with and without the vector copies, against the
/// element-by-element definition: `dst[(i/6)·kc·6 + p·6 + i%6] = A(i, p)`,
/// zeros past the last row, bits equal (NaN payloads and -0.0 included).
fn check_col_major_a6(rows: usize, kc: usize, lda: usize, off: usize) {
    const MR: usize = 6;
    let len = off + lda * (kc - 1) + rows;
    let mut data: Vec<f32> = (0..len).map(|x| (x as f32) * 0.5 - 7.0).collect();
    data[off] = -0.0;
    if len > off + 1 {
        data[len - 1] = f32::from_bits(0x7fc0_1234); // a NaN with a payload
    }
    let a = MatRef {
        data: &data,
        off,
        rs: 1,
        cs: lda,
    };
    let panels = rows.div_ceil(MR);
    let mut want = vec![0.0f32; panels * kc * MR];
    for i in 0..rows {
        for p in 0..kc {
            want[(i / MR) * kc * MR + p * MR + i % MR] = data[a.idx(i, p)];
        }
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let what = format!("rows {rows} kc {kc} lda {lda} off {off}");
    // One float of slack after the panels: it must stay untouched.
    let sentinel = f32::from_bits(0x7fa5_a5a5);
    for parallel in [false, true] {
        let mut got = vec![f32::NAN; panels * kc * MR + 1];
        got[panels * kc * MR] = sentinel;
        pack_a::<MR>(&mut got, a, rows, kc, parallel);
        assert_eq!(bits(&got[..want.len()]), bits(&want), "pack_a {what}");
        assert_eq!(got[want.len()].to_bits(), sentinel.to_bits(), "{what}");
    }
    for simd in [false, vector_copies()] {
        let mut got = vec![f32::NAN; panels * kc * MR + 1];
        got[panels * kc * MR] = sentinel;
        pack_narrow_rows::<MR>(&mut got, a.t(), kc, rows, simd);
        assert_eq!(bits(&got[..want.len()]), bits(&want), "simd {simd} {what}");
        assert_eq!(got[want.len()].to_bits(), sentinel.to_bits(), "{what}");
    }
}

#[test]
fn col_major_a_in_six_row_panels_matches_the_definition() {
    // rows: 1 panel + 1 (the route needs rows > MR), tails of 1..5 rows,
    // exact multiples; kc: 1, primes, below/at/above the 8-step pass and
    // 2 passes (the prefetch), lda: tight, padded, prime.
    for rows in [7, 11, 12, 13, 17, 18, 37, 48, 53] {
        for kc in [1, 2, 7, 8, 9, 16, 17, 23, 24, 31] {
            check_col_major_a6(rows, kc, rows, 0);
            check_col_major_a6(rows, kc, rows + 3, 5);
        }
    }
    // A wide block: many panels per pass, and the tight end of the data
    // (the last rows' 8-float loads would run past it).
    check_col_major_a6(100, 41, 101, 0);
    check_col_major_a6(96, 40, 96, 0);
    check_col_major_a6(97, 64, 97, 2);
}

/// A row-major `rows × kc` block (rows `ld` apart from `off`) packed into one
/// W-row panel through `pack_panel`'s transposing case with and without the
/// vector transpose, and a `kc × cols` B = its transpose through `pack_b`,
/// against the element-by-element definition `dst[p·W + r] = src(r, p)`,
/// zeros past the last row, bits equal (NaN payloads and -0.0 included).
fn check_transposing_pack<const W: usize>(rows: usize, kc: usize, ld: usize, off: usize) {
    let len = off + ld * (rows - 1) + kc;
    let mut data: Vec<f32> = (0..len).map(|x| (x as f32) * 0.25 - 9.0).collect();
    data[off] = -0.0;
    data[len - 1] = f32::from_bits(0xffc0_4321); // a negative NaN with a payload
    if rows > 1 {
        data[off + ld] = f32::from_bits(0x7f80_0001); // a signalling NaN
    }
    let src = MatRef {
        data: &data,
        off,
        rs: ld,
        cs: 1,
    };
    let mut want = vec![0.0f32; kc * W];
    for r in 0..rows {
        for p in 0..kc {
            want[p * W + r] = data[src.idx(r, p)];
        }
    }
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    let what = format!("W {W} rows {rows} kc {kc} ld {ld} off {off}");
    let sentinel = f32::from_bits(0x7fa5_a5a5);
    for simd in [false, vector_copies()] {
        let mut got = vec![f32::NAN; kc * W + 1];
        got[kc * W] = sentinel;
        pack_panel::<W>(&mut got, src, rows, kc, simd);
        assert_eq!(bits(&got[..kc * W]), bits(&want), "simd {simd} {what}");
        assert_eq!(got[kc * W].to_bits(), sentinel.to_bits(), "{what}");
    }
    // Through `pack_b`: B = srcᵀ (kc × rows, column-major), one panel.
    let mut got = vec![f32::NAN; kc * W];
    pack_b::<W>(&mut got, src.t(), kc, rows, false);
    assert_eq!(bits(&got), bits(&want), "pack_b {what}");
}

#[test]
fn transposing_pack_matches_the_definition() {
    // rows: 1, primes, one short of a group of 8, a full group, full panels;
    // kc: 1, below/at/above the 8-step block, tails of 1..7 steps; ld tight
    // (the last row's loads end at the data's end) and padded, offsets.
    for kc in [1, 3, 7, 8, 9, 15, 16, 23, 40, 67] {
        for rows in [1, 2, 5, 7, 8, 11, 13, 15, 16] {
            check_transposing_pack::<16>(rows, kc, kc, 0);
            check_transposing_pack::<16>(rows, kc, kc + 5, 3);
            check_transposing_pack::<8>(rows.min(8), kc, kc + 1, 1);
        }
        for rows in [1, 9, 31, 37, 56, 63, 64] {
            check_transposing_pack::<64>(rows, kc, kc, 0);
            check_transposing_pack::<64>(rows, kc, kc + 7, 2);
        }
        // A's 6-row panels (8-row transposes with 2 zero rows; the last
        // step of the vector part stores exactly 6 floats): every row count.
        for rows in 1..=6 {
            check_transposing_pack::<6>(rows, kc, kc, 0);
            check_transposing_pack::<6>(rows, kc, kc + 2, 3);
        }
    }
}

/// A column-major B (Wᵀ of a Linear layer's forward) of several panels with
/// a partial last panel through `pack_b`, serial and parallel, against the
/// definition (the transposing case panel by panel).
#[test]
fn column_major_b_packs_match_the_definition() {
    fn check<const NR: usize>(k: usize, n: usize) {
        // W is n × k row-major; B = Wᵀ is k × n with rs = 1, cs = k.
        let w: Vec<f32> = (0..n * k).map(|x| (x as f32) - 0.5 * k as f32).collect();
        let b = MatRef {
            data: &w,
            off: 0,
            rs: 1,
            cs: k,
        };
        let panels = n.div_ceil(NR);
        let mut want = vec![0.0f32; panels * k * NR];
        for j in 0..n {
            for p in 0..k {
                want[(j / NR) * k * NR + p * NR + j % NR] = w[j * k + p];
            }
        }
        for parallel in [false, true] {
            let mut got = vec![f32::NAN; panels * k * NR];
            pack_b::<NR>(&mut got, b, k, n, parallel);
            assert_eq!(got, want, "NR {NR} k {k} n {n} parallel {parallel}");
        }
    }
    for (k, n) in [(128, 384), (40, 37), (17, 100), (8, 16), (9, 129)] {
        check::<16>(k, n);
        check::<64>(k, n);
    }
}

/// A row-major B through `pack_b_with` with non-temporal stores (a 32-byte
/// aligned destination; and one 4 bytes off, which takes the plain copy)
/// gives the bits of `pack_b`: full panels, a partial last panel (zero
/// padded), K not a multiple of the 8-row passes, a row stride wider than
/// the block, serial and parallel.
#[test]
fn streaming_pack_b_matches_cached() {
    fn check<const NR: usize>(k: usize, n: usize, ld: usize) {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        let data: Vec<f32> = (0..k * ld).map(|x| (x as f32) * 0.25 - 3.0).collect();
        let b = MatRef {
            data: &data,
            off: 0,
            rs: ld,
            cs: 1,
        };
        let len = n.div_ceil(NR) * k * NR;
        let mut want = vec![f32::NAN; len];
        pack_b::<NR>(&mut want, b, k, n, false);
        for parallel in [false, true] {
            for misalign in [0, 1] {
                let mut buf = vec![f32::NAN; len + 8 + misalign];
                let start = buf.as_ptr().align_offset(32) + misalign;
                let got = &mut buf[start..start + len];
                pack_b_with::<NR>(got, b, k, n, parallel, Stores::Streaming);
                assert_eq!(
                    bits(got),
                    bits(&want),
                    "NR {NR} k {k} n {n} ld {ld} parallel {parallel} misalign {misalign}"
                );
            }
        }
    }
    for (k, n, ld) in [
        (64, 256, 256),
        (37, 200, 211),
        (8, 16, 16),
        (9, 129, 130),
        (1, 70, 70),
    ] {
        check::<16>(k, n, ld);
        check::<64>(k, n, ld);
    }
}
