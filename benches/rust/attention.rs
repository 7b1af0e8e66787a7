//! Flash attention throughput (pure Rust, no Python): forward and
//! forward+backward at B = 4, H = 8, D = 64, T ∈ {128, 512, 1024, 2048},
//! causal and not, and the Tq = 1 decode path against a 4096-step cache.
//! Throughput is in useful FLOP/s (criterion's "elem/s"): 4·B·H·Tq·Tk·D for
//! the forward (times the visible fraction when causal), 3× that for
//! forward+backward.
//!
//! `cargo bench --bench attention` (a filter such as `fwd/causal_1024` runs one case).

use std::time::Duration;

#[path = "common/data.rs"]
mod data;

use attnrs::kernels::attention::{
    backward, forward, AttnParams, BackwardInputs, GradLayouts, Layout, Masks,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use data::data;

fn bench(c: &mut Criterion) {
    let (b, h, d) = (4, 8, 64);
    let mut g = c.benchmark_group("attention");
    g.sample_size(10).measurement_time(Duration::from_secs(3));
    for t in [128usize, 512, 1024, 2048] {
        for causal in [false, true] {
            let mut p = AttnParams::contiguous(b, h, t, t, d, d);
            p.causal = causal;
            let n = b * h * t * d;
            let (q, k, v, go) = (data(n, 1), data(n, 2), data(n, 3), data(n, 4));
            let (mut o, mut lse) = (vec![0.0; n], vec![0.0; b * h * t]);
            let (mut dq, mut dk, mut dv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
            let vis = if causal {
                (t + 1) as f64 / (2 * t) as f64
            } else {
                1.0
            };
            let fl = (4 * b * h * t * t * d) as f64 * vis;
            let id = format!("{}_{t}", if causal { "causal" } else { "full" });
            let m = Masks::default();
            g.throughput(Throughput::Elements(fl as u64));
            g.bench_function(BenchmarkId::new("fwd", &id), |bn| {
                bn.iter(|| forward(&p, &m, &q, &k, &v, &mut o, &mut lse).unwrap())
            });
            let lay = Layout::contiguous(h, t, d);
            let gl = GradLayouts {
                dout: lay,
                dq: lay,
                dk: lay,
                dv: lay,
            };
            g.throughput(Throughput::Elements((3.0 * fl) as u64));
            g.bench_function(BenchmarkId::new("fwd_bwd", &id), |bn| {
                bn.iter(|| {
                    forward(&p, &m, &q, &k, &v, &mut o, &mut lse).unwrap();
                    let x = BackwardInputs {
                        q: &q,
                        k: &k,
                        v: &v,
                        o: &o,
                        lse: &lse,
                        dout: &go,
                    };
                    backward(&p, &gl, &m, x, &mut dq, &mut dk, &mut dv).unwrap()
                })
            });
        }
    }
    let tk = 4096;
    let p = AttnParams::contiguous(b, h, 1, tk, d, d);
    let (q, k, v) = (
        data(b * h * d, 1),
        data(b * h * tk * d, 2),
        data(b * h * tk * d, 3),
    );
    let (mut o, mut lse) = (vec![0.0; b * h * d], vec![0.0; b * h]);
    g.throughput(Throughput::Elements((4 * b * h * tk * d) as u64));
    g.bench_function("decode_4096", |bn| {
        bn.iter(|| forward(&p, &Masks::default(), &q, &k, &v, &mut o, &mut lse).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
