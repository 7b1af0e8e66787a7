//! KV-cache decoding of a GPT-style language model in one call per token.
//!
//! token + position embeddings → [pre-norm block × L] → final LayerNorm →
//! head, where each block is `x += out(attn(ln1(x)))`, `x += fc2(gelu(fc1(ln2(x))))`
//! (nanoGPT; `attnrs.nn.TransformerBlock` in eval mode).
//!
//! The Python decode path (`TransformerBlock.decode_step`) makes ~15 calls
//! into NumPy and `_core` per block and token; at batch 1 those are a few µs
//! of work each, so the per-call overhead was most of a token's time. Here
//! the same kernels run in the same order on buffers owned by the decoder
//! (weights copied once, KV caches and scratch preallocated), so the results
//! are the Python path's bit for bit: LayerNorm `norm::layer_norm`, the
//! projections `linear::forward` with W read as the transpose of a row-major
//! Wᵀ copy (the one-row GEMM streams it unpacked), attention
//! `attention::forward` (one query row: the decode kernel; a whole prompt:
//! the causal tile kernel), GELU `activation::forward`, residual sums as f32
//! additions.
//!
//! Threads: a step whose every kernel would run on the calling thread anyway
//! (batch 1 of this model size: products under the GEMM's parallel
//! threshold, attention and elementwise work under `threads::INLINE_WORK`)
//! never enters the pool, so the other workers are neither woken nor kept
//! spinning; a larger step runs in the pool, where each kernel splits its
//! work as it does when called from Python. Results do not depend on it.
//!
//! # Shapes
//! - token ids (B, t) → logits of the last position (B, V); caches (B, H, max_len, D) per block

use crate::error::{KernelError, Result};
use crate::kernels::activation::{self, Act};
use crate::kernels::alloc;
use crate::kernels::attention::{self, AttnParams, Layout, Masks};
use crate::kernels::gemm::Strides;
use crate::kernels::linear::{self, Linear};
use crate::kernels::norm;
use crate::kernels::rows::add_assign;
use crate::threads;

const OP: &str = "lm_decode";

/// A LayerNorm's affine parameters (each optional) and epsilon.
#[derive(Debug, Clone)]
pub struct Norm {
    pub weight: Option<Vec<f32>>,
    pub bias: Option<Vec<f32>>,
    pub eps: f32,
}

/// A Linear layer `y = x·Wᵀ + b` held as `wt`, the row-major (inp × out)
/// copy of Wᵀ (W is a Linear's (out × inp) weight).
#[derive(Debug, Clone)]
pub struct Proj {
    pub wt: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    pub inp: usize,
    pub out: usize,
}

/// One pre-norm self-attention block: `qkv` (C → 3C, rows q | k | v), `out`
/// (C → C), `fc1` (C → F), `fc2` (F → C).
#[derive(Debug, Clone)]
pub struct Block {
    pub ln1: Norm,
    pub qkv: Proj,
    pub out: Proj,
    pub ln2: Norm,
    pub fc1: Proj,
    pub fc2: Proj,
}

/// The model: embeddings (wte: vocab × C, wpe: max_len × C), blocks, final
/// norm and head (C → V).
#[derive(Debug, Clone)]
pub struct Model {
    pub wte: Vec<f32>,
    pub wpe: Vec<f32>,
    pub width: usize,
    pub heads: usize,
    pub causal: bool,
    pub blocks: Vec<Block>,
    pub ln_f: Norm,
    pub head: Proj,
}

impl Proj {
    fn check(&self, name: &str, inp: usize) -> Result<()> {
        if self.inp != inp || self.out == 0 || self.wt.len() != self.inp * self.out {
            return Err(KernelError::shape(
                OP,
                format!(
                    "{name}: expected a ({inp} × out) Wᵀ with out > 0, got {} × {} holding {} elements",
                    self.inp,
                    self.out,
                    self.wt.len()
                ),
            ));
        }
        if let Some(b) = &self.bias {
            if b.len() != self.out {
                return Err(KernelError::shape(
                    OP,
                    format!(
                        "{name} bias: expected {} elements, got {}",
                        self.out,
                        b.len()
                    ),
                ));
            }
        }
        Ok(())
    }

