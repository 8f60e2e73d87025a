//! Backpropagation through time: the head's gradients, then every part's
//! layers from the top down (the cell's element-wise step and recurrent
//! product per step, backwards), the weight gradients of a layer as one blocked product
//! over all of its steps, and the parts' shares added up.

use ndarray::linalg::general_mat_mul;

use super::workspace::{mat, mat_mut, run_parts, sum_parts, sum_parts_t, Part, Workspace};
use crate::net::cell::step::{BwdStep, StepDims};
use crate::net::cell::PackedLayer;
use crate::net::gemm::{gemm_tn, TnSeg};
use crate::net::loss::data_loss;
use crate::net::{CellKind, Grads, HeadMode, NetConfig, Params, Scalar, Target};

/// Backward pass of the last forward pass (whose cache is intact, with
/// `rows` head rows): writes the gradients of the data loss into `grads`
/// (the regularisation is the caller's) and returns the data loss.
pub(super) fn backward<F: Scalar>(
    ws: &mut Workspace<F>,
    cfg: &NetConfig,
    params: &Params<F>,
    target: &Target<'_, F>,
    rows: usize,
    grads: &mut Grads<F>,
) -> F {
    let (bsz, steps) = (ws.batch, ws.steps);
    ws.cache_intact = false;
    let out = cfg.output_size;
    let nl = cfg.num_layers();
    let ht = cfg.top_hidden();
    let nparts = ws.nparts;

    let data = {
        let mut dy = mat_mut(&mut ws.dy, rows, out);
        data_loss(
            target,
            mat(&ws.y, rows, out),
            cfg.head,
            &ws.lengths,
            Some(&mut dy),
        )
    };

    // head
    let dy = mat(&ws.dy, rows, out);
    general_mat_mul(
        F::one(),
        &dy.t(),
        &mat(&ws.head_in, rows, ht),
        F::zero(),
        &mut grads.dense.weight,
    );
    for (k, g) in grads.dense.bias.iter_mut().enumerate() {
        *g = dy.column(k).sum();
    }
    {
        let mut dhd = mat_mut(&mut ws.dhead, rows, ht);
        general_mat_mul(F::one(), &dy, &params.dense.weight, F::zero(), &mut dhd);
        if ws.train {
            for (d, m) in ws.dhead[..rows * ht]
                .iter_mut()
                .zip(&ws.head_mask[..rows * ht])
            {
                *d = *d * *m;
            }
        }
    }

    for (l, (sl, p)) in ws.shared.iter_mut().zip(&params.layers).enumerate() {
        sl.pack_backward(p, l > 0);
    }
    {
        let shared = &ws.shared;
        let dtop = &ws.dhead[..rows * ht];
        let (head, train) = (cfg.head, ws.train);
        run_parts(&mut ws.parts[..nparts], |part| {
            backward_part(
                part, cfg.cell, shared, params, head, dtop, bsz, steps, train,
            )
        });
    }

    let parts = &ws.parts[..nparts];
    let cell = cfg.cell;
    for (l, g) in grads.layers.iter_mut().enumerate().take(nl) {
        let h = cfg.hidden_sizes[l];
        let ld = 4 * h;
        let hh = |i| cell.hh_column(i, h);
        sum_parts_t(&mut g.weight_hh, (0, ld), hh, parts, l);
        sum_parts_t(&mut g.weight_ih, (h, ld), |i| i, parts, l);
        let brow = ld * (h + cfg.layer_input_size(l));
        sum_parts(g.bias_ih.iter_mut().enumerate(), |i| brow + i, parts, l);
        if cell == CellKind::Lstm {
            // the two LSTM biases are added before any use: same gradient
            g.bias_hh.assign(&g.bias_ih);
        } else {
            sum_parts(g.bias_hh.iter_mut().enumerate(), |i| brow + hh(i), parts, l);
        }
    }
    data
}

