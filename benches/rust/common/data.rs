//! Deterministic bench inputs (no RNG crate on the hot path of a bench).

/// `len` values in [-0.5, 0.5), a different sequence for each `seed`.
pub fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len)
        .map(|i| {
            ((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 9) as f32
                / (1u32 << 23) as f32
                - 0.5
        })
        .collect()
}
