//! A/B timing of a Linear layer (`y = x·Wᵀ + b` and its backward) at the
//! GPT training step's shapes: the fused kernels (`kernels::linear`) against
//! the unfused sequence they replace (copy Wᵀ, GEMM, add b; GEMM dX then GEMM
//! dW then column sums) and against the `gemm` crate on the same products.
//! Variants alternate, a few calls each, many rounds; the best round of each
//! is reported (the round that had the cores to itself).
//!
//! `cargo run --release --example linear_ab -- [threads] [rounds] [rows in out]...`

use std::time::Instant;

#[path = "../rust/common/gemm_anchors.rs"]
mod anchors;

use anchors::gemm_strided;
use attnrs::kernels::gemm::{sgemm, Gemm, Strides};
use attnrs::kernels::linear::{self, Grads, Linear};

fn best(rounds: usize, reps: usize, fs: &mut [(&str, &mut dyn FnMut())]) -> Vec<f64> {
    let mut out = vec![f64::MAX; fs.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in fs.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            out[i] = out[i].min(t.elapsed().as_secs_f64() / reps as f64);
        }
    }
    out
}

fn main() {
    let defaults = [
        [768, 128, 384],
        [768, 128, 128],
        [768, 128, 512],
        [768, 512, 128],
        [768, 128, 65],
    ];
    let (threads, rounds, shapes) = anchors::probe_args(2, 30, &defaults);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let par = if threads == 1 {
        gemm::Parallelism::None
    } else {
        gemm::Parallelism::Rayon(threads)
    };
    println!("threads {threads}, best of {rounds} rounds, µs per call");
    for [rows, inp, out] in shapes {
        let x: Vec<f32> = (0..rows * inp).map(|i| (i % 7) as f32 - 3.0).collect();
        let w: Vec<f32> = (0..out * inp).map(|i| (i % 5) as f32 - 2.0).collect();
        let b: Vec<f32> = (0..out).map(|i| (i % 3) as f32).collect();
        let dy: Vec<f32> = (0..rows * out).map(|i| (i % 11) as f32 - 5.0).collect();
        let p = Linear::new(rows, inp, out);
        let (x, w, b, dy) = (&x[..], &w[..], &b[..], &dy[..]);
        // Each variant owns its outputs (moved into its closure).
        let y = || vec![0.0f32; rows * out];
        let (mut y1, mut y2, mut y3, mut y4) = (y(), y(), y(), y());
        let mut wt = vec![0.0f32; inp * out];
        let mut wt2 = w.to_vec();
        for j in 0..out {
            for q in 0..inp {
                wt2[q * out + j] = w[j * inp + q];
            }
        }
        let grads = || {
            (
                vec![0.0f32; rows * inp],
                vec![0.0f32; out * inp],
                vec![0.0f32; out],
            )
        };
        let (mut dx1, mut dw1, mut db1) = grads();
        let (mut dx2, mut dw2, mut db2) = grads();
        let (mut dx3, mut dw3, _) = grads();
        let fwd = Gemm::new(rows, out, inp);
        let gdx = Gemm::new(rows, inp, out);
        let gdw = Gemm {
            a: Strides::row_major_transposed(rows, out),
            ..Gemm::new(out, inp, rows)
        };
        let flops = 2.0 * (rows * inp * out) as f64;
        let reps = ((5e7 / flops) as usize).max(1);
        let t = pool.install(|| {
            best(
                rounds,
                reps,
                &mut [
                    ("fwd fused", &mut move || {
                        linear::forward(&p, x, w, Some(b), &mut y1).unwrap()
                    }),
                    ("fwd unfused", &mut move || {
                        for j in 0..out {
                            for q in 0..inp {
                                wt[q * out + j] = w[j * inp + q];
                            }
                        }
                        sgemm(&fwd, x, &wt, &mut y2).unwrap();
                        for row in y2.chunks_exact_mut(out) {
                            row.iter_mut().zip(b).for_each(|(v, &bb)| *v += bb);
                        }
                    }),
                    ("fwd gemm only (row-major Wᵀ)", &mut move || {
                        sgemm(&fwd, x, &wt2, &mut y3).unwrap()
                    }),
                    ("fwd gemm crate (Wᵀ view)", &mut move || {
                        gemm_strided(rows, out, inp, (x, inp, 1), (w, 1, inp), &mut y4, par)
                    }),
                    ("bwd fused", &mut move || {
                        let g = Grads {
                            x: Some(&mut dx1),
                            w: Some(&mut dw1),
                            b: Some(&mut db1),
                        };
                        linear::backward(&p, x, w, dy, g).unwrap()
                    }),
                    ("bwd sequential", &mut move || {
                        sgemm(&gdx, dy, w, &mut dx2).unwrap();
                        sgemm(&gdw, dy, x, &mut dw2).unwrap();
                        db2.fill(0.0);
                        for row in dy.chunks_exact(out) {
                            db2.iter_mut().zip(row).for_each(|(v, &g)| *v += g);
                        }
                    }),
                    ("bwd gemm crate dX, dW", &mut move || {
                        gemm_strided(rows, inp, out, (dy, out, 1), (w, inp, 1), &mut dx3, par);
                        gemm_strided(out, inp, rows, (dy, 1, out), (x, inp, 1), &mut dw3, par);
                    }),
                ],
            )
        });
        let names = [
            "fwd fused",
            "fwd unfused",
            "fwd gemm only",
            "fwd gemm crate",
            "bwd fused",
            "bwd sequential",
            "bwd gemm crate",
        ];
        let cells: Vec<String> = names
            .iter()
            .zip(&t)
            .map(|(n, s)| format!("{n} {:.0}", s * 1e6))
            .collect();
        println!(
            "{rows}x{inp}->{out} ({:.0} GFLOP/s fused fwd): {}",
            flops / t[0] / 1e9,
            cells.join(" | ")
        );
    }
}
