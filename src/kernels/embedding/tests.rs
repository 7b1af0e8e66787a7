use super::*;

#[test]
fn gather_and_scatter_match_a_loop() {
    let (num, d) = (7, 5);
    let w: Vec<f32> = (0..num * d).map(|i| i as f32 * 0.5).collect();
    let ids = [3i64, 0, 6, 3, 3, 1];
    let mut out = vec![0.0; ids.len() * d];
    embedding(&w, num, d, &ids, &mut out).unwrap();
    for (i, &id) in ids.iter().enumerate() {
        assert_eq!(
            &out[i * d..(i + 1) * d],
            &w[id as usize * d..(id as usize + 1) * d]
        );
    }
    let dy: Vec<f32> = (0..ids.len() * d).map(|i| (i as f32).sin()).collect();
    let mut dw = vec![f32::NAN; num * d];
    embedding_backward(&dy, &ids, num, d, &mut dw).unwrap();
    let mut want = vec![0.0f32; num * d];
    for (i, &id) in ids.iter().enumerate() {
        for j in 0..d {
            want[id as usize * d + j] += dy[i * d + j];
        }
    }
    assert_eq!(dw, want);
}

#[test]
fn bad_ids_are_named() {
    let w = vec![0.0; 6];
    let mut out = vec![0.0; 6];
    let e = embedding(&w, 3, 2, &[0, 3, 1], &mut out).unwrap_err();
    assert!(e.message.contains("ids[1] = 3"), "{e}");
    let e = embedding(&w, 3, 2, &[-1, 0, 1], &mut out).unwrap_err();
    assert!(e.message.contains("ids[0] = -1"), "{e}");
}

#[test]
fn embedding_add_is_two_lookups_and_an_add() {
    let d = 19; // not a multiple of any vector width
    let a: Vec<f32> = (0..7 * d).map(|i| (i as f32 * 0.37).sin()).collect();
    let b: Vec<f32> = (0..5 * d).map(|i| (i as f32 * 0.11).cos()).collect();
    let ids_a = [3i64, 0, 6, 3, 3, 1, 2];
    let ids_b = [0i64, 1, 2, 3, 4, 0, 1];
    let mut out = vec![f32::NAN; ids_a.len() * d];
    let lookup = |table, num, ids| Lookup { table, num, ids };
    embedding_add(lookup(&a, 7, &ids_a), lookup(&b, 5, &ids_b), d, &mut out).unwrap();
    for (i, (&ia, &ib)) in ids_a.iter().zip(&ids_b).enumerate() {
        for j in 0..d {
            let want = a[ia as usize * d + j] + b[ib as usize * d + j];
            assert_eq!(out[i * d + j].to_bits(), want.to_bits());
        }
    }
    let bad = [0i64, 1, 2, 3, 5, 0, 1];
    let e = embedding_add(lookup(&a, 7, &ids_a), lookup(&b, 5, &bad), d, &mut out).unwrap_err();
    assert!(e.message.contains("ids_b[4] = 5"), "{e}");
    let e = embedding_add(
        lookup(&a, 7, &ids_a),
        lookup(&b, 5, &ids_b[1..]),
        d,
        &mut out,
    )
    .unwrap_err();
    assert!(e.message.contains("ids_b: expected 7 ids, got 6"), "{e}");
}

#[test]
fn embedding_add_backward_is_each_tables_backward() {
    let d = 11;
    let ids_a = [3i64, 0, 6, 3, 3, 1];
    let ids_b = [0i64, 1, 2, 0, 1, 2];
    let dy: Vec<f32> = (0..ids_a.len() * d)
        .map(|i| (i as f32 * 0.7).sin())
        .collect();
    let (mut want_a, mut want_b) = (vec![0.0; 7 * d], vec![0.0; 3 * d]);
    embedding_backward(&dy, &ids_a, 7, d, &mut want_a).unwrap();
    embedding_backward(&dy, &ids_b, 3, d, &mut want_b).unwrap();
    // Both tables' gradients in one call, into NaN-filled buffers.
    let run = |ids_b: &[i64]| {
        let (mut da, mut db) = (vec![f32::NAN; 7 * d], vec![f32::NAN; 3 * d]);
        let a = ScatterAdd {
            ids: &ids_a,
            num: 7,
            dw: &mut da,
        };
        let b = ScatterAdd {
            ids: ids_b,
            num: 3,
            dw: &mut db,
        };
        embedding_add_backward(&dy, d, a, b).map(|()| (da, db))
    };
    assert_eq!(run(&ids_b).unwrap(), (want_a, want_b));
    let e = run(&ids_a).unwrap_err();
    assert!(e.message.contains("ids_b[0] = 3"), "{e}");
}

#[test]
fn scatter_rows_are_the_plain_sums_on_every_isa() {
    // Widths around the register blocks (BLOCK vectors of 4, 8 or 16 lanes) and
    // tails; ids with no position, one, many; -0.0 and NaN in dy.
    let ids = [5i64, 0, 5, 2, 5, 0, 7, 5, 2];
    let num = 9;
    for d in [1, 7, 16, 31, 32, 33, 63, 64, 65, 100, 128, 129] {
        let mut dy: Vec<f32> = (0..ids.len() * d)
            .map(|i| (i as f32 * 0.37).sin())
            .collect();
        dy[3] = -0.0;
        dy[d + 2] = -0.0;
        dy[4 * d + d / 2] = f32::NAN;
        let mut want = vec![0.0f32; num * d];
        for (i, &id) in ids.iter().enumerate() {
            for j in 0..d {
                want[id as usize * d + j] += dy[i * d + j];
            }
        }
        for isa in crate::simd::available() {
            let mut dw = vec![f32::NAN; num * d];
            let t = ScatterAdd {
                ids: &ids,
                num,
                dw: &mut dw,
            };
            let s = sort_ids("test", "ids", &dy, &t, d).unwrap();
            crate::simd::dispatch_on(
                isa,
                Accumulate {
                    dw: t.dw,
                    v0: 0,
                    d,
                    offsets: &s.offsets,
                    order: &s.order,
                    dy: &dy,
                },
            );
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&dw), bits(&want), "{} d = {d}", isa.name());
        }
    }
}
