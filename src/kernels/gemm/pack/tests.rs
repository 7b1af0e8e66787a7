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
