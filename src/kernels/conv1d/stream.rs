//! Streaming (generation) step of a causal conv: one new time step in, one
//! output step out, from a ring buffer of the last `(K−1)·d + 1` inputs.
//! The cost is `K` small GEMMs whatever the position in the sequence.

use super::{check_len, View3, OP};
use crate::error::{KernelError, Result};
use crate::kernels::gemm::{sgemm, Gemm, Strides};

/// The geometry of a streaming causal conv.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamStep {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    pub kernel: usize,
    pub dilation: usize,
}

impl StreamStep {
    /// Time slots in the ring: `(K−1)·d + 1`.
    pub fn span(&self) -> usize {
        (self.kernel - 1) * self.dilation + 1
    }

    /// Elements of the ring buffer: `span · B · C_in`, laid out
    /// (span, B, C_in) so that each time slot is one dense (B, C_in) block.
    pub fn ring_len(&self) -> usize {
        self.span() * self.batch * self.c_in
    }

    fn validate(&self) -> Result<()> {
        if self.kernel == 0 || self.dilation == 0 {
            return Err(KernelError::value(
                OP,
                format!(
                    "stream step: expected K >= 1 and dilation >= 1, got K = {}, d = {}",
                    self.kernel, self.dilation
                ),
            ));
        }
        if (self.kernel - 1)
            .checked_mul(self.dilation)
            .and_then(|r| r.checked_add(1))
            .and_then(|s| s.checked_mul(self.batch.max(1) * self.c_in.max(1)))
            .is_none()
        {
            return Err(KernelError::value(
                OP,
                "stream step: the ring buffer size (K−1)·d+1 overflows",
            ));
        }
        Ok(())
    }
}

/// Consumes the input of step `pos` (0-based count of steps already taken)
/// and writes the causal conv output at that step.
///
/// `ring` must be the buffer used for steps `0..pos` of this stream (its
/// initial content is never read: slots are read only once written).
///
/// # Shapes
/// - `x_t`: (B, C_in) dense; `w`: (C_out, C_in, K) strided; `bias`: (C_out,)
/// - `ring`: (span, B, C_in) dense, see `StreamStep::ring_len`
/// - `y_t`: (B, C_out) dense, fully overwritten
pub fn step(
    p: &StreamStep,
    x_t: &[f32],
    w: View3<'_>,
    bias: Option<&[f32]>,
    ring: &mut [f32],
    pos: usize,
    y_t: &mut [f32],
) -> Result<()> {
    p.validate()?;
    let slot_len = p.batch * p.c_in;
    check_len("x_t", x_t.len(), slot_len, &[p.batch, p.c_in])?;
    check_len(
        "state",
        ring.len(),
        p.ring_len(),
        &[p.span(), p.batch, p.c_in],
    )?;
    check_len("output", y_t.len(), p.batch * p.c_out, &[p.batch, p.c_out])?;
    crate::error::check_extent(
        OP,
        "weight",
        w.data.len(),
        &[p.c_out, p.c_in, p.kernel],
        &w.strides,
    )?;
    if let Some(b) = bias {
        check_len("bias", b.len(), p.c_out, &[p.c_out])?;
    }
    let span = p.span();
    let slot = pos % span;
    ring[slot * slot_len..(slot + 1) * slot_len].copy_from_slice(x_t);
    match bias {
        Some(b) if p.c_out > 0 => {
            for row in y_t.chunks_mut(p.c_out) {
                row.copy_from_slice(b);
            }
        }
        _ => y_t.fill(0.0),
    }
    if y_t.is_empty() || p.c_in == 0 {
        return Ok(());
    }
    for j in 0..p.kernel {
        let shift = (p.kernel - 1 - j) * p.dilation;
        if shift > pos {
            continue; // reads the causal zero padding
        }
        let s = (pos - shift) % span;
        // y (B × C_out) += x_{pos−shift} (B × C_in) · W[:, :, j]ᵀ (C_in × C_out)
        let g = Gemm {
            batch: 1,
            m: p.batch,
            n: p.c_out,
            k: p.c_in,
            alpha: 1.0,
            beta: 1.0,
            a: Strides::row_major(p.batch, p.c_in),
            b: Strides {
                row: w.strides[1],
                col: w.strides[0],
                batch: 0,
            },
            c: Strides::row_major(p.batch, p.c_out),
        };
        sgemm(
            &g,
            &ring[s * slot_len..(s + 1) * slot_len],
            &w.data[j * w.strides[2]..],
            y_t,
        )?;
    }
    Ok(())
}
