//! `_core.activation` / `activation_backward`: GELU (erf, tanh), ReLU, tanh,
//! sigmoid, elementwise on C-contiguous arrays.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, Pool};
use pyo3::exceptions::PyValueError;

use crate::kernels::activation::{self as act_kernels, Act};

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

fn act_of(name: &str) -> PyResult<Act> {
    Ok(match name {
        "gelu" => Act::Gelu,
        "gelu_tanh" => Act::GeluTanh,
        "relu" => Act::Relu,
        "tanh" => Act::Tanh,
        "sigmoid" => Act::Sigmoid,
        other => {
            return Err(PyValueError::new_err(format!(
                "activation: unknown activation {other:?}; expected gelu, gelu_tanh, relu, tanh or sigmoid"
            )))
        }
    })
}

/// `out = act(x)`; `act` is gelu, gelu_tanh, relu, tanh or sigmoid.
#[pyfunction]
pub(super) fn activation(py: Python<'_>, act: &str, x: In<'_>, mut out: Out<'_>) -> PyResult<()> {
    let a = act_of(act)?;
    check_shape(a.name(), "out", out.shape(), x.shape())?;
    let xs = contiguous(&x, a.name(), "x")?;
    let ys = contiguous_mut(&mut out, a.name(), "out")?;
    call(py, Pool::Work(xs.len()), || act_kernels::forward(a, xs, ys))
}

/// `out = dy ⊙ act'`; `saved` is x (gelu*, relu) or y (tanh, sigmoid).
#[pyfunction]
pub(super) fn activation_backward(
    py: Python<'_>,
    act: &str,
    saved: In<'_>,
    dy: In<'_>,
    mut out: Out<'_>,
) -> PyResult<()> {
    let a = act_of(act)?;
    check_shape(a.name(), "dy", dy.shape(), saved.shape())?;
    check_shape(a.name(), "out", out.shape(), saved.shape())?;
    let ss = contiguous(&saved, a.name(), "saved")?;
    let dys = contiguous(&dy, a.name(), "dy")?;
    let dx = contiguous_mut(&mut out, a.name(), "out")?;
    call(py, Pool::Work(ss.len()), || {
        act_kernels::backward(a, ss, dys, dx)
    })
}
