use super::super::{reference::sgemm_reference, Gemm, Strides};
use super::*;

#[test]
fn matches_reference_over_odd_shapes() {
    let mut seed = 1u32;
    let mut rnd = || {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5
    };
    for &(m, n, k) in &[
        (1, 1, 1),
        (7, 65, 3),
        (32, 1024, 256),
        (13, 70, 600),
        (5, 3, 257),
    ] {
        let a: Vec<f32> = (0..m * (k + 1)).map(|_| rnd()).collect();
        let b: Vec<f32> = (0..k * n).map(|_| rnd()).collect();
        let c0: Vec<f32> = (0..m * n * 2).map(|_| rnd()).collect();
        for (bs, beta) in [
            (Strides::row_major(k, n), 0.0),
            (Strides::row_major_transposed(n, k), 1.0),
        ] {
            let g = Gemm {
                beta,
                alpha: 0.5,
                a: Strides {
                    row: k + 1,
                    col: 1,
                    batch: 0,
                },
                c: Strides {
                    row: 2 * n,
                    col: 1,
                    batch: 0,
                },
                b: bs,
                ..Gemm::new(m, n, k)
            };
            let a = &a[..(m - 1) * (k + 1) + k];
            let mut want = c0.clone();
            sgemm_reference(&g, a, &b, &mut want);
            let pb = PackedB::new(&b, bs, k, n).unwrap();
            let mut got = c0.clone();
            sgemm_packed_b(&g, a, &pb, &mut got).unwrap();
            let mut serial = c0.clone();
            sgemm_packed_b_serial(&g, a, &pb, &mut serial).unwrap();
            assert_eq!(got, serial, "{m}x{n}x{k}: serial and parallel differ");
            for (x, y) in got.iter().zip(&want) {
                assert!(
                    (x - y).abs() <= 1e-4 * (1.0 + y.abs()),
                    "{m}x{n}x{k}: {x} vs {y}"
                );
            }
        }
    }
}
