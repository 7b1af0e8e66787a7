//! conv1d kernels on the shapes of one layer of the issue-5 stack:
//! x = (8, 64, 4096), w = (64, 64, 2), causal, dilations 1 and 64 — forward,
//! input gradient, parameter gradients, and the streaming step (B = 1).
//! Throughput is FLOP/s (criterion's "elem/s" = 2·B·C_out·C_in·K·T).
//!
//! `cargo bench --bench conv1d` (a filter such as `forward` runs one group).

use std::time::Duration;

#[path = "common/data.rs"]
mod data;

use attnrs::kernels::conv1d::{
    backward_input, backward_params, forward, step, Conv1d, Padding, StreamStep, View3,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use data::data;

const B: usize = 8;
const C: usize = 64;
const K: usize = 2;
const T: usize = 4096;

fn layer(dilation: usize) -> Conv1d {
    Conv1d {
        batch: B,
        c_in: C,
        c_out: C,
        len: T,
        kernel: K,
        dilation,
        padding: Padding::Causal,
    }
}

fn bench_layer(c: &mut Criterion) {
    let x = data(B * C * T, 1);
    let w = data(C * C * K, 2);
    let bias = data(C, 3);
    let dy = data(B * C * T, 4);
    let mut out = vec![0.0f32; B * C * T];
    let mut dw = vec![0.0f32; C * C * K];
    let mut db = vec![0.0f32; C];
    let xv = View3::dense(&x, [B, C, T]);
    let wv = View3::dense(&w, [C, C, K]);
    let dyv = View3::dense(&dy, [B, C, T]);
    let flop = (2 * B * C * C * K * T) as u64;
    let mut g = c.benchmark_group("conv1d_layer_8x64x4096_k2");
    g.throughput(Throughput::Elements(flop));
    for d in [1usize, 64] {
        let p = layer(d);
        g.bench_function(BenchmarkId::new("forward", d), |bch| {
            bch.iter(|| forward(&p, xv, wv, Some(&bias), &mut out).unwrap())
        });
        g.bench_function(BenchmarkId::new("grad_input", d), |bch| {
            bch.iter(|| backward_input(&p, dyv, wv, &mut out).unwrap())
        });
        g.bench_function(BenchmarkId::new("grad_params", d), |bch| {
            bch.iter(|| backward_params(&p, xv, dyv, Some(&mut dw), Some(&mut db)).unwrap())
        });
    }
    g.finish();
}

fn bench_step(c: &mut Criterion) {
    let w = data(C * C * K, 2);
    let wv = View3::dense(&w, [C, C, K]);
    let bias = data(C, 3);
    let xt = data(C, 5);
    let mut yt = vec![0.0f32; C];
    let mut g = c.benchmark_group("conv1d_stream_step_b1_c64_k2_d512");
    g.throughput(Throughput::Elements((2 * C * C * K) as u64));
    let p = StreamStep {
        batch: 1,
        c_in: C,
        c_out: C,
        kernel: K,
        dilation: 512,
    };
    let mut ring = vec![0.0f32; p.ring_len()];
    for pos in [10usize, 100_000] {
        g.bench_function(BenchmarkId::new("step_at", pos), |bch| {
            bch.iter(|| step(&p, &xt, wv, Some(&bias), &mut ring, pos, &mut yt).unwrap())
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_layer, bench_step
}
criterion_main!(benches);
