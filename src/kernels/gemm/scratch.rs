//! Reusable, 64-byte aligned packing buffers, one set per thread.
//!
//! A buffer is taken out of its thread-local slot for the duration of a call
//! and put back afterwards, so a nested GEMM on the same thread (rayon may run
//! another task while this one waits) simply gets a fresh buffer instead of
//! aliasing this one.

use std::cell::Cell;

/// Which buffer: the shared packed B and A slices, or a task's padded edge of A.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    B,
    A,
    Edge,
}

thread_local! {
    static SLOTS: [Cell<Vec<f32>>; 3] =
        const { [Cell::new(Vec::new()), Cell::new(Vec::new()), Cell::new(Vec::new())] };
}

/// Alignment of every buffer handed out, in floats (64 bytes).
const ALIGN: usize = 16;

/// Runs `f` with an aligned scratch slice of `len` floats (contents unspecified).
pub fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let i = slot as usize;
    let mut v = SLOTS.with(|s| s[i].take());
    if v.len() < len + ALIGN {
        v.resize(len + ALIGN, 0.0);
    }
    let off = v.as_ptr().align_offset(ALIGN * 4);
    let off = if off < ALIGN { off } else { 0 };
    let out = f(&mut v[off..off + len]);
    SLOTS.with(|s| s[i].set(v));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_and_reentrant() {
        with_scratch(Slot::B, 100, |outer| {
            assert_eq!(outer.as_ptr() as usize % 64, 0);
            outer.fill(1.0);
            with_scratch(Slot::B, 50, |inner| {
                assert_eq!(inner.len(), 50);
                inner.fill(2.0);
            });
            assert!(outer.iter().all(|&x| x == 1.0));
        });
    }
}
