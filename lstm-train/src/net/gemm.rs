//! Small matrix products with a pre-packed right operand, for the per-step
//! recurrent products of the LSTM (`M = B` rows, `K, N` of the order of the
//! hidden size): `C (m x n) = [C +] A (m x k) · B (k x n)`.
//!
//! `matrixmultiply` re-packs both operands on every call, which for these
//! small products costs as much as the arithmetic. Here the right operand
//! (a weight matrix, constant during a pass) is packed once per pass into
//! column panels of [`NR`] values ([`PackedB`]), and each product runs a
//! register-blocked `MR x NR` kernel directly on the row-major left operand.
//!
//! Every element of `C` is accumulated in the same order (`k = 0, 1, ...`,
//! starting from the old `C` value or zero), whatever the row's position in
//! the tile or the number of rows `m`, so a row's result does not depend on
//! how the batch is split between threads. For `f32` on x86-64 with AVX2 and
//! FMA an intrinsics kernel with fused multiply-adds is selected at run time;
//! the portable kernel rounds each product separately, so the two paths
//! agree to float rounding (not bit for bit).

use ndarray::ArrayView2;

use super::Scalar;

/// Panel width (columns of `B` per packed panel): two AVX2 `f32` vectors.
pub(crate) const NR: usize = 16;
/// Rows of `C` per register tile.
const MR: usize = 6;

/// A `k x n` right operand packed into `ceil(n / NR)` column panels, each
/// `[k][NR]` row-major and zero-padded past column `n`.
#[derive(Debug, Default, Clone)]
pub struct PackedB<F> {
    k: usize,
    n: usize,
    data: Vec<F>,
}

impl<F: Scalar> PackedB<F> {
    /// Packs `b` (`k x n`, any strides, e.g. the transposed view of a
    /// weight matrix), reusing the allocation.
    pub(crate) fn pack(&mut self, b: ArrayView2<'_, F>) {
        let (k, n) = b.dim();
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(panels * k * NR, F::zero());
        for p in 0..panels {
            let c0 = p * NR;
            let nr = NR.min(n - c0);
            let panel = &mut self.data[p * k * NR..(p + 1) * k * NR];
            for (r, dst) in panel.chunks_exact_mut(NR).enumerate() {
                let row = b.row(r);
                for (j, d) in dst[..nr].iter_mut().enumerate() {
                    *d = row[c0 + j];
                }
            }
        }
    }
}

/// `C = [C +] A · B`: `A` is `m x b.k()` row-major with row stride `lda`,
/// `C` is `m x b.n()` row-major with row stride `ldc`.
#[inline]
pub(crate) fn gemm_packed<F: Scalar>(
    m: usize,
    a: &[F],
    lda: usize,
    b: &PackedB<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || b.n == 0 {
        return;
    }
    let (k, n) = (b.k, b.n);
    assert!(lda >= k && ldc >= n, "gemm_packed: strides too small");
    assert!(a.len() >= (m - 1) * lda + k, "gemm_packed: A too short");
    assert!(c.len() >= (m - 1) * ldc + n, "gemm_packed: C too short");
    F::gemm_packed_checked(m, a, lda, b, c, ldc, accumulate);
}

/// Portable kernel (operands checked by [`gemm_packed`]).
pub(crate) fn gemm_portable<F: Scalar>(
    m: usize,
    a: &[F],
    lda: usize,
    b: &PackedB<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    for (p, panel) in b.data.chunks_exact(k * NR).enumerate() {
        let c0 = p * NR;
        let nr = NR.min(n - c0);
        let mut i = 0;
        while i < m {
            let rows = MR.min(m - i);
            let mut acc = [[F::zero(); NR]; MR];
            if accumulate {
                for (r, accr) in acc.iter_mut().enumerate().take(rows) {
                    let crow = &c[(i + r) * ldc + c0..(i + r) * ldc + c0 + nr];
                    accr[..nr].copy_from_slice(crow);
                }
            }
            for (kk, bk) in panel.chunks_exact(NR).enumerate() {
                for (r, accr) in acc.iter_mut().enumerate().take(rows) {
                    let av = a[(i + r) * lda + kk];
                    for (x, &bv) in accr.iter_mut().zip(bk) {
                        *x = *x + av * bv;
                    }
                }
            }
            for (r, accr) in acc.iter().enumerate().take(rows) {
                c[(i + r) * ldc + c0..(i + r) * ldc + c0 + nr].copy_from_slice(&accr[..nr]);
            }
            i += rows;
        }
    }
}

