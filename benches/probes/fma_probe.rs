//! Peak FP32 FMA throughput of one core (independent FMA chains), and the
//! attnrs microkernels' throughput on L1-resident panels, for "% of peak".
//!
//! Compare with `../shared/bench/machine_probe.py` (same method in C).
//! `cargo run --release --example fma_probe [seconds]`

#[cfg(target_arch = "x86_64")]
use std::time::Instant;

use attnrs::kernels::gemm::kernel::MicroKernel;
use attnrs::kernels::gemm::peak::kernel_rate;

/// GFLOP/s of 12 independent zmm FMA chains (the best of `rounds` rounds).
#[cfg(target_arch = "x86_64")]
fn fma512_peak(iters: u64, rounds: usize) -> f64 {
    use std::arch::x86_64::*;
    #[target_feature(enable = "avx512f")]
    unsafe fn chains(iters: u64) -> f32 {
        let b = _mm512_set1_ps(1.000_000_1);
        let c = _mm512_set1_ps(1e-7);
        let mut acc = [_mm512_setzero_ps(); 12];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm512_set1_ps(i as f32);
        }
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, b, c);
            }
            // Keep the chains in registers and the loop from being folded.
            for a in acc.iter_mut() {
                // SAFETY: an empty asm block that only claims to modify one register.
                unsafe {
                    std::arch::asm!(
                        "/* {0} */",
                        inout(zmm_reg) * a,
                        options(pure, nomem, nostack)
                    )
                };
            }
        }
        acc.iter().map(|&a| _mm512_reduce_add_ps(a)).sum()
    }
    let mut best = 0.0f64;
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: only called when AVX-512F is present (checked by the caller).
        std::hint::black_box(unsafe { chains(iters) });
        best = best.max(12.0 * 32.0 * iters as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

fn main() {
    let rounds = 10;
    #[cfg(target_arch = "x86_64")]
    {
        use attnrs::kernels::gemm::{kernel_avx2::Avx2, kernel_avx512::Avx512};
        if Avx512::available() {
            println!(
                "fma512 peak (12 chains, 1 core): {:.1} GFLOP/s",
                fma512_peak(20_000_000, rounds)
            );
            for k in [64, 256, 512] {
                println!(
                    "avx512 6x64 kernel, k={k}: {:.1} GFLOP/s",
                    kernel_rate::<Avx512>(k, 4_000_000 / k, rounds)
                );
            }
        }
        if Avx2::available() {
            println!(
                "avx2 6x16 kernel, k=256: {:.1} GFLOP/s",
                kernel_rate::<Avx2>(256, 40_000, rounds)
            );
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        use attnrs::kernels::gemm::kernel_neon::Neon;
        if Neon::available() {
            println!(
                "neon 8x12 kernel, k=256: {:.1} GFLOP/s",
                kernel_rate::<Neon>(256, 40_000, rounds)
            );
        }
    }
    println!(
        "scalar 4x8 kernel, k=256: {:.1} GFLOP/s",
        kernel_rate::<attnrs::kernels::gemm::kernel_scalar::Scalar>(256, 20_000, rounds)
    );
}
