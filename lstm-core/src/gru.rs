//! The GRU cell and layer, PyTorch's `nn.GRU` with gate order r, z, n.
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 − z) ⊙ n + z ⊙ h  =  n + z ⊙ (h − n)
//! ```
//!
//! The biases of `r` and `z` are folded on import like the LSTM's; `n`'s two
//! biases stay apart because `b_hn` sits inside the reset product. So the
//! four bias rows are `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`. There is no
//! cell state: a GRU layer's state is `h` alone ([`GruState`]), and a Q4.12
//! GRU needs no wide state.

use crate::activation::Activation;
use crate::cell::{tail, Cell, CellKind, Recurrent, RecurrentWeights, CHUNK};
use crate::num::{row, Scalar};

/// Index of each gate block in `w_ih` / `w_hh` (PyTorch's order).
pub mod gate {
    /// Reset gate.
    pub const R: usize = 0;
    /// Update gate.
    pub const Z: usize = 1;
    /// Candidate.
    pub const N: usize = 2;
}

/// Index of each row of a GRU layer's `bias` (`[4][H]`).
pub mod bias {
    /// `b_ir + b_hr`.
    pub const R: usize = 0;
    /// `b_iz + b_hz`.
    pub const Z: usize = 1;
    /// `b_in` (input part of the candidate).
    pub const N_INPUT: usize = 2;
    /// `b_hn` (recurrent part of the candidate, inside the reset product).
    pub const N_HIDDEN: usize = 3;
}

/// Read-only weights of one GRU layer, borrowed (never copied).
///
/// `w_ih` is PyTorch's `weight_ih_l{k}` (`[3H][IN]`, rows r, z, n) viewed as
/// `[3][H][IN]`, `w_hh` is `weight_hh_l{k}` (`[3][H][H]`), and `bias` is
/// `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]` (`[4][H]`; see [`bias`]).
pub type GruWeights<'w, T, const IN: usize, const H: usize> = RecurrentWeights<'w, T, IN, H, 3>;

/// The state a GRU layer carries from step to step: `h` only.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GruState<T, const H: usize> {
    /// Hidden state (the layer's output at the last step).
    pub h: [T; H],
}

impl<T: Scalar, const H: usize> GruState<T, H> {
    /// All zeros.
    pub const fn zero() -> Self {
        GruState { h: [T::ZERO; H] }
    }
}

/// The GRU [`Cell`]: 3 gate blocks (r, z, n), state [`GruState`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GruCell;

impl crate::cell::sealed::Sealed for GruCell {}

impl Cell for GruCell {
    const KIND: CellKind = CellKind::Gru;
    const GATES: usize = 3;
    type State<T: Scalar, const H: usize> = GruState<T, H>;

    fn zero_state<T: Scalar, const H: usize>() -> GruState<T, H> {
        GruState::zero()
    }

    fn state_parts<T: Scalar, const H: usize>(
        state: &mut GruState<T, H>,
    ) -> (&mut [T; H], &mut [T::Cell]) {
        (&mut state.h, &mut [])
    }

    /// The GRU step; `c` is not used (pass an empty slice).
    #[inline]
    fn step<T: Scalar, A: Activation<T>>(
        w_ih: &[T],
        w_hh: &[T],
        bias: &[T],
        x: &[T],
        h_prev: &[T],
        h_out: &mut [T],
        _c: &mut [T::Cell],
    ) {
        if T::BATCHED_ROWS && h_prev.len() == h_out.len() {
            step_batched::<T, A>(w_ih, w_hh, bias, x, h_prev, h_out)
        } else {
            step_portable::<T, A>(w_ih, w_hh, bias, x, h_prev, h_out)
        }
    }
}

/// A GRU layer with `IN` inputs and `H` units, computing in `T` with
/// activations `A` ([`Exact`](crate::Exact) or [`Fast`](crate::Fast)):
/// [`Recurrent`] over [`GruCell`].
///
/// Cost of one step: `3·H·(IN + H)` multiply-accumulates, `2·H` sigmoids and
/// `H` tanh; stack use `H` values of `T` (plus `4·64` pre-activations on the
/// batched path).
///
/// ```
/// use lstm_core::{Exact, Gru, GruWeights, Layer};
/// // Rows r, z, n; bias rows [b_ir + b_hr, b_iz + b_hz, b_in, b_hn].
/// static W_IH: [[[f32; 1]; 2]; 3] = [[[0.5]; 2]; 3];
/// static W_HH: [[[f32; 2]; 2]; 3] = [[[0.1; 2]; 2]; 3];
/// static BIAS: [[f32; 2]; 4] = [[0.0; 2]; 4];
/// let gru = Gru::<f32, Exact, 1, 2>::new(GruWeights { w_ih: &W_IH, w_hh: &W_HH, bias: &BIAS });
/// let mut state = gru.zero_state();
/// let h = gru.step(&mut state, &[1.0]);
/// assert_eq!(h, state.h);
/// // z = σ(0.5) ≈ 0.622, n = tanh(0.5) ≈ 0.462, h' = (1 − z)·n ≈ 0.175
/// assert!((h[0] - 0.1747).abs() < 1e-3);
/// ```
pub type Gru<'w, T, A, const IN: usize, const H: usize> = Recurrent<'w, GruCell, T, A, IN, H, 3>;

