//! What a pass runs on: a batch of input sequences ([`Batch`]), the
//! recurrent state it starts from and ends in ([`State`]), and training or
//! evaluation [`Mode`].

use ndarray::{Array2, ArrayView3};
use rand::RngCore;

use crate::net::{NetConfig, NetError, Scalar};

/// Recurrent state `(h, c)` of every layer for a batch: `h[l]`, `c[l]` are
/// `[B][H_l]` (a GRU has no cell state: its `c[l]` are `[B][0]`). Used as initial state (e.g. carried between chunks in
/// stateful / truncated-BPTT training; no gradient flows through it) and
/// returned as final state `(h_n, c_n)`.
#[derive(Debug, Clone, PartialEq)]
pub struct State<F> {
    /// Hidden state per layer, `[B][H_l]`.
    pub h: Vec<Array2<F>>,
    /// Cell state per layer, `[B][H_l]`.
    pub c: Vec<Array2<F>>,
}

impl<F: Scalar> State<F> {
    /// All-zero state for `batch` samples.
    pub fn zeros(config: &NetConfig, batch: usize) -> Self {
        let zeros = |width: usize| {
            config
                .hidden_sizes
                .iter()
                .map(|&h| Array2::zeros((batch, h * width)))
                .collect()
        };
        State {
            h: zeros(1),
            c: zeros(usize::from(config.cell.has_cell_state())),
        }
    }

    /// Batch size of the state (0 for a network without layers).
    pub fn batch_size(&self) -> usize {
        self.h.first().map_or(0, |a| a.nrows())
    }

    pub(super) fn check(&self, config: &NetConfig, batch: usize) -> Result<(), NetError> {
        let layers = config.num_layers();
        if self.h.len() != layers || self.c.len() != layers {
            return Err(NetError::ShapeMismatch {
                what: "initial state (layers)".into(),
                expected: vec![layers, layers],
                got: vec![self.h.len(), self.c.len()],
            });
        }
        let cw = usize::from(config.cell.has_cell_state());
        for (l, &hs) in config.hidden_sizes.iter().enumerate() {
            for (name, a, width) in [("h0", &self.h[l], hs), ("c0", &self.c[l], cw * hs)] {
                if a.shape() != [batch, width] {
                    return Err(NetError::ShapeMismatch {
                        what: format!("initial state {name}[{l}]"),
                        expected: vec![batch, width],
                        got: a.shape().to_vec(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// One batch of input sequences.
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a, F> {
    /// Inputs `[B][T][IN]`. Values past a sample's length are ignored.
    pub x: ArrayView3<'a, F>,
    /// Length of each sample (`1..=T`); `None` means all are `T`.
    pub lengths: Option<&'a [usize]>,
    /// Initial state; `None` means zeros.
    pub state0: Option<&'a State<F>>,
}

impl<'a, F> Batch<'a, F> {
    /// A batch of full-length sequences starting from the zero state.
    pub fn new(x: ArrayView3<'a, F>) -> Self {
        Batch {
            x,
            lengths: None,
            state0: None,
        }
    }

    /// Sets per-sample lengths.
    pub fn with_lengths(mut self, lengths: &'a [usize]) -> Self {
        self.lengths = Some(lengths);
        self
    }

    /// Sets the initial state.
    pub fn with_state(mut self, state0: &'a State<F>) -> Self {
        self.state0 = Some(state0);
        self
    }
}

/// Training or evaluation mode of a forward pass.
pub enum Mode<'r> {
    /// No dropout.
    Eval,
    /// Dropout active (when the configured rate is > 0), masks drawn from
    /// this generator (e.g. a seeded `rand_chacha::ChaCha8Rng`), in a fixed
    /// order, so a seed reproduces the masks exactly.
    Train(&'r mut dyn RngCore),
}

impl std::fmt::Debug for Mode<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mode::Eval => f.write_str("Eval"),
            Mode::Train(_) => f.write_str("Train(..)"),
        }
    }
}
