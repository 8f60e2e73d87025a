//! The GRU cell (PyTorch's `nn.GRU`, gate order r, z, n): its element-wise
//! kernels over one time step of a batch.
//!
//! ```text
//! r  = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z  = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n  = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h' = (1 − z) ⊙ n + z ⊙ h
//! ```
//!
//! A row of the gate buffer holds, after the step's products,
//! `[W_ir x + W_hr h | W_iz x + W_hz h | W_in x | W_hn h]`; the forward
//! kernel adds the bias `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]` and leaves
//! `[r | z | n | W_hn h + b_hn]` for the backward kernel, which turns them
//! into the gradients of the four products: `[dr̂ | dẑ | dn̂ | dn̂ ⊙ r]`
//! (hats: pre-activations). The input weights take the first three blocks,
//! the recurrent weights blocks r, z and the last one.
//!
//! Plain loops over contiguous slices, which LLVM vectorises (the `f32`
//! activations are branch-free); the same code serves `f32` and `f64`.

use super::step::{BwdStep, FwdStep, StepDims};
use crate::net::real::Real;

#[inline(always)]
fn forward_row<F: Real>(g: &mut [F], bias: &[F], hp: &[F], hn: &mut [F], pre: Option<&mut [F]>) {
    let h = hp.len();
    let (g_r, rest) = g[..4 * h].split_at_mut(h);
    let (g_z, rest) = rest.split_at_mut(h);
    let (g_n, g_hn) = rest.split_at_mut(h);
    let (b_r, rest) = bias[..4 * h].split_at(h);
    let (b_z, rest) = rest.split_at(h);
    let (b_n, b_hn) = rest.split_at(h);
    let hn = &mut hn[..h];
    if let Some(pre) = pre {
        let (p_rz, p_n) = pre[..3 * h].split_at_mut(2 * h);
        for j in 0..h {
            let r = F::sigmoid(g_r[j] + b_r[j]);
            p_rz[j] = g_r[j] + b_r[j];
            p_rz[h + j] = g_z[j] + b_z[j];
            p_n[j] = g_n[j] + b_n[j] + r * (g_hn[j] + b_hn[j]);
        }
    }
    for j in 0..h {
        g_r[j] = F::sigmoid(g_r[j] + b_r[j]);
        g_z[j] = F::sigmoid(g_z[j] + b_z[j]);
        g_hn[j] = g_hn[j] + b_hn[j];
    }
    for j in 0..h {
        g_n[j] = F::tanh_act(g_n[j] + b_n[j] + g_r[j] * g_hn[j]);
    }
    for j in 0..h {
        let z = g_z[j];
        hn[j] = (F::one() - z) * g_n[j] + z * hp[j];
    }
}

#[inline(always)]
fn backward_row<F: Real>(g: &mut [F], dh_out: &[F], dh_rec: &mut [F], hp: &[F]) {
    let h = hp.len();
    let one = F::one();
    let (g_r, rest) = g[..4 * h].split_at_mut(h);
    let (g_z, rest) = rest.split_at_mut(h);
    let (g_n, g_hn) = rest.split_at_mut(h);
    let dh_out = &dh_out[..h];
    let dh_rec = &mut dh_rec[..h];
    for j in 0..h {
        let (r, z, n, hn) = (g_r[j], g_z[j], g_n[j], g_hn[j]);
        let dh = dh_out[j] + dh_rec[j];
        let dn = dh * (one - z) * (one - n * n);
        g_r[j] = dn * hn * r * (one - r);
        g_z[j] = dh * (hp[j] - n) * z * (one - z);
        g_n[j] = dn;
        g_hn[j] = dn * r;
        dh_rec[j] = dh * z;
    }
}

/// Forward step over all rows; rows whose length is `<= t` keep their state.
pub fn step_forward<F: Real>(d: StepDims, lengths: &[usize], s: FwdStep<'_, F>) {
    let (h, g4, g3) = (d.hidden, 4 * d.hidden, 3 * d.hidden);
    let mut pre = s.pre;
    for (b, &len) in lengths.iter().enumerate().take(d.batch) {
        let r = b * h..(b + 1) * h;
        if d.t < len {
            forward_row(
                &mut s.gates[b * g4..(b + 1) * g4],
                s.bias,
                &s.h_prev[r.clone()],
                &mut s.h_next[r],
                pre.as_deref_mut().map(|p| &mut p[b * g3..(b + 1) * g3]),
            );
        } else {
            s.h_next[r.clone()].copy_from_slice(&s.h_prev[r]);
        }
    }
}

/// Backward step over all rows; rows past their length get zero gradients
/// and pass none back.
pub fn step_backward<F: Real>(d: StepDims, lengths: &[usize], s: BwdStep<'_, F>) {
    let (h, g4) = (d.hidden, 4 * d.hidden);
    for (b, &len) in lengths.iter().enumerate().take(d.batch) {
        let r = b * h..(b + 1) * h;
        let g = &mut s.gates[b * g4..(b + 1) * g4];
        if d.t < len {
            backward_row(
                g,
                &s.dh_out[r.clone()],
                &mut s.dh_rec[r.clone()],
                &s.h_prev[r],
            );
        } else {
            g.fill(F::zero());
            s.dh_rec[r].fill(F::zero());
        }
    }
}
