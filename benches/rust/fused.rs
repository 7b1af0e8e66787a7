//! Criterion benches of the fused layer kernels on the issue-3 shapes:
//! softmax, layernorm and cross-entropy on 4096×1024 (forward + backward)
//! and AdamW over 10 M parameters. Throughput = bytes the kernel must move.
//!
//! `cargo bench --bench fused`; the Python counterpart (vs NumPy) is
//! `python -m attnrs.bench.fused`.

use std::hint::black_box;

#[path = "common/data.rs"]
mod common_data;

use attnrs::kernels::{loss, norm, optim, softmax};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const ROWS: usize = 4096;
const N: usize = 1024;

/// Values in [-2, 2).
fn data(len: usize, seed: u32) -> Vec<f32> {
    common_data::data(len, seed)
        .into_iter()
        .map(|v| 4.0 * v)
        .collect()
}

fn bench_rows(c: &mut Criterion) {
    let x = data(ROWS * N, 1);
    let dy = data(ROWS * N, 2);
    let w = data(N, 3);
    let mut y = vec![0.0; ROWS * N];
    let mut dx = vec![0.0; ROWS * N];
    let mat = (ROWS * N * 4) as u64;
    let mut g = c.benchmark_group("fused_4096x1024");
    g.sample_size(20);

    g.throughput(Throughput::Bytes(5 * mat));
    g.bench_function("softmax_fwd_bwd", |b| {
        b.iter(|| {
            softmax::softmax(&x, &mut y, ROWS, N, 1.0, softmax::Mask::None).unwrap();
            softmax::softmax_backward(&y, &dy, &mut dx, ROWS, N, 1.0).unwrap();
            black_box(&dx);
        })
    });

    let (mut mean, mut rstd) = (vec![0.0; ROWS], vec![0.0; ROWS]);
    let (mut dw, mut db) = (vec![0.0; N], vec![0.0; N]);
    g.bench_function("layernorm_fwd_bwd", |b| {
        b.iter(|| {
            norm::layer_norm(
                &x,
                Some(&w),
                Some(&w),
                ROWS,
                N,
                1e-5,
                &mut y,
                &mut mean,
                &mut rstd,
            )
            .unwrap();
            norm::layer_norm_backward(
                &dy,
                &x,
                Some(&w),
                &mean,
                &rstd,
                ROWS,
                N,
                &mut dx,
                Some((&mut dw, &mut db)),
            )
            .unwrap();
            black_box(&dx);
        })
    });

    let target: Vec<i64> = (0..ROWS as i64).map(|i| (i * 7) % N as i64).collect();
    let mut losses = vec![0.0; ROWS];
    let p = loss::CrossEntropy {
        ignore_index: -100,
        label_smoothing: 0.0,
        reduction: loss::Reduction::Mean,
    };
    g.throughput(Throughput::Bytes(2 * mat));
    g.bench_function("cross_entropy_fwd_bwd", |b| {
        b.iter(|| {
            black_box(loss::cross_entropy(&x, &target, ROWS, N, p, &mut losses, &mut dx).unwrap())
        })
    });
    g.finish();
}

fn bench_adamw(c: &mut Criterion) {
    let n = 10_000_000;
    let mut p = data(n, 4);
    let grad = data(n, 5);
    let (mut m, mut v) = (vec![0.0; n], vec![0.0; n]);
    let h = optim::AdamW {
        lr: 1e-3,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 0.01,
        step: 10,
    };
    let mut g = c.benchmark_group("fused_adamw");
    g.sample_size(10);
    g.throughput(Throughput::Bytes((7 * n * 4) as u64));
    g.bench_function("adamw_10M", |b| {
        b.iter(|| optim::adamw_step(&mut p, &grad, &mut m, &mut v, h).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench_rows, bench_adamw);
criterion_main!(benches);
