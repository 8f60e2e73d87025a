//! The recurrent cells behind one interface: everything but the cell is
//! shared by the LSTM and the GRU (batching, lengths, dropout, stacking,
//! the head, losses, the optimiser, threads, the workspace, the forward and
//! backward drivers and the statistics hook).
//!
//! What differs is here, dispatched on [`CellKind`] once per layer and step:
//!
//! * the parameter shapes ([`CellKind::gates`] blocks of `H` rows) and the
//!   bias layout (the one `lstm-core`'s file uses);
//! * the products of a step, with the weights packed once per pass
//!   ([`PackedLayer`]): the LSTM computes its four gates with one fused
//!   product `[x_t | h_{t-1}] · [W_ih; W_hh]ᵀ`; the GRU computes r, z and the
//!   input part of n with one fused product (its `W_hn` block zeroed) and
//!   the recurrent part `W_hn h_{t-1}` with a second one, because it is
//!   multiplied by `r`. Backwards, one product with `W_hh` per step and one
//!   with `W_ih` per layer, for both;
//! * the element-wise step kernels ([`lstm`], [`gru`], over the buffers of
//!   [`step`]);
//! * which columns of the gate-gradient buffer the weight gradients are
//!   taken from ([`CellKind::hh_column`]): the weight-gradient product
//!   `[h_{t-1} | x_t | 1]ᵀ · dG` is one blocked product per layer for both.

pub(crate) mod gru;
mod kind;
pub(crate) mod lstm;
pub(crate) mod step;

pub use kind::CellKind;

use ndarray::s;

use super::gemm::{gemm_packed, gemm_packed2, PackedB};
use super::{LayerParams, Scalar};
use step::{BwdStep, FwdStep, StepDims};

/// Rows of a large product per call of [`gemm_packed`] (the `C` rows of a
/// chunk stay in cache while the column panels pass over them).
const ROW_CHUNK: usize = 48;

/// One layer's weights as the products of a pass use them, packed once per
/// pass and shared by all parts of the batch.
#[derive(Debug, Default, Clone)]
pub(crate) struct PackedLayer<F> {
    /// `[4H]`: the bias in `lstm-core`'s layout ([`LayerParams::bias`]).
    pub bias: Vec<F>,
    /// `[weight_ih^T; weight_hh^T]` (`(IN + H) x G·H`) for the fused
    /// forward product (GRU: the `W_hn` block zeroed).
    w_t: PackedB<F>,
    /// GRU: `W_hn^T` (`H x H`) for the recurrent part of the candidate.
    w_hn: PackedB<F>,
    /// `weight_hh` (`G·H x H`) for the per-step backward product.
    whh: PackedB<F>,
    /// `weight_ih` (`G·H x IN`) for the gradient to the layer below.
    wih: PackedB<F>,
}

impl<F: Scalar> PackedLayer<F> {
    /// Packs what the forward pass needs.
    pub(crate) fn pack_forward(&mut self, kind: CellKind, p: &LayerParams<F>) {
        let h = p.hidden_size();
        self.bias.clear();
        self.bias.extend(p.bias());
        self.w_t.pack_stacked(&[p.weight_ih.t(), p.weight_hh.t()]);
        if kind == CellKind::Gru {
            let nin = p.input_size();
            self.w_t.zero_block(nin..nin + h, 2 * h..3 * h);
            self.w_hn.pack(p.weight_hh.slice(s![2 * h.., ..]).t());
        }
    }

    /// Packs what the backward pass needs (`weight_ih` only when a layer
    /// below takes the gradient of its input).
    pub(crate) fn pack_backward(&mut self, p: &LayerParams<F>, input_grad: bool) {
        self.whh.pack(p.weight_hh.view());
        if input_grad {
            self.wih.pack(p.weight_ih.view());
        }
    }

