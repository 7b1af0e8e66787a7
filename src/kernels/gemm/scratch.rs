//! Reusable, 64-byte aligned packing buffers, a few per slot per thread.
//!
//! A buffer is taken out of its thread-local slot for the duration of a call
//! and put back afterwards, so a nested GEMM on the same thread (rayon may run
//! another task while this one waits, e.g. the two GEMMs a Linear backward
//! runs side by side) takes a second buffer instead of aliasing this one.
//! Each slot keeps up to `KEEP` buffers, so nesting does not allocate (and
//! page-fault) fresh memory on every call.

use std::cell::RefCell;

/// Which buffer: the shared packed B and A slices, or a task's padded edge of A.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    B,
    A,
    Edge,
}

/// Buffers kept per slot per thread (nesting deeper than this allocates).
const KEEP: usize = 4;

thread_local! {
    static SLOTS: [RefCell<Vec<Vec<f32>>>; 3] =
        const { [RefCell::new(Vec::new()), RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
}

/// Alignment of every buffer handed out, in floats (64 bytes).
const ALIGN: usize = 16;

/// Runs `f` with an aligned scratch slice of `len` floats (contents unspecified).
pub fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let i = slot as usize;
    let mut v = SLOTS.with(|s| s[i].borrow_mut().pop()).unwrap_or_default();
    // Fallible: `len` comes from the problem (K can be huge for a broadcast view).
    crate::kernels::alloc::grow("matmul", &mut v, len.saturating_add(ALIGN), 0.0);
    let off = v.as_ptr().align_offset(ALIGN * 4);
    let off = if off < ALIGN { off } else { 0 };
    let out = f(&mut v[off..off + len]);
    SLOTS.with(|s| {
        let mut kept = s[i].borrow_mut();
        if kept.len() < KEEP {
            kept.push(v);
        }
    });
    out
}

#[cfg(test)]
mod tests;
