//! The LSTM cell (PyTorch's equations, gate order i, f, g, o): its
//! element-wise kernels over one time step of a batch.
//!
//! The bodies are plain loops over equal-length contiguous slices, split
//! into simple passes so that LLVM vectorises them (the `f32` activations
//! are branch-free). For `f32` on x86-64 the step kernels have AVX2
//! versions (one fused pass per row with intrinsics) selected at run time;
//! they perform the same IEEE operations in the same order (no FMA
//! contraction), so both paths give bit-identical results (tested).

use super::step::{BwdStep, FwdStep, StepDims};
use crate::net::real::Real;

/// LSTM step kernels per float type: the AVX2 builds for `f32` on x86-64
/// (selected at run time), the portable loops otherwise (sealed: this
/// module is private).
pub trait LstmKernels: Real {
    /// Forward step over all rows.
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, Self>);
    /// Backward step over all rows.
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, Self>);
}

impl LstmKernels for f64 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f64>) {
        step_forward_generic::<f64>(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f64>) {
        step_backward_generic::<f64>(d, lengths, s)
    }
}

impl LstmKernels for f32 {
    fn step_forward(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        step_forward_f32(d, lengths, s)
    }
    fn step_backward(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        step_backward_f32(d, lengths, s)
    }
}

/// Forward step over all rows with the kernels of `F`, after writing the
/// pre-activations (`gates + bias`) of the running rows if asked for.
pub fn step_forward<F: LstmKernels>(d: StepDims, lengths: &[usize], mut s: FwdStep<'_, F>) {
    if let Some(pre) = s.pre.take() {
        let g4 = 4 * d.hidden;
        for (b, &len) in lengths.iter().enumerate().take(d.batch) {
            if d.t < len {
                let rows = b * g4..(b + 1) * g4;
                for ((p, g), bias) in pre[rows.clone()].iter_mut().zip(&s.gates[rows]).zip(s.bias) {
                    *p = *g + *bias;
                }
            }
        }
    }
    F::step_forward(d, lengths, s)
}

