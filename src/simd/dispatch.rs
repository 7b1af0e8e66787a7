//! Runs one generic kernel body under the ISA `isa()` chose.
//!
//! A kernel describes its work as a value implementing `Kernel`, whose
//! `run::<V>` is the one generic body (mark it `#[inline(always)]`, so that
//! it compiles inside the `#[target_feature]` shims below); `dispatch`
//! picks the shim. No kernel needs to write its own shims: this file holds
//! the only ones, one per ISA.
//!
//! Keep vector code out of closures inside `run`: a closure does not inherit
//! the shim's target features, so its intrinsics become slow calls. Use
//! `#[inline(always)]` helper functions instead.

use std::sync::OnceLock;

use super::scalar::Scalar;
use super::vector::F32Vec;
use super::{isa, Isa};

/// A unit of work written once over `V: F32Vec`.
pub trait Kernel {
    type Output;
    /// The generic body.
    ///
    /// # Safety
    /// Only called by `dispatch` with a `V` the CPU supports; implementations
    /// must be `#[inline(always)]` and keep every load/store inside its slices.
    unsafe fn run<V: F32Vec>(self) -> Self::Output;
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512<K: Kernel>(k: K) -> K::Output {
    k.run::<super::x86_avx512::Avx512>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2<K: Kernel>(k: K) -> K::Output {
    k.run::<super::x86_avx2::Avx2>()
}

#[cfg(target_arch = "aarch64")]
#[target_feature(enable = "neon")]
unsafe fn run_neon<K: Kernel>(k: K) -> K::Output {
    k.run::<super::neon::Neon>()
}

/// Runs `k` with the vector type of `isa()`.
#[inline]
pub fn dispatch<K: Kernel>(k: K) -> K::Output {
    // SAFETY: `isa()` only reports levels the CPU has.
    unsafe { run_level(isa(), k) }
}

/// Whether this CPU has `level` (`super::available()`, detected once).
#[inline]
pub fn supported(level: Isa) -> bool {
    static AVAILABLE: OnceLock<Vec<Isa>> = OnceLock::new();
    AVAILABLE.get_or_init(super::available).contains(&level)
}

/// Runs `k` with the vector type of `level`; a level this CPU lacks runs the
/// scalar body. Tests use it to compare levels within one process, and
/// kernels that take the level as an argument (the attention tiles) use it
/// as their one entry point.
#[inline]
pub fn dispatch_on<K: Kernel>(level: Isa, k: K) -> K::Output {
    let level = if supported(level) { level } else { Isa::Scalar };
    // SAFETY: `level` is one of `available()`.
    unsafe { run_level(level, k) }
}

/// # Safety
/// The CPU must support `level`.
#[inline]
unsafe fn run_level<K: Kernel>(level: Isa, k: K) -> K::Output {
    match level {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: caller's contract: the CPU has AVX-512F, AVX2 and FMA.
        Isa::Avx512 => unsafe { run_avx512(k) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: caller's contract: the CPU has AVX2 and FMA.
        Isa::Avx2 => unsafe { run_avx2(k) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: caller's contract: the CPU has NEON.
        Isa::Neon => unsafe { run_neon(k) },
        // SAFETY: the scalar body needs no CPU feature.
        _ => unsafe { k.run::<Scalar>() },
    }
}
