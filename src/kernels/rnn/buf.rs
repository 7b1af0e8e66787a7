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
//!
//! Large buffers are reserved uninitialised, advised before any page is
//! touched, and zero-filled by the pool's threads in parallel (a fill on the
//! calling thread alone, ~3 % of an LSTM call's CPU time, left the other
//! threads idle); the length is set only after every element is written.

use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};
use std::sync::Mutex;

use rayon::prelude::*;

/// Buffers below this size are not worth a system call.
const MIN_BYTES: usize = 4 << 20;

/// Zeros for a buffer of `dims` elements (their product, checked); a size
/// the allocator refuses is a `Memory` error naming the op.
pub(super) fn zeroed(dims: &[usize]) -> crate::Result<Vec<f32>> {
    /// Elements per parallel fill task (1 MiB).
    const CHUNK: usize = 1 << 18;
    let n = crate::kernels::alloc::len("rnn", dims)?;
    let mut v: Vec<f32> = Vec::new();
    if n.saturating_mul(std::mem::size_of::<f32>()) < MIN_BYTES || v.try_reserve_exact(n).is_err() {
        // Small, or refused: the plain path (which reports the Memory error).
        return crate::kernels::alloc::try_zeros("rnn", dims);
    }
    let spare = &mut v.spare_capacity_mut()[..n];
    crate::kernels::alloc::advise_huge_pages(spare.as_ptr().cast(), std::mem::size_of_val(spare));
    spare
        .par_chunks_mut(CHUNK)
        .for_each(|c| c.fill(MaybeUninit::new(0.0)));
    // SAFETY: the capacity is at least n (reserved above) and all n elements
    // of the spare capacity were initialised (to 0.0) by the fill.
    unsafe { v.set_len(n) };
    Ok(v)
}

/// Backward-pass buffers kept for the next call (the gate gradients and the
/// weight-gradient partials: tens of MiB that never leave the kernel). Zero
/// filling them afresh each call cost ~2 % of an LSTM fwd+bwd; a kept buffer
/// is handed out as it was left, so its user writes every element before it
/// reads one. At most `KEEP` buffers are kept (the largest).
static KEPT: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());
const KEEP: usize = 3;
/// Smaller buffers are zero-filled afresh instead: a fill of a few MiB
/// leaves the buffer in the cores' L2, where the backward's writes then land
/// (an Elman fwd+bwd with a kept 4 MiB buffer ran 2.5 % slower, AVX-512).
const KEEP_MIN_BYTES: usize = 8 << 20;

/// A buffer from `KEPT` (or a new zeroed one) that goes back there when dropped.
pub(crate) struct Scratch(Vec<f32>);

impl Scratch {
    /// `dims` elements (their product, checked) of **arbitrary contents**:
    /// an earlier call's data, or zeros. The caller must write every element
    /// before reading it.
    pub(crate) fn take(dims: &[usize]) -> crate::Result<Scratch> {
        let n = crate::kernels::alloc::len("rnn", dims)?;
        if n.saturating_mul(std::mem::size_of::<f32>()) < KEEP_MIN_BYTES {
            return Ok(Scratch(zeroed(&[n])?)); // small (or none): a fresh one
        }
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        // The smallest kept buffer that can hold n elements.
        let pick = (0..kept.len())
            .filter(|&i| kept[i].capacity() >= n)
            .min_by_key(|&i| kept[i].capacity());
        let Some(i) = pick else {
            drop(kept);
            return Ok(Scratch(zeroed(&[n])?));
        };
        let mut v = kept.swap_remove(i);
        drop(kept);
        if v.len() >= n {
            v.truncate(n);
        } else {
            v.resize(n, 0.0); // within the capacity: no allocation
        }
        Ok(Scratch(v))
    }
}

impl Deref for Scratch {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.0
    }
}

impl DerefMut for Scratch {
    fn deref_mut(&mut self) -> &mut [f32] {
        &mut self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let v = std::mem::take(&mut self.0);
        if v.capacity() * std::mem::size_of::<f32>() < KEEP_MIN_BYTES {
            return; // small: not worth keeping
        }
        let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
        kept.push(v);
        if kept.len() > KEEP {
            let smallest = (0..kept.len()).min_by_key(|&i| kept[i].capacity());
            if let Some(i) = smallest {
                kept.swap_remove(i);
            }
        }
    }
}

#[cfg(test)]
mod tests;