#[inline(always)]
fn forward_row<F: Real>(
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
fn backward_row<F: Real>(
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
pub fn step_forward_generic<F: Real>(d: StepDims, lengths: &[usize], s: FwdStep<'_, F>) {
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
pub fn step_backward_generic<F: Real>(d: StepDims, lengths: &[usize], s: BwdStep<'_, F>) {
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

/// Whether the CPU has AVX2 (cached after the first call; also selects the
/// GRU's AVX2 build).
#[cfg(target_arch = "x86_64")]
pub(crate) use x86::has_avx2;

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use crate::net::real::exp_consts as k;
    use std::arch::x86_64::*;
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

    /// `fast_exp_f32` on 8 lanes: the same operations in the same order.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn exp8(x: __m256) -> __m256 {
        let s = _mm256_set1_ps;
        // max/min return the second operand when either is NaN: NaN stays
        let x = _mm256_max_ps(s(k::LO), x);
        let x = _mm256_min_ps(s(k::HI), x);
        let t = _mm256_add_ps(_mm256_mul_ps(x, s(k::LOG2E)), s(k::MAGIC));
        let n = _mm256_sub_ps(t, s(k::MAGIC));
        let r = _mm256_sub_ps(
            _mm256_sub_ps(x, _mm256_mul_ps(n, s(k::C1))),
            _mm256_mul_ps(n, s(k::C2)),
        );
        let z = _mm256_mul_ps(r, r);
        let mut p = _mm256_add_ps(_mm256_mul_ps(s(k::P0), r), s(k::P1));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), s(k::P2));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), s(k::P3));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), s(k::P4));
        p = _mm256_add_ps(_mm256_mul_ps(p, r), s(0.5));
        let y = _mm256_add_ps(_mm256_add_ps(_mm256_mul_ps(p, z), r), s(1.0));
        let ni = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(k::MAGIC_BITS));
        let scale = _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            ni,
            _mm256_set1_epi32(127),
        )));
        _mm256_mul_ps(y, scale)
    }

    /// `f32::sigmoid` on 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn sigmoid8(x: __m256) -> __m256 {
        let one = _mm256_set1_ps(1.0);
        let neg = _mm256_xor_ps(x, _mm256_set1_ps(-0.0));
        _mm256_div_ps(one, _mm256_add_ps(one, exp8(neg)))
    }

    /// `f32::tanh_act` on 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn tanh8(x: __m256) -> __m256 {
        let one = _mm256_set1_ps(1.0);
        let e = exp8(_mm256_add_ps(x, x));
        _mm256_sub_ps(
            one,
            _mm256_div_ps(_mm256_set1_ps(2.0), _mm256_add_ps(one, e)),
        )
    }

    /// One row of the forward step, fused in one pass; the same operations
    /// in the same order as [`forward_row`], so the results are identical.
    ///
    /// # Safety
    /// AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn forward_row_avx2(
        g: &mut [f32],
        bias: &[f32],
        cp: &[f32],
        cn: &mut [f32],
        hn: &mut [f32],
        tc: &mut [f32],
    ) {
        let h = cp.len();
        assert!(g.len() >= 4 * h && bias.len() >= 4 * h);
        assert!(cn.len() >= h && hn.len() >= h && tc.len() >= h);
        let gp = g.as_mut_ptr();
        let bp = bias.as_ptr();
        let mut j = 0;
        while j + 8 <= h {
            // SAFETY: j + 8 <= h and the lengths were checked above, so all
            // accesses (up to 3h + j + 8 <= 4h in `g`/`bias`) are in bounds.
            unsafe {
                let pre = |q: usize| {
                    _mm256_add_ps(_mm256_loadu_ps(gp.add(q)), _mm256_loadu_ps(bp.add(q)))
                };
                let i = sigmoid8(pre(j));
                let f = sigmoid8(pre(h + j));
                let gg = tanh8(pre(2 * h + j));
                let o = sigmoid8(pre(3 * h + j));
                _mm256_storeu_ps(gp.add(j), i);
                _mm256_storeu_ps(gp.add(h + j), f);
                _mm256_storeu_ps(gp.add(2 * h + j), gg);
                _mm256_storeu_ps(gp.add(3 * h + j), o);
                let c = _mm256_add_ps(
                    _mm256_mul_ps(f, _mm256_loadu_ps(cp.as_ptr().add(j))),
                    _mm256_mul_ps(i, gg),
                );
                _mm256_storeu_ps(cn.as_mut_ptr().add(j), c);
                let t = tanh8(c);
                _mm256_storeu_ps(tc.as_mut_ptr().add(j), t);
                _mm256_storeu_ps(hn.as_mut_ptr().add(j), _mm256_mul_ps(o, t));
            }
            j += 8;
        }
        for j in j..h {
            let i = <f32 as Real>::sigmoid(g[j] + bias[j]);
            let f = <f32 as Real>::sigmoid(g[h + j] + bias[h + j]);
            let gg = <f32 as Real>::tanh_act(g[2 * h + j] + bias[2 * h + j]);
            let o = <f32 as Real>::sigmoid(g[3 * h + j] + bias[3 * h + j]);
            g[j] = i;
            g[h + j] = f;
            g[2 * h + j] = gg;
            g[3 * h + j] = o;
            cn[j] = f * cp[j] + i * gg;
            tc[j] = <f32 as Real>::tanh_act(cn[j]);
            hn[j] = o * tc[j];
        }
    }

    /// One row of the backward step, the same operations in the same order
    /// as [`backward_row`].
    ///
    /// # Safety
    /// AVX2.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn backward_row_avx2(
        g: &mut [f32],
        dh_out: &[f32],
        dh_rec: &[f32],
        dc: &mut [f32],
        cp: &[f32],
        tc: &[f32],
    ) {
        let h = cp.len();
        assert!(g.len() >= 4 * h && dh_out.len() >= h && dh_rec.len() >= h);
        assert!(dc.len() >= h && tc.len() >= h);
        let gp = g.as_mut_ptr();
        let one = _mm256_set1_ps(1.0);
        let mut j = 0;
        while j + 8 <= h {
            // SAFETY: j + 8 <= h and the lengths were checked above.
            unsafe {
                let i = _mm256_loadu_ps(gp.add(j));
                let f = _mm256_loadu_ps(gp.add(h + j));
                let gg = _mm256_loadu_ps(gp.add(2 * h + j));
                let o = _mm256_loadu_ps(gp.add(3 * h + j));
                let t = _mm256_loadu_ps(tc.as_ptr().add(j));
                let c_prev = _mm256_loadu_ps(cp.as_ptr().add(j));
                let dh = _mm256_add_ps(
                    _mm256_loadu_ps(dh_out.as_ptr().add(j)),
                    _mm256_loadu_ps(dh_rec.as_ptr().add(j)),
                );
                let dcj = _mm256_add_ps(
                    _mm256_loadu_ps(dc.as_ptr().add(j)),
                    _mm256_mul_ps(
                        _mm256_mul_ps(dh, o),
                        _mm256_sub_ps(one, _mm256_mul_ps(t, t)),
                    ),
                );
                let di = _mm256_mul_ps(
                    _mm256_mul_ps(_mm256_mul_ps(dcj, gg), i),
                    _mm256_sub_ps(one, i),
                );
                let df = _mm256_mul_ps(
                    _mm256_mul_ps(_mm256_mul_ps(dcj, c_prev), f),
                    _mm256_sub_ps(one, f),
                );
                let dg = _mm256_mul_ps(
                    _mm256_mul_ps(dcj, i),
                    _mm256_sub_ps(one, _mm256_mul_ps(gg, gg)),
                );
                let do_ = _mm256_mul_ps(
                    _mm256_mul_ps(_mm256_mul_ps(dh, t), o),
                    _mm256_sub_ps(one, o),
                );
                _mm256_storeu_ps(gp.add(j), di);
                _mm256_storeu_ps(gp.add(h + j), df);
                _mm256_storeu_ps(gp.add(2 * h + j), dg);
                _mm256_storeu_ps(gp.add(3 * h + j), do_);
                _mm256_storeu_ps(dc.as_mut_ptr().add(j), _mm256_mul_ps(dcj, f));
            }
            j += 8;
        }
        for j in j..h {
            let (i, f, gg, o, t) = (g[j], g[h + j], g[2 * h + j], g[3 * h + j], tc[j]);
            let dh = dh_out[j] + dh_rec[j];
            let dcj = dc[j] + dh * o * (1.0 - t * t);
            g[j] = dcj * gg * i * (1.0 - i);
            g[h + j] = dcj * cp[j] * f * (1.0 - f);
            g[2 * h + j] = dcj * i * (1.0 - gg * gg);
            g[3 * h + j] = dh * t * o * (1.0 - o);
            dc[j] = dcj * f;
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn step_forward_avx2(d: StepDims, lengths: &[usize], s: FwdStep<'_, f32>) {
        let (h, g4) = (d.hidden, 4 * d.hidden);
        for (b, &len) in lengths.iter().enumerate().take(d.batch) {
            let r = b * h..(b + 1) * h;
            if d.t < len {
                // SAFETY: AVX2 is available (caller's contract).
                unsafe {
                    forward_row_avx2(
                        &mut s.gates[b * g4..(b + 1) * g4],
                        s.bias,
                        &s.c_prev[r.clone()],
                        &mut s.c_next[r.clone()],
                        &mut s.h_next[r.clone()],
                        &mut s.tanh_c[r],
                    )
                };
            } else {
                s.c_next[r.clone()].copy_from_slice(&s.c_prev[r.clone()]);
                s.h_next[r.clone()].copy_from_slice(&s.h_prev[r]);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2.
    #[target_feature(enable = "avx2")]
    pub(crate) unsafe fn step_backward_avx2(d: StepDims, lengths: &[usize], s: BwdStep<'_, f32>) {
        let (h, g4) = (d.hidden, 4 * d.hidden);
        for (b, &len) in lengths.iter().enumerate().take(d.batch) {
            let r = b * h..(b + 1) * h;
            let g = &mut s.gates[b * g4..(b + 1) * g4];
            if d.t < len {
                // SAFETY: AVX2 is available (caller's contract).
                unsafe {
                    backward_row_avx2(
                        g,
                        &s.dh_out[r.clone()],
                        &s.dh_rec[r.clone()],
                        &mut s.dc[r.clone()],
                        &s.c_prev[r.clone()],
                        &s.tanh_c[r],
                    )
                };
            } else {
                g.fill(0.0);
            }
        }
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
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
        for &h in &[1usize, 5, 8, 13, 32, 50] {
            let batch = 5;
            let lengths = [3usize, 1, 2, 3, 2];
            let t = 1;
            let d = StepDims {
                batch,
                hidden: h,
                t,
            };
            let bh = batch * h;
            let gates0 = rand_vec(&mut rng, batch * 4 * h, 6.0);
            let bias = rand_vec(&mut rng, 4 * h, 1.0);
            let h_prev = rand_vec(&mut rng, bh, 1.0);
            let c_prev = rand_vec(&mut rng, bh, 3.0);
            let run_fwd = |portable: bool| {
                let mut g = gates0.clone();
                let (mut hn, mut cn, mut tc) = (vec![0.0; bh], vec![0.0; bh], vec![0.0; bh]);
                let s = FwdStep {
                    gates: &mut g,
                    bias: &bias,
                    h_prev: &h_prev,
                    c_prev: &c_prev,
                    h_next: &mut hn,
                    c_next: &mut cn,
                    tanh_c: &mut tc,
                    pre: None,
                };
                if portable {
                    step_forward_generic::<f32>(d, &lengths, s)
                } else {
                    f32::step_forward(d, &lengths, s)
                }
                (g, hn, cn, tc)
            };
            let a = run_fwd(true);
            let b = run_fwd(false);
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&a.0), bits(&b.0), "forward gates h={h}");
            assert_eq!(bits(&a.1), bits(&b.1), "forward h h={h}");
            assert_eq!(bits(&a.2), bits(&b.2), "forward c h={h}");
            assert_eq!(bits(&a.3), bits(&b.3), "forward tanh c h={h}");

            let dh_out = rand_vec(&mut rng, bh, 1.0);
            let dh_rec = rand_vec(&mut rng, bh, 1.0);
            let dc0 = rand_vec(&mut rng, bh, 1.0);
            let run_bwd = |portable: bool| {
                let mut g = a.0.clone();
                let mut dc = dc0.clone();
                let s = BwdStep {
                    gates: &mut g,
                    dh_out: &dh_out,
                    dh_rec: &mut dh_rec.clone(),
                    h_prev: &h_prev,
                    dc: &mut dc,
                    c_prev: &c_prev,
                    tanh_c: &a.3,
                };
                if portable {
                    step_backward_generic::<f32>(d, &lengths, s)
                } else {
                    f32::step_backward(d, &lengths, s)
                }
                (g, dc)
            };
            let a2 = run_bwd(true);
            let b2 = run_bwd(false);
            assert_eq!(bits(&a2.0), bits(&b2.0), "backward gates h={h}");
            assert_eq!(bits(&a2.1), bits(&b2.1), "backward dc h={h}");
        }
    }
}
