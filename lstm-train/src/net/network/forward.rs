//! The forward pass: every part's layers over all steps (the cell's gate
//! products and its element-wise step per step), then the Dense head over
//! the batch.

use ndarray::linalg::general_mat_mul;
use ndarray::ArrayView3;
use rand::RngCore;

use super::batch::{Batch, State};
use super::observe::{LayerStep, StepObserver};
use super::workspace::{fill_mask, mat, mat_mut, run_parts, Part, Workspace};
use crate::net::cell::step::{FwdStep, StepDims};
use crate::net::cell::PackedLayer;
use crate::net::{CellKind, HeadMode, NetConfig, Params, Scalar};

/// Forward pass over a validated batch whose buffers
/// [`Workspace::prepare`] sized: packs the weights, draws the dropout masks
/// (`rng` given: training with dropout), runs the parts (on threads when
/// there are several; an observer needs a single part) and the head.
pub(super) fn forward<F: Scalar>(
    ws: &mut Workspace<F>,
    cfg: &NetConfig,
    params: &Params<F>,
    batch: &Batch<'_, F>,
    mut rng: Option<&mut dyn RngCore>,
    obs: Option<&mut dyn StepObserver<F>>,
) {
    let (bsz, steps) = (ws.batch, ws.steps);
    let nparts = ws.nparts;
    let train = ws.train;
    let dropout = cfg.dropout;
    let tb = bsz * steps;
    let nl = cfg.num_layers();

    for (sl, p) in ws.shared.iter_mut().zip(&params.layers) {
        sl.pack_forward(cfg.cell, p);
    }
    // dropout masks between stacked layers, drawn layer by layer in
    // time-major order (independent of the split into parts)
    if let Some(r) = rng.as_deref_mut() {
        for l in 0..nl - 1 {
            let h = cfg.hidden_sizes[l];
            for t in 0..steps {
                for part in ws.parts[..nparts].iter_mut() {
                    let n = part.bp * h;
                    fill_mask(&mut part.layers[l].mask[t * n..(t + 1) * n], dropout, r);
                }
            }
        }
    }
    {
        let shared = &ws.shared;
        let (x, state0, cell) = (batch.x, batch.state0, cfg.cell);
        match obs {
            Some(o) => {
                assert_eq!(nparts, 1, "an observed forward pass runs in one part");
                forward_part(&mut ws.parts[0], cell, shared, x, state0, train, Some(o));
            }
            None => run_parts(&mut ws.parts[..nparts], |part| {
                forward_part(part, cell, shared, x, state0, train, None)
            }),
        }
    }

    // head
    let ht = cfg.top_hidden();
    let out = cfg.output_size;
    let parts = &ws.parts[..nparts];
    let rows = match cfg.head {
        HeadMode::EveryStep => {
            for part in parts {
                let (b0, bp) = (part.b0, part.bp);
                let th = &part.layers[nl - 1].h;
                for t in 0..steps {
                    let dst = (t * bsz + b0) * ht;
                    let src = (t + 1) * bp * ht;
                    ws.head_in[dst..dst + bp * ht].copy_from_slice(&th[src..src + bp * ht]);
                }
            }
            tb
        }
        HeadMode::LastStep => {
            for part in parts {
                let th = &part.layers[nl - 1].h;
                for (bl, &len) in part.lengths.iter().enumerate() {
                    let src = (len * part.bp + bl) * ht;
                    let dst = (part.b0 + bl) * ht;
                    ws.head_in[dst..dst + ht].copy_from_slice(&th[src..src + ht]);
                }
            }
            bsz
        }
    };
    if let Some(r) = rng {
        let n = rows * ht;
        fill_mask(&mut ws.head_mask[..n], dropout, r);
        for (d, m) in ws.head_in[..n].iter_mut().zip(&ws.head_mask[..n]) {
            *d = *d * *m;
        }
    }
    {
        let mut y = mat_mut(&mut ws.y, rows, out);
        general_mat_mul(
            F::one(),
            &mat(&ws.head_in, rows, ht),
            &params.dense.weight.t(),
            F::zero(),
            &mut y,
        );
        for mut row in y.rows_mut() {
            for (v, b) in row.iter_mut().zip(&params.dense.bias) {
                *v = *v + *b;
            }
        }
    }
    ws.have_forward = true;
    ws.cache_intact = true;
}