/// `f32` product: AVX2+FMA kernel when the CPU has it, else portable.
pub(crate) fn gemm_f32(
    m: usize,
    a: &[f32],
    lda: usize,
    b: &PackedB<f32>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time), and
        // `gemm_packed` checked that `a`, `c` and the strides cover the
        // `m x k` and `m x n` operands.
        unsafe { x86::gemm_avx2(m, a, lda, b, c, ldc, accumulate) };
        return;
    }
    gemm_portable(m, a, lda, b, c, ldc, accumulate)
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{PackedB, MR, NR};

    /// Rows of `B` per cache block.
    const KC: usize = 128;
    use std::arch::x86_64::*;
    use std::sync::atomic::{AtomicU8, Ordering};

    static AVX2_FMA: AtomicU8 = AtomicU8::new(0);

    /// Whether the CPU has AVX2 and FMA (cached after the first call).
    #[inline]
    pub(crate) fn has_avx2_fma() -> bool {
        match AVX2_FMA.load(Ordering::Relaxed) {
            1 => false,
            2 => true,
            _ => {
                let yes = std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma");
                AVX2_FMA.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
                yes
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `a` must hold `(m-1)*lda + k`
    /// values and `c` `(m-1)*ldc + n` values (`k`, `n` of `b`).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn gemm_avx2(
        m: usize,
        a: &[f32],
        lda: usize,
        b: &PackedB<f32>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        let (k, n) = (b.k, b.n);
        let ap = a.as_ptr();
        let cp = c.as_mut_ptr();
        // blocks of KC rows of the panels stay in L1 while the row tiles
        // stream past; the partial sums go through `C` unchanged (f32), so
        // the result is the same as without blocking
        let mut kb = 0;
        while kb < k {
            let kc = KC.min(k - kb);
            let acc = accumulate || kb > 0;
            for p in 0..n.div_ceil(NR) {
                let c0 = p * NR;
                let nr = NR.min(n - c0);
                let panel = b.data.as_ptr().add(p * k * NR + kb * NR);
                let mut i = 0;
                while i + MR <= m {
                    let (ai, ci) = (ap.add(i * lda + kb), cp.add(i * ldc + c0));
                    tile::<MR>(kc, ai, lda, panel, ci, ldc, nr, acc);
                    i += MR;
                }
                let (ai, ci) = (ap.add(i * lda + kb), cp.add(i * ldc + c0));
                match m - i {
                    5 => tile::<5>(kc, ai, lda, panel, ci, ldc, nr, acc),
                    4 => tile::<4>(kc, ai, lda, panel, ci, ldc, nr, acc),
                    3 => tile::<3>(kc, ai, lda, panel, ci, ldc, nr, acc),
                    2 => tile::<2>(kc, ai, lda, panel, ci, ldc, nr, acc),
                    1 => tile::<1>(kc, ai, lda, panel, ci, ldc, nr, acc),
                    _ => {}
                }
            }
            kb += kc;
        }
    }

    /// One `R x NR` tile of `C` (only the first `nr` columns are stored).
    ///
    /// # Safety
    /// AVX2+FMA; `a` points at `R` rows of `k` values (stride `lda`),
    /// `panel` at `k * NR` values, `c` at `R` rows of `nr` values (stride
    /// `ldc`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn tile<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        nr: usize,
        accumulate: bool,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        if accumulate {
            for r in 0..R {
                let crow = c.add(r * ldc);
                if nr == NR {
                    lo[r] = _mm256_loadu_ps(crow);
                    hi[r] = _mm256_loadu_ps(crow.add(8));
                } else {
                    let mut tmp = [0.0f32; NR];
                    std::ptr::copy_nonoverlapping(crow, tmp.as_mut_ptr(), nr);
                    lo[r] = _mm256_loadu_ps(tmp.as_ptr());
                    hi[r] = _mm256_loadu_ps(tmp.as_ptr().add(8));
                }
            }
        }
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(kk * NR));
            let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + kk));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
            }
        }
        for r in 0..R {
            let crow = c.add(r * ldc);
            if nr == NR {
                _mm256_storeu_ps(crow, lo[r]);
                _mm256_storeu_ps(crow.add(8), hi[r]);
            } else {
                let mut tmp = [0.0f32; NR];
                _mm256_storeu_ps(tmp.as_mut_ptr(), lo[r]);
                _mm256_storeu_ps(tmp.as_mut_ptr().add(8), hi[r]);
                std::ptr::copy_nonoverlapping(tmp.as_ptr(), crow, nr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};

    fn naive(a: &Array2<f32>, b: &Array2<f32>, c0: &Array2<f32>, acc: bool) -> Array2<f64> {
        let (m, k) = a.dim();
        let n = b.ncols();
        Array2::from_shape_fn((m, n), |(i, j)| {
            let mut s = if acc { c0[[i, j]] as f64 } else { 0.0 };
            for kk in 0..k {
                s += a[[i, kk]] as f64 * b[[kk, j]] as f64;
            }
            s
        })
    }

    #[test]
    fn packed_products_match_naive_on_all_paths() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for &(m, k, n) in &[
            (1, 1, 1),
            (5, 3, 17),
            (6, 32, 128),
            (16, 50, 200),
            (13, 200, 50),
            (32, 64, 256),
            (7, 9, 33),
        ] {
            for acc in [false, true] {
                let a = Array2::from_shape_fn((m, k), |_| rng.gen_range(-1.0f32..1.0));
                // pack from a transposed view (as the network does)
                let bt = Array2::from_shape_fn((n, k), |_| rng.gen_range(-1.0f32..1.0));
                let b = bt.t().to_owned();
                let c0 = Array2::from_shape_fn((m, n), |_| rng.gen_range(-1.0f32..1.0));
                let mut pb = PackedB::default();
                pb.pack(bt.t());
                let want = naive(&a, &b, &c0, acc);
                let tol = 1e-6 * (k as f64 + 1.0) * 4.0;
                let a_s = a.as_slice().unwrap();
                let mut c_port = c0.clone();
                gemm_portable(m, a_s, k, &pb, c_port.as_slice_mut().unwrap(), n, acc);
                let mut c_disp = c0.clone();
                gemm_packed(m, a_s, k, &pb, c_disp.as_slice_mut().unwrap(), n, acc);
                for ((w, p), d) in want.iter().zip(&c_port).zip(&c_disp) {
                    assert!((w - *p as f64).abs() < tol, "portable {m}x{k}x{n}");
                    assert!((w - *d as f64).abs() < tol, "dispatched {m}x{k}x{n}");
                    assert!((p - d).abs() < tol as f32, "paths differ {m}x{k}x{n}");
                }
                // strided operands: A and C inside wider rows
                let (lda, ldc) = (k + 3, n + 5);
                let mut aw = vec![9.0f32; m * lda];
                for i in 0..m {
                    aw[i * lda..i * lda + k].copy_from_slice(&a_s[i * k..(i + 1) * k]);
                }
                let mut cw = vec![7.0f32; m * ldc];
                for i in 0..m {
                    for j in 0..n {
                        cw[i * ldc + j] = c0[[i, j]];
                    }
                }
                gemm_packed(m, &aw, lda, &pb, &mut cw, ldc, acc);
                for i in 0..m {
                    for j in 0..n {
                        assert_eq!(cw[i * ldc + j], c_disp[[i, j]]);
                    }
                    assert!(cw[i * ldc + n..(i + 1) * ldc].iter().all(|&v| v == 7.0));
                }
            }
        }
    }

    #[test]
    fn f64_portable_is_exactly_accumulated_in_order() {
        let a = Array2::from_shape_fn((3, 4), |(i, j)| (i * 4 + j) as f64 * 0.5);
        let b = Array2::from_shape_fn((4, 18), |(i, j)| (i as f64 - j as f64) * 0.25);
        let mut pb = PackedB::default();
        pb.pack(b.view());
        let mut c = Array2::<f64>::ones((3, 18));
        gemm_packed(
            3,
            a.as_slice().unwrap(),
            4,
            &pb,
            c.as_slice_mut().unwrap(),
            18,
            true,
        );
        let want = a.dot(&b) + 1.0;
        assert_eq!(c, want);
    }
}
