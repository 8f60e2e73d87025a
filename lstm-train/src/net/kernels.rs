//! Element-wise LSTM cell kernels over one time step of a batch.
//!
//! The bodies are plain loops over equal-length contiguous slices, split
//! into simple passes so that LLVM vectorises them (the `f32` activations
//! are branch-free). For `f32` on x86-64 the step kernels are additionally
//! compiled for AVX2 and selected at run time; the arithmetic is the same
//! IEEE operations in the same order (no FMA contraction), so both paths
//! give bit-identical results.

use super::Scalar;

/// Shapes of one step: `batch` rows of `hidden` units.
#[derive(Clone, Copy)]
pub struct StepDims {
    /// Rows `B`.
    pub batch: usize,
    /// Units `H`.
    pub hidden: usize,
    /// Time step `t`.
    pub t: usize,
}

/// Step kernels per float type (sealed: this module is private).
pub trait CellKernels: Sized {
    /// Forward step over all rows.
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, Self>);
    /// Backward step over all rows.
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, Self>);
}

impl CellKernels for f64 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f64>) {
        step_forward_generic::<f64>(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f64>) {
        step_backward_generic::<f64>(d, lengths, s)
    }
}

impl CellKernels for f32 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        step_forward_f32(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        step_backward_f32(d, lengths, s)
    }
}

/// Buffers of one forward step (row-major `[B][..]` blocks).
pub struct FwdStep<'a, F> {
    /// `[B][4H]` pre-activations without bias in, activated gates out.
    pub gates: &'a mut [F],
    /// `[4H]` effective bias.
    pub bias: &'a [F],
    /// `[B][H]` `h_{t-1}`.
    pub h_prev: &'a [F],
    /// `[B][H]` `c_{t-1}`.
    pub c_prev: &'a [F],
    /// `[B][H]` `h_t` (out).
    pub h_next: &'a mut [F],
    /// `[B][H]` `c_t` (out).
    pub c_next: &'a mut [F],
    /// `[B][H]` `tanh(c_t)` (out).
    pub tanh_c: &'a mut [F],
}

/// Buffers of one backward step.
pub struct BwdStep<'a, F> {
    /// `[B][4H]` activated gates in, pre-activation gradients out.
    pub gates: &'a mut [F],
    /// `[B][H]` gradient from above at `h_t`.
    pub dh_out: &'a [F],
    /// `[B][H]` gradient from step `t + 1` at `h_t`.
    pub dh_rec: &'a [F],
    /// `[B][H]` `dL/dc_t` in, `dL/dc_{t-1}` out.
    pub dc: &'a mut [F],
    /// `[B][H]` `c_{t-1}`.
    pub c_prev: &'a [F],
    /// `[B][H]` `tanh(c_t)`.
    pub tanh_c: &'a [F],
}

#[inline(always)]
fn forward_row<F: Scalar>(
    g: &mut [F],
    bias: &[F],
    cp: &[F],
    cn: &mut [F],
    hn: &mut [F],
    tc: &mut [F],
) {
    let h = cp.len();
    let g = &mut g[..4 * h];
    let bias = &bias[..4 * h];
    {
        let (g_if, rest) = g.split_at_mut(2 * h);
        let (g_g, g_o) = rest.split_at_mut(h);
        let (b_if, rest) = bias.split_at(2 * h);
        let (b_g, b_o) = rest.split_at(h);
        for (x, b) in g_if.iter_mut().zip(b_if) {
            *x = F::sigmoid(*x + *b);
        }
        for (x, b) in g_g.iter_mut().zip(b_g) {
            *x = F::tanh_act(*x + *b);
        }
        for (x, b) in g_o.iter_mut().zip(b_o) {
            *x = F::sigmoid(*x + *b);
        }
    }
    let (gi, rest) = g.split_at(h);
    let (gf, rest) = rest.split_at(h);
    let (gg, go) = rest.split_at(h);
    let cn = &mut cn[..h];
    for j in 0..h {
        cn[j] = gf[j] * cp[j] + gi[j] * gg[j];
    }
    let tc = &mut tc[..h];
    for j in 0..h {
        tc[j] = F::tanh_act(cn[j]);
    }
    let hn = &mut hn[..h];
    for j in 0..h {
        hn[j] = go[j] * tc[j];
    }
}