    /// `y = x·Wᵀ + b` over `rows` dense rows, as `ops.linear(x, wt.T, b)` computes it.
    fn apply(&self, rows: usize, x: &[f32], y: &mut [f32]) -> Result<()> {
        let p = Linear {
            x: Strides::row_major(rows, self.inp).with_batch(0),
            // W (out × inp) is the transpose of the row-major Wᵀ.
            w: Strides::row_major_transposed(self.inp, self.out).with_batch(0),
            ..Linear::new(rows, self.inp, self.out)
        };
        linear::forward(
            &p,
            &x[..rows * self.inp],
            &self.wt,
            self.bias.as_deref(),
            &mut y[..rows * self.out],
        )
    }

    fn serial(&self, rows: usize) -> bool {
        linear::forward_is_serial(&Linear::new(rows, self.inp, self.out))
    }
}

impl Norm {
    fn check(&self, name: &str, n: usize) -> Result<()> {
        for (what, v) in [("weight", &self.weight), ("bias", &self.bias)] {
            if let Some(v) = v {
                if v.len() != n {
                    return Err(KernelError::shape(
                        OP,
                        format!("{name} {what}: expected {n} elements, got {}", v.len()),
                    ));
                }
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return Err(KernelError::value(
                OP,
                format!("{name} eps: expected a finite value > 0, got {}", self.eps),
            ));
        }
        Ok(())
    }

    fn apply(
        &self,
        rows: usize,
        n: usize,
        x: &[f32],
        y: &mut [f32],
        stats: &mut [f32],
    ) -> Result<()> {
        let (mean, rstd) = stats[..2 * rows].split_at_mut(rows);
        norm::layer_norm(
            &x[..rows * n],
            self.weight.as_deref(),
            self.bias.as_deref(),
            rows,
            n,
            self.eps,
            &mut y[..rows * n],
            mean,
            rstd,
        )
    }
}

/// A model, its KV caches and the scratch buffers of one step.
#[derive(Debug)]
pub struct Decoder {
    m: Model,
    batch: usize,
    max_len: usize,
    ff: usize,
    vocab: usize,
    /// Per block: keys and values, each (B, H, max_len, D).
    caches: Vec<(Vec<f32>, Vec<f32>)>,
    len: usize,
    x: Vec<f32>,
    h: Vec<f32>,
    qkv: Vec<f32>,
    o: Vec<f32>,
    a: Vec<f32>,
    u: Vec<f32>,
    g: Vec<f32>,
    lse: Vec<f32>,
    stats: Vec<f32>,
    last: Vec<f32>,
    last_h: Vec<f32>,
}

/// A zeroed scratch or cache buffer, or a `Memory` error naming this op.
fn try_buf(len: usize) -> Result<Vec<f32>> {
    alloc::try_zeroed(OP, len)
}

impl Decoder {
    /// Checks `m` and allocates caches for `batch` sequences of up to
    /// `max_len` positions (the rows of `wpe`).
    pub fn new(m: Model, batch: usize) -> Result<Self> {
        let c = m.width;
        if c == 0 || m.heads == 0 || !c.is_multiple_of(m.heads) {
            return Err(KernelError::shape(
                OP,
                format!("width {c} must be a positive multiple of heads {}", m.heads),
            ));
        }
        if batch == 0 {
            return Err(KernelError::shape(
                OP,
                "batch: expected at least 1 sequence, got 0",
            ));
        }
        let bad_table = |name: &str, len: usize| {
            KernelError::shape(
                OP,
                format!("{name}: expected a non-empty (rows × {c}) table, got {len} elements"),
            )
        };
        if m.wte.is_empty() || !m.wte.len().is_multiple_of(c) {
            return Err(bad_table("wte", m.wte.len()));
        }
        if m.wpe.is_empty() || !m.wpe.len().is_multiple_of(c) {
            return Err(bad_table("wpe", m.wpe.len()));
        }
        let ff = m.blocks.first().map_or(c, |b| b.fc1.out);
        for (i, b) in m.blocks.iter().enumerate() {
            b.ln1.check(&format!("block {i} ln1"), c)?;
            b.ln2.check(&format!("block {i} ln2"), c)?;
            b.qkv.check(&format!("block {i} qkv"), c)?;
            b.out.check(&format!("block {i} out"), c)?;
            b.fc1.check(&format!("block {i} fc1"), c)?;
            b.fc2.check(&format!("block {i} fc2"), b.fc1.out)?;
            let want = [
                (b.qkv.out, 3 * c, "qkv"),
                (b.out.out, c, "out"),
                (b.fc1.out, ff, "fc1"),
                (b.fc2.out, c, "fc2"),
            ];
            for (got, want, name) in want {
                if got != want {
                    return Err(KernelError::shape(
                        OP,
                        format!("block {i} {name}: expected {want} outputs, got {got}"),
                    ));
                }
            }
        }
        m.ln_f.check("ln_f", c)?;
        m.head.check("head", c)?;
        let max_len = m.wpe.len() / c;
        let vocab = m.head.out;
        let rows = batch * max_len;
        let cache = batch * c * max_len;
        let mut caches = Vec::with_capacity(m.blocks.len());
        for _ in &m.blocks {
            caches.push((try_buf(cache)?, try_buf(cache)?));
        }
        Ok(Decoder {
            batch,
            max_len,
            ff,
            vocab,
            caches,
            len: 0,
            x: try_buf(rows * c)?,
            h: try_buf(rows * c)?,
            qkv: try_buf(rows * 3 * c)?,
            o: try_buf(rows * c)?,
            a: try_buf(rows * c)?,
            u: try_buf(rows * ff)?,
            g: try_buf(rows * ff)?,
            lse: try_buf(rows * m.heads)?,
            stats: try_buf(2 * rows)?,
            last: try_buf(batch * c)?,
            last_h: try_buf(batch * c)?,
            m,
        })
    }