/// Backward pass of all layers for one part: gate gradients and the part's
/// shares of the weight gradients. `dtop` is the head-input gradient,
/// `[B][H_top]` (last-step head) or `[T*B][H_top]` time-major (every step).
#[allow(clippy::too_many_arguments)]
fn backward_part<F: Scalar>(
    part: &mut Part<F>,
    cell: CellKind,
    shared: &[PackedLayer<F>],
    params: &Params<F>,
    head: HeadMode,
    dtop: &[F],
    batch: usize,
    steps: usize,
    train: bool,
) {
    let Part {
        b0,
        bp,
        lengths,
        xt,
        layers,
        dh_rec,
        dc,
        tn,
        ..
    } = part;
    let (b0, bp) = (*b0, *bp);
    let tbp = bp * steps;
    let nl = layers.len();
    {
        let top = &mut layers[nl - 1];
        let ht = top.hidden;
        match head {
            HeadMode::EveryStep => {
                for t in 0..steps {
                    let src = (t * batch + b0) * ht;
                    top.dh[t * bp * ht..(t + 1) * bp * ht]
                        .copy_from_slice(&dtop[src..src + bp * ht]);
                }
            }
            HeadMode::LastStep => {
                top.dh[..tbp * ht].fill(F::zero());
                for (bl, &len) in lengths.iter().enumerate() {
                    let r = ((len - 1) * bp + bl) * ht;
                    let src = (b0 + bl) * ht;
                    top.dh[r..r + ht].copy_from_slice(&dtop[src..src + ht]);
                }
            }
        }
    }

    for l in (0..nl).rev() {
        let p = &params.layers[l];
        let sl = &shared[l];
        let (below, rest) = layers.split_at_mut(l);
        let cur = &mut rest[0];
        let h = cur.hidden;
        let g4 = 4 * h;
        let bh = bp * h;
        // cell states per step (none for a GRU)
        let cbh = if cell.has_cell_state() { bh } else { 0 };
        let dc = &mut dc[..cbh];
        let dh_rec = &mut dh_rec[..bh];
        dc.fill(F::zero());
        dh_rec.fill(F::zero());
        for t in (0..steps).rev() {
            let gates_t = &mut cur.gates[t * bp * g4..(t + 1) * bp * g4];
            cell.step_backward(
                StepDims {
                    batch: bp,
                    hidden: h,
                    t,
                },
                lengths,
                BwdStep {
                    gates: gates_t,
                    dh_out: &cur.dh[t * bh..(t + 1) * bh],
                    dh_rec,
                    h_prev: &cur.h[t * bh..(t + 1) * bh],
                    dc,
                    c_prev: &cur.c[t * cbh..(t + 1) * cbh],
                    tanh_c: &cur.tanh_c[t * cbh..(t + 1) * cbh],
                },
            );
            if t > 0 {
                sl.backward_product(cell, bp, gates_t, dh_rec);
            }
        }
        // weight gradients: one product over all of the part's steps,
        // `[h_{t-1} | x_t]^T · dG` (a zero initial state in block 0 of `h`
        // adds exact zeros), and the bias gradient as the column sums of dG
        {
            let nin = p.weight_ih.ncols();
            let input: &[F] = if l == 0 {
                xt
            } else {
                let prev = &below[l - 1];
                if train {
                    &prev.dropped
                } else {
                    &prev.h[bp * prev.hidden..]
                }
            };
            let segs = [
                TnSeg {
                    a: &cur.h[..tbp * h],
                    lda: h,
                    m: h,
                },
                TnSeg {
                    a: &input[..tbp * nin],
                    lda: nin,
                    m: nin,
                },
            ];
            gemm_tn(
                tbp,
                &segs,
                &cur.gates[..tbp * g4],
                g4,
                g4,
                &mut cur.dw_t,
                tn,
            );
        }
        if l > 0 {
            let prev = &mut below[l - 1];
            let hp = prev.hidden;
            sl.input_grad(tbp, &cur.gates, &mut prev.dh);
            if train {
                for (d, m) in prev.dh[..tbp * hp].iter_mut().zip(&prev.mask[..tbp * hp]) {
                    *d = *d * *m;
                }
            }
        }
    }
}
