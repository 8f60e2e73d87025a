//! The buffers one batched cell step works on, shared by every cell.
//!
//! All blocks are row-major `[B][..]`, one row per sample. The gate buffer
//! has `4H` columns for every cell: the LSTM's gates i, f, g, o; the GRU's
//! r, z, n and the recurrent part of its candidate, `W_hn h + b_hn`.

/// Shapes of one step: `batch` rows of `hidden` units at time `t`.
#[derive(Clone, Copy, Debug)]
pub struct StepDims {
    /// Rows `B`.
    pub batch: usize,
    /// Units `H`.
    pub hidden: usize,
    /// Time step `t`.
    pub t: usize,
}

/// Buffers of one forward step. Rows whose length is `<= t` keep their
/// state (`h_next = h_prev`, `c_next = c_prev`).
pub struct FwdStep<'a, F> {
    /// `[B][4H]`: the products without bias in, the activations the
    /// backward step needs out.
    pub gates: &'a mut [F],
    /// `[4H]`: the bias in `lstm-core`'s layout (LSTM: `bias_ih + bias_hh`;
    /// GRU: `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`).
    pub bias: &'a [F],
    /// `[B][H]` `h_{t-1}`.
    pub h_prev: &'a [F],
    /// `[B][H]` `h_t` (out).
    pub h_next: &'a mut [F],
    /// `[B][H]` `c_{t-1}` (LSTM; empty for the GRU).
    pub c_prev: &'a [F],
    /// `[B][H]` `c_t` (out; LSTM).
    pub c_next: &'a mut [F],
    /// `[B][H]` `tanh(c_t)` (out; LSTM).
    pub tanh_c: &'a mut [F],
    /// `[B][G·H]` gate pre-activations, the arguments of σ and tanh in gate
    /// order (out, rows still running only), for statistics; `None` in
    /// training.
    pub pre: Option<&'a mut [F]>,
}

/// Buffers of one backward step. Rows past their length get zero gate
/// gradients and pass no gradient back.
pub struct BwdStep<'a, F> {
    /// `[B][4H]` what the forward step left in, the gradients of the gate
    /// products out (the columns the weight gradients are taken from).
    pub gates: &'a mut [F],
    /// `[B][H]` gradient from above at `h_t`.
    pub dh_out: &'a [F],
    /// `[B][H]` in: the gradient from step `t + 1` at `h_t`; out: the part
    /// of the gradient at `h_{t-1}` that does not pass through the
    /// recurrent weights (GRU: `dh ⊙ z`; the LSTM has none and leaves it to
    /// the recurrent product).
    pub dh_rec: &'a mut [F],
    /// `[B][H]` `h_{t-1}` (GRU).
    pub h_prev: &'a [F],
    /// `[B][H]` `dL/dc_t` in, `dL/dc_{t-1}` out (LSTM; empty for the GRU).
    pub dc: &'a mut [F],
    /// `[B][H]` `c_{t-1}` (LSTM).
    pub c_prev: &'a [F],
    /// `[B][H]` `tanh(c_t)` (LSTM).
    pub tanh_c: &'a [F],
}
