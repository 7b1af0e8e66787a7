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

/// `out[i] = a[ids_a[i]] + b[ids_b[i]]`: a (Va, D), b (Vb, D), ids (N,), out (N, D).
#[pyfunction]
pub(super) fn embedding_add(
    py: Python<'_>,
    a: In<'_>,
    ids_a: In<'_, i64>,
    b: In<'_>,
    ids_b: In<'_, i64>,
    mut out: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "embedding_add";
    let (num_a, d) = dims_2d(OP, "a", "(num_embeddings, dim)", a.shape())?;
    let (num_b, _) = dims_2d(OP, "b", "(num_embeddings, dim)", b.shape())?;
    check_shape(OP, "b", b.shape(), &[num_b, d])?;
    check_shape(OP, "ids_a", ids_a.shape(), &[ids_a.len()])?;
    check_shape(OP, "ids_b", ids_b.shape(), &[ids_a.len()])?;
    check_shape(OP, "out", out.shape(), &[ids_a.len(), d])?;
    let a = emb::Lookup {
        table: contiguous(&a, OP, "a")?,
        num: num_a,
        ids: contiguous(&ids_a, OP, "ids_a")?,
    };
    let b = emb::Lookup {
        table: contiguous(&b, OP, "b")?,
        num: num_b,
        ids: contiguous(&ids_b, OP, "ids_b")?,
    };
    let os = contiguous_mut(&mut out, OP, "out")?;
    call(py, Pool::Work(os.len()), || emb::embedding_add(a, b, d, os))
}

/// The gradients of `embedding_add` w.r.t. both tables, in one call:
/// `da[v] = Σ_{ids_a[i] = v} dy[i]`, `db[v] = Σ_{ids_b[i] = v} dy[i]`.
#[pyfunction]
pub(super) fn embedding_add_backward(
    py: Python<'_>,
    dy: In<'_>,
    ids_a: In<'_, i64>,
    ids_b: In<'_, i64>,
    mut da: Out<'_>,
    mut db: Out<'_>,
) -> PyResult<()> {
    const OP: &str = "embedding_add_backward";
    let (num_a, d) = dims_2d(OP, "da", "(num_embeddings, dim)", da.shape())?;
    let (num_b, _) = dims_2d(OP, "db", "(num_embeddings, dim)", db.shape())?;
    check_shape(OP, "db", db.shape(), &[num_b, d])?;
    check_shape(OP, "dy", dy.shape(), &[ids_a.len(), d])?;
    check_shape(OP, "ids_a", ids_a.shape(), &[ids_a.len()])?;
    check_shape(OP, "ids_b", ids_b.shape(), &[ids_a.len()])?;
    let dys = contiguous(&dy, OP, "dy")?;
    let (ia, ib) = (
        contiguous(&ids_a, OP, "ids_a")?,
        contiguous(&ids_b, OP, "ids_b")?,
    );
    let das = contiguous_mut(&mut da, OP, "da")?;
    let dbs = contiguous_mut(&mut db, OP, "db")?;
    let a = emb::ScatterAdd {
        ids: ia,
        num: num_a,
        dw: das,
    };
    let b = emb::ScatterAdd {
        ids: ib,
        num: num_b,
        dw: dbs,
    };
    call(py, Pool::Always, || {
        emb::embedding_add_backward(dys, d, a, b)
    })
}
