//! Bindings of the multi-tensor kernels: one Adam/AdamW step over a whole
//! parameter group, and the two passes of gradient-norm clipping.
//!
//! Each takes Python lists of arrays. Every array must be float32,
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

use super::errors::{detach, DTypeError, ShapeError};
use crate::kernels::grad_norm;
use crate::kernels::optim::{self, AdamGroup, AdamTensor};
use crate::threads;

type Arrays<'py> = Vec<Bound<'py, PyAny>>;

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

fn readonly<'py>(
    op: &str,
    arg: &str,
    xs: &Arrays<'py>,
) -> PyResult<Vec<PyReadonlyArrayDyn<'py, f32>>> {
    xs.iter()
        .enumerate()
        .map(|(i, ob)| {
            f32_array(op, arg, i, ob)?
                .try_readonly()
                .map_err(|e| borrow_err(op, arg, i, e))
        })
        .collect()
}

fn readwrite<'py>(
    op: &str,
    arg: &str,
    xs: &Arrays<'py>,
) -> PyResult<Vec<PyReadwriteArrayDyn<'py, f32>>> {
    xs.iter()
        .enumerate()
        .map(|(i, ob)| {
            f32_array(op, arg, i, ob)?
                .try_readwrite()
                .map_err(|e| borrow_err(op, arg, i, e))
        })
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
fn adam_multi_step(
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
    let mut ps = readwrite(OP, "params", &params)?;
    let gs = readonly(OP, "grads", &grads)?;
    let mut ms = readwrite(OP, "exp_avgs", &exp_avgs)?;
    let mut vs = readwrite(OP, "exp_avg_sqs", &exp_avg_sqs)?;
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
    detach(py, || {
        threads::install_for(total, || optim::adam_multi_step(tensors, h))
    })
}

/// The total 2-norm `√(Σ x²)` over every array, accumulated in float64.
#[pyfunction]
fn total_norm2(py: Python<'_>, xs: Arrays<'_>) -> PyResult<f64> {
    const OP: &str = "total_norm2";
    let bs = readonly(OP, "xs", &xs)?;
    let slices = bs
        .iter()
        .map(|b| b.as_slice())
        .collect::<Result<Vec<&[f32]>, _>>()?;
    let total: usize = slices.iter().map(|s| s.len()).sum();
    detach(py, || {
        Ok(threads::install_for(total, || {
            grad_norm::total_norm2(&slices)
        }))
    })
}

/// `x *= float32(c)` for every array, in place.
#[pyfunction]
fn scale_(py: Python<'_>, xs: Arrays<'_>, c: f64) -> PyResult<()> {
    const OP: &str = "scale_";
    let mut bs = readwrite(OP, "xs", &xs)?;
    let slices = bs
        .iter_mut()
        .map(|b| b.as_slice_mut())
        .collect::<Result<Vec<&mut [f32]>, _>>()?;
    let total: usize = slices.iter().map(|s| s.len()).sum();
    // The kernel multiplies in f32, as NumPy's `g *= np.float32(c)` does.
    detach(py, || {
        threads::install_for(total, || grad_norm::scale(slices, c as f32));
        Ok(())
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(adam_multi_step, m)?)?;
    m.add_function(wrap_pyfunction!(total_norm2, m)?)?;
    m.add_function(wrap_pyfunction!(scale_, m)?)?;
    Ok(())
}
