//! `_core.LmDecoder`: a GPT-style model's weights copied once, its KV
//! caches, and one call per generated token (`kernels::lm_decode`).
//! `attnrs.models.GPT.generate` builds one per generation.

use numpy::{PyArray1, PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::prelude::*;

use super::array::{contiguous, dims_2d};
use super::errors::detach;
use crate::kernels::lm_decode::{Block, Decoder, Model, Norm, Proj};

const OP: &str = "LmDecoder";

type In<'py, T = f32> = PyReadonlyArrayDyn<'py, T>;
/// A LayerNorm as (weight or None, bias or None, eps).
type NormArgs<'py> = (Option<In<'py>>, Option<In<'py>>, f32);
/// A Linear as (weight (out, in) C-contiguous, bias or None).
type ProjArgs<'py> = (In<'py>, Option<In<'py>>);
/// A block as (ln1, qkv, out, ln2, fc1, fc2).
type BlockArgs<'py> = (
    NormArgs<'py>,
    ProjArgs<'py>,
    ProjArgs<'py>,
    NormArgs<'py>,
    ProjArgs<'py>,
    ProjArgs<'py>,
);

fn vec_of(a: &In<'_>, arg: &str) -> PyResult<Vec<f32>> {
    Ok(contiguous(a, OP, arg)?.to_vec())
}

fn opt_vec(a: &Option<In<'_>>, arg: &str) -> PyResult<Option<Vec<f32>>> {
    a.as_ref().map(|a| vec_of(a, arg)).transpose()
}

fn norm(n: &NormArgs<'_>, arg: &str) -> PyResult<Norm> {
    Ok(Norm {
        weight: opt_vec(&n.0, &format!("{arg} weight"))?,
        bias: opt_vec(&n.1, &format!("{arg} bias"))?,
        eps: n.2,
    })
}

/// The Linear's weight is stored transposed (row-major Wᵀ, see `Proj`).
fn proj(p: &ProjArgs<'_>, arg: &str) -> PyResult<Proj> {
    let (out, inp) = dims_2d(OP, arg, "(out_features, in_features)", p.0.shape())?;
    let w = contiguous(&p.0, OP, arg)?;
    let mut wt = vec![0.0f32; w.len()];
    // Blocks of 32 rows of W: each row of Wᵀ gets a contiguous run per block.
    for o0 in (0..out).step_by(32) {
        let o1 = (o0 + 32).min(out);
        for i in 0..inp {
            for (dst, o) in wt[i * out + o0..i * out + o1].iter_mut().zip(o0..o1) {
                *dst = w[o * inp + i];
            }
        }
    }
    Ok(Proj {
        wt,
        bias: opt_vec(&p.1, &format!("{arg} bias"))?,
        inp,
        out,
    })
}

/// Incremental decoding of token embeddings → pre-norm blocks → final
/// LayerNorm → head, with KV caches for `batch` sequences of up to
/// `wpe.shape[0]` positions. Every weight is copied at construction.
#[pyclass(module = "attnrs._core")]
pub struct LmDecoder {
    inner: Decoder,
}

#[pymethods]
impl LmDecoder {
    #[new]
    /// `embeddings` = (wte (vocab, width), wpe (max_len, width)).
    #[pyo3(signature = (embeddings, blocks, ln_f, head, *, heads, causal, batch))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        embeddings: (In<'_>, In<'_>),
        blocks: Vec<BlockArgs<'_>>,
        ln_f: NormArgs<'_>,
        head: ProjArgs<'_>,
        heads: usize,
        causal: bool,
        batch: usize,
    ) -> PyResult<Self> {
        let (wte, wpe) = embeddings;
        let (_, width) = dims_2d(OP, "wte", "(vocab, width)", wte.shape())?;
        dims_2d(OP, "wpe", "(max_len, width)", wpe.shape())?;
        let mut bs = Vec::with_capacity(blocks.len());
        for (i, b) in blocks.iter().enumerate() {
            bs.push(Block {
                ln1: norm(&b.0, &format!("blocks[{i}] ln1"))?,
                qkv: proj(&b.1, &format!("blocks[{i}] qkv"))?,
                out: proj(&b.2, &format!("blocks[{i}] out"))?,
                ln2: norm(&b.3, &format!("blocks[{i}] ln2"))?,
                fc1: proj(&b.4, &format!("blocks[{i}] fc1"))?,
                fc2: proj(&b.5, &format!("blocks[{i}] fc2"))?,
            });
        }
        let model = Model {
            wte: vec_of(&wte, "wte")?,
            wpe: vec_of(&wpe, "wpe")?,
            width,
            heads,
            causal,
            blocks: bs,
            ln_f: norm(&ln_f, "ln_f")?,
            head: proj(&head, "head")?,
        };
        let inner = detach(py, || Decoder::new(model, batch))?;
        Ok(LmDecoder { inner })
    }

    /// Runs ids (B, t) at the next t positions (t > 1 only into empty
    /// caches) and returns the last position's logits (B, V).
    fn step<'py>(
        &mut self,
        py: Python<'py>,
        ids: In<'py, i64>,
    ) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
        let (b, t) = dims_2d(OP, "ids", "(batch, tokens)", ids.shape())?;
        let dec = &mut self.inner;
        if b != dec.batch() {
            return Err(super::errors::ShapeError::new_err(format!(
                "{OP}.step: ids: expected {} sequences (the batch it was built for), got {b}",
                dec.batch()
            )));
        }
        // A strided prompt (a slice of a longer context) is gathered; token ids are few.
        let gathered: Vec<i64>;
        let is = match ids.as_slice() {
            Ok(s) => s,
            Err(_) => {
                gathered = ids.as_array().iter().copied().collect();
                &gathered
            }
        };
        let mut logits = vec![0.0f32; b * dec.vocab()];
        detach(py, || dec.step(is, t, &mut logits))?;
        PyArray1::from_vec(py, logits).reshape(vec![b, dec.vocab()])
    }

    /// Forgets every cached position.
    fn reset(&mut self) {
        self.inner.reset();
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    /// Most positions the caches hold.
    #[getter]
    fn max_len(&self) -> usize {
        self.inner.max_len()
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<LmDecoder>()
}
