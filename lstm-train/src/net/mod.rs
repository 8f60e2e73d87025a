//! Batched stacked recurrent network (LSTM or GRU layers, [`CellKind`])
//! with a Dense head: forward pass, full BPTT, losses, regularisation and
//! dropout.
//!
//! Layout and conventions follow PyTorch (`torch.nn.LSTM(batch_first=True)`
//! or `torch.nn.GRU(batch_first=True)` followed by `torch.nn.Linear`):
//!
//! * LSTM gate order **i, f, g, o**; per layer `weight_ih` `[4H][IN]`,
//!   `weight_hh` `[4H][H]`, two biases `bias_ih`, `bias_hh` `[4H]` whose sum
//!   is the effective bias (both are kept so that Adam updates match
//!   PyTorch bit for bit in spirit; their gradients are identical);
//! * GRU gate order **r, z, n**; `weight_ih` `[3H][IN]`, `weight_hh`
//!   `[3H][H]`, `bias_ih`, `bias_hh` `[3H]`, both needed (`b_hn` is inside
//!   the reset product, so their gradients differ on the n rows);
//! * Dense head `weight` `[OUT][H]`, `bias` `[OUT]`;
//! * inputs are `[B][T][IN]` (batch first).
//!
//! Internally the network works time-major (`row = t * B + b`) on
//! preallocated buffers ([`Network`] owns them and reuses them from call to
//! call): each forward step computes all four LSTM gates with one fused
//! `B x (IN + H) · (IN + H) x 4H` product `[x_t | h_{t-1}] · [W_ih; W_hh]ᵀ`
//! (the GRU: r, z and the input part of n with one fused product, the
//! recurrent part of n with a second, see the `cell` module), each backward
//! step one `B x G·H · G·H x H` product, and after the recurrence the weight
//! and bias gradients of a layer come from a single blocked product
//! `[h_{t-1} | x_t | 1]ᵀ · dG` over all `T · B` rows.
//!
//! Sequences of different lengths in one batch are supported: sample `b`
//! has length `lengths[b] <= T`; its state is frozen after its last step, its
//! loss is taken at its own last step (`t = lengths[b] - 1`), and nothing
//! past its end influences its outputs or gradients (padded input values are
//! ignored).

mod cell;
mod gemm;
mod loss;
mod network;
mod params;
mod real;
mod scalar;
pub(crate) mod serde_array;

pub use cell::CellKind;
pub use loss::{argmax, LossValue, Regularization, Target};
pub use network::{Batch, LayerStep, Mode, Network, State, StepObserver};
pub use params::{DenseParams, Gate, Grads, LayerParams, Params};
pub use real::Real;
pub use scalar::Scalar;

use serde::{Deserialize, Serialize};

/// Errors of the network code: invalid configurations and shape mismatches
/// between parameters, inputs, states and targets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NetError {
    /// The network configuration is not usable (e.g. zero sizes, dropout
    /// outside `[0, 1)`).
    #[error("invalid network configuration: {0}")]
    InvalidConfig(String),
    /// A tensor does not have the shape the configuration requires.
    #[error("shape mismatch for {what}: expected {expected:?}, got {got:?}")]
    ShapeMismatch {
        /// Which tensor (e.g. `"input"`, `"lstm.weight_ih_l0"`).
        what: String,
        /// Expected shape.
        expected: Vec<usize>,
        /// Actual shape.
        got: Vec<usize>,
    },
    /// A sequence length is zero or larger than the number of steps `T`.
    #[error("invalid length {len} for sample {index}: must be in 1..={steps}")]
    InvalidLength {
        /// Batch index of the sample.
        index: usize,
        /// Its length.
        len: usize,
        /// Number of steps `T` of the batch.
        steps: usize,
    },
    /// A class target is not smaller than the number of outputs.
    #[error("invalid class {class} for sample {index}: the head has {classes} outputs")]
    InvalidClass {
        /// Batch index of the sample.
        index: usize,
        /// The class id.
        class: usize,
        /// Number of classes (outputs).
        classes: usize,
    },
    /// The batch has no samples or no steps.
    #[error("empty batch (B = {batch}, T = {steps})")]
    EmptyBatch {
        /// Batch size.
        batch: usize,
        /// Number of steps.
        steps: usize,
    },
    /// Per-step targets or outputs were requested but the head only runs at
    /// the last step.
    #[error("per-step targets and outputs need HeadMode::EveryStep")]
    NeedsEveryStep,
    /// `backward`/`loss` was called without a preceding `forward` (or the
    /// forward cache was already consumed by a backward pass).
    #[error("no forward pass cached: call forward first")]
    NoForward,
    /// A flat parameter vector has the wrong number of elements.
    #[error("flat parameter vector has {got} values, expected {expected}")]
    FlatLength {
        /// Expected number of values.
        expected: usize,
        /// Actual number of values.
        got: usize,
    },
}

