//! The one place where the bindings check shapes and strides and turn NumPy
//! arrays into slices: strided views (`view`, `view_mut`), C-contiguous slices
//! (`contiguous`, `dense`, and their `_mut`), shape checks (`check_shape`,
//! `rows_n`), and `call`, the one way from a binding into a kernel (release
//! the GIL, pick the thread-pool policy, map the kernel's error).
//!
//! dtype and layout conversion happen in Python (`attnrs._validate`): a
//! binding receives float32 (int64 for ids) arrays and refuses anything else.

use numpy::{
    Element, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods,
};
use pyo3::prelude::*;

use super::errors::ShapeError;
use crate::threads;

/// A read-only strided view: `data[Σ i_d · strides[d]]` is element `i`.
pub struct View<'a> {
    pub data: &'a [f32],
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

/// A writable strided view.
pub struct ViewMut<'a> {
    pub data: &'a mut [f32],
    pub shape: Vec<usize>,
    pub strides: Vec<usize>,
}

/// Shape, element strides and the number of elements from the first to the
/// last element of the view (0 when empty), from NumPy's byte strides read
/// straight off the array (building an ndarray view for them was a tenth of
/// a 4×4 `gemm` call). Negative strides (the Python layer makes such
/// arrays contiguous first) and strides that are not whole elements are
/// refused, except on axes of size 0 or 1, where no element is reached
/// through them.
fn layout(
    shape: &[usize],
    byte_strides: &[isize],
    op: &str,
    arg: &str,
) -> PyResult<(Vec<usize>, Vec<usize>, usize)> {
    const F: isize = std::mem::size_of::<f32>() as isize;
    let shape = shape.to_vec();
    let mut strides = Vec::with_capacity(shape.len());
    for (&b, &n) in byte_strides.iter().zip(&shape) {
        let s = b / F;
        // The stride of an axis of size 0 or 1 is never stepped along: a
        // reversed one (`x[:, ::-1]` of size 1) is as good as any.
        if n <= 1 {
            strides.push(s.unsigned_abs());
            continue;
        }
        if b % F != 0 {
            return Err(ShapeError::new_err(format!(
                "{op}: {arg} has byte strides {byte_strides:?}; expected multiples of {F} (pass a copy: np.array(x))"
            )));
        }
        if s < 0 {
            let elem: Vec<isize> = byte_strides.iter().map(|b| b / F).collect();
            return Err(ShapeError::new_err(format!(
                "{op}: {arg} has element strides {elem:?}; expected non-negative strides"
            )));
        }
        strides.push(s as usize);
    }
    let span = if shape.contains(&0) {
        0
    } else {
        1 + shape
            .iter()
            .zip(&strides)
            .map(|(&n, &s)| (n - 1) * s)
            .sum::<usize>()
    };
    Ok((shape, strides, span))
}

/// Refuses a view whose first element is not 4-byte aligned (NumPy allows
/// it, e.g. `np.frombuffer` at an odd offset; a `&[f32]` must not be).
fn check_aligned(ptr: *const f32, span: usize, op: &str, arg: &str) -> PyResult<()> {
    if span > 0 && !ptr.is_aligned() {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg} is not aligned to 4 bytes; pass a copy (np.array(x))"
        )));
    }
    Ok(())
}

/// `layout` of an array whose first element is at `ptr`, which must be aligned.
fn checked_layout(
    shape: &[usize],
    byte_strides: &[isize],
    ptr: *const f32,
    op: &str,
    arg: &str,
) -> PyResult<(Vec<usize>, Vec<usize>, usize)> {
    let (shape, strides, span) = layout(shape, byte_strides, op, arg)?;
    check_aligned(ptr, span, op, arg)?;
    Ok((shape, strides, span))
}

pub fn view<'a>(arr: &'a PyReadonlyArrayDyn<'_, f32>, op: &str, arg: &str) -> PyResult<View<'a>> {
    let ptr = arr.data() as *const f32;
    let (shape, strides, span) = checked_layout(arr.shape(), arr.strides(), ptr, op, arg)?;
    // SAFETY: every element of the view lies in [ptr, ptr + span) because the
    // strides are non-negative; NumPy guarantees the view is inside one live
    // allocation, and the readonly borrow (checked by rust-numpy) keeps it
    // alive and unmodified by other Rust borrows while `View` lives.
    let data = unsafe { std::slice::from_raw_parts(ptr, span) };
    Ok(View {
        data,
        shape,
        strides,
    })
}