#[inline(always)]
fn backward_row<F: Scalar>(
    g: &mut [F],
    dh_out: &[F],
    dh_rec: &[F],
    dc: &mut [F],
    cp: &[F],
    tc: &[F],
) {
    let h = cp.len();
    let one = F::one();
    let (gi, rest) = g.split_at_mut(h);
    let (gf, rest) = rest.split_at_mut(h);
    let (gg, go) = rest.split_at_mut(h);
    let go = &mut go[..h];
    let dh_out = &dh_out[..h];
    let dh_rec = &dh_rec[..h];
    let dc = &mut dc[..h];
    let tc = &tc[..h];
    for j in 0..h {
        let i = gi[j];
        let f = gf[j];
        let g = gg[j];
        let o = go[j];
        let t = tc[j];
        let dh = dh_out[j] + dh_rec[j];
        let dcj = dc[j] + dh * o * (one - t * t);
        gi[j] = dcj * g * i * (one - i);
        gf[j] = dcj * cp[j] * f * (one - f);
        gg[j] = dcj * i * (one - g * g);
        go[j] = dh * t * o * (one - o);
        dc[j] = dcj * f;
    }
}

/// Forward step over all rows; rows whose length is `<= t` keep their state.
#[inline(always)]
pub fn step_forward_generic<F: Scalar>(d: StepDims, lengths: &[usize], s: FwdStep<'_, F>) {
    let (h, g4) = (d.hidden, 4 * d.hidden);
    for (b, &len) in lengths.iter().enumerate().take(d.batch) {
        let r = b * h..(b + 1) * h;
        if d.t < len {
            forward_row(
                &mut s.gates[b * g4..(b + 1) * g4],
                s.bias,
                &s.c_prev[r.clone()],
                &mut s.c_next[r.clone()],
                &mut s.h_next[r.clone()],
                &mut s.tanh_c[r],
            );
        } else {
            s.c_next[r.clone()].copy_from_slice(&s.c_prev[r.clone()]);
            s.h_next[r.clone()].copy_from_slice(&s.h_prev[r]);
        }
    }
}

/// Backward step over all rows; rows past their length get zero gradients.
#[inline(always)]
pub fn step_backward_generic<F: Scalar>(d: StepDims, lengths: &[usize], s: BwdStep<'_, F>) {
    let (h, g4) = (d.hidden, 4 * d.hidden);
    for (b, &len) in lengths.iter().enumerate().take(d.batch) {
        let r = b * h..(b + 1) * h;
        let g = &mut s.gates[b * g4..(b + 1) * g4];
        if d.t < len {
            backward_row(
                g,
                &s.dh_out[r.clone()],
                &s.dh_rec[r.clone()],
                &mut s.dc[r.clone()],
                &s.c_prev[r.clone()],
                &s.tanh_c[r],
            );
        } else {
            g.fill(F::zero());
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    static AVX2: AtomicU8 = AtomicU8::new(0);

    /// Whether the CPU has AVX2 (cached after the first call).
    #[inline]
    pub(crate) fn has_avx2() -> bool {
        match AVX2.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = std::arch::is_x86_feature_detected!("avx2");
                AVX2.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn step_forward_avx2(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        step_forward_generic::<f32>(d, lengths, s)
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn step_backward_avx2(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        step_backward_generic::<f32>(d, lengths, s)
    }
}

/// `f32` forward step: AVX2 build when available.
fn step_forward_f32(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2() {
        // SAFETY: AVX2 support was checked at run time.
        unsafe { x86::step_forward_avx2(d, lengths, s) };
        return;
    }
    step_forward_generic::<f32>(d, lengths, s)
}

/// `f32` backward step: AVX2 build when available.
fn step_backward_f32(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2() {
        // SAFETY: AVX2 support was checked at run time.
        unsafe { x86::step_backward_avx2(d, lengths, s) };
        return;
    }
    step_backward_generic::<f32>(d, lengths, s)
}
