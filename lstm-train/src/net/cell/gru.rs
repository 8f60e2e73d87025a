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
//! activations are branch-free); the same code serves `f32` and `f64`. For
//! `f32` on x86-64 the same code is also compiled for AVX2 and selected at
//! run time ([`GruKernels`]); without FMA contraction it performs the same
//! IEEE operations, so both builds give the same bits (tested).

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
    // simple passes over zipped slices, which LLVM vectorises
    for (x, b) in g_r.iter_mut().zip(b_r) {
        *x = F::sigmoid(*x + *b);
    }
    for (x, b) in g_z.iter_mut().zip(b_z) {
        *x = F::sigmoid(*x + *b);
    }
    for (x, b) in g_hn.iter_mut().zip(b_hn) {
        *x = *x + *b;
    }
    for (((x, b), r), hn) in g_n.iter_mut().zip(b_n).zip(&*g_r).zip(&*g_hn) {
        *x = *x + *b + *r * *hn;
    }
    for x in g_n.iter_mut() {
        *x = F::tanh_act(*x);
    }
    for (((out, z), n), hp) in hn.iter_mut().zip(&*g_z).zip(&*g_n).zip(hp) {
        *out = (F::one() - *z) * *n + *z * *hp;
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

/// GRU step kernels per float type: for `f32` on x86-64 the AVX2 build of
/// the portable code when the CPU has it (sealed: this module is private).
pub trait GruKernels: Real {
    /// Forward step over all rows.
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, Self>);
    /// Backward step over all rows.
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, Self>);
}

impl GruKernels for f64 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f64>) {
        step_forward_generic(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f64>) {
        step_backward_generic(d, lengths, s)
    }
}

impl GruKernels for f32 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        #[cfg(target_arch = "x86_64")]
        if super::lstm::has_avx2() {
            // SAFETY: AVX2 support was checked at run time.
            unsafe { x86::step_forward_avx2(d, lengths, s) };
            return;
        }
        step_forward_generic(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        #[cfg(target_arch = "x86_64")]
        if super::lstm::has_avx2() {
            // SAFETY: AVX2 support was checked at run time.
            unsafe { x86::step_backward_avx2(d, lengths, s) };
            return;
        }
        step_backward_generic(d, lengths, s)
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;

    /// The portable forward step compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn step_forward_avx2(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        step_forward_generic(d, lengths, s)
    }

    /// The portable backward step compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn step_backward_avx2(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        step_backward_generic(d, lengths, s)
    }
}

/// Forward step over all rows; rows whose length is `<= t` keep their state.
#[inline(always)]
pub fn step_forward_generic<F: Real>(d: StepDims, lengths: &[usize], s: FwdStep<'_, F>) {
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
#[inline(always)]
pub fn step_backward_generic<F: Real>(d: StepDims, lengths: &[usize], s: BwdStep<'_, F>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn rand_vec(rng: &mut impl Rng, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| rng.gen_range(-scale..scale)).collect()
    }

    /// The run-time selected `f32` kernels (AVX2 where available) give the
    /// same bits as the portable ones.
    #[test]
    fn dispatched_step_kernels_match_portable_bit_for_bit() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(12);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for &h in &[1usize, 5, 8, 13, 32, 50] {
            let batch = 5;
            let lengths = [3usize, 1, 2, 3, 2];
            let d = StepDims {
                batch,
                hidden: h,
                t: 1,
            };
            let bh = batch * h;
            let gates0 = rand_vec(&mut rng, batch * 4 * h, 6.0);
            let bias = rand_vec(&mut rng, 4 * h, 1.0);
            let h_prev = rand_vec(&mut rng, bh, 1.0);
            let run_fwd = |portable: bool| {
                let mut g = gates0.clone();
                let mut hn = vec![0.0; bh];
                let s = FwdStep {
                    gates: &mut g,
                    bias: &bias,
                    h_prev: &h_prev,
                    h_next: &mut hn,
                    c_prev: &[],
                    c_next: &mut [],
                    tanh_c: &mut [],
                    pre: None,
                };
                if portable {
                    step_forward_generic::<f32>(d, &lengths, s)
                } else {
                    <f32 as GruKernels>::step_forward(d, &lengths, s)
                }
                (g, hn)
            };
            let (a, b) = (run_fwd(true), run_fwd(false));
            assert_eq!(bits(&a.0), bits(&b.0), "forward gates h={h}");
            assert_eq!(bits(&a.1), bits(&b.1), "forward h h={h}");

            let dh_out = rand_vec(&mut rng, bh, 1.0);
            let dh_rec0 = rand_vec(&mut rng, bh, 1.0);
            let run_bwd = |portable: bool| {
                let mut g = a.0.clone();
                let mut dh_rec = dh_rec0.clone();
                let s = BwdStep {
                    gates: &mut g,
                    dh_out: &dh_out,
                    dh_rec: &mut dh_rec,
                    h_prev: &h_prev,
                    dc: &mut [],
                    c_prev: &[],
                    tanh_c: &[],
                };
                if portable {
                    step_backward_generic::<f32>(d, &lengths, s)
                } else {
                    <f32 as GruKernels>::step_backward(d, &lengths, s)
                }
                (g, dh_rec)
            };
            let (a2, b2) = (run_bwd(true), run_bwd(false));
            assert_eq!(bits(&a2.0), bits(&b2.0), "backward gates h={h}");
            assert_eq!(bits(&a2.1), bits(&b2.1), "backward dh h={h}");
        }
    }
}
