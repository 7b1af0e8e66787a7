//! Helpers for the fused-kernel unit tests.

/// Deterministic pseudo-random values in [-scale, scale).
pub fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

/// Runs `f` in a private pool of `threads` threads.
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap()
        .install(f)
}

/// Exact (erf) GELU in f64, for the f64 references.
pub fn gelu64(x: f64) -> f64 {
    // Φ(x) through erf's Abramowitz–Stegun-free series: accurate to ~1e-12 for |x| < 8.
    let z = x / std::f64::consts::SQRT_2;
    let mut term = z;
    let mut sum = z;
    for n in 1..200 {
        term *= -z * z / n as f64;
        sum += term / (2 * n + 1) as f64;
    }
    0.5 * x * (1.0 + 2.0 / std::f64::consts::PI.sqrt() * sum)
}

pub fn assert_close(got: &[f32], want: &[f64], atol: f64, rtol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let tol = atol + rtol * w.abs();
        assert!(
            (g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

/// Shapes with odd sizes, 1 and primes around the vector widths.
pub const SHAPES: [(usize, usize); 7] = [
    (1, 1),
    (3, 7),
    (5, 16),
    (2, 17),
    (13, 31),
    (4, 100),
    (70, 257),
];
