//! One recurrent-layer design for every cell: the [`Cell`] trait (gate
//! blocks, per-stream state, one flat-slice step), implemented by the
//! zero-sized markers [`LstmCell`](crate::LstmCell) and [`GruCell`](crate::GruCell), and the single generic
//! layer [`Recurrent`] over any cell.
//!
//! [`Lstm`](crate::Lstm) and [`Gru`](crate::Gru) are aliases of
//! [`Recurrent`], so stacking ([`Stack`](crate::Stack)), streaming, the
//! model file and `DynModel` are written once and serve both; a stack may
//! mix them (a GRU layer over an LSTM layer, or the reverse).

use core::marker::PhantomData;

use crate::activation::Activation;
use crate::layer::Layer;
use crate::num::Scalar;

/// Which recurrent cell a layer uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CellKind {
    /// Long short-term memory (PyTorch `nn.LSTM`): 4 gates, state `h` and `c`.
    Lstm,
    /// Gated recurrent unit (PyTorch `nn.GRU`): 3 gates, state `h` only.
    Gru,
}

impl CellKind {
    /// The name used in printed reports (`LSTM`, `GRU`).
    pub const fn name(self) -> &'static str {
        match self {
            CellKind::Lstm => "LSTM",
            CellKind::Gru => "GRU",
        }
    }

    /// Number of gate weight blocks (4 for the LSTM, 3 for the GRU).
    pub const fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru => 3,
        }
    }

    /// Number of values of the per-layer state besides `h`, per unit (1
    /// for the LSTM's `c`, 0 for the GRU).
    pub const fn cell_state_width(self) -> usize {
        match self {
            CellKind::Lstm => 1,
            CellKind::Gru => 0,
        }
    }
}

impl core::fmt::Display for CellKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for CellKind {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.name())
    }
}

/// Only the cells of this crate implement [`Cell`] (each module seals its own).
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// A recurrent cell: its kind, its number of gate weight blocks, its
/// per-stream state and its step. Implemented by [`LstmCell`](crate::LstmCell) and
/// [`GruCell`](crate::GruCell) (sealed: the model file and `DynModel` know exactly these).
///
/// The weights of a layer of `IN` inputs and `H` units are always
/// `w_ih` `[GATES][H][IN]`, `w_hh` `[GATES][H][H]` (PyTorch's `weight_ih`
/// and `weight_hh`, gate blocks in PyTorch's order) and `bias` `[4][H]`
/// (see each cell for what its four bias rows are).
pub trait Cell: sealed::Sealed + Copy + Default + core::fmt::Debug + 'static {
    /// The cell kind, as the model file records it.
    const KIND: CellKind;
    /// Gate weight blocks in `w_ih` and `w_hh`.
    const GATES: usize;

    /// What a stream remembers per layer of `H` units.
    type State<T: Scalar, const H: usize>: Copy + PartialEq + core::fmt::Debug;

    /// The state at the start of a sequence: all zeros.
    fn zero_state<T: Scalar, const H: usize>() -> Self::State<T, H>;

    /// The state's `h` and its cell state (`c` for the LSTM, empty for the GRU).
    fn state_parts<T: Scalar, const H: usize>(
        state: &mut Self::State<T, H>,
    ) -> (&mut [T; H], &mut [T::Cell]);

    /// One step over flat slices: the one implementation of the cell, used by
    /// [`Recurrent`] (const-generic shapes) and by `DynModel` (runtime
    /// shapes).
    ///
    /// `w_ih` is `[GATES][H][IN]`, `w_hh` is `[GATES][H][H]`, `bias` is
    /// `[4][H]`, `x` is `[IN]`, `h_prev` is `[H]`; writes the new `h` into
    /// `h_out` (`[H]`) and updates the cell state `c` in place (`[H]` for
    /// the LSTM, empty for the GRU). Shorter slices read as zeros past their
    /// end (callers validate shapes), so this never panics.
    fn step<T: Scalar, A: Activation<T>>(
        w_ih: &[T],
        w_hh: &[T],
        bias: &[T],
        x: &[T],
        h_prev: &[T],
        h_out: &mut [T],
        c: &mut [T::Cell],
    );
}

/// Read-only weights of one recurrent layer with `G` gate blocks, borrowed
/// from `static` arrays or from a model file's bytes (never copied).
///
/// The memory layout is PyTorch's: `w_ih` is `weight_ih_l{k}` (`[G·H][IN]`)
/// viewed as `[G][H][IN]`, `w_hh` is `weight_hh_l{k}`, and `bias` holds four
/// rows of `H` whose meaning depends on the cell ([`LstmWeights`](crate::LstmWeights):
/// the folded bias per gate; [`GruWeights`](crate::GruWeights): `b_ir + b_hr`,
/// `b_iz + b_hz`, `b_in`, `b_hn`).
#[derive(Debug)]
pub struct RecurrentWeights<'w, T, const IN: usize, const H: usize, const G: usize> {
    /// Input weights per gate, `[gate][unit][input]`.
    pub w_ih: &'w [[[T; IN]; H]; G],
    /// Recurrent weights per gate, `[gate][unit][previous h]`.
    pub w_hh: &'w [[[T; H]; H]; G],
    /// Four bias rows, `[row][unit]`.
    pub bias: &'w [[T; H]; 4],
}

