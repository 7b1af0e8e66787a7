//! Reusable, 64-byte aligned packing buffers, a few per slot per thread.
//!
//! A buffer is taken out of its thread-local slot for the duration of a call
//! and put back afterwards, so a nested GEMM on the same thread (rayon may run
//! another task while this one waits, e.g. the two GEMMs a Linear backward
//! runs side by side) takes a second buffer instead of aliasing this one.
//! Each slot keeps up to `KEEP` buffers, so nesting does not allocate (and
//! page-fault) fresh memory on every call.
//!
//! Buffers of `HUGE_MIN` bytes and more (the packed K×NC_L3 slice of B: 8 MiB
//! at 2048²) are 2 MiB aligned, rounded up to whole 2 MiB pages and advised
//! for transparent huge pages before their first touch, as NumPy does for its
//! own large arrays: every sweep over that slice otherwise walks thousands of
//! 4 KiB pages, more than the L2 TLB holds beside A and C.

use std::alloc::{alloc, dealloc, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

use crate::error::KernelError;
use crate::kernels::alloc::{advise_huge_pages, HUGE_PAGE};

/// Which buffer: the shared packed B and A slices, or a task's padded edge of A.
#[derive(Debug, Clone, Copy)]
pub enum Slot {
    B,
    A,
    Edge,
}

/// Buffers kept per slot per thread (nesting deeper than this allocates).
const KEEP: usize = 4;

/// Alignment of every buffer handed out (64 bytes: one cache line).
const ALIGN: usize = 64;
/// Buffers from this many bytes are huge-page aligned and advised.
const HUGE_MIN: usize = 1 << 20;

/// An aligned, zero-initialised f32 buffer that owns its allocation.
struct Buf {
    ptr: NonNull<f32>,
    len: usize,
    layout: Layout,
}

impl Buf {
    /// At least `len` floats, or unwinds with a `Memory` error (see `alloc::zeroed`).
    fn new(len: usize) -> Buf {
        let too_big = || -> ! {
            crate::error::fail(KernelError::memory(
                "matmul",
                format!("could not allocate a scratch buffer of {len} floats"),
            ))
        };
        let bytes = len
            .max(1)
            .checked_mul(std::mem::size_of::<f32>())
            .unwrap_or_else(|| too_big());
        let huge = bytes >= HUGE_MIN;
        let (bytes, align) = if huge {
            (
                bytes
                    .checked_next_multiple_of(HUGE_PAGE)
                    .unwrap_or_else(|| too_big()),
                HUGE_PAGE,
            )
        } else {
            (bytes, ALIGN)
        };
        let layout = Layout::from_size_align(bytes, align).unwrap_or_else(|_| too_big());
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { alloc(layout) };
        let Some(ptr) = NonNull::new(raw.cast::<f32>()) else {
            too_big()
        };
        if huge {
            advise_huge_pages(raw, bytes);
        }
        // Zero-filled (after the advice, so that the first touch faults in
        // huge pages): the callers write before they read, but the slice
        // handed out must hold initialised floats.
        // SAFETY: `raw` is valid for `bytes` writable bytes.
        unsafe { std::ptr::write_bytes(raw, 0, bytes) };
        Buf {
            ptr,
            len: bytes / std::mem::size_of::<f32>(),
            layout,
        }
    }

    fn as_mut_slice(&mut self, len: usize) -> &mut [f32] {
        assert!(len <= self.len);
        // SAFETY: the buffer holds `self.len` initialised floats, owned by `self`.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), len) }
    }
}

impl Drop for Buf {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.ptr.as_ptr().cast(), self.layout) }
    }
}

thread_local! {
    static SLOTS: [RefCell<Vec<Buf>>; 3] =
        const { [RefCell::new(Vec::new()), RefCell::new(Vec::new()), RefCell::new(Vec::new())] };
}

/// Runs `f` with an aligned scratch slice of `len` floats (contents unspecified).
pub fn with_scratch<R>(slot: Slot, len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
    let i = slot as usize;
    let mut buf = match SLOTS.with(|s| s[i].borrow_mut().pop()) {
        Some(b) if b.len >= len => b,
        // Too small (dropped here) or none: a fresh one. `len` comes from
        // the problem (K can be huge for a broadcast view): allocation fails
        // with a Memory error, never an abort.
        _ => Buf::new(len),
    };
    let out = f(buf.as_mut_slice(len));
    SLOTS.with(|s| {
        let mut kept = s[i].borrow_mut();
        if kept.len() < KEEP {
            kept.push(buf);
        }
    });
    out
}

#[cfg(test)]
mod tests;
