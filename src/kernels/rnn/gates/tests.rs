use super::*;
use crate::simd::{available, dispatch_on, Isa};

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1664525).wrapping_add(1013904223);
            ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5) * 6.0
        })
        .collect()
}

/// Runs forward and backward gate math of every mode through `level`'s
/// shim (H = 37: full vectors plus a masked tail on every ISA).
fn all_modes(level: Isa) -> Vec<Vec<f32>> {
    let h = 37;
    let fwd_on = |a: Fwd<'_>| dispatch_on(level, a);
    let bwd_on = |a: Bwd<'_>| dispatch_on(level, a);
    let mut out = Vec::new();
    let (hp, dh, dout) = (data(h, 1), data(h, 2), data(h, 3));
    for relu in [false, true] {
        let mut pre = data(h, 4);
        fwd_on(Fwd::Elman {
            relu,
            pre: &mut pre,
            hh: &dh,
        });
        let (mut dg, mut direct) = (vec![0.0; h], vec![1.0; h]);
        bwd_on(Bwd::Elman {
            relu,
            h: &pre,
            dh: &dh,
            dout: &dout,
            dg: &mut dg,
            direct: &mut direct,
        });
        out.extend([pre, dg, direct]);
    }
    let mut g = data(4 * h, 5);
    let (mut c, mut tc, mut hn) = (vec![0.0; h], vec![0.0; h], vec![0.0; h]);
    let hh4 = data(4 * h, 10);
    // Inference (no saves) writes the same c' and h' and leaves g alone.
    let (mut g_inf, mut c_inf, mut h_inf) = (g.clone(), vec![0.0; h], vec![0.0; h]);
    fwd_on(Fwd::Lstm {
        save: false,
        g: &mut g_inf,
        hh: &hh4,
        c_prev: &hp,
        c_new: &mut c_inf,
        tanh_c: &mut [],
        h_new: &mut h_inf,
    });
    assert_eq!(g_inf, g, "{level:?}: LSTM inference changed the gates");
    fwd_on(Fwd::Lstm {
        save: true,
        g: &mut g,
        hh: &hh4,
        c_prev: &hp,
        c_new: &mut c,
        tanh_c: &mut tc,
        h_new: &mut hn,
    });
    let (mut dc, mut dg, mut direct) = (data(h, 6), vec![0.0; 4 * h], vec![1.0; h]);
    bwd_on(Bwd::Lstm {
        g: &g,
        tanh_c: &tc,
        c_prev: &hp,
        dh: &dh,
        dout: &dout,
        dc: &mut dc,
        dg: &mut dg,
        direct: &mut direct,
    });
    assert_eq!((&c_inf, &h_inf), (&c, &hn), "{level:?}: LSTM inference");
    out.extend([g, c, tc, hn, dc, dg, direct]);
    let (mut gx, hh, bh) = (data(3 * h, 7), data(3 * h, 8), data(3 * h, 9));
    let (mut hn2, mut hnew) = (vec![0.0; h], vec![0.0; h]);
    let (mut gx_inf, mut h_inf) = (gx.clone(), vec![0.0; h]);
    fwd_on(Fwd::Gru {
        save: false,
        gx: &mut gx_inf,
        hh: &hh,
        b_hh: Some(&bh),
        h_prev: &hp,
        hn: &mut [],
        h_new: &mut h_inf,
    });
    assert_eq!(gx_inf, gx, "{level:?}: GRU inference changed the gates");
    fwd_on(Fwd::Gru {
        save: true,
        gx: &mut gx,
        hh: &hh,
        b_hh: Some(&bh),
        h_prev: &hp,
        hn: &mut hn2,
        h_new: &mut hnew,
    });
    let (mut dgx, mut dgh, mut direct) = (vec![0.0; 3 * h], vec![0.0; 3 * h], vec![0.0; h]);
    bwd_on(Bwd::Gru {
        g: &gx,
        hn: &hn2,
        h_prev: &hp,
        dh: &dh,
        dout: &dout,
        dgx: &mut dgx,
        dgh: &mut dgh,
        direct: &mut direct,
    });
    assert_eq!(h_inf, hnew, "{level:?}: GRU inference");
    out.extend([gx, hn2, hnew, dgx, dgh, direct]);
    out
}

#[test]
fn every_isa_matches_the_scalar_oracle() {
    let oracle = all_modes(Isa::Scalar);
    for level in available() {
        for (k, (got, want)) in all_modes(level).iter().zip(&oracle).enumerate() {
            for (x, y) in got.iter().zip(want) {
                assert!(
                    (x - y).abs() <= 2e-6 * (1.0 + y.abs()),
                    "{level:?} buffer {k}: {x} vs {y}"
                );
            }
        }
    }
}
