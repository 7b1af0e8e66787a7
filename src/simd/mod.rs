//! CPU-feature detection and the instruction-set level in use.
//!
//! The level is decided once, at first use, from the runtime CPU features,
//! best first: AVX-512F, AVX2+FMA, NEON (aarch64), scalar. `ATTNRS_SIMD`
//! (`scalar`, `avx2`, `avx512`, `neon`) forces a lower level so that tests can
//! exercise every path this machine has; asking for a level the CPU lacks
//! falls back to the best available one below it.
//!
//! # Vector primitives
//! `vector::F32Vec` is the interface (load/store incl. masked tails,
//! arithmetic, `exp`/`tanh`/`sigmoid`/`erfc`, horizontal sum/max), implemented
//! by `scalar::Scalar` (1 lane), `x86_avx2::Avx2` (`__m256`),
//! `x86_avx512::Avx512` (`__m512`) and `neon::Neon` (`float32x4_t`). Each
//! ISA file also exports the same math as free `#[inline(always)] unsafe fn`s
//! on its register type. Accuracy is
//! documented in `vector.rs` and tested in `tests.rs`.
//!
//! A kernel writes its work as a value implementing `dispatch::Kernel`,
//! whose `run::<V: F32Vec>` is one generic `#[inline(always)]` body, and
//! calls `dispatch(k)` (or `dispatch_on(level, k)` in tests); the
//! `#[target_feature]` shims live in `dispatch.rs` only, so no kernel writes
//! its own:
//!
//! ```ignore
//! struct Exp<'a>(&'a mut [f32]);
//! impl Kernel for Exp<'_> {
//!     type Output = ();
//!     #[inline(always)]
//!     unsafe fn run<V: F32Vec>(self) { /* V::load, V::exp, V::store, ... */ }
//! }
//! dispatch(Exp(x));
//! ```

use std::sync::OnceLock;

pub mod dispatch;
#[cfg(target_arch = "aarch64")]
pub mod neon;
pub mod normal_cdf;
pub mod rational;
pub mod scalar;
pub mod vector;
#[cfg(target_arch = "x86_64")]
pub mod x86_avx2;
#[cfg(target_arch = "x86_64")]
pub mod x86_avx512;

pub use dispatch::{dispatch, dispatch_on, supported, Kernel};
pub use vector::F32Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    Scalar,
    Neon,
    Avx2,
    Avx512,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Neon => "neon",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    pub fn parse(s: &str) -> Option<Isa> {
        match s.trim().to_ascii_lowercase().as_str() {
            "scalar" | "none" => Some(Isa::Scalar),
            "neon" => Some(Isa::Neon),
            "avx2" => Some(Isa::Avx2),
            "avx512" | "avx512f" => Some(Isa::Avx512),
            _ => None,
        }
    }
}

/// Every level this CPU supports, best first; `Scalar` is always last.
pub fn available() -> Vec<Isa> {
    let mut out = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
        {
            out.push(Isa::Avx512);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            out.push(Isa::Avx2);
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        if std::arch::is_aarch64_feature_detected!("neon") {
            out.push(Isa::Neon);
        }
    }
    out.push(Isa::Scalar);
    out
}

fn detect() -> Isa {
    let avail = available();
    let best = avail[0];
    match std::env::var("ATTNRS_SIMD")
        .ok()
        .as_deref()
        .and_then(Isa::parse)
    {
        // Never go above what the CPU has: take the best available level not above the request.
        Some(req) => avail.into_iter().find(|&l| l <= req).unwrap_or(Isa::Scalar),
        None => best,
    }
}

/// The level every kernel dispatches on, fixed for the life of the process.
pub fn isa() -> Isa {
    static LEVEL: OnceLock<Isa> = OnceLock::new();
    *LEVEL.get_or_init(detect)
}

#[cfg(test)]
mod tests;