/// Forward pass of all layers for one part.
/// With an observer (evaluation mode, one part), each layer's steps are
/// shown to it (see [`StepObserver`]).
fn forward_part<F: Scalar>(
    part: &mut Part<F>,
    cell: CellKind,
    shared: &[PackedLayer<F>],
    x: ArrayView3<'_, F>,
    state0: Option<&State<F>>,
    train: bool,
    mut obs: Option<&mut dyn StepObserver<F>>,
) {
    let Part {
        b0,
        bp,
        lengths,
        xt,
        layers,
        pre,
        ..
    } = part;
    let (b0, bp) = (*b0, *bp);
    let (_, steps, nin) = x.dim();
    let tbp = bp * steps;

    // time-major input, zero past each sample's end
    for t in 0..steps {
        for (bl, &len) in lengths.iter().enumerate() {
            let r = (t * bp + bl) * nin;
            let dst = &mut xt[r..r + nin];
            if t < len {
                for (d, s) in dst.iter_mut().zip(x.slice(ndarray::s![b0 + bl, t, ..])) {
                    *d = *s;
                }
            } else {
                dst.fill(F::zero());
            }
        }
    }

    let nl = layers.len();
    for l in 0..nl {
        let sl = &shared[l];
        let (below, rest) = layers.split_at_mut(l);
        let cur = &mut rest[0];
        let h = cur.hidden;
        let g4 = 4 * h;
        let gh = cell.gates() * h;
        let bh = bp * h;
        // cell states per step (none for a GRU)
        let cbh = if cell.has_cell_state() { bh } else { 0 };
        let (input, nx): (&[F], usize) = if l == 0 {
            (xt, nin)
        } else {
            let prev = &below[l - 1];
            let hp = prev.hidden;
            if train {
                (&prev.dropped, hp)
            } else {
                (&prev.h[bp * hp..], hp)
            }
        };
        match state0 {
            Some(s) => {
                let rows = ndarray::s![b0..b0 + bp, ..];
                for (d, v) in cur.h[..bh].iter_mut().zip(s.h[l].slice(rows).iter()) {
                    *d = *v;
                }
                for (d, v) in cur.c[..cbh].iter_mut().zip(s.c[l].slice(rows).iter()) {
                    *d = *v;
                }
            }
            None => {
                cur.h[..bh].fill(F::zero());
                cur.c[..cbh].fill(F::zero());
            }
        }
        for t in 0..steps {
            let (hp, hn) = cur.h.split_at_mut((t + 1) * bh);
            let hprev = &hp[t * bh..];
            let hnext = &mut hn[..bh];
            let (cp, cn) = cur.c.split_at_mut((t + 1) * cbh);
            let cprev = &cp[t * cbh..];
            let cnext = &mut cn[..cbh];
            let gates_t = &mut cur.gates[t * bp * g4..(t + 1) * bp * g4];
            // the gate products of x_t and h_{t-1} (a zero initial state
            // contributes nothing)
            let xs = &input[t * bp * nx..(t + 1) * bp * nx];
            let hs = (t > 0 || state0.is_some()).then_some(&hprev[..bh]);
            sl.forward_product(cell, bp, h, (xs, nx), hs, gates_t);
            cell.step_forward(
                StepDims {
                    batch: bp,
                    hidden: h,
                    t,
                },
                lengths,
                FwdStep {
                    gates: gates_t,
                    bias: &sl.bias[..g4],
                    h_prev: &hprev[..bh],
                    c_prev: cprev,
                    h_next: hnext,
                    c_next: cnext,
                    tanh_c: &mut cur.tanh_c[t * cbh..(t + 1) * cbh],
                    pre: match obs {
                        Some(_) => Some(&mut pre[..bp * gh]),
                        None => None,
                    },
                },
            );
            if let Some(o) = obs.as_deref_mut() {
                o.layer_step(&LayerStep {
                    layer: l,
                    t,
                    lengths,
                    input_size: nx,
                    hidden: h,
                    input: xs,
                    pre: &pre[..bp * gh],
                    h: &cur.h[(t + 1) * bh..(t + 2) * bh],
                    c: cell
                        .has_cell_state()
                        .then(|| &cur.c[(t + 1) * bh..(t + 2) * bh]),
                });
            }
        }
        if train && l + 1 < nl {
            let n = tbp * h;
            for ((d, m), v) in cur.dropped[..n]
                .iter_mut()
                .zip(&cur.mask[..n])
                .zip(&cur.h[bh..bh + n])
            {
                *d = *m * *v;
            }
        }
    }
}