/// The portable GRU step (unit by unit), which the batched one equals bit
/// for bit. Exposed for tests.
///
/// Per unit, one [`Scalar::rows3`] for `r`, `z` and `n`'s recurrent part
/// (on `b_hn`), so that `f32` reads each `h_prev[k]` once for three
/// multiply-adds; then `n`'s input part.
#[doc(hidden)]
#[inline]
pub fn step_portable<T: Scalar, A: Activation<T>>(
    w_ih: &[T],
    w_hh: &[T],
    bias: &[T],
    x: &[T],
    h_prev: &[T],
    h_out: &mut [T],
) {
    let (input, hidden) = (x.len(), h_out.len());
    let b = |k: usize, j: usize| -> T::Acc {
        let at = k.saturating_mul(hidden).saturating_add(j);
        bias.get(at).map_or(T::ZERO, |&b| b).to_acc()
    };
    let wx = |g: usize, j: usize| -> &[T] {
        let r = g.saturating_mul(hidden).saturating_add(j);
        row(w_ih, r.saturating_mul(input), input)
    };
    let wh = |g: usize, j: usize| -> &[T] {
        let r = g.saturating_mul(hidden).saturating_add(j);
        row(w_hh, r.saturating_mul(hidden), hidden)
    };
    for (j, h) in h_out.iter_mut().enumerate() {
        // `n`'s recurrent part starts on `b_hn`, without the input part.
        let [r, z, nh] = T::rows3(
            [b(bias::R, j), b(bias::Z, j), b(bias::N_HIDDEN, j)],
            [wx(gate::R, j), wx(gate::Z, j), &[]],
            x,
            [wh(gate::R, j), wh(gate::Z, j), wh(gate::N, j)],
            h_prev,
        );
        let nx = T::from_acc(T::dot(b(bias::N_INPUT, j), wx(gate::N, j), x));
        let h_old = h_prev.get(j).map_or(T::ZERO, |&v| v);
        *h = unit::<T, A>(T::from_acc(r), T::from_acc(z), nx, T::from_acc(nh), h_old);
    }
}

/// One unit's update from its four pre-activations.
#[inline(always)]
pub(crate) fn unit<T: Scalar, A: Activation<T>>(r: T, z: T, nx: T, nh: T, h_old: T) -> T {
    let r = A::sigmoid(r);
    let z = A::sigmoid(z);
    let n = A::tanh(nx.add(r.mul(nh)));
    T::blend(z, h_old, n)
}

/// The batched GRU step: the pre-activations of up to 64 units per gate row
/// block in one [`Scalar::gate_rows`] call each (`r` and `z` over `x` and
/// `h`; `n`'s recurrent part with an empty `x`, and its input part with an
/// empty `h` unless the input is short, [`Scalar::SHORT_INPUT`]: then per
/// unit by [`Scalar::bias_dot`]), then the activations and the blend; the
/// same arithmetic in the same order per value as [`step_portable`], so
/// bit-identical results. Requires `h_prev.len() == h_out.len()` to be used
/// by the cell (else the portable path runs). Exposed for tests.
#[doc(hidden)]
#[inline]
pub fn step_batched<T: Scalar, A: Activation<T>>(
    w_ih: &[T],
    w_hh: &[T],
    bias: &[T],
    x: &[T],
    h_prev: &[T],
    h_out: &mut [T],
) {
    let (input, hidden) = (x.len(), h_out.len());
    let short = input <= T::SHORT_INPUT;
    // Empty operands that keep the alignment of `x` and `h_prev` (the Q4.12
    // kernel does not read them, and checks alignment only when non-empty).
    let (no_x, no_h) = (x.get(..0).unwrap_or(&[]), h_prev.get(..0).unwrap_or(&[]));
    let start = |k: usize, j: usize| k.saturating_mul(hidden).saturating_add(j);
    for (chunk, hs) in h_out.chunks_mut(CHUNK).enumerate() {
        let j0 = chunk * CHUNK;
        let n = hs.len().min(CHUNK);
        let mut pre = [[T::ZERO; CHUNK]; 4];
        let [pr, pz, pnx, pnh] = &mut pre;
        for (g, p) in [(gate::R, &mut *pr), (gate::Z, &mut *pz)] {
            let r0 = start(g, j0);
            T::gate_rows(
                tail(bias, r0),
                tail(w_ih, r0.saturating_mul(input)),
                x,
                tail(w_hh, r0.saturating_mul(hidden)),
                h_prev,
                p.get_mut(..n).unwrap_or(&mut []),
            );
        }
        if !short {
            T::gate_rows(
                tail(bias, start(bias::N_INPUT, j0)),
                tail(w_ih, start(gate::N, j0).saturating_mul(input)),
                x,
                no_h,
                no_h,
                pnx.get_mut(..n).unwrap_or(&mut []),
            );
        }
        T::gate_rows(
            tail(bias, start(bias::N_HIDDEN, j0)),
            no_x,
            no_x,
            tail(w_hh, start(gate::N, j0).saturating_mul(hidden)),
            h_prev,
            pnh.get_mut(..n).unwrap_or(&mut []),
        );
        // `h_prev` is as long as `h_out` here, so no unit is left out.
        for (j, ((h, &old), ((&r, &z), (&nx, &nh)))) in (j0..).zip(
            hs.iter_mut()
                .zip(tail(h_prev, j0))
                .zip(pr.iter().zip(pz.iter()).zip(pnx.iter().zip(pnh.iter()))),
        ) {
            let nx = if short {
                let b_in = bias.get(start(bias::N_INPUT, j)).map_or(T::ZERO, |&b| b);
                let w_in = row(w_ih, start(gate::N, j).saturating_mul(input), input);
                T::bias_dot(b_in, w_in, x)
            } else {
                nx
            };
            *h = unit::<T, A>(r, z, nx, nh, old);
        }
    }
}
