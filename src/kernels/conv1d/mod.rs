//! 1-D convolution over (batch, channel, time) like PyTorch's `conv1d`:
//! dilation, causal or 'same' padding, forward, backward and a streaming step.
//!
//! `y[b, o, t] = bias[o] + Σ_j Σ_i w[o, i, j] · x[b, i, t + off_j]` with the
//! tap offset `off_j = j·d − left_pad` and zeros outside `0..T`:
//! - causal: `left_pad = (K−1)·d`, nothing on the right, so `y[t]` sees only
//!   `x[t − (K−1)·d ..= t]`;
//! - same: `left_pad = ⌊(K−1)·d / 2⌋` and the rest of the `(K−1)·d` padding
//!   on the right (for an even `K` with an odd total, one more step of
//!   padding goes to the right), as PyTorch's `padding='same'`.
//!
//! The output length is `T` in both modes. There is no im2col copy: tap `j`
//! is one batched GEMM `Y[b][:, lo..hi] += W[:, :, j] · X[b][:, lo+off..hi+off]`
//! on strided views, `W[:, :, j]` being the `C_out × C_in` view with strides
//! `(C_in·K, K)` and the batch walked by the GEMM batch stride.
//!
//! # Shapes
//! - `x`: (B, C_in, T), any non-negative strides
//! - `w`: (C_out, C_in, K), any non-negative strides
//! - `bias`: (C_out,) contiguous
//! - `y`, `dx`: dense row-major (B, C_out, T) / (B, C_in, T)
//! - `dw`: dense row-major (C_out, C_in, K); `db`: (C_out,)

mod backward;
mod forward;
mod stream;
#[cfg(test)]
mod tests;

pub use backward::{backward, backward_input, backward_params};
pub use forward::forward;
pub use stream::{step, StreamStep};

use crate::error::{check_extent, KernelError, Result};

const OP: &str = "conv1d";

/// Where the `(K−1)·d` steps of zero padding go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Padding {
    /// All on the left: the output at `t` depends on inputs up to `t` only.
    Causal,
    /// Split `⌊p/2⌋` left, `p − ⌊p/2⌋` right (PyTorch `padding='same'`).
    Same,
}

/// The geometry of one convolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Conv1d {
    pub batch: usize,
    pub c_in: usize,
    pub c_out: usize,
    /// Sequence length `T` of input and output.
    pub len: usize,
    /// Taps `K`.
    pub kernel: usize,
    pub dilation: usize,
    pub padding: Padding,
}

/// A read-only strided 3-D view: element `(i, j, k)` is
/// `data[i·strides[0] + j·strides[1] + k·strides[2]]`.
#[derive(Debug, Clone, Copy)]
pub struct View3<'a> {
    pub data: &'a [f32],
    pub strides: [usize; 3],
}

impl<'a> View3<'a> {
    /// A dense row-major view of shape `shape`.
    pub fn dense(data: &'a [f32], shape: [usize; 3]) -> Self {
        View3 {
            data,
            strides: [shape[1] * shape[2], shape[2], 1],
        }
    }
}

impl Conv1d {
    /// Zero steps padded before the first input.
    pub fn left_pad(&self) -> usize {
        let total = (self.kernel - 1) * self.dilation;
        match self.padding {
            Padding::Causal => total,
            Padding::Same => total / 2,
        }
    }

    /// `off_j`: output `t` reads input `t + off_j` through tap `j`.
    pub fn tap_offset(&self, j: usize) -> isize {
        (j * self.dilation) as isize - self.left_pad() as isize
    }

    /// The output steps `lo..hi` tap `j` reaches (empty when the tap falls
    /// entirely into the padding).
    pub(crate) fn tap_range(&self, j: usize) -> (usize, usize) {
        let t = self.len as isize;
        let off = self.tap_offset(j);
        let lo = (-off).clamp(0, t);
        let hi = (t - off).clamp(0, t);
        (lo as usize, hi.max(lo) as usize)
    }

    /// Inputs one output sees: `1 + (K−1)·d`.
    pub fn receptive_field(&self) -> usize {
        1 + (self.kernel - 1) * self.dilation
    }

    /// Checks the hyper-parameters (every shape may be 0 except `K` and `d`).
    pub fn validate(&self) -> Result<()> {
        if self.kernel == 0 {
            return Err(KernelError::shape(
                OP,
                "weight: expected at least one tap (K >= 1), got K = 0",
            ));
        }
        if self.dilation == 0 {
            return Err(KernelError::value(OP, "dilation: expected >= 1, got 0"));
        }
        // (K−1)·d must fit an isize for the tap offsets.
        let reach = (self.kernel - 1).checked_mul(self.dilation);
        if reach.is_none_or(|r| r > isize::MAX as usize / 2) {
            return Err(KernelError::value(
                OP,
                format!(
                    "dilation: (K−1)·d overflows (K = {}, d = {})",
                    self.kernel, self.dilation
                ),
            ));
        }
        Ok(())
    }

    pub(crate) fn check_x(&self, arg: &str, x: &View3) -> Result<()> {
        check_extent(
            OP,
            arg,
            x.data.len(),
            &[self.batch, self.c_in, self.len],
            &x.strides,
        )
    }

    pub(crate) fn check_y(&self, arg: &str, y: &View3) -> Result<()> {
        check_extent(
            OP,
            arg,
            y.data.len(),
            &[self.batch, self.c_out, self.len],
            &y.strides,
        )
    }

    pub(crate) fn check_w(&self, w: &View3) -> Result<()> {
        check_extent(
            OP,
            "weight",
            w.data.len(),
            &[self.c_out, self.c_in, self.kernel],
            &w.strides,
        )
    }
}

/// Fails unless a dense output buffer has exactly `want` elements.
pub(crate) fn check_len(arg: &str, len: usize, want: usize, shape: &[usize]) -> Result<()> {
    if len != want {
        return Err(KernelError::shape(
            OP,
            format!("{arg}: expected {want} elements for shape {shape:?}, got a buffer of {len}"),
        ));
    }
    Ok(())
}
