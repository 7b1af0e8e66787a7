//! Bindings of the optimizer kernels: the AdamW step of one tensor, the
//! multi-tensor Adam/AdamW step over a whole parameter group, and the two
//! passes of gradient-norm clipping; and `add_`, the in-place sum that
//! accumulates a gradient into `.grad`.
//!
//! The multi-tensor ones take Python lists of arrays. Every array must be float32,
//! C-contiguous and (when updated) writable; errors name the argument and the
//! index (`grads[3]`). Borrowing each array through rust-numpy also refuses
//! arrays that overlap one another (the same buffer passed twice, or a
//! parameter that is also a gradient). Validate → release the GIL → kernel.

use numpy::{
    BorrowError, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyReadwriteArrayDyn,
    PyUntypedArray, PyUntypedArrayMethods,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, Pool};
use super::errors::{DTypeError, ShapeError};
use crate::kernels::grad_norm;
use crate::kernels::optim::{self, AdamGroup, AdamTensor, AdamW};

type Arrays<'py> = Vec<Bound<'py, PyAny>>;
type In<'py> = PyReadonlyArrayDyn<'py, f32>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// One AdamW step in place over same-sized contiguous buffers.
#[pyfunction]
#[pyo3(signature = (param, grad, exp_avg, exp_avg_sq, *, lr, beta1, beta2, eps, weight_decay, step))]
#[allow(clippy::too_many_arguments)]
pub(super) fn adamw_step(
    py: Python<'_>,
    mut param: Out<'_>,
    grad: In<'_>,
    mut exp_avg: Out<'_>,
    mut exp_avg_sq: Out<'_>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    step: u64,
) -> PyResult<()> {
    const OP: &str = "adamw_step";
    let g = contiguous(&grad, OP, "grad")?;
    let p = contiguous_mut(&mut param, OP, "param")?;
    let m = contiguous_mut(&mut exp_avg, OP, "exp_avg")?;
    let v = contiguous_mut(&mut exp_avg_sq, OP, "exp_avg_sq")?;
    let h = AdamW {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        step,
    };
    call(py, Pool::Always, || optim::adamw_step(p, g, m, v, h))
}

/// `arg[i]` as a C-contiguous float32 array.
fn f32_array<'py>(
    op: &str,
    arg: &str,
    i: usize,
    ob: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let a = match ob.cast::<PyArrayDyn<f32>>() {
        Ok(a) => a.clone(),
        Err(_) => {
            let got = match ob.cast::<PyUntypedArray>() {
                Ok(u) => format!("dtype {}", u.dtype()),
                Err(_) => format!("{}", ob.get_type().name()?),
            };
            return Err(DTypeError::new_err(format!(
                "{op}: {arg}[{i}] must be a float32 ndarray; got {got}"
            )));
        }
    };
    if !a.is_c_contiguous() {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg}[{i}] must be C-contiguous (use np.ascontiguousarray)"
        )));
    }
    Ok(a)
}

fn borrow_err(op: &str, arg: &str, i: usize, e: BorrowError) -> PyErr {
    match e {
        BorrowError::NotWriteable => PyValueError::new_err(format!(
            "{op}: {arg}[{i}] is read-only; it is updated in place"
        )),
        _ => PyValueError::new_err(format!(
            "{op}: {arg}[{i}] shares memory with another array of this call; \
             pass distinct arrays"
        )),
    }
}

/// Every array of the list `arg`, checked by `f32_array` and borrowed by `borrow`.
fn borrow_all<'py, B>(
    op: &str,
    arg: &str,
    xs: &Arrays<'py>,
    borrow: impl Fn(Bound<'py, PyArrayDyn<f32>>) -> Result<B, BorrowError>,
) -> PyResult<Vec<B>> {
    xs.iter()
        .enumerate()
        .map(|(i, ob)| borrow(f32_array(op, arg, i, ob)?).map_err(|e| borrow_err(op, arg, i, e)))
        .collect()
}

fn same_len(op: &str, arg: &str, got: usize, want: usize) -> PyResult<()> {
    if got != want {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg} has {got} entries, params has {want}; pass one per parameter"
        )));
    }
    Ok(())
}

fn same_shape(op: &str, arg: &str, i: usize, got: &[usize], want: &[usize]) -> PyResult<()> {
    if got != want {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg}[{i}] has shape {got:?}, params[{i}] has shape {want:?}"
        )));
    }
    Ok(())
}

