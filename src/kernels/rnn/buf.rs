//! Zeroed whole-sequence buffers, backed by transparent huge pages where
//! Linux allows it.
//!
//! A recurrent layer allocates tens of MiB per call (the saved gates alone
//! are B·T·G·H floats) and hands most of it to Python, so the memory is
//! fresh every call: with 4 KiB pages the first writes fault it in page by
//! page (thousands of faults, ~15 % of an LSTM training step on the machine
//! this was measured on). Asking for huge pages before the first write cuts
//! that by 512×. The advice changes only how later faults are served, never
//! the contents; where THP is off or the call fails, nothing changes.

/// Buffers below this size are not worth a system call.
const MIN_BYTES: usize = 4 << 20;

/// Zeros for a buffer of `dims` elements (their product, checked); a size
/// the allocator refuses is a `Memory` error naming the op.
pub(super) fn zeroed(dims: &[usize]) -> crate::Result<Vec<f32>> {
    let v = crate::kernels::alloc::try_zeros("rnn", dims)?;
    #[cfg(target_os = "linux")]
    advise_huge(&v);
    Ok(v)
}

#[cfg(target_os = "linux")]
fn advise_huge(v: &[f32]) {
    const HUGE: usize = 2 << 20;
    const MADV_HUGEPAGE: i32 = 14;
    extern "C" {
        fn madvise(addr: *mut std::ffi::c_void, len: usize, advice: i32) -> i32;
    }
    let bytes = std::mem::size_of_val(v);
    if bytes < MIN_BYTES {
        return;
    }
    // Only whole 2 MiB pages inside the buffer: the advice then never
    // touches memory the allocator may hand to someone else.
    let first = v.as_ptr() as usize;
    let start = first.next_multiple_of(HUGE);
    let end = (first + bytes) / HUGE * HUGE;
    if end > start {
        // SAFETY: [start, end) lies inside `v`'s allocation, which is live for
        // the call; MADV_HUGEPAGE does not change its contents or mapping.
        // The result is ignored on purpose: failure leaves normal pages.
        unsafe {
            madvise(start as *mut std::ffi::c_void, end - start, MADV_HUGEPAGE);
        }
    }
}

#[cfg(test)]
mod tests;
