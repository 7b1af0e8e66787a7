//! This machine's GEMM peak: the microkernel in use on hot, L1-resident
//! panels, where no packing or memory traffic limits it. Benchmarks divide by
//! it for "% of peak", measured on the machine they run on rather than a
//! constant from another CPU (a Zen 4 core and a Zen 5 core differ by 2×).

use std::time::{Duration, Instant};

use super::kernel::{MicroKernel, Tile};
use crate::simd::{isa, Isa};

/// GFLOP/s of microkernel `K` on panels of depth `k`: the best of `rounds`
/// rounds of `calls` tiles each.
pub fn kernel_rate<K: MicroKernel>(k: usize, calls: usize, rounds: usize) -> f64 {
    assert!(K::available(), "kernel_rate: {} is not available", K::NAME);
    // SAFETY: K is available (asserted just above); K::run is an MR×NR kernel.
    unsafe { tile_rate(K::run, K::MR, K::NR, k, calls, rounds, false) }
}

/// GFLOP/s of the `mr×nr` tile function `run` on panels of depth `k` (the
/// best of `rounds` rounds of `calls` tiles), with A packed, or when
/// `a_in_place` a row-major `mr×k` block read in place (`a_rs = k, a_cs = 1`,
/// as the driver passes an A it does not pack).
///
/// # Safety
/// `run` follows [`MicroKernel::run`]'s contract for an `mr×nr` tile and can
/// run on this CPU.
pub unsafe fn tile_rate(
    run: unsafe fn(&Tile),
    mr: usize,
    nr: usize,
    k: usize,
    calls: usize,
    rounds: usize,
    a_in_place: bool,
) -> f64 {
    let a = vec![0.5f32; mr * k];
    let b = vec![0.25f32; nr * k];
    let mut c = vec![0.0f32; mr * nr];
    let (a_rs, a_cs) = if a_in_place { (k, 1) } else { (1, mr) };
    let mut best = 0.0f64;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..calls {
            let tile = Tile {
                k,
                a: a.as_ptr(),
                a_rs,
                a_cs,
                b: b.as_ptr(),
                b_rs: nr,
                c: c.as_mut_ptr(),
                c_rs: nr,
                c_cs: 1,
                alpha: 1.0,
                beta: 1.0,
                m: mr,
                n: nr,
                bias: std::ptr::null(),
            };
            // SAFETY: `run` can run here (caller's contract); A holds mr·k
            // floats at either layout, B nr·k, and C is a private mr×nr
            // row-major tile.
            unsafe { run(&tile) };
        }
        std::hint::black_box(&mut c);
        let flops = 2.0 * (mr * nr * k * calls) as f64;
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

/// One core's GFLOP/s of the microkernel `simd::isa()` selects, measured for
/// about `budget` (depth 256, best of 10 rounds).
pub fn microkernel_gflops(budget: Duration) -> f64 {
    const K: usize = 256;
    const ROUNDS: usize = 10;
    fn probe<Kern: MicroKernel>(budget: Duration) -> f64 {
        // Calibrate the round length with a short first run.
        let calls = 64;
        let t = Instant::now();
        kernel_rate::<Kern>(K, calls, 1);
        let per_call = t.elapsed().as_secs_f64() / calls as f64;
        let per_round = budget.as_secs_f64() / ROUNDS as f64;
        let calls = ((per_round / per_call.max(1e-9)) as usize).max(calls);
        kernel_rate::<Kern>(K, calls, ROUNDS)
    }
    match isa() {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => probe::<super::kernel_avx512::Avx512>(budget),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => probe::<super::kernel_avx2::Avx2>(budget),
        #[cfg(target_arch = "aarch64")]
        Isa::Neon => probe::<super::kernel_neon::Neon>(budget),
        _ => probe::<super::kernel_scalar::Scalar>(budget),
    }
}

/// The GFLOP/s of `threads` cores running the microkernel probe at the same
/// time (each on its own OS thread, started together), summed: the
/// denominator for "% of peak" of a `threads`-thread run. Concurrent cores
/// can clock lower than one busy core, so this is not `threads` × one core.
pub fn concurrent_gflops(threads: usize, budget: Duration) -> f64 {
    let threads = threads.max(1);
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|s| {
        let runs: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    microkernel_gflops(budget)
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap_or(0.0)).sum()
    })
}

#[cfg(test)]
mod tests;
