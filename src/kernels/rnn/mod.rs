//! Recurrent layers over a whole sequence: Elman RNN (tanh, relu), LSTM and
//! GRU with PyTorch's equations, gate order and weight layouts, forward and
//! BPTT backward. One layer, one direction: multi-layer and bidirectional
//! stacks are composed by the caller (the Python `nn.RNN/LSTM/GRU`).
//!
//! Layout: batch-first everywhere, like the Python API (`x` is (B, T, I)).
//! Each fixed block of batch rows runs the time loop on its own (in parallel
//! with the other blocks). Training first projects the block's input for all
//! steps (one GEMM into the saved gates); inference projects each step's
//! input right before its gate math. Per step: one recurrent GEMM on the
//! block's state, then the fused gate math (tanh and sigmoid by the short
//! rational forms of `crate::simd::rational`).
//! Backward runs the time loop in reverse the same way, with one recurrent
//! GEMM per step and block, then dX, dW_ih, dW_hh and the biases as
//! whole-sequence GEMMs / fixed-order column sums. Results do not depend on
//! the thread count.
//!
//! Optional per-sequence `lengths`: at steps `t >= lengths[b]` sequence `b`
//! keeps its state and outputs zeros, so padding never reaches `h_n`.
//!
//! # Shapes
//! - `x`: (B, T, I); `h0`, `c0`, `h_n`, `c_n`: (B, H); `out`: (B, T, H)
//! - `w_ih`: (G·H, I), `w_hh`: (G·H, H), `b_ih`, `b_hh`: (G·H) with
//!   G = 1 (Elman), 4 (LSTM: i, f, g, o), 3 (GRU: r, z, n)

mod buf;
mod driver;
mod elman;
mod gates;
mod gru;
mod lstm;
mod step;

pub use driver::{backward, forward, infer};

use crate::error::{KernelError, Result};

/// Which recurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// h' = tanh(W_ih x + b_ih + W_hh h + b_hh)
    RnnTanh,
    /// h' = relu(W_ih x + b_ih + W_hh h + b_hh)
    RnnRelu,
    /// PyTorch's LSTM, gates i, f, g, o.
    Lstm,
    /// PyTorch's GRU, gates r, z, n, with n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
    Gru,
}

impl Mode {
    /// Number of gate blocks G (rows of `w_ih` are G·H).
    pub fn gates(self) -> usize {
        match self {
            Mode::RnnTanh | Mode::RnnRelu => 1,
            Mode::Lstm => 4,
            Mode::Gru => 3,
        }
    }

    /// Parses `rnn_tanh`, `rnn_relu`, `lstm`, `gru` (PyTorch's mode names).
    pub fn parse(s: &str) -> Option<Mode> {
        match s.to_ascii_lowercase().as_str() {
            "rnn_tanh" | "tanh" => Some(Mode::RnnTanh),
            "rnn_relu" | "relu" => Some(Mode::RnnRelu),
            "lstm" => Some(Mode::Lstm),
            "gru" => Some(Mode::Gru),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::RnnTanh => "rnn_tanh",
            Mode::RnnRelu => "rnn_relu",
            Mode::Lstm => "lstm",
            Mode::Gru => "gru",
        }
    }

    /// True when the layer has a cell state (LSTM).
    pub fn has_cell(self) -> bool {
        self == Mode::Lstm
    }
}

/// Problem sizes: batch B, steps T, input I, hidden H.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dims {
    pub batch: usize,
    pub steps: usize,
    pub input: usize,
    pub hidden: usize,
}

impl Dims {
    /// Elements per step of the gate buffer: G·H.
    pub fn gh(&self, mode: Mode) -> usize {
        mode.gates() * self.hidden
    }
    /// Rows of the whole-sequence matrices: B·T.
    pub fn rows(&self) -> usize {
        self.batch * self.steps
    }
}

/// The parameters of one layer and direction (PyTorch layouts).
#[derive(Debug, Clone, Copy)]
pub struct Weights<'a> {
    /// (G·H, I)
    pub w_ih: &'a [f32],
    /// (G·H, H)
    pub w_hh: &'a [f32],
    /// (G·H) or None (`bias=False`)
    pub b_ih: Option<&'a [f32]>,
    /// (G·H) or None
    pub b_hh: Option<&'a [f32]>,
}

/// What the forward pass keeps for backward (owned).
///
/// # Shapes
/// - `gates`: (B, T, G·H) post-activation gates (Elman: h_t; LSTM: i, f, g, o; GRU: r, z, n)
/// - `hprev`: (B, T, H) the state entering each step (h0 at t = 0)
/// - `cprev`: (B, T, H) the cell state entering each step (LSTM; empty otherwise)
/// - `extra`: (B, T, H) LSTM: tanh(c_t); GRU: W_hn h_{t-1} + b_hn; empty for Elman
#[derive(Debug, Clone, Default)]
pub struct Saved {
    pub gates: Vec<f32>,
    pub hprev: Vec<f32>,
    pub cprev: Vec<f32>,
    pub extra: Vec<f32>,
}