impl<T, const IN: usize, const H: usize, const G: usize> Clone
    for RecurrentWeights<'_, T, IN, H, G>
{
    fn clone(&self) -> Self {
        *self
    }
}
impl<T, const IN: usize, const H: usize, const G: usize> Copy
    for RecurrentWeights<'_, T, IN, H, G>
{
}
impl<T: PartialEq, const IN: usize, const H: usize, const G: usize> PartialEq
    for RecurrentWeights<'_, T, IN, H, G>
{
    fn eq(&self, other: &Self) -> bool {
        self.w_ih == other.w_ih && self.w_hh == other.w_hh && self.bias == other.bias
    }
}

/// A recurrent layer of cell `C` ([`LstmCell`](crate::LstmCell) or [`GruCell`](crate::GruCell)) with `IN`
/// inputs and `H` units, computing in `T` with activations `A`
/// ([`Exact`](crate::Exact) or [`Fast`](crate::Fast)); `G` is the cell's
/// number of gate blocks ([`Cell::GATES`], checked at compile time).
///
/// Use it through the aliases [`Lstm`](crate::Lstm) and [`Gru`](crate::Gru).
#[derive(Debug)]
pub struct Recurrent<'w, C, T, A, const IN: usize, const H: usize, const G: usize> {
    /// The layer's weights.
    pub weights: RecurrentWeights<'w, T, IN, H, G>,
    _cell: PhantomData<(C, A)>,
}

impl<C, T, A, const IN: usize, const H: usize, const G: usize> Clone
    for Recurrent<'_, C, T, A, IN, H, G>
{
    fn clone(&self) -> Self {
        *self
    }
}
impl<C, T, A, const IN: usize, const H: usize, const G: usize> Copy
    for Recurrent<'_, C, T, A, IN, H, G>
{
}
impl<C, T: PartialEq, A, const IN: usize, const H: usize, const G: usize> PartialEq
    for Recurrent<'_, C, T, A, IN, H, G>
{
    fn eq(&self, other: &Self) -> bool {
        self.weights == other.weights
    }
}

impl<'w, C: Cell, T, A, const IN: usize, const H: usize, const G: usize>
    Recurrent<'w, C, T, A, IN, H, G>
{
    /// Fails to compile when `G` is not the cell's number of gate blocks.
    const GATES_MATCH: () = assert!(G == C::GATES, "G must be the cell's Cell::GATES");

    /// A layer over the given weights.
    pub const fn new(weights: RecurrentWeights<'w, T, IN, H, G>) -> Self {
        let () = Self::GATES_MATCH;
        Recurrent {
            weights,
            _cell: PhantomData,
        }
    }

    /// The cell kind.
    pub const fn kind(&self) -> CellKind {
        C::KIND
    }
}

impl<C: Cell, T: Scalar, A: Activation<T>, const IN: usize, const H: usize, const G: usize>
    Layer<T, IN, H> for Recurrent<'_, C, T, A, IN, H, G>
{
    type State = C::State<T, H>;

    fn zero_state(&self) -> Self::State {
        C::zero_state()
    }

    #[inline]
    fn step(&self, state: &mut Self::State, x: &[T; IN]) -> [T; H] {
        let () = Self::GATES_MATCH;
        let w = &self.weights;
        let (h, c) = C::state_parts(state);
        // 4-byte aligned, so that the Q4.12 kernels can load them by words.
        let h_prev = Align4(*h);
        let x = Align4(*x);
        C::step::<T, A>(
            w.w_ih.as_flattened().as_flattened(),
            w.w_hh.as_flattened().as_flattened(),
            w.bias.as_flattened(),
            &x.0,
            &h_prev.0,
            h,
            c,
        );
        *h
    }
}

/// A value at an address that is a multiple of 4.
#[repr(C, align(4))]
pub(crate) struct Align4<V>(pub(crate) V);

/// Units per pass of the batched cells (see [`Scalar::gate_rows`]): the
/// pre-activations of that many units (per gate) are kept on the stack.
#[doc(hidden)]
pub const CHUNK: usize = 64;

/// `w[start..]`, or an empty slice if out of range.
#[inline]
pub(crate) fn tail<T>(w: &[T], start: usize) -> &[T] {
    w.get(start..).unwrap_or(&[])
}
