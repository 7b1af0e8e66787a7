//! Kernel time of GELU and LayerNorm on the GPT step's shapes
//! (no Python, no pool hand-off): best-of-rounds µs per call, one thread
//! unless PROBE_THREADS says otherwise.
//! `cargo run --release --example act_norm_probe`

use std::time::Instant;

use attnrs::kernels::activation::{self, Act};
use attnrs::kernels::norm;

fn best_us(mut f: impl FnMut(), iters: usize) -> f64 {
    (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() / iters as f64 * 1e6
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // Deterministic pseudo-normal data (sum of uniforms), roughly N(0, 1).
    let mut s = 0x1234_5678u32;
    let mut rnd = move || {
        let mut a = 0.0f32;
        for _ in 0..4 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            a += s as f32 / u32::MAX as f32;
        }
        (a - 2.0) * 1.732
    };
    let (m, rows, n) = (12 * 64 * 512, 768, 128);
    let x: Vec<f32> = (0..m).map(|_| rnd()).collect();
    let dy: Vec<f32> = (0..m).map(|_| rnd()).collect();
    let mut out = vec![0.0f32; m];
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    pool.install(|| {
        // `ln`: only LayerNorm (for perf/callgrind); PROBE_ITERS sets its calls per round.
        let only_ln = std::env::args().any(|a| a == "ln");
        let iters_ln = std::env::var("PROBE_ITERS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(if only_ln { 5000 } else { 200 });
        for (name, act) in [("gelu", Act::Gelu), ("gelu_tanh", Act::GeluTanh)] {
            if only_ln {
                break;
            }
            let f = best_us(|| activation::forward(act, &x, &mut out).unwrap(), 50);
            let b = best_us(|| activation::backward(act, &x, &dy, &mut out).unwrap(), 50);
            println!("{name:10} (12,64,512) fwd {f:7.1} us  bwd {b:7.1} us");
        }
        let (xl, dyl) = (&x[..rows * n], &dy[..rows * n]);
        let w: Vec<f32> = (0..n).map(|i| 1.0 + 0.01 * i as f32).collect();
        let b: Vec<f32> = (0..n).map(|i| 0.01 * i as f32).collect();
        let (mut y, mut mean, mut rstd) = (vec![0.0; rows * n], vec![0.0; rows], vec![0.0; rows]);
        let (mut dw, mut db) = (vec![0.0; n], vec![0.0; n]);
        let f = best_us(
            || {
                norm::layer_norm(
                    xl,
                    Some(&w),
                    Some(&b),
                    rows,
                    n,
                    1e-5,
                    &mut y,
                    &mut mean,
                    &mut rstd,
                )
                .unwrap()
            },
            iters_ln,
        );
        let mut dx = vec![0.0; rows * n];
        let bw = best_us(
            || {
                norm::layer_norm_backward(
                    dyl,
                    xl,
                    Some(&w),
                    &mean,
                    &rstd,
                    rows,
                    n,
                    &mut dx,
                    Some((&mut dw, &mut db)),
                )
                .unwrap()
            },
            iters_ln,
        );
        println!("layer_norm (768,128)   fwd {f:7.1} us  bwd {bw:7.1} us");
    });
}
