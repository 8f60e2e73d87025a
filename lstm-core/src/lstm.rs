//! The LSTM cell and layer, in PyTorch's gate order (i, f, g, o).
//!
//! ```text
//! i = σ(W_ii x + W_hi h + b_i)     f = σ(W_if x + W_hf h + b_f)
//! g = tanh(W_ig x + W_hg h + b_g)  o = σ(W_io x + W_ho h + b_o)
//! c' = f ⊙ c + i ⊙ g               h' = o ⊙ tanh(c')
//! ```
//!
//! PyTorch's two biases (`bias_ih + bias_hh`) are folded into one on import.

use crate::activation::Activation;
use crate::cell::{tail, Cell, CellKind, Recurrent, RecurrentWeights, CHUNK};
use crate::num::{row, Scalar};

/// Index of each gate in the weight blocks (PyTorch's order).
pub mod gate {
    /// Input gate.
    pub const I: usize = 0;
    /// Forget gate.
    pub const F: usize = 1;
    /// Cell candidate.
    pub const G: usize = 2;
    /// Output gate.
    pub const O: usize = 3;
}

/// Read-only weights of one LSTM layer: one block per gate, borrowed from
/// `static` arrays or from a model file's bytes (never copied).
///
/// The memory layout is PyTorch's: `w_ih` is `weight_ih_l{k}` (`[4H][IN]`)
/// viewed as `[4][H][IN]`, `w_hh` is `weight_hh_l{k}`, `bias` is
/// `bias_ih_l{k} + bias_hh_l{k}` (`[4][H]`, gate order i, f, g, o).
pub type LstmWeights<'w, T, const IN: usize, const H: usize> = RecurrentWeights<'w, T, IN, H, 4>;

/// The state an LSTM layer carries from step to step: `h` and `c`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LstmState<T: Scalar, const H: usize> {
    /// Hidden state (the layer's output at the last step).
    pub h: [T; H],
    /// Cell state, in [`Scalar::Cell`] (wider than `T` for Q4.12).
    pub c: [T::Cell; H],
}

impl<T: Scalar, const H: usize> LstmState<T, H> {
    /// All zeros.
    pub const fn zero() -> Self {
        LstmState {
            h: [T::ZERO; H],
            c: [T::CELL_ZERO; H],
        }
    }
}

/// The LSTM [`Cell`]: 4 gate blocks (i, f, g, o), state [`LstmState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct LstmCell;

impl crate::cell::sealed::Sealed for LstmCell {}

impl Cell for LstmCell {
    const KIND: CellKind = CellKind::Lstm;
    const GATES: usize = 4;
    type State<T: Scalar, const H: usize> = LstmState<T, H>;

    fn zero_state<T: Scalar, const H: usize>() -> LstmState<T, H> {
        LstmState::zero()
    }

    fn state_parts<T: Scalar, const H: usize>(
        state: &mut LstmState<T, H>,
    ) -> (&mut [T; H], &mut [T::Cell]) {
        (&mut state.h, &mut state.c)
    }

    #[inline]
    fn step<T: Scalar, A: Activation<T>>(
        w_ih: &[T],
        w_hh: &[T],
        bias: &[T],
        x: &[T],
        h_prev: &[T],
        h_out: &mut [T],
        c: &mut [T::Cell],
    ) {
        cell_step::<T, A>(w_ih, w_hh, bias, x, h_prev, h_out, c)
    }
}

/// An LSTM layer with `IN` inputs and `H` units, computing in `T` with
/// activations `A` ([`Exact`](crate::Exact) or [`Fast`](crate::Fast)):
/// [`Recurrent`] over [`LstmCell`].
///
/// Cost of one step: `4·H·(IN + H)` multiply-accumulates, `3·H` sigmoids and
/// `2·H` tanh; stack use `2·H` values of `T` (plus `4·64` pre-activations
/// on the batched path).
///
/// ```
/// use lstm_core::{Exact, Layer, Lstm, LstmWeights};
/// static W_IH: [[[f32; 1]; 2]; 4] = [[[0.5]; 2]; 4];
/// static W_HH: [[[f32; 2]; 2]; 4] = [[[0.1; 2]; 2]; 4];
/// static BIAS: [[f32; 2]; 4] = [[0.0; 2]; 4];
/// let lstm = Lstm::<f32, Exact, 1, 2>::new(LstmWeights { w_ih: &W_IH, w_hh: &W_HH, bias: &BIAS });
/// let mut state = lstm.zero_state();
/// let h = lstm.step(&mut state, &[1.0]);
/// assert_eq!(h, state.h);
/// assert!(h[0] > 0.0 && h[0] < 1.0);
/// ```
pub type Lstm<'w, T, A, const IN: usize, const H: usize> = Recurrent<'w, LstmCell, T, A, IN, H, 4>;