pub fn view_mut<'a>(
    arr: &'a mut PyReadwriteArrayDyn<'_, f32>,
    op: &str,
    arg: &str,
) -> PyResult<ViewMut<'a>> {
    let ptr = arr.data();
    let (shape, strides, span) = checked_layout(arr.shape(), arr.strides(), ptr, op, arg)?;
    // SAFETY: as in `view`; the readwrite borrow is exclusive (rust-numpy
    // refuses it while any other borrow of the same memory exists), so no
    // other slice aliases this one.
    let data = unsafe { std::slice::from_raw_parts_mut(ptr, span) };
    Ok(ViewMut {
        data,
        shape,
        strides,
    })
}

fn not_contiguous(op: &str, arg: &str, strides: &[isize]) -> PyErr {
    ShapeError::new_err(format!(
        "{op}: {arg} must be C-contiguous (use np.ascontiguousarray); got byte strides {strides:?}"
    ))
}

/// A C-contiguous array as a slice (any shape).
pub fn contiguous<'a, T: Element>(
    a: &'a PyReadonlyArrayDyn<'_, T>,
    op: &str,
    arg: &str,
) -> PyResult<&'a [T]> {
    // rust-numpy's `as_slice` also takes Fortran-ordered arrays, whose memory
    // order is not the element order a kernel reads: C order only.
    if !a.is_c_contiguous() {
        return Err(not_contiguous(op, arg, a.strides()));
    }
    a.as_slice()
        .map_err(|_| not_contiguous(op, arg, a.strides()))
}

/// A writable C-contiguous array as a slice (any shape).
pub fn contiguous_mut<'a>(
    a: &'a mut PyReadwriteArrayDyn<'_, f32>,
    op: &str,
    arg: &str,
) -> PyResult<&'a mut [f32]> {
    let strides = a.strides().to_vec();
    if !a.is_c_contiguous() {
        return Err(not_contiguous(op, arg, &strides));
    }
    a.as_slice_mut()
        .map_err(|_| not_contiguous(op, arg, &strides))
}

/// `got == want`, or a `ShapeError` naming the op and the argument.
pub fn check_shape(op: &str, arg: &str, got: &[usize], want: &[usize]) -> PyResult<()> {
    if got != want {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg} must have shape {}, got {}",
            py_shape(want),
            py_shape(got)
        )));
    }
    Ok(())
}

/// A shape as Python prints it: `(3,)`, `(2, 4)`, `()`.
pub fn py_shape(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => {
            let dims: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
            format!("({})", dims.join(", "))
        }
    }
}

/// The two extents of a 2-D array, else a `ShapeError` that names the axes
/// (`axes`, e.g. `"(num_embeddings, dim)"`).
pub fn dims_2d(op: &str, arg: &str, axes: &str, shape: &[usize]) -> PyResult<(usize, usize)> {
    match *shape {
        [rows, cols] => Ok((rows, cols)),
        _ => Err(ShapeError::new_err(format!(
            "{op}: {arg} must be 2-D {axes}, got shape {}",
            py_shape(shape)
        ))),
    }
}

/// A C-contiguous array of exactly `want` shape, as a slice.
pub fn dense<'a, T: Element>(
    a: &'a PyReadonlyArrayDyn<'_, T>,
    op: &str,
    arg: &str,
    want: &[usize],
) -> PyResult<&'a [T]> {
    check_shape(op, arg, a.shape(), want)?;
    contiguous(a, op, arg)
}

/// A writable C-contiguous array of exactly `want` shape, as a slice.
pub fn dense_mut<'a>(
    a: &'a mut PyReadwriteArrayDyn<'_, f32>,
    op: &str,
    arg: &str,
    want: &[usize],
) -> PyResult<&'a mut [f32]> {
    check_shape(op, arg, a.shape(), want)?;
    contiguous_mut(a, op, arg)
}

/// (rows, n) of a shape: n is the last axis, rows the product of the others.
pub fn rows_n(shape: &[usize]) -> (usize, usize) {
    match shape.split_last() {
        Some((&n, rest)) => (rest.iter().product(), n),
        None => (1, 1),
    }
}

/// Where a kernel call runs.
#[derive(Clone, Copy, Debug)]
pub enum Pool {
    /// On the calling thread: a problem too small to split, where handing it
    /// to the pool (a thread wake-up) costs more than the work.
    Caller,
    /// In the pool, unless `work` (elements or multiply-adds) is below
    /// `threads::INLINE_WORK`: then on the calling thread.
    Work(usize),
    /// Always in the pool.
    Always,
}

/// The one way from a binding into a kernel: releases the GIL, runs `f` as
/// `pool` says and maps a kernel error to its Python exception.
pub fn call<R: Send>(
    py: Python<'_>,
    pool: Pool,
    f: impl FnOnce() -> crate::Result<R> + Send,
) -> PyResult<R> {
    super::errors::detach(py, || match pool {
        Pool::Caller => f(),
        Pool::Work(work) => threads::install_for(work, f),
        Pool::Always => threads::install(f),
    })
}