impl Saved {
    pub fn view(&self) -> SavedView<'_> {
        SavedView {
            gates: &self.gates,
            hprev: &self.hprev,
            cprev: &self.cprev,
            extra: &self.extra,
        }
    }
}

/// Borrowed `Saved` buffers (what the bindings hand back from NumPy).
#[derive(Debug, Clone, Copy)]
pub struct SavedView<'a> {
    pub gates: &'a [f32],
    pub hprev: &'a [f32],
    pub cprev: &'a [f32],
    pub extra: &'a [f32],
}

/// Forward results. `c_n` is empty unless the mode is LSTM.
///
/// # Shapes
/// - `out`: (B, T, H); `h_n`, `c_n`: (B, H)
#[derive(Debug, Clone)]
pub struct Output {
    pub out: Vec<f32>,
    pub h_n: Vec<f32>,
    pub c_n: Vec<f32>,
    pub saved: Saved,
}

/// Gradients of one layer and direction. `dc0` is empty unless LSTM;
/// `db_ih`/`db_hh` are empty when the layer has no bias; `dx` is empty when
/// [`backward`] was told it is not needed.
///
/// # Shapes
/// - `dx`: (B, T, I); `dh0`, `dc0`: (B, H); `dw_ih`: (G·H, I); `dw_hh`: (G·H, H); `db_*`: (G·H)
#[derive(Debug, Clone)]
pub struct Grads {
    pub dx: Vec<f32>,
    pub dh0: Vec<f32>,
    pub dc0: Vec<f32>,
    pub dw_ih: Vec<f32>,
    pub dw_hh: Vec<f32>,
    pub db_ih: Vec<f32>,
    pub db_hh: Vec<f32>,
}

const OP: &str = "rnn";

fn expect_len(arg: &str, got: usize, want: usize, what: &str) -> Result<()> {
    if got != want {
        return Err(KernelError::shape(
            OP,
            format!("{arg}: expected {want} elements ({what}), got {got}"),
        ));
    }
    Ok(())
}

/// Checks sizes, weights, biases and lengths before any unchecked indexing.
pub(crate) fn check_common(
    mode: Mode,
    d: &Dims,
    x_len: usize,
    w: &Weights<'_>,
    lengths: Option<&[usize]>,
) -> Result<()> {
    if d.batch == 0 || d.steps == 0 || d.input == 0 || d.hidden == 0 {
        return Err(KernelError::shape(
            OP,
            format!(
                "batch, steps, input and hidden must all be >= 1; got B={}, T={}, I={}, H={}",
                d.batch, d.steps, d.input, d.hidden
            ),
        ));
    }
    let (gh, i, h) = (d.gh(mode), d.input, d.hidden);
    expect_len("x", x_len, d.rows() * i, "(B, T, I)")?;
    expect_len("w_ih", w.w_ih.len(), gh * i, "(G·H, I)")?;
    expect_len("w_hh", w.w_hh.len(), gh * h, "(G·H, H)")?;
    if let Some(b) = w.b_ih {
        expect_len("b_ih", b.len(), gh, "(G·H)")?;
    }
    if let Some(b) = w.b_hh {
        expect_len("b_hh", b.len(), gh, "(G·H)")?;
    }
    if let Some(l) = lengths {
        expect_len("lengths", l.len(), d.batch, "(B)")?;
        if let Some((b, &bad)) = l.iter().enumerate().find(|(_, &v)| v > d.steps) {
            return Err(KernelError::value(
                OP,
                format!(
                    "lengths[{b}]: expected a length in 0..={}, got {bad}",
                    d.steps
                ),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_state(mode: Mode, d: &Dims, arg: &str, len: usize, cell: bool) -> Result<()> {
    let _ = mode;
    let what = if cell { "(B, H) cell state" } else { "(B, H)" };
    expect_len(arg, len, d.batch * d.hidden, what)
}

pub(crate) fn check_saved(mode: Mode, d: &Dims, s: &SavedView<'_>) -> Result<()> {
    let n = d.rows() * d.hidden;
    expect_len(
        "saved.gates",
        s.gates.len(),
        d.rows() * d.gh(mode),
        "(B, T, G·H)",
    )?;
    expect_len("saved.hprev", s.hprev.len(), n, "(B, T, H)")?;
    let (cn, en) = match mode {
        Mode::RnnTanh | Mode::RnnRelu => (0, 0),
        Mode::Lstm => (n, n),
        Mode::Gru => (0, n),
    };
    expect_len(
        "saved.cprev",
        s.cprev.len(),
        cn,
        "(B, T, H) for LSTM, empty otherwise",
    )?;
    expect_len(
        "saved.extra",
        s.extra.len(),
        en,
        "(B, T, H), empty for Elman",
    )
}

#[cfg(test)]
mod tests;
