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
