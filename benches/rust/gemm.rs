//! sgemm throughput: attnrs vs the `gemm` and `matrixmultiply` crates, in
//! the same run, at 1 and 2 threads (each side in its own rayon pool).
//!
//! Shapes: square N = 64…2048 (row-major A·B) and the attention-head batches
//! 48 × (64×64 · 64×64) and 48 × (128×64 · 64×128). Throughput is reported as
//! FLOP/s (criterion's "elem/s" = 2·m·n·k per iteration).
//!
//! matrixmultiply picks its thread count once per process from
//! `MATMUL_NUM_THREADS`; this bench sets it to 1 unless it is already set and
//! reports matrixmultiply only at that thread count.
//!
//! `cargo bench --bench gemm` (add a filter such as `square_1024` to run one shape).

use std::time::Duration;

#[path = "common/gemm_anchors.rs"]
mod anchors;

#[path = "common/data.rs"]
mod data;

use attnrs::kernels::gemm::sgemm;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use data::data;

struct Case {
    name: String,
    batch: usize,
    m: usize,
    n: usize,
    k: usize,
}

fn cases() -> Vec<Case> {
    let mut v: Vec<Case> = [64, 128, 256, 512, 1024, 2048]
        .iter()
        .map(|&n| Case {
            name: format!("square_{n}"),
            batch: 1,
            m: n,
            n,
            k: n,
        })
        .collect();
    v.push(Case {
        name: "heads_48x64x64x64".into(),
        batch: 48,
        m: 64,
        n: 64,
        k: 64,
    });
    v.push(Case {
        name: "heads_48x128x128x64".into(),
        batch: 48,
        m: 128,
        n: 128,
        k: 64,
    });
    v
}

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .unwrap()
}

fn bench(c: &mut Criterion) {
    let mm_threads = anchors::matmul_num_threads(); // criterion is single-threaded here
    let pools = [(1, pool(1)), (2, pool(2))];
    for case in cases() {
        let (bt, m, n, k) = (case.batch, case.m, case.n, case.k);
        let a = data(bt * m * k, 1);
        let b = data(bt * k * n, 2);
        let mut out = vec![0.0f32; bt * m * n];
        let mut group = c.benchmark_group(&case.name);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(300));
        group.measurement_time(Duration::from_millis(if m * n * k * bt >= 1 << 30 {
            2500
        } else {
            800
        }));
        group.throughput(Throughput::Elements((2 * bt * m * n * k) as u64));
        let g = anchors::attnrs_problem(bt, m, n, k);
        for (threads, p) in &pools {
            let t = *threads;
            group.bench_function(BenchmarkId::new("attnrs", format!("{t}t")), |bencher| {
                p.install(|| bencher.iter(|| sgemm(&g, &a, &b, &mut out).unwrap()))
            });
            group.bench_function(BenchmarkId::new("gemm", format!("{t}t")), |bencher| {
                let par = if t == 1 {
                    gemm::Parallelism::None
                } else {
                    gemm::Parallelism::Rayon(t)
                };
                p.install(|| {
                    bencher.iter(|| anchors::gemm_crate(bt, m, n, k, &a, &b, &mut out, par))
                })
            });
            if t == mm_threads {
                group.bench_function(
                    BenchmarkId::new("matrixmultiply", format!("{t}t")),
                    |bencher| {
                        bencher.iter(|| anchors::matrixmultiply(bt, m, n, k, &a, &b, &mut out))
                    },
                );
            }
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