    /// The gate products of one forward step for `m` rows of `hidden`
    /// units into `gates` (`[m][4H]`): `x` (`[m][IN]`) and `h_prev`
    /// (`[m][H]`; `None` for a zero initial state, which adds nothing).
    pub(crate) fn forward_product(
        &self,
        kind: CellKind,
        m: usize,
        hidden: usize,
        (x, nin): (&[F], usize),
        h_prev: Option<&[F]>,
        gates: &mut [F],
    ) {
        let ld = 4 * hidden;
        let hs = h_prev.map_or((&[][..], 0, 0), |h| (h, hidden, hidden));
        gemm_packed2(m, (x, nin, nin), hs, &self.w_t, gates, ld, false);
        if kind == CellKind::Gru {
            match h_prev {
                Some(h) => gemm_packed(
                    m,
                    h,
                    hidden,
                    &self.w_hn,
                    &mut gates[3 * hidden..],
                    ld,
                    false,
                ),
                None => {
                    for row in gates.chunks_exact_mut(ld).take(m) {
                        row[3 * hidden..].fill(F::zero());
                    }
                }
            }
        }
    }

    /// The recurrent product of backward step `t > 0` for `m` rows: the
    /// gradient at `h_{t-1}` through `weight_hh` into `dh_rec` (`[m][H]`),
    /// after [`CellKind::step_backward`] (the GRU adds it to the direct part
    /// the kernel left there).
    pub(crate) fn backward_product(&self, kind: CellKind, m: usize, gates: &[F], dh_rec: &mut [F]) {
        let hid = self.whh.n();
        let ld = 4 * hid;
        match kind {
            CellKind::Lstm => gemm_packed(m, gates, ld, &self.whh, dh_rec, hid, false),
            CellKind::Gru => gemm_packed2(
                m,
                (gates, ld, 2 * hid),
                (&gates[3 * hid..], ld, hid),
                &self.whh,
                dh_rec,
                hid,
                true,
            ),
        }
    }

    /// The gradient at the layer's input, `dx = dG · weight_ih` for `m` rows
    /// of the gate gradients (`[m][4H]`) into `dx` (`[m][IN]`), in chunks of
    /// [`ROW_CHUNK`] rows.
    pub(crate) fn input_grad(&self, m: usize, gates: &[F], dx: &mut [F]) {
        let ld = 4 * self.whh.n();
        let nin = self.wih.n();
        let mut i = 0;
        while i < m {
            let rows = ROW_CHUNK.min(m - i);
            gemm_packed(
                rows,
                &gates[i * ld..],
                ld,
                &self.wih,
                &mut dx[i * nin..],
                nin,
                false,
            );
            i += rows;
        }
    }
}

impl CellKind {
    /// The forward step's element-wise kernel.
    pub(crate) fn step_forward<F: Scalar>(self, d: StepDims, lengths: &[usize], s: FwdStep<'_, F>) {
        match self {
            CellKind::Lstm => lstm::step_forward(d, lengths, s),
            CellKind::Gru => <F as gru::GruKernels>::step_forward(d, lengths, s),
        }
    }

    /// The backward step's element-wise kernel.
    pub(crate) fn step_backward<F: Scalar>(
        self,
        d: StepDims,
        lengths: &[usize],
        s: BwdStep<'_, F>,
    ) {
        match self {
            CellKind::Lstm => <F as lstm::LstmKernels>::step_backward(d, lengths, s),
            CellKind::Gru => <F as gru::GruKernels>::step_backward(d, lengths, s),
        }
    }

    /// The column of the `4H`-wide gate-gradient buffer that row `i` of
    /// `weight_hh` and `bias_hh` takes its gradient from (`weight_ih` and
    /// `bias_ih`: column `i`). The GRU's recurrent candidate weights `W_hn`
    /// are in the last block, past the input part `W_in`.
    pub(crate) fn hh_column(self, i: usize, hidden: usize) -> usize {
        match self {
            CellKind::Gru if i >= 2 * hidden => i + hidden,
            _ => i,
        }
    }
}
