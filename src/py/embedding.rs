//! `_core.embedding` / `embedding_backward`: gather rows, deterministic scatter-add.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{call, check_shape, contiguous, contiguous_mut, dims_2d, Pool};
use crate::kernels::embedding as emb;

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
type Out<'py> = PyReadwriteArrayDyn<'py, f32>;

/// `out[i] = weight[ids[i]]`: weight (V, D), ids (N,) int64, out (N, D).
#[pyfunction]
pub(super) fn embedding(
    py: Python<'_>,
    weight: In<'_>,
    ids: In<'_, i64>,
    mut out: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "embedding";
    let (num, d) = dims_2d(OP, "weight", "(num_embeddings, dim)", weight.shape())?;
    check_shape(OP, "out", out.shape(), &[ids.len(), d])?;
    let ws = contiguous(&weight, OP, "weight")?;
    let is = contiguous(&ids, OP, "ids")?;
    let os = contiguous_mut(&mut out, OP, "out")?;
    call(py, Pool::Work(os.len()), || {
        emb::embedding(ws, num, d, is, os)
    })
}

/// `dweight[v] = Σ_{ids[i] = v} dy[i]`: dy (N, D), ids (N,), dweight (V, D).
#[pyfunction]
pub(super) fn embedding_backward(
    py: Python<'_>,
    dy: In<'_>,
    ids: In<'_, i64>,
    mut dweight: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "embedding_backward";
    let (num, d) = dims_2d(OP, "dweight", "(num_embeddings, dim)", dweight.shape())?;
    check_shape(OP, "dy", dy.shape(), &[ids.len(), d])?;
    let dys = contiguous(&dy, OP, "dy")?;
    let is = contiguous(&ids, OP, "ids")?;
    let dw = contiguous_mut(&mut dweight, OP, "dweight")?;
    call(py, Pool::Always, || {
        emb::embedding_backward(dys, is, num, d, dw)
    })
}