    /// Positions cached so far.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most positions the caches hold (the position table's rows).
    pub fn max_len(&self) -> usize {
        self.max_len
    }

    pub fn batch(&self) -> usize {
        self.batch
    }

    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Forgets every cached position.
    pub fn reset(&mut self) {
        self.len = 0;
    }

    /// Runs `ids` (B × t, row-major) at positions len..len+t, appends their
    /// keys and values to the caches and writes the last position's logits
    /// (B × V). Several tokens only into empty caches (a prompt), like the
    /// Python path's `_decode_step`.
    pub fn step(&mut self, ids: &[i64], t: usize, logits: &mut [f32]) -> Result<()> {
        self.check(ids, t, logits)?;
        if self.serial(t) {
            threads::install_for(0, || self.run(ids, t, logits))
        } else {
            threads::install(|| self.run(ids, t, logits))
        }
    }

    /// `step` in the caller's rayon pool (the tests' thread counts).
    #[cfg(test)]
    fn step_here(&mut self, ids: &[i64], t: usize, logits: &mut [f32]) -> Result<()> {
        self.check(ids, t, logits)?;
        self.run(ids, t, logits)
    }

    fn check(&self, ids: &[i64], t: usize, logits: &[f32]) -> Result<()> {
        let (bsz, c) = (self.batch, self.m.width);
        if t == 0 || ids.len() != bsz * t {
            return Err(KernelError::shape(
                OP,
                format!(
                    "ids: expected (B, t) = ({bsz}, t ≥ 1), got {} ids for t = {t}",
                    ids.len()
                ),
            ));
        }
        if t > 1 && self.len != 0 {
            return Err(KernelError::value(
                OP,
                format!("several tokens ({t}) only into empty caches; {} positions are cached (reset first)", self.len),
            ));
        }
        if self.len + t > self.max_len {
            return Err(KernelError::value(
                OP,
                format!(
                    "positions {}..{} exceed the {} the position table and caches hold",
                    self.len,
                    self.len + t,
                    self.max_len
                ),
            ));
        }
        if logits.len() != bsz * self.vocab {
            return Err(KernelError::shape(
                OP,
                format!(
                    "logits: expected {} elements (B × V), got {}",
                    bsz * self.vocab,
                    logits.len()
                ),
            ));
        }
        let n_tok = self.m.wte.len() / c;
        if let Some(&bad) = ids.iter().find(|&&i| i < 0 || i as u64 >= n_tok as u64) {
            return Err(KernelError::value(
                OP,
                format!("ids: expected token ids in 0..{n_tok}, got {bad}"),
            ));
        }
        Ok(())
    }

