//! NumPy arrays as strided slices the kernels can read without copying.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn};
use pyo3::prelude::*;

use super::errors::ShapeError;

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
/// last element of the view (0 when empty). Negative strides are refused
/// (the Python layer makes such arrays contiguous first), except on axes of
/// size 0 or 1, where no element is reached through them.
fn layout(
    shape: &[usize],
    elem_strides: &[isize],
    op: &str,
    arg: &str,
) -> PyResult<(Vec<usize>, Vec<usize>, usize)> {
    let shape = shape.to_vec();
    let mut strides = Vec::with_capacity(shape.len());
    for (&s, &n) in elem_strides.iter().zip(&shape) {
        // The stride of an axis of size 0 or 1 is never stepped along: a
        // reversed one (`x[:, ::-1]` of size 1) is as good as any.
        if n <= 1 {
            strides.push(s.unsigned_abs());
            continue;
        }
        if s < 0 {
            return Err(ShapeError::new_err(format!(
                "{op}: {arg} has element strides {elem_strides:?}; expected non-negative strides"
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

pub fn view<'a>(arr: &'a PyReadonlyArrayDyn<'_, f32>, op: &str, arg: &str) -> PyResult<View<'a>> {
    let a = arr.as_array();
    let (shape, strides, span) = layout(a.shape(), a.strides(), op, arg)?;
    let ptr = a.as_ptr();
    check_aligned(ptr, span, op, arg)?;
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
    let mut a = arr.as_array_mut();
    let (shape, strides, span) = layout(a.shape(), a.strides(), op, arg)?;
    let ptr = a.as_mut_ptr();
    check_aligned(ptr, span, op, arg)?;
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