/// One Adam (`decoupled=False`: L2 penalty in the gradient) or AdamW step in
/// place over a parameter group; `steps[i]` (>= 1) is tensor i's step count.
#[pyfunction]
#[pyo3(signature = (params, grads, exp_avgs, exp_avg_sqs, steps, *, lr, beta1, beta2, eps, weight_decay, decoupled))]
#[allow(clippy::too_many_arguments)]
pub(super) fn adam_multi_step(
    py: Python<'_>,
    params: Arrays<'_>,
    grads: Arrays<'_>,
    exp_avgs: Arrays<'_>,
    exp_avg_sqs: Arrays<'_>,
    steps: Vec<i64>,
    lr: f64,
    beta1: f64,
    beta2: f64,
    eps: f64,
    weight_decay: f64,
    decoupled: bool,
) -> PyResult<()> {
    const OP: &str = "adam_multi_step";
    let n = params.len();
    same_len(OP, "grads", grads.len(), n)?;
    same_len(OP, "exp_avgs", exp_avgs.len(), n)?;
    same_len(OP, "exp_avg_sqs", exp_avg_sqs.len(), n)?;
    same_len(OP, "steps", steps.len(), n)?;
    let mut ps = borrow_all(OP, "params", &params, |a| a.try_readwrite())?;
    let gs = borrow_all(OP, "grads", &grads, |a| a.try_readonly())?;
    let mut ms = borrow_all(OP, "exp_avgs", &exp_avgs, |a| a.try_readwrite())?;
    let mut vs = borrow_all(OP, "exp_avg_sqs", &exp_avg_sqs, |a| a.try_readwrite())?;
    for i in 0..n {
        let want = ps[i].shape().to_vec();
        same_shape(OP, "grads", i, gs[i].shape(), &want)?;
        same_shape(OP, "exp_avgs", i, ms[i].shape(), &want)?;
        same_shape(OP, "exp_avg_sqs", i, vs[i].shape(), &want)?;
        if steps[i] < 1 {
            return Err(PyValueError::new_err(format!(
                "{OP}: steps[{i}] must be >= 1 (steps count from 1); got {}",
                steps[i]
            )));
        }
    }
    let total: usize = ps.iter().map(|p| p.len()).sum();
    let mut tensors = Vec::with_capacity(n);
    for ((((p, g), m), v), &step) in ps
        .iter_mut()
        .zip(&gs)
        .zip(ms.iter_mut())
        .zip(vs.iter_mut())
        .zip(&steps)
    {
        // Contiguity was checked above, so these cannot fail.
        tensors.push(AdamTensor {
            param: p.as_slice_mut()?,
            grad: g.as_slice()?,
            exp_avg: m.as_slice_mut()?,
            exp_avg_sq: v.as_slice_mut()?,
            step: step as u64,
        });
    }
    let h = AdamGroup {
        lr,
        beta1,
        beta2,
        eps,
        weight_decay,
        decoupled,
    };
    call(py, Pool::Work(total), || optim::adam_multi_step(tensors, h))
}

/// The total 2-norm `√(Σ x²)` over every array, accumulated in float64.
/// `writable`: every array must also be writable and overlap no other (what a
/// `scale_` of the same list needs), else ValueError: `clip_grad_norm_` learns
/// in this one call whether its fast path applies.
#[pyfunction]
#[pyo3(signature = (xs, *, writable = false))]
pub(super) fn total_norm2(py: Python<'_>, xs: Arrays<'_>, writable: bool) -> PyResult<f64> {
    const OP: &str = "total_norm2";
    if writable {
        let bs = borrow_all(OP, "xs", &xs, |a| a.try_readwrite())?;
        return norm2(py, bs.iter().map(|b| b.as_slice()));
    }
    let bs = borrow_all(OP, "xs", &xs, |a| a.try_readonly())?;
    norm2(py, bs.iter().map(|b| b.as_slice()))
}

/// The kernel's norm over the borrowed arrays' slices.
fn norm2<'a, E>(py: Python<'_>, slices: impl Iterator<Item = Result<&'a [f32], E>>) -> PyResult<f64>
where
    PyErr: From<E>,
{
    let slices = slices.collect::<Result<Vec<&[f32]>, E>>()?;
    let total: usize = slices.iter().map(|s| s.len()).sum();
    call(py, Pool::Work(total), || {
        Ok(grad_norm::total_norm2(&slices))
    })
}

/// `x *= float32(c)` for every array, in place.
#[pyfunction]
pub(super) fn scale_(py: Python<'_>, xs: Arrays<'_>, c: f64) -> PyResult<()> {
    const OP: &str = "scale_";
    let mut bs = borrow_all(OP, "xs", &xs, |a| a.try_readwrite())?;
    let slices = bs
        .iter_mut()
        .map(|b| b.as_slice_mut())
        .collect::<Result<Vec<&mut [f32]>, _>>()?;
    let total: usize = slices.iter().map(|s| s.len()).sum();
    // The kernel multiplies in f32, as NumPy's `g *= np.float32(c)` does.
    call(py, Pool::Work(total), || {
        grad_norm::scale(slices, c as f32);
        Ok(())
    })
}

/// `dst += src` elementwise, in place (both C-contiguous, the same shape):
/// how `Tensor._accumulate` adds a later gradient contribution into `.grad`.
#[pyfunction]
pub(super) fn add_(
    py: Python<'_>,
    dst: PyReadwriteArrayDyn<'_, f32>,
    src: PyReadonlyArrayDyn<'_, f32>,
) -> PyResult<()> {
    const OP: &str = "add_";
    check_shape(OP, "src", src.shape(), dst.shape())?;
    let mut dst = dst;
    let d = contiguous_mut(&mut dst, OP, "dst")?;
    let s = contiguous(&src, OP, "src")?;
    call(py, Pool::Work(d.len()), || {
        grad_norm::accumulate(d, s);
        Ok(())
    })
}
