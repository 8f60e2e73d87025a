//! The [`Layer`] trait and [`Stack`], which composes two layers whose shapes
//! the types prove to line up.
//!
//! A layer's shape is in its trait parameters: `Layer<T, IN, OUT>` maps
//! `[T; IN]` to `[T; OUT]` per time step. `Stack<A, B, MID>` is only a layer
//! when `A: Layer<T, IN, MID>` and `B: Layer<T, MID, OUT>`, so stacking
//! layers of mismatched sizes does not compile:
//!
//! ```compile_fail
//! use lstm_core::{Dense, DenseWeights, Layer, Lstm, LstmWeights, Stack, Exact};
//! static W_IH: [[[f32; 1]; 4]; 4] = [[[0.0; 1]; 4]; 4];
//! static W_HH: [[[f32; 4]; 4]; 4] = [[[0.0; 4]; 4]; 4];
//! static B: [[f32; 4]; 4] = [[0.0; 4]; 4];
//! static DW: [[f32; 3]; 1] = [[0.0; 3]; 1]; // head expects 3 inputs, the LSTM gives 4
//! static DB: [f32; 1] = [0.0];
//! let lstm = Lstm::<f32, Exact, 1, 4>::new(LstmWeights { w_ih: &W_IH, w_hh: &W_HH, bias: &B });
//! let head = Dense::new(DenseWeights { w: &DW, b: &DB });
//! let model = Stack::<_, _, 4>::new(lstm, head);
//! let mut state = model.zero_state();
//! let _y: [f32; 1] = model.step(&mut state, &[0.5]);
//! ```

use crate::cell::CellKind;
use crate::num::Scalar;

/// One stage of a model: maps an input vector to an output vector per time step,
/// carrying a per-stream [`Layer::State`].
///
/// The layer itself (its weights) is read-only, so one layer can serve several
/// streams, each with its own state.
pub trait Layer<T: Scalar, const IN: usize, const OUT: usize> {
    /// What a stream must remember between steps (`()` for stateless layers).
    type State: Copy + Clone + PartialEq + core::fmt::Debug;

    /// The state at the start of a sequence (all zeros for an LSTM).
    fn zero_state(&self) -> Self::State;

    /// Runs one time step: reads `x`, updates `state`, returns the output.
    fn step(&self, state: &mut Self::State, x: &[T; IN]) -> [T; OUT];
}

/// Two layers in sequence: `first` then `second`, joined at width `MID`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stack<A, B, const MID: usize> {
    /// The layer applied first.
    pub first: A,
    /// The layer applied to `first`'s output.
    pub second: B,
}

impl<A, B, const MID: usize> Stack<A, B, MID> {
    /// Joins two layers.
    pub const fn new(first: A, second: B) -> Self {
        Stack { first, second }
    }
}

impl<T, A, B, const IN: usize, const MID: usize, const OUT: usize> Layer<T, IN, OUT>
    for Stack<A, B, MID>
where
    T: Scalar,
    A: Layer<T, IN, MID>,
    B: Layer<T, MID, OUT>,
{
    type State = (A::State, B::State);

    fn zero_state(&self) -> Self::State {
        (self.first.zero_state(), self.second.zero_state())
    }

    #[inline]
    fn step(&self, state: &mut Self::State, x: &[T; IN]) -> [T; OUT] {
        let mid = self.first.step(&mut state.0, x);
        self.second.step(&mut state.1, &mid)
    }
}

/// The shape of one layer as a model file records it.
///
/// Variants are appended, never reordered: postcard encodes the variant
/// index (`Lstm` 0, `Dense` 1, `Gru` 2, which needs format version 4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum LayerShape {
    /// An LSTM layer with `input` inputs and `hidden` units.
    Lstm {
        /// Inputs per step.
        input: u32,
        /// Units (the size of `h` and `c`).
        hidden: u32,
    },
    /// A Dense layer.
    Dense {
        /// Inputs.
        input: u32,
        /// Outputs.
        output: u32,
    },
    /// A GRU layer with `input` inputs and `hidden` units.
    Gru {
        /// Inputs per step.
        input: u32,
        /// Units (the size of `h`).
        hidden: u32,
    },
}

impl LayerShape {
    /// The shape of a recurrent layer of cell `kind`.
    pub const fn recurrent(kind: CellKind, input: u32, hidden: u32) -> Self {
        match kind {
            CellKind::Lstm => LayerShape::Lstm { input, hidden },
            CellKind::Gru => LayerShape::Gru { input, hidden },
        }
    }

    /// The cell kind of a recurrent layer; `None` for Dense.
    pub const fn cell(self) -> Option<CellKind> {
        match self {
            LayerShape::Lstm { .. } => Some(CellKind::Lstm),
            LayerShape::Gru { .. } => Some(CellKind::Gru),
            LayerShape::Dense { .. } => None,
        }
    }

    /// Width of the layer's input.
    pub const fn input(self) -> usize {
        match self {
            LayerShape::Lstm { input, .. }
            | LayerShape::Gru { input, .. }
            | LayerShape::Dense { input, .. } => input as usize,
        }
    }

    /// Width of the layer's output.
    pub const fn output(self) -> usize {
        match self {
            LayerShape::Lstm { hidden, .. } | LayerShape::Gru { hidden, .. } => hidden as usize,
            LayerShape::Dense { output, .. } => output as usize,
        }
    }

    /// Number of stored values (weights and biases), in file order:
    /// `G·H·(IN + H) + 4·H` for a recurrent layer of `G` gate blocks (LSTM
    /// `4·H·(IN + H + 1)`, GRU `3·H·(IN + H) + 4·H`), `OUT·(IN + 1)` for
    /// Dense. `None` if it overflows `usize`.
    pub fn parameter_count(self) -> Option<usize> {
        let (i, o) = (self.input(), self.output());
        match self.cell() {
            Some(kind) => kind
                .gates()
                .checked_mul(o)?
                .checked_mul(i.checked_add(o)?)?
                .checked_add(4usize.checked_mul(o)?),
            None => o.checked_mul(i.checked_add(1)?),
        }
    }
}

impl core::fmt::Display for LayerShape {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LayerShape::Lstm { input, hidden } => write!(f, "LSTM({input} -> {hidden})"),
            LayerShape::Gru { input, hidden } => write!(f, "GRU({input} -> {hidden})"),
            LayerShape::Dense { input, output } => write!(f, "Dense({input} -> {output})"),
        }
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for LayerShape {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            LayerShape::Lstm { input, hidden } => {
                defmt::write!(f, "LSTM({=u32} -> {=u32})", input, hidden)
            }
            LayerShape::Gru { input, hidden } => {
                defmt::write!(f, "GRU({=u32} -> {=u32})", input, hidden)
            }
            LayerShape::Dense { input, output } => {
                defmt::write!(f, "Dense({=u32} -> {=u32})", input, output)
            }
        }
    }
}
