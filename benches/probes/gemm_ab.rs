//! A/B timing of attnrs sgemm against the `gemm` and `matrixmultiply` crates
//! on a loaded machine: they alternate, a few calls each, many rounds, and
//! the best round of each is reported (the round that had the cores to
//! itself). matrixmultiply runs only when `threads` equals its process-wide
//! `MATMUL_NUM_THREADS` (set to 1 here unless given).
//!
//! `cargo run --release --example gemm_ab -- [threads] [rounds] [batch m n k]...`

use std::time::Instant;

#[path = "../rust/common/gemm_anchors.rs"]
mod anchors;

use attnrs::kernels::gemm::sgemm;

fn main() {
    let defaults = [
        [1, 512, 512, 512],
        [1, 1024, 1024, 1024],
        [48, 64, 64, 64],
        [48, 128, 128, 64],
    ];
    let (threads, rounds, shapes) = anchors::probe_args(1, 20, &defaults);
    let mm_threads = anchors::matmul_num_threads(); // before the pool's threads exist
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    for [bt, m, n, k] in shapes {
        let a: Vec<f32> = (0..bt * m * k).map(|i| (i % 7) as f32 - 3.0).collect();
        let b: Vec<f32> = (0..bt * k * n).map(|i| (i % 5) as f32 - 2.0).collect();
        let mut c = vec![0.0f32; bt * m * n];
        let g = anchors::attnrs_problem(bt, m, n, k);
        let par = if threads == 1 {
            gemm::Parallelism::None
        } else {
            gemm::Parallelism::Rayon(threads)
        };
        let flops = 2.0 * (bt * m * n * k) as f64;
        let reps = ((2e8 / flops) as usize).max(1);
        let (mut best_a, mut best_g, mut best_m) = (f64::MAX, f64::MAX, f64::MAX);
        pool.install(|| {
            for _ in 0..rounds {
                let t = Instant::now();
                for _ in 0..reps {
                    sgemm(&g, &a, &b, &mut c).unwrap();
                }
                best_a = best_a.min(t.elapsed().as_secs_f64() / reps as f64);
                let t = Instant::now();
                for _ in 0..reps {
                    anchors::gemm_crate(bt, m, n, k, &a, &b, &mut c, par);
                }
                best_g = best_g.min(t.elapsed().as_secs_f64() / reps as f64);
                if threads == mm_threads {
                    let t = Instant::now();
                    for _ in 0..reps {
                        anchors::matrixmultiply(bt, m, n, k, &a, &b, &mut c);
                    }
                    best_m = best_m.min(t.elapsed().as_secs_f64() / reps as f64);
                }
            }
        });
        let mm = if best_m < f64::MAX {
            format!(
                "  matrixmultiply {:7.1} GFLOP/s  ratio {:.3}",
                flops / best_m / 1e9,
                best_m / best_a
            )
        } else {
            String::new()
        };
        println!(
            "{threads}t {bt}x{m}x{n}x{k}: attnrs {:7.1} GFLOP/s  gemm-crate {:7.1} GFLOP/s  ratio {:.3}{mm}",
            flops / best_a / 1e9,
            flops / best_g / 1e9,
            best_g / best_a
        );
    }
}