    /// True when every kernel of a `t`-token step would run on the calling
    /// thread by the rules of its own binding: one token, elementwise work
    /// and the attention decode under `threads::INLINE_WORK`, every product
    /// under the GEMM's parallel threshold.
    fn serial(&self, t: usize) -> bool {
        let (bsz, c) = (self.batch, self.m.width);
        let rows = bsz * t;
        t == 1
            && rows * self.ff.max(3 * c) < threads::INLINE_WORK
            && bsz * c * (self.len + 1) < threads::INLINE_WORK
            && self.m.head.serial(bsz)
            && self.m.blocks.iter().all(|b| {
                b.qkv.serial(rows) && b.out.serial(rows) && b.fc1.serial(rows) && b.fc2.serial(rows)
            })
    }

    fn run(&mut self, ids: &[i64], t: usize, logits: &mut [f32]) -> Result<()> {
        let (bsz, c, heads) = (self.batch, self.m.width, self.m.heads);
        let (start, rows, ff, ml) = (self.len, bsz * t, self.ff, self.max_len);
        let hd = c / heads;
        let Decoder {
            m,
            caches,
            x,
            h,
            qkv,
            o,
            a,
            u,
            g,
            lse,
            stats,
            last,
            last_h,
            ..
        } = self;
        // x = wte[id] + wpe[position], row r = b·t + tt.
        for (r, (xr, &id)) in x.chunks_exact_mut(c).zip(ids).enumerate() {
            let pos = start + r % t;
            let te = &m.wte[id as usize * c..][..c];
            let pe = &m.wpe[pos * c..][..c];
            for ((xv, &tv), &pv) in xr.iter_mut().zip(te).zip(pe) {
                *xv = tv + pv;
            }
        }
        let x = &mut x[..rows * c];
        let tk = start + t;
        let cache_layout = Layout::contiguous(heads, ml, hd);
        let params = AttnParams {
            batch: bsz,
            heads,
            tq: t,
            tk,
            d: hd,
            dv: hd,
            scale: (1.0f64 / (hd as f64).sqrt()) as f32,
            causal: m.causal && t > 1,
            causal_offset: 0,
            // q: heads split from the (B, t, 3, H, D) projection in place.
            q: Layout {
                batch: t * 3 * c,
                head: hd,
                time: 3 * c,
                dim: 1,
            },
            k: cache_layout,
            v: cache_layout,
            // o: written straight into (B, t, H, D), i.e. (B·t, C) rows.
            o: Layout {
                batch: t * c,
                head: hd,
                time: c,
                dim: 1,
            },
        };
        let no_masks = Masks {
            key_padding: None,
            additive: None,
        };
        for (blk, (kc, vc)) in m.blocks.iter().zip(caches.iter_mut()) {
            blk.ln1.apply(rows, c, x, h, stats)?;
            blk.qkv.apply(rows, h, qkv)?;
            for r in 0..rows {
                let (b, tt) = (r / t, r % t);
                let src = &qkv[r * 3 * c..(r + 1) * 3 * c];
                for hh in 0..heads {
                    let dst = cache_layout.row(b, hh, start + tt);
                    kc[dst..dst + hd].copy_from_slice(&src[c + hh * hd..][..hd]);
                    vc[dst..dst + hd].copy_from_slice(&src[2 * c + hh * hd..][..hd]);
                }
            }
            attention::forward(
                &params,
                &no_masks,
                qkv,
                kc,
                vc,
                o,
                &mut lse[..bsz * heads * t],
            )?;
            blk.out.apply(rows, o, a)?;
            add_assign(x, &a[..rows * c]);
            blk.ln2.apply(rows, c, x, h, stats)?;
            blk.fc1.apply(rows, h, u)?;
            activation::forward(Act::Gelu, &u[..rows * ff], &mut g[..rows * ff])?;
            blk.fc2.apply(rows, g, a)?;
            add_assign(x, &a[..rows * c]);
        }
        for b in 0..bsz {
            last[b * c..(b + 1) * c].copy_from_slice(&x[(b * t + t - 1) * c..][..c]);
        }
        m.ln_f.apply(bsz, c, last, last_h, stats)?;
        m.head.apply(bsz, last_h, logits)?;
        self.len = tk;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
