//! Fallible allocation of buffers whose size comes from the input.
//!
//! `vec![0.0; n]` aborts the process when the allocator refuses (a 16-byte
//! broadcast view can describe a 64 GiB problem), and `a * b` wraps silently
//! in release builds. Every kernel buffer sized by its input is allocated
//! here instead: sizes are multiplied with overflow checks and the memory is
//! asked for fallibly, so a request that cannot be met becomes a
//! `KernelError` of kind `Memory` naming the op (a Python `MemoryError`).
//!
//! `try_zeroed` returns the error; `zeroed` is for places that cannot return
//! one (rayon `*_init` closures, scratch callbacks): it unwinds with the
//! error as payload, and the binding's `error::catch` turns it back into it.
//!
//! `advise_huge_pages` asks Linux for transparent huge pages for a large
//! buffer before its first touch (the RNN's whole-sequence buffers, GEMM's
//! packed B): with THP in its usual `madvise` mode, memory not advised is
//! served in 4 KiB pages, one fault and one TLB entry each.

use std::alloc::{alloc_zeroed, Layout};

use crate::error::{fail, KernelError, Result};

/// Element types whose all-zero bit pattern is the value zero.
pub trait Zero: Copy {}
impl Zero for f32 {}
impl Zero for f64 {}
impl Zero for usize {}
impl Zero for u32 {}

/// The product of `dims`, or a `Memory` error naming `op` if it overflows.
pub fn len(op: &'static str, dims: &[usize]) -> Result<usize> {
    dims.iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| {
            KernelError::memory(
                op,
                format!("a buffer of {dims:?} elements is larger than the address space"),
            )
        })
}

/// `n` zeros of `T`, or a `Memory` error naming `op` when the allocator
/// refuses. Zeroed pages come from the OS lazily, as with `vec![0; n]`.
pub fn try_zeroed<T: Zero>(op: &'static str, n: usize) -> Result<Vec<T>> {
    let too_big = || {
        let bytes = (n as u128) * std::mem::size_of::<T>() as u128;
        KernelError::memory(
            op,
            format!(
                "could not allocate {} for a buffer of {n} elements",
                human_bytes(bytes)
            ),
        )
    };
    let layout = Layout::array::<T>(n).map_err(|_| too_big())?;
    if layout.size() == 0 {
        return Ok(Vec::new());
    }
    // SAFETY: the layout has a non-zero size (checked above).
    let ptr = unsafe { alloc_zeroed(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(too_big());
    }
    // SAFETY: `ptr` comes from the global allocator with the layout of
    // `[T; n]` (what `Vec<T>` with capacity `n` uses), and `n` zero-filled
    // `T`s are initialised values (`T: Zero`).
    Ok(unsafe { Vec::from_raw_parts(ptr, n, n) })
}

/// `try_zeroed`, unwinding with the error for callers that cannot return it.
pub fn zeroed<T: Zero>(op: &'static str, n: usize) -> Vec<T> {
    try_zeroed(op, n).unwrap_or_else(|e| fail(e))
}

/// Zeros of `f32` for a buffer of `dims` elements (their product, checked),
/// or a `Memory` error naming `op`.
pub fn try_zeros(op: &'static str, dims: &[usize]) -> Result<Vec<f32>> {
    try_zeroed(op, len(op, dims)?)
}

/// `try_zeros`, unwinding with the error for callers that cannot return it
/// (a rayon `*_init` closure, a scratch callback).
pub fn zeros(op: &'static str, dims: &[usize]) -> Vec<f32> {
    try_zeros(op, dims).unwrap_or_else(|e| fail(e))
}

/// A copy of `src`, allocated fallibly.
pub fn try_copy<T: Zero>(op: &'static str, src: &[T]) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(src.len()).map_err(|_| {
        KernelError::memory(
            op,
            format!(
                "could not allocate {} for a buffer of {} elements",
                human_bytes(std::mem::size_of_val(src) as u128),
                src.len()
            ),
        )
    })?;
    v.extend_from_slice(src);
    Ok(v)
}

/// Grows `v` to at least `n` elements (new ones `fill`), fallibly; unwinds
/// with a `Memory` error naming `op` when the allocator refuses.
pub fn grow<T: Copy>(op: &'static str, v: &mut Vec<T>, n: usize, fill: T) {
    if v.len() >= n {
        return;
    }
    if v.try_reserve_exact(n - v.len()).is_err() {
        fail(KernelError::memory(
            op,
            format!(
                "could not allocate {} for a buffer of {n} elements",
                human_bytes((n as u128) * std::mem::size_of::<T>() as u128)
            ),
        ));
    }
    v.resize(n, fill);
}

/// Bytes in a transparent huge page (x86-64 and the usual aarch64 kernels).
pub const HUGE_PAGE: usize = 2 << 20;

/// Advises transparent huge pages for the whole `HUGE_PAGE`s inside
/// `[first, first + bytes)`, memory of one live allocation. Only whole pages
/// inside the range are advised, so the advice never touches memory the
/// allocator may hand to someone else. A hint: where THP is off or the call
/// fails, nothing changes but speed; the contents never change.
pub fn advise_huge_pages(first: *const u8, bytes: usize) {
    let start = (first as usize).next_multiple_of(HUGE_PAGE);
    let end = (first as usize).saturating_add(bytes) / HUGE_PAGE * HUGE_PAGE;
    if end > start {
        advise(start, end - start);
    }
}

#[cfg(target_os = "linux")]
fn advise(start: usize, len: usize) {
    // SAFETY: [start, start + len) lies inside the caller's live allocation;
    // MADV_HUGEPAGE changes neither its contents nor its mapping. The result
    // is ignored on purpose: failure leaves normal pages.
    unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: usize, _len: usize) {}

fn human_bytes(b: u128) -> String {
    const GIB: u128 = 1 << 30;
    const MIB: u128 = 1 << 20;
    if b >= GIB {
        format!("{:.1} GiB", b as f64 / GIB as f64)
    } else if b >= MIB {
        format!("{:.1} MiB", b as f64 / MIB as f64)
    } else {
        format!("{b} bytes")
    }
}

#[cfg(test)]
mod tests;