/// Where the Dense head is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum HeadMode {
    /// The head is applied to the last layer's `h_t` at every step
    /// (output `[B][T][OUT]`), like the PyTorch reference cases.
    EveryStep,
    /// The head is applied only at each sample's last step
    /// (output `[B][OUT]`), the usual forecasting / classification set-up.
    #[default]
    LastStep,
}

/// Shape and options of a network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetConfig {
    /// The recurrent cell of every layer (absent in files written before
    /// the GRU: LSTM). One cell for the whole stack, as in PyTorch's and
    /// Keras's recurrent layers: `fit --cell` and `cv --cell` choose it per
    /// model.
    #[serde(default)]
    pub cell: CellKind,
    /// Number of input features per step (`IN`).
    pub input_size: usize,
    /// Hidden size of each stacked recurrent layer, bottom first (at least
    /// one).
    pub hidden_sizes: Vec<usize>,
    /// Number of outputs of the Dense head (`OUT`; classes for
    /// cross-entropy).
    pub output_size: usize,
    /// Where the head is applied.
    pub head: HeadMode,
    /// Inverted-dropout rate in `[0, 1)` applied in training mode between
    /// stacked layers and before the head.
    pub dropout: f32,
    /// Keras-style initialisation of the biases: forget-gate bias 1, all
    /// other biases 0 (instead of PyTorch's `U(-1/√H, 1/√H)`). LSTM only.
    pub unit_forget_bias: bool,
}

impl NetConfig {
    /// An LSTM configuration with `layers` equal hidden sizes, head at the
    /// last step, no dropout, PyTorch initialisation.
    pub fn new(input_size: usize, hidden: usize, layers: usize, output_size: usize) -> Self {
        NetConfig {
            cell: CellKind::Lstm,
            input_size,
            hidden_sizes: vec![hidden; layers],
            output_size,
            head: HeadMode::LastStep,
            dropout: 0.0,
            unit_forget_bias: false,
        }
    }

    /// The same configuration with `cell` layers.
    pub fn with_cell(self, cell: CellKind) -> Self {
        NetConfig { cell, ..self }
    }

    /// Number of stacked recurrent layers.
    pub fn num_layers(&self) -> usize {
        self.hidden_sizes.len()
    }

    /// Input size of layer `l` (`input_size` for layer 0, else the hidden
    /// size of layer `l - 1`).
    pub fn layer_input_size(&self, l: usize) -> usize {
        if l == 0 {
            self.input_size
        } else {
            self.hidden_sizes[l - 1]
        }
    }

    /// Hidden size of the last layer (the head's input size).
    pub fn top_hidden(&self) -> usize {
        self.hidden_sizes.last().copied().unwrap_or(0)
    }

    /// Checks that all sizes are non-zero, the dropout rate is in `[0, 1)`
    /// and `unit_forget_bias` is only asked of an LSTM.
    pub fn validate(&self) -> Result<(), NetError> {
        if self.input_size == 0 {
            return Err(NetError::InvalidConfig("input_size must be > 0".into()));
        }
        if self.hidden_sizes.is_empty() {
            return Err(NetError::InvalidConfig(
                "at least one recurrent layer is needed".into(),
            ));
        }
        if self.hidden_sizes.contains(&0) {
            return Err(NetError::InvalidConfig("hidden sizes must be > 0".into()));
        }
        if self.output_size == 0 {
            return Err(NetError::InvalidConfig("output_size must be > 0".into()));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(NetError::InvalidConfig(format!(
                "dropout {} not in [0, 1)",
                self.dropout
            )));
        }
        if self.unit_forget_bias && !self.cell.has_cell_state() {
            return Err(NetError::InvalidConfig(format!(
                "unit_forget_bias applies to the LSTM's forget gate; a {} has none",
                self.cell
            )));
        }
        Ok(())
    }
}
