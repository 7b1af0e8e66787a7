//! `_core.attention_forward` / `_core.attention_backward`: 4-D (B, H, T, D)
//! strided views in, results written into caller-allocated arrays (which may
//! themselves be strided views, e.g. a (B, T, H, Dv) array seen as
//! (B, H, T, Dv)). Broadcasting, dtype conversion and mask conversion live
//! in `attnrs.ops`.

use numpy::{PyReadonlyArrayDyn, PyReadwriteArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{view, view_mut, View, ViewMut};
use super::errors::{detach, ShapeError};
use crate::kernels::attention::{
    self, Additive, AttnParams, BackwardInputs, GradLayouts, KeyPadding, Layout, Masks, PackedGrads,
};
use crate::threads;

fn layout(op: &str, arg: &str, shape: &[usize], s: &[usize]) -> PyResult<Layout> {
    if shape.len() != 4 {
        return Err(ShapeError::new_err(format!(
            "{op}: {arg}: expected a 4-D (batch, heads, time, dim) array, got shape {shape:?}"
        )));
    }
    Ok(Layout {
        batch: s[0],
        head: s[1],
        time: s[2],
        dim: s[3],
    })
}

fn lay(op: &str, arg: &str, v: &View<'_>) -> PyResult<Layout> {
    layout(op, arg, &v.shape, &v.strides)
}

fn lay_mut(op: &str, arg: &str, v: &ViewMut<'_>) -> PyResult<Layout> {
    layout(op, arg, &v.shape, &v.strides)
}

/// Sizes from q (B,H,Tq,D), k (B,H,Tk,D), v (B,H,Tk,Dv); the kernel checks every extent.
fn params(
    q: &View<'_>,
    k: &View<'_>,
    v: &View<'_>,
    scale: f32,
    causal: bool,
    causal_offset: usize,
) -> PyResult<AttnParams> {
    let op = "attention";
    let (lq, lk, lv) = (lay(op, "q", q)?, lay(op, "k", k)?, lay(op, "v", v)?);
    let (qs, ks, vs) = (&q.shape, &k.shape, &v.shape);
    if ks[..2] != qs[..2] || vs[..3] != ks[..3] || ks[3] != qs[3] {
        return Err(ShapeError::new_err(format!(
            "{op}: shapes q {qs:?}, k {ks:?}, v {vs:?} do not agree (expected (B,H,Tq,D), (B,H,Tk,D), (B,H,Tk,Dv))"
        )));
    }
    Ok(AttnParams {
        batch: qs[0],
        heads: qs[1],
        tq: qs[2],
        tk: ks[2],
        d: qs[3],
        dv: vs[3],
        scale,
        causal,
        causal_offset,
        q: lq,
        k: lk,
        v: lv,
        o: lq, // replaced by the caller
    })
}

fn check_shape(arg: &str, got: &[usize], want: [usize; 4]) -> PyResult<()> {
    if got != want {
        return Err(ShapeError::new_err(format!(
            "attention: {arg}: expected shape {want:?}, got {got:?}"
        )));
    }
    Ok(())
}

/// The masks as kernel views: key padding (B, Tk) uint8 C-contiguous; additive 4-D view.
fn masks<'a>(
    p: &AttnParams,
    kpm: &'a Option<PyReadonlyArrayDyn<'_, u8>>,
    am: &'a Option<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<Masks<'a>> {
    let key_padding = match kpm {
        Some(a) => {
            if a.shape() != [p.batch, p.tk] {
                return Err(ShapeError::new_err(format!(
                    "attention: key_padding_mask: expected shape [{}, {}] (B, Tk), got {:?}",
                    p.batch,
                    p.tk,
                    a.shape()
                )));
            }
            let data = a.as_slice().map_err(|_| {
                ShapeError::new_err("attention: key_padding_mask must be C-contiguous")
            })?;
            Some(KeyPadding {
                data,
                batch: p.tk,
                time: 1,
            })
        }
        None => None,
    };
    let additive = match am {
        Some(a) => {
            let v = view(a, "attention", "attn_mask")?;
            check_shape("attn_mask", &v.shape, [p.batch, p.heads, p.tq, p.tk])?;
            Some(Additive {
                layout: lay("attention", "attn_mask", &v)?,
                data: v.data,
            })
        }
        None => None,
    };
    Ok(Masks {
        key_padding,
        additive,
    })
}

/// Writes O (B,H,Tq,Dv) and LSE (B,H,Tq) of softmax(scale·QKᵀ + masks)·V.
#[pyfunction]
#[pyo3(signature = (q, k, v, out, lse, scale, causal=false, causal_offset=0, key_padding_mask=None, attn_mask=None))]
#[allow(clippy::too_many_arguments)]
fn attention_forward(
    py: Python<'_>,
    q: PyReadonlyArrayDyn<'_, f32>,
    k: PyReadonlyArrayDyn<'_, f32>,
    v: PyReadonlyArrayDyn<'_, f32>,
    mut out: PyReadwriteArrayDyn<'_, f32>,
    mut lse: PyReadwriteArrayDyn<'_, f32>,
    scale: f32,
    causal: bool,
    causal_offset: usize,
    key_padding_mask: Option<PyReadonlyArrayDyn<'_, u8>>,
    attn_mask: Option<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<()> {
    let op = "attention";
    let (qv, kv, vv) = (view(&q, op, "q")?, view(&k, op, "k")?, view(&v, op, "v")?);
    let mut p = params(&qv, &kv, &vv, scale, causal, causal_offset)?;
    let ov = view_mut(&mut out, op, "out")?;
    check_shape("out", &ov.shape, [p.batch, p.heads, p.tq, p.dv])?;
    p.o = lay_mut(op, "out", &ov)?;
    let lse_slice = lse
        .as_slice_mut()
        .map_err(|_| ShapeError::new_err("attention: lse must be C-contiguous"))?;
    let m = masks(&p, &key_padding_mask, &attn_mask)?;
    let (qd, kd, vd, od) = (qv.data, kv.data, vv.data, ov.data);
    // A one-row decode step is often tiny: it runs on the calling thread
    // (the decode kernel keeps such a step in one piece).
    let work = if p.tq == 1 {
        p.batch * p.heads * p.tk * p.d
    } else {
        usize::MAX
    };
    detach(py, || {
        threads::install_for(work, || {
            attention::forward(&p, &m, qd, kd, vd, od, lse_slice)
        })
    })
}

/// What both backward entry points read: sizes and strides, the forward's
/// inputs and outputs, grad_out's layout and the masks.
struct BackwardArgs<'a> {
    p: AttnParams,
    x: BackwardInputs<'a>,
    dout: Layout,
    m: Masks<'a>,
}

#[allow(clippy::too_many_arguments)]
fn backward_args<'a>(
    q: &'a PyReadonlyArrayDyn<'_, f32>,
    k: &'a PyReadonlyArrayDyn<'_, f32>,
    v: &'a PyReadonlyArrayDyn<'_, f32>,
    out: &'a PyReadonlyArrayDyn<'_, f32>,
    lse: &'a PyReadonlyArrayDyn<'_, f32>,
    grad_out: &'a PyReadonlyArrayDyn<'_, f32>,
    scale: f32,
    causal: bool,
    causal_offset: usize,
    key_padding_mask: &'a Option<PyReadonlyArrayDyn<'_, u8>>,
    attn_mask: &'a Option<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<BackwardArgs<'a>> {
    let op = "attention_backward";
    let (qv, kv, vv) = (view(q, op, "q")?, view(k, op, "k")?, view(v, op, "v")?);
    let mut p = params(&qv, &kv, &vv, scale, causal, causal_offset)?;
    let (ov, gv) = (view(out, op, "out")?, view(grad_out, op, "grad_out")?);
    for (arg, x) in [("out", &ov), ("grad_out", &gv)] {
        check_shape(arg, &x.shape, [p.batch, p.heads, p.tq, p.dv])?;
    }
    p.o = lay(op, "out", &ov)?;
    let dout = lay(op, "grad_out", &gv)?;
    let lse = lse
        .as_slice()
        .map_err(|_| ShapeError::new_err("attention_backward: lse must be C-contiguous"))?;
    let m = masks(&p, key_padding_mask, attn_mask)?;
    let x = BackwardInputs {
        q: qv.data,
        k: kv.data,
        v: vv.data,
        o: ov.data,
        lse,
        dout: gv.data,
    };
    Ok(BackwardArgs { p, x, dout, m })
}

/// Writes dq, dk, dv from q, k, v, the forward's out and lse, and grad_out.
#[pyfunction]
#[pyo3(signature = (q, k, v, out, lse, grad_out, dq, dk, dv, scale, causal=false, causal_offset=0, key_padding_mask=None, attn_mask=None))]
#[allow(clippy::too_many_arguments)]
fn attention_backward(
    py: Python<'_>,
    q: PyReadonlyArrayDyn<'_, f32>,
    k: PyReadonlyArrayDyn<'_, f32>,
    v: PyReadonlyArrayDyn<'_, f32>,
    out: PyReadonlyArrayDyn<'_, f32>,
    lse: PyReadonlyArrayDyn<'_, f32>,
    grad_out: PyReadonlyArrayDyn<'_, f32>,
    mut dq: PyReadwriteArrayDyn<'_, f32>,
    mut dk: PyReadwriteArrayDyn<'_, f32>,
    mut dv: PyReadwriteArrayDyn<'_, f32>,
    scale: f32,
    causal: bool,
    causal_offset: usize,
    key_padding_mask: Option<PyReadonlyArrayDyn<'_, u8>>,
    attn_mask: Option<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<()> {
    let op = "attention_backward";
    let BackwardArgs { p, x, dout, m } = backward_args(
        &q,
        &k,
        &v,
        &out,
        &lse,
        &grad_out,
        scale,
        causal,
        causal_offset,
        &key_padding_mask,
        &attn_mask,
    )?;
    let (dqv, dkv, dvv) = (
        view_mut(&mut dq, op, "dq")?,
        view_mut(&mut dk, op, "dk")?,
        view_mut(&mut dv, op, "dv")?,
    );
    check_shape("dq", &dqv.shape, [p.batch, p.heads, p.tq, p.d])?;
    check_shape("dk", &dkv.shape, [p.batch, p.heads, p.tk, p.d])?;
    check_shape("dv", &dvv.shape, [p.batch, p.heads, p.tk, p.dv])?;
    let g = GradLayouts {
        dout,
        dq: lay_mut(op, "dq", &dqv)?,
        dk: lay_mut(op, "dk", &dkv)?,
        dv: lay_mut(op, "dv", &dvv)?,
    };
    let (dqd, dkd, dvd) = (dqv.data, dkv.data, dvv.data);
    detach(py, || {
        threads::install(|| attention::backward(&p, &g, &m, x, dqd, dkd, dvd))
    })
}

/// As `attention_backward`, writing dq, dk, dv into one (3, B, H, T, D) view
/// `dqkv` (e.g. the gradient of a fused (B, T, 3, H, D) projection, transposed).
#[pyfunction]
#[pyo3(signature = (q, k, v, out, lse, grad_out, dqkv, scale, causal=false, causal_offset=0, key_padding_mask=None, attn_mask=None))]
#[allow(clippy::too_many_arguments)]
fn attention_backward_packed(
    py: Python<'_>,
    q: PyReadonlyArrayDyn<'_, f32>,
    k: PyReadonlyArrayDyn<'_, f32>,
    v: PyReadonlyArrayDyn<'_, f32>,
    out: PyReadonlyArrayDyn<'_, f32>,
    lse: PyReadonlyArrayDyn<'_, f32>,
    grad_out: PyReadonlyArrayDyn<'_, f32>,
    mut dqkv: PyReadwriteArrayDyn<'_, f32>,
    scale: f32,
    causal: bool,
    causal_offset: usize,
    key_padding_mask: Option<PyReadonlyArrayDyn<'_, u8>>,
    attn_mask: Option<PyReadonlyArrayDyn<'_, f32>>,
) -> PyResult<()> {
    let op = "attention_backward";
    let BackwardArgs { p, x, dout, m } = backward_args(
        &q,
        &k,
        &v,
        &out,
        &lse,
        &grad_out,
        scale,
        causal,
        causal_offset,
        &key_padding_mask,
        &attn_mask,
    )?;
    let dv = view_mut(&mut dqkv, op, "dqkv")?;
    let want = [3, p.batch, p.heads, p.tq, p.d];
    if dv.shape != want {
        return Err(ShapeError::new_err(format!(
            "{op}: dqkv: expected shape {want:?} (3, B, H, T, D), got {:?}",
            dv.shape
        )));
    }
    let s = &dv.strides;
    let packed = PackedGrads {
        which: s[0],
        layout: layout(op, "dqkv", &dv.shape[1..], &s[1..])?,
    };
    let d = dv.data;
    detach(py, || {
        threads::install(|| attention::backward_packed(&p, dout, packed, &m, x, d))
    })
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(attention_forward, m)?)?;
    m.add_function(wrap_pyfunction!(attention_backward, m)?)?;
    m.add_function(wrap_pyfunction!(attention_backward_packed, m)?)?;
    Ok(())
}
