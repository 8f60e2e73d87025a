//! Backpropagation through time: the head's gradients, then every part's
//! layers from the top down (one cell step and one recurrent product per
//! step, backwards), the weight gradients of a layer as one blocked product
//! over all of its steps, and the parts' shares added up.

use ndarray::linalg::general_mat_mul;

use super::workspace::{
    mat, mat_mut, run_parts, sum_parts, sum_parts_t, Part, SharedLayer, Workspace,
};
use crate::net::gemm::{gemm_packed, gemm_tn, PackedB, TnSeg};
use crate::net::kernels::{BwdStep, StepDims};
use crate::net::loss::data_loss;
use crate::net::{Grads, HeadMode, NetConfig, Params, Scalar, Target};

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
        sl.whh.pack(p.weight_hh.view());
        if l > 0 {
            sl.wih.pack(p.weight_ih.view());
        }
    }
    {
        let shared = &ws.shared;
        let dtop = &ws.dhead[..rows * ht];
        let (head, train) = (cfg.head, ws.train);
        run_parts(&mut ws.parts[..nparts], |part| {
            backward_part(part, shared, params, head, dtop, bsz, steps, train)
        });
    }

    let parts = &ws.parts[..nparts];
    for (l, g) in grads.layers.iter_mut().enumerate().take(nl) {
        let h = cfg.hidden_sizes[l];
        sum_parts_t(&mut g.weight_hh, 0, parts, |p| &p.layers[l].dw_t);
        sum_parts_t(&mut g.weight_ih, h, parts, |p| &p.layers[l].dw_t);
        let brow = 4 * h * (h + cfg.layer_input_size(l));
        sum_parts(g.bias_ih.iter_mut(), parts, |p| &p.layers[l].dw_t[brow..]);
        g.bias_hh.assign(&g.bias_ih);
    }
    data
}

/// Backward pass of all layers for one part: gate gradients and the part's
/// shares of the weight gradients. `dtop` is the head-input gradient,
/// `[B][H_top]` (last-step head) or `[T*B][H_top]` time-major (every step).
#[allow(clippy::too_many_arguments)]
fn backward_part<F: Scalar>(
    part: &mut Part<F>,
    shared: &[SharedLayer<F>],
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
        let dc = &mut dc[..bh];
        let dh_rec = &mut dh_rec[..bh];
        dc.fill(F::zero());
        dh_rec.fill(F::zero());
        for t in (0..steps).rev() {
            let gates_t = &mut cur.gates[t * bp * g4..(t + 1) * bp * g4];
            F::step_backward(
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
                    dc,
                    c_prev: &cur.c[t * bh..(t + 1) * bh],
                    tanh_c: &cur.tanh_c[t * bh..(t + 1) * bh],
                },
            );
            if t > 0 {
                gemm_packed(bp, gates_t, g4, &sl.whh, dh_rec, h, false);
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
            gemm_rows(tbp, &cur.gates, g4, &sl.wih, &mut prev.dh, hp);
            if train {
                for (d, m) in prev.dh[..tbp * hp].iter_mut().zip(&prev.mask[..tbp * hp]) {
                    *d = *d * *m;
                }
            }
        }
    }
}

/// Rows of a large product per call of [`gemm_packed`] (the `C` rows of a
/// chunk stay in cache while the column panels pass over them).
const ROW_CHUNK: usize = 48;

/// `C = A · B` for `m` rows (`A` stride `lda`, `C` stride `b.n()`), in
/// chunks of [`ROW_CHUNK`] rows.
fn gemm_rows<F: Scalar>(m: usize, a: &[F], lda: usize, b: &PackedB<F>, c: &mut [F], ldc: usize) {
    let mut i = 0;
    while i < m {
        let rows = ROW_CHUNK.min(m - i);
        gemm_packed(rows, &a[i * lda..], lda, b, &mut c[i * ldc..], ldc, false);
        i += rows;
    }
}