/// One LSTM step over flat slices: the one implementation of the cell, used
/// behind [`LstmCell`]'s [`Cell::step`].
///
/// `w_ih` is `[4][H][IN]`, `w_hh` is `[4][H][H]`, `bias` is `[4][H]` (gate
/// order i, f, g, o), `x` is `[IN]`, `h_prev` is `[H]`; writes the new `h`
/// into `h_out` (`[H]`) and updates `c` (`[H]`) in place. Shorter slices
/// are read as zeros past their end (callers validate shapes), so this never
/// panics.
#[inline]
fn cell_step<T: Scalar, A: Activation<T>>(
    w_ih: &[T],
    w_hh: &[T],
    bias: &[T],
    x: &[T],
    h_prev: &[T],
    h_out: &mut [T],
    c: &mut [T::Cell],
) {
    if T::BATCHED_ROWS && h_prev.len() == h_out.len() {
        return cell_step_batched::<T, A>(w_ih, w_hh, bias, x, h_prev, h_out, c);
    }
    let (input, hidden) = (x.len(), h_out.len());
    let pre = |g: usize, j: usize| -> T {
        let acc = bias.get(g * hidden + j).map_or(T::ZERO, |&b| b).to_acc();
        let acc = T::dot(
            acc,
            row(w_ih, (g * hidden + j).saturating_mul(input), input),
            x,
        );
        T::from_acc(T::dot(
            acc,
            row(w_hh, (g * hidden + j).saturating_mul(hidden), hidden),
            h_prev,
        ))
    };
    for (j, (h, c)) in h_out.iter_mut().zip(c.iter_mut()).enumerate() {
        let i = A::sigmoid(pre(gate::I, j));
        let f = A::sigmoid(pre(gate::F, j));
        let g = A::tanh(pre(gate::G, j));
        let o = A::sigmoid(pre(gate::O, j));
        *c = T::cell_update(f, *c, i, g);
        *h = o.mul(A::tanh(T::cell_narrow(*c)));
    }
}

/// [`cell_step`] for number types with a batched [`Scalar::gate_rows`]:
/// the pre-activations of up to [`CHUNK`] units per gate in one call, then
/// the activations and the cell update; the same arithmetic in the same
/// order per value, so bit-identical results.
#[inline]
fn cell_step_batched<T: Scalar, A: Activation<T>>(
    w_ih: &[T],
    w_hh: &[T],
    bias: &[T],
    x: &[T],
    h_prev: &[T],
    h_out: &mut [T],
    c: &mut [T::Cell],
) {
    let (input, hidden) = (x.len(), h_out.len());
    for (chunk, (hs, cs)) in h_out.chunks_mut(CHUNK).zip(c.chunks_mut(CHUNK)).enumerate() {
        let j0 = chunk * CHUNK;
        let mut pre = [[T::ZERO; CHUNK]; 4];
        for (g, p) in pre.iter_mut().enumerate() {
            let r0 = (g * hidden).saturating_add(j0);
            let (p, _) = p.split_at_mut(hs.len().min(CHUNK));
            T::gate_rows(
                tail(bias, r0),
                tail(w_ih, r0.saturating_mul(input)),
                x,
                tail(w_hh, r0.saturating_mul(hidden)),
                h_prev,
                p,
            );
        }
        A::lstm_units(&pre, cs, hs);
    }
}

/// The LSTM's update of `min(c.len(), h.len())` units from their gate
/// pre-activations `pre` (rows i, f, g, o, unit `j` at column `j`): the
/// activations, `c = f·c + i·g` and `h = o·tanh(c)`, as [`cell_step`]
/// computes them. The definition of [`Activation::lstm_units`] (which a
/// type may compute with a kernel of its own, bit for bit the same);
/// exposed for the device self-test.
#[doc(hidden)]
#[inline]
pub fn units_portable<T: Scalar, A: Activation<T>>(
    pre: &[[T; CHUNK]; 4],
    c: &mut [T::Cell],
    h: &mut [T],
) {
    let [pi, pf, pg, po] = pre;
    for ((((h, c), &i), &f), (&g, &o)) in h
        .iter_mut()
        .zip(c.iter_mut())
        .zip(pi)
        .zip(pf)
        .zip(pg.iter().zip(po))
    {
        let i = A::sigmoid(i);
        let f = A::sigmoid(f);
        let g = A::tanh(g);
        let o = A::sigmoid(o);
        *c = T::cell_update(f, *c, i, g);
        *h = o.mul(A::tanh(T::cell_narrow(*c)));
    }
}
