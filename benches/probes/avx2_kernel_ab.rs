//! Before/after of the AVX2 microkernel in one process: the first 6×16
//! kernel (kept here verbatim as `legacy`, with a strided A address chain and
//! no unrolling) against today's, on hot panels with A packed and A read in
//! place, alternating round by round, next to the ymm FMA-chain peak of the
//! core. On a loaded machine only the ratios of one run mean anything.
//!
//! `cargo run --release --example avx2_kernel_ab [rounds]`

#[cfg(target_arch = "x86_64")]
mod legacy {
    use attnrs::kernels::gemm::kernel::{store_partial, Tile};
    use std::arch::x86_64::*;

    const MR: usize = 6;
    const NR: usize = 16;

    /// The AVX2 kernel as it was before issue 11.
    ///
    /// # Safety
    /// As `MicroKernel::run` for a 6×16 tile on a CPU with AVX2 and FMA.
    pub unsafe fn run(t: &Tile) {
        // SAFETY: forwarded.
        unsafe { kernel(t) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn kernel(t: &Tile) {
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        let (mut a, mut b) = (t.a, t.b);
        let rs = t.a_rs;
        for _ in 0..t.k {
            // SAFETY: a and b walk the micro-panels the caller vouched for: k steps
            // of a_cs in A (MR rows at a_rs) and of b_rs in B (NR floats each).
            unsafe {
                let b0 = _mm256_loadu_ps(b);
                let b1 = _mm256_loadu_ps(b.add(8));
                for (i, row) in acc.iter_mut().enumerate() {
                    let ai = _mm256_broadcast_ss(&*a.add(i * rs));
                    row[0] = _mm256_fmadd_ps(ai, b0, row[0]);
                    row[1] = _mm256_fmadd_ps(ai, b1, row[1]);
                }
                a = a.add(t.a_cs);
                b = b.add(t.b_rs);
            }
        }
        let alpha = _mm256_set1_ps(t.alpha);
        if t.m == MR && t.n == NR && t.c_cs == 1 {
            let beta = _mm256_set1_ps(t.beta);
            let mut bias = [_mm256_setzero_ps(); 2];
            if !t.bias.is_null() {
                for (j, b) in bias.iter_mut().enumerate() {
                    // SAFETY: the bias is readable at j < n = NR (caller's contract).
                    *b = unsafe { _mm256_loadu_ps(t.bias.add(8 * j)) };
                }
            }
            for (i, row) in acc.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    // SAFETY: full tile with unit column stride: 16 contiguous floats per row.
                    unsafe {
                        let dst = t.c.add(i * t.c_rs + 8 * j);
                        let mut out = if t.beta == 0.0 {
                            _mm256_mul_ps(alpha, v)
                        } else {
                            _mm256_fmadd_ps(beta, _mm256_loadu_ps(dst), _mm256_mul_ps(alpha, v))
                        };
                        if !t.bias.is_null() {
                            out = _mm256_add_ps(out, bias[j]);
                        }
                        _mm256_storeu_ps(dst, out);
                    }
                }
            }
        } else {
            let mut buf = [0.0f32; MR * NR];
            for (i, row) in acc.iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    // SAFETY: buf has MR·NR floats; (i, 8j) + 8 ≤ that.
                    unsafe {
                        _mm256_storeu_ps(
                            buf.as_mut_ptr().add(i * NR + 8 * j),
                            _mm256_mul_ps(alpha, v),
                        )
                    };
                }
            }
            // SAFETY: the C contract is the caller's; buf holds MR×NR floats.
            unsafe { store_partial(&buf, NR, t) }
        }
    }
}

/// GFLOP/s of 12 independent ymm FMA chains on one core (best of `rounds`).
#[cfg(target_arch = "x86_64")]
fn fma256_peak(iters: u64, rounds: usize) -> f64 {
    use std::arch::x86_64::*;
    use std::time::Instant;
    #[target_feature(enable = "avx2,fma")]
    unsafe fn chains(iters: u64) -> f32 {
        let b = _mm256_set1_ps(1.000_000_1);
        let c = _mm256_set1_ps(1e-7);
        let mut acc = [_mm256_setzero_ps(); 12];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm256_set1_ps(i as f32);
        }
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, b, c);
            }
            for a in acc.iter_mut() {
                // SAFETY: an empty asm block that only claims to modify one register.
                unsafe {
                    std::arch::asm!(
                        "/* {0} */",
                        inout(ymm_reg) * a,
                        options(pure, nomem, nostack)
                    )
                };
            }
        }
        let mut out = [0.0f32; 8];
        let mut s = _mm256_setzero_ps();
        for a in acc {
            s = _mm256_add_ps(s, a);
        }
        // SAFETY: out holds 8 floats.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
        out.iter().sum()
    }
    let mut best = 0.0f64;
    for _ in 0..rounds {
        let t = Instant::now();
        // SAFETY: only called when AVX2 and FMA are present (checked by the caller).
        std::hint::black_box(unsafe { chains(iters) });
        best = best.max(12.0 * 16.0 * iters as f64 / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}

#[cfg(target_arch = "x86_64")]
fn main() {
    use attnrs::kernels::gemm::kernel::MicroKernel;
    use attnrs::kernels::gemm::kernel_avx2::Avx2;
    use attnrs::kernels::gemm::peak::tile_rate;

    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10);
    if !Avx2::available() {
        println!("this CPU has no AVX2+FMA");
        return;
    }
    // name → best GFLOP/s over the rounds; each round runs every variant once.
    let names = [
        "ymm FMA chains (peak)",
        "legacy, A packed, k=256",
        "new,    A packed, k=256",
        "legacy, A in place, k=256",
        "new,    A in place, k=256",
        "legacy, A packed, k=64",
        "new,    A packed, k=64",
    ];
    let mut best = [0.0f64; 7];
    for _ in 0..rounds {
        let r = [
            fma256_peak(2_000_000, 1),
            // SAFETY: AVX2 and FMA are present (checked above); both are 6×16 kernels.
            unsafe { tile_rate(legacy::run, 6, 16, 256, 10_000, 1, false) },
            // SAFETY: as above.
            unsafe { tile_rate(Avx2::run, 6, 16, 256, 10_000, 1, false) },
            // SAFETY: as above.
            unsafe { tile_rate(legacy::run, 6, 16, 256, 10_000, 1, true) },
            // SAFETY: as above.
            unsafe { tile_rate(Avx2::run, 6, 16, 256, 10_000, 1, true) },
            // SAFETY: as above.
            unsafe { tile_rate(legacy::run, 6, 16, 64, 40_000, 1, false) },
            // SAFETY: as above.
            unsafe { tile_rate(Avx2::run, 6, 16, 64, 40_000, 1, false) },
        ];
        for (b, v) in best.iter_mut().zip(r) {
            *b = b.max(v);
        }
    }
    for (n, b) in names.iter().zip(best) {
        println!(
            "{n:<28} {b:7.1} GFLOP/s  ({:5.1} % of the chains)",
            100.0 * b / best[0]
        );
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn main() {
    println!("x86_64 only");
}
