//! Structured kernel errors: they carry the op and a message naming the
//! argument, the expected and the actual value. The bindings map `Shape` to
//! `attnrs.ShapeError` (a ValueError) and `Value` to a plain ValueError.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Shapes, strides or buffer lengths do not agree.
    Shape,
    /// A hyper-parameter or value is out of its domain (NaN learning rate, ...).
    Value,
    /// A buffer could not be allocated, or its size does not fit in memory.
    Memory,
    /// The runtime failed (the thread pool could not start, an internal bug).
    Runtime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    pub kind: ErrorKind,
    pub op: &'static str,
    pub message: String,
}

impl KernelError {
    pub fn shape(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Shape,
            op,
            message: message.into(),
        }
    }
    pub fn value(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Value,
            op,
            message: message.into(),
        }
    }
}

impl KernelError {
    pub fn memory(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Memory,
            op,
            message: message.into(),
        }
    }
    pub fn runtime(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Runtime,
            op,
            message: message.into(),
        }
    }
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.op, self.message)
    }
}

impl std::error::Error for KernelError {}

pub type Result<T> = std::result::Result<T, KernelError>;

/// Fails with a shape error unless a strided view with `shape`/`strides`
/// (in elements) fits inside a buffer of `len` elements.
pub fn check_extent(
    op: &'static str,
    arg: &str,
    len: usize,
    shape: &[usize],
    strides: &[usize],
) -> Result<()> {
    if shape.contains(&0) {
        return Ok(());
    }
    // Checked: a view whose extent overflows cannot fit any buffer.
    let last = shape.iter().zip(strides).try_fold(0usize, |acc, (&n, &s)| {
        (n - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
    });
    match last {
        Some(l) if l < len => Ok(()),
        _ => {
            let need = last.map_or("more than usize::MAX".to_string(), |l| (l + 1).to_string());
            Err(KernelError::shape(
                op,
                format!("{arg}: a view of shape {shape:?} with strides {strides:?} needs {need} elements, the buffer has {len}"),
            ))
        }
    }
}

/// True when no two index tuples of a view with `shape`/`strides` map to the
/// same element: sorted by stride, each stride must step over the whole
/// extent of the dimensions below it.
pub fn non_overlapping(shape: &[usize], strides: &[usize]) -> bool {
    if shape.contains(&0) {
        return true;
    }
    let mut dims: Vec<(usize, usize)> = shape
        .iter()
        .zip(strides)
        .filter(|(&n, _)| n > 1)
        .map(|(&n, &s)| (s, n))
        .collect();
    dims.sort_unstable();
    let mut extent = 1usize; // elements spanned by the dimensions seen so far
    for (stride, n) in dims {
        if stride < extent {
            return false;
        }
        extent += stride * (n - 1);
    }
    true
}

/// Runs `f`, turning an unwind that carries a `KernelError` (see
/// `kernels::alloc::zeroed` and `threads::install`, which fail that way where
/// they cannot return one) into that error, and any other panic (a bug) into
/// a `Runtime` error, so that no panic reaches the caller.
pub fn catch<R>(f: impl FnOnce() -> Result<R>) -> Result<R> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(match payload.downcast::<KernelError>() {
            Ok(e) => *e,
            Err(other) => {
                let msg = other
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| other.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                KernelError::runtime(
                    "attnrs",
                    format!("internal error (a bug, please report it): {msg}"),
                )
            }
        }),
    }
}

/// Leaves the current computation by unwinding with `e` as the payload,
/// without running the panic hook (nothing is printed); `catch` turns it
/// back into `Err(e)`. For failures deep inside parallel loops and
/// callbacks that cannot return a `Result`.
pub fn fail(e: KernelError) -> ! {
    std::panic::resume_unwind(Box::new(e))
}
