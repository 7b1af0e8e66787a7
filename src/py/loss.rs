//! `_core.cross_entropy`: fused log-softmax + NLL over (N, C) logits.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, dims_2d, Pool};
use pyo3::exceptions::PyValueError;

use crate::kernels::loss::{self, CrossEntropy, Reduction};

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// Cross-entropy of (N, C) logits against (N,) int64 targets; fills the
/// per-row losses and dlogits, returns the reduced loss.
#[pyfunction]
#[pyo3(signature = (logits, target, losses, dlogits, ignore_index=-100, label_smoothing=0.0, reduction="mean"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn cross_entropy(
    py: Python<'_>,
    logits: In<'_>,
    target: In<'_, i64>,
    mut losses: Out<'_>,
    mut dlogits: Out<'_>,
    ignore_index: i64,
    label_smoothing: f32,
    reduction: &str,
) -> PyResult<f32> {
    const OP: &str = "cross_entropy";
    let reduction = match reduction {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => {
            return Err(PyValueError::new_err(format!(
                "{OP}: reduction must be 'mean', 'sum' or 'none', got {other:?}"
            )))
        }
    };
    let (n, c) = dims_2d(OP, "logits", "(N, C)", logits.shape())?;
    check_shape(OP, "target", target.shape(), &[n])?;
    check_shape(OP, "losses", losses.shape(), &[n])?;
    check_shape(OP, "dlogits", dlogits.shape(), &[n, c])?;
    let xs = contiguous(&logits, OP, "logits")?;
    let ts = contiguous(&target, OP, "target")?;
    let ls = contiguous_mut(&mut losses, OP, "losses")?;
    let gs = contiguous_mut(&mut dlogits, OP, "dlogits")?;
    let p = CrossEntropy {
        ignore_index,
        label_smoothing,
        reduction,
    };
    call(py, Pool::Work(xs.len()), || {
        loss::cross_entropy(xs, ts, n, c, p, ls, gs)
    })
}
