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

use super::real::Real;

/// Panel width (columns of `B` per packed panel): two AVX2 `f32` vectors.
pub(crate) const NR: usize = 16;
/// Rows of `C` per register tile.
const MR: usize = 6;

/// Product kernels per float type: the AVX2+FMA builds for `f32` on x86-64
/// (selected at run time), the portable loops otherwise (sealed: this
/// module is private).
pub trait GemmKernels: Real {
    /// `C = [C +] A · B` with a two-part `A` and a packed `B` (operands
    /// checked by [`gemm_packed2`]).
    fn gemm_packed_checked(
        m: usize,
        a: &APair<'_, Self>,
        b: &PackedB<Self>,
        c: &mut [Self],
        ldc: usize,
        accumulate: bool,
    );
    /// Panel kernel of [`gemm_tn`] (operands checked there).
    fn tn_panel(
        kc: usize,
        apack: &[Self],
        m: usize,
        bpanel: &[Self],
        c: &mut [Self],
        ldc: usize,
        nr: usize,
    );
}

impl GemmKernels for f64 {
    fn gemm_packed_checked(
        m: usize,
        a: &APair<'_, f64>,
        b: &PackedB<f64>,
        c: &mut [f64],
        ldc: usize,
        accumulate: bool,
    ) {
        gemm_portable(m, a, b, c, ldc, accumulate)
    }
    fn tn_panel(
        kc: usize,
        apack: &[f64],
        m: usize,
        bpanel: &[f64],
        c: &mut [f64],
        ldc: usize,
        nr: usize,
    ) {
        tn_panel_portable(kc, apack, m, bpanel, c, ldc, nr)
    }
}

impl GemmKernels for f32 {
    fn gemm_packed_checked(
        m: usize,
        a: &APair<'_, f32>,
        b: &PackedB<f32>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        gemm_f32(m, a, b, c, ldc, accumulate)
    }
    fn tn_panel(
        kc: usize,
        apack: &[f32],
        m: usize,
        bpanel: &[f32],
        c: &mut [f32],
        ldc: usize,
        nr: usize,
    ) {
        tn_panel_f32(kc, apack, m, bpanel, c, ldc, nr)
    }
}

/// A `k x n` right operand packed into `ceil(n / NR)` column panels, each
/// `[k][NR]` row-major and zero-padded past column `n`.
#[derive(Debug, Default, Clone)]
pub struct PackedB<F> {
    k: usize,
    n: usize,
    data: Vec<F>,
}

impl<F: Real> PackedB<F> {
    /// Packs `b` (`k x n`, any strides, e.g. the transposed view of a
    /// weight matrix), reusing the allocation.
    pub(crate) fn pack(&mut self, b: ArrayView2<'_, F>) {
        self.pack_stacked(&[b]);
    }

    /// Packs the matrices `parts` (same number of columns) stacked on top
    /// of each other, reusing the allocation.
    pub(crate) fn pack_stacked(&mut self, parts: &[ArrayView2<'_, F>]) {
        let k: usize = parts.iter().map(|b| b.nrows()).sum();
        let n = parts.first().map_or(0, |b| b.ncols());
        assert!(parts.iter().all(|b| b.ncols() == n), "pack: column counts");
        let panels = n.div_ceil(NR);
        self.k = k;
        self.n = n;
        self.data.clear();
        self.data.resize(panels * k * NR, F::zero());
        for p in 0..panels {
            let c0 = p * NR;
            let nr = NR.min(n - c0);
            let panel = &mut self.data[p * k * NR..(p + 1) * k * NR];
            let rows = parts.iter().flat_map(|b| b.rows());
            for (dst, row) in panel.chunks_exact_mut(NR).zip(rows) {
                for (j, d) in dst[..nr].iter_mut().enumerate() {
                    *d = row[c0 + j];
                }
            }
        }
    }
}

impl<F: Real> PackedB<F> {
    /// Columns `n` of the packed matrix.
    pub(crate) fn n(&self) -> usize {
        self.n
    }

    /// Sets the block `rows x cols` of the packed matrix to zero (a block
    /// that a fused product must not add).
    pub(crate) fn zero_block(
        &mut self,
        rows: std::ops::Range<usize>,
        cols: std::ops::Range<usize>,
    ) {
        assert!(
            rows.end <= self.k && cols.end <= self.n,
            "zero_block: outside B"
        );
        for col in cols {
            let (p, j) = (col / NR, col % NR);
            let panel = &mut self.data[p * self.k * NR..(p + 1) * self.k * NR];
            for row in rows.clone() {
                panel[row * NR + j] = F::zero();
            }
        }
    }
}

/// A left operand `[A1 | A2]` of a packed product: `m` rows, the first
/// `k1` columns from `a1` (row stride `lda1`), the next `k2` from `a2` (row
/// stride `lda2`). It multiplies rows `0..k1 + k2` of the packed `B`.
#[derive(Clone, Copy)]
pub struct APair<'a, F> {
    /// First part.
    pub a1: &'a [F],
    /// Row stride of `a1`.
    pub lda1: usize,
    /// Columns of the first part.
    pub k1: usize,
    /// Second part.
    pub a2: &'a [F],
    /// Row stride of `a2`.
    pub lda2: usize,
    /// Columns of the second part.
    pub k2: usize,
}

impl<F> APair<'_, F> {
    /// Value at row `i`, column `kk` (`kk < k1 + k2`).
    #[inline(always)]
    fn at(&self, i: usize, kk: usize) -> &F {
        if kk < self.k1 {
            &self.a1[i * self.lda1 + kk]
        } else {
            &self.a2[i * self.lda2 + kk - self.k1]
        }
    }
}

/// `C = [C +] A · B`: `A` is `m x b.k()` row-major with row stride `lda`,
/// `C` is `m x b.n()` row-major with row stride `ldc`.
#[inline]
pub(crate) fn gemm_packed<F: GemmKernels>(
    m: usize,
    a: &[F],
    lda: usize,
    b: &PackedB<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    gemm_packed2(m, (a, lda, b.k), (&[], 0, 0), b, c, ldc, accumulate)
}

/// `C = [C +] [A1 | A2] · B[..k1 + k2]`: the product of the side-by-side
/// left operands `(a1, lda1, k1)` and `(a2, lda2, k2)` (each `m` rows,
/// row-major with the given row stride and number of columns) with the
/// first `k1 + k2` rows of `B` (e.g. `[x_t | h_{t-1}] · [W_ih^T; W_hh^T]`);
/// `C` is `m x b.n()` row-major with row stride `ldc`.
#[inline]
pub(crate) fn gemm_packed2<F: GemmKernels>(
    m: usize,
    (a1, lda1, k1): (&[F], usize, usize),
    (a2, lda2, k2): (&[F], usize, usize),
    b: &PackedB<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    if m == 0 || b.n == 0 {
        return;
    }
    let n = b.n;
    assert!(k1 + k2 <= b.k, "gemm_packed: A wider than B is high");
    assert!(lda1 >= k1 && lda2 >= k2 && ldc >= n, "gemm_packed: strides");
    assert!(
        k1 == 0 || a1.len() >= (m - 1) * lda1 + k1,
        "gemm_packed: A1 too short"
    );
    assert!(
        k2 == 0 || a2.len() >= (m - 1) * lda2 + k2,
        "gemm_packed: A2 too short"
    );
    assert!(c.len() >= (m - 1) * ldc + n, "gemm_packed: C too short");
    let a = APair {
        a1,
        lda1,
        k1,
        a2,
        lda2,
        k2,
    };
    F::gemm_packed_checked(m, &a, b, c, ldc, accumulate);
}

/// Portable kernel (operands checked by [`gemm_packed2`]).
pub(crate) fn gemm_portable<F: Real>(
    m: usize,
    a: &APair<'_, F>,
    b: &PackedB<F>,
    c: &mut [F],
    ldc: usize,
    accumulate: bool,
) {
    let (k, n) = (b.k, b.n);
    let ka = a.k1 + a.k2;
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
            for (kk, bk) in panel.chunks_exact(NR).take(ka).enumerate() {
                for (r, accr) in acc.iter_mut().enumerate().take(rows) {
                    let av = *a.at(i + r, kk);
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
    a: &APair<'_, f32>,
    b: &PackedB<f32>,
    c: &mut [f32],
    ldc: usize,
    accumulate: bool,
) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked at run time), and
        // `gemm_packed2` checked that the operands and strides cover the
        // `m x (k1 + k2)` and `m x n` matrices and `k1 + k2 <= b.k`.
        unsafe { x86::gemm_avx2(m, a, b, c, ldc, accumulate) };
        return;
    }
    gemm_portable(m, a, b, c, ldc, accumulate)
}

/// Rows of `A`/`B` (the summed dimension) per block of [`gemm_tn`]: the
/// packed `B` block (`KC_TN x n`) stays in L2, one packed panel of it in L1.
const KC_TN: usize = 128;

/// One left operand of [`gemm_tn`]: the first `m` columns of a row-major
/// `[k][lda]` matrix.
pub(crate) struct TnSeg<'a, F> {
    /// Values, row stride `lda`.
    pub a: &'a [F],
    /// Row stride.
    pub lda: usize,
    /// Columns used.
    pub m: usize,
}

/// Scratch buffers of [`gemm_tn`] (packed blocks), reused between calls.
#[derive(Debug, Default, Clone)]
pub(crate) struct TnScratch<F> {
    a: Vec<F>,
    b: Vec<F>,
    row: Vec<F>,
}

/// Weight-gradient product `C = Aᵀ · B` over `k` rows, with `A` the
/// columns of `segs` side by side followed by a column of ones
/// (`M = Σ m + 1`) and `B` row-major `[k][ldb]` (first `n` columns): `C` is
/// `M x n` row-major (stride `n`), overwritten. Its last row is the column
/// sums of `B` (the bias gradient when `B` holds the gate gradients).
///
/// Blocked like a GEMM library: for each block of [`KC_TN`] rows, `A` is
/// packed into strips of `MR` columns and `B` into panels of `NR` columns,
/// and each panel is multiplied with all strips. Every element of `C` is
/// accumulated in a fixed order (rows `0, 1, ..., k - 1`), so the result
/// only depends on the operands.
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_tn<F: GemmKernels>(
    k: usize,
    segs: &[TnSeg<'_, F>],
    b: &[F],
    ldb: usize,
    n: usize,
    c: &mut [F],
    scratch: &mut TnScratch<F>,
) {
    let m: usize = segs.iter().map(|s| s.m).sum::<usize>() + 1;
    let c = &mut c[..m * n];
    c.fill(F::zero());
    if k == 0 || n == 0 {
        return;
    }
    assert!(
        ldb >= n && b.len() >= (k - 1) * ldb + n,
        "gemm_tn: B too short"
    );
    for s in segs {
        assert!(
            s.m == 0 || (s.lda >= s.m && s.a.len() >= (k - 1) * s.lda + s.m),
            "gemm_tn: A too short"
        );
    }
    let strips = m.div_ceil(MR);
    let panels = n.div_ceil(NR);
    let kc_max = KC_TN.min(k);
    let TnScratch {
        a: apack,
        b: bpack,
        row,
    } = scratch;
    apack.clear();
    apack.resize(strips * kc_max * MR, F::zero());
    bpack.clear();
    bpack.resize(panels * kc_max * NR, F::zero());
    row.clear();
    row.resize(strips * MR, F::zero());
    row[m - 1] = F::one();
    let mut kb = 0;
    while kb < k {
        let kc = KC_TN.min(k - kb);
        // pack A: strip s holds columns s*MR.. as [kk][MR]; the row is first
        // gathered contiguously (zero-padded, ones column last)
        for kk in 0..kc {
            let mut col = 0;
            for seg in segs {
                let r0 = (kb + kk) * seg.lda;
                row[col..col + seg.m].copy_from_slice(&seg.a[r0..r0 + seg.m]);
                col += seg.m;
            }
            for (s, chunk) in row.chunks_exact(MR).enumerate() {
                let o = s * kc * MR + kk * MR;
                let dst: &mut [F; MR] = (&mut apack[o..o + MR]).try_into().expect("MR");
                *dst = chunk.try_into().expect("MR");
            }
        }
        // pack B: panel p holds columns p*NR.. as [kk][NR] (rows read
        // sequentially)
        for kk in 0..kc {
            let src = &b[(kb + kk) * ldb..(kb + kk) * ldb + n];
            let mut chunks = src.chunks_exact(NR);
            for (p, chunk) in chunks.by_ref().enumerate() {
                let o = p * kc * NR + kk * NR;
                let dst: &mut [F; NR] = (&mut bpack[o..o + NR]).try_into().expect("NR");
                *dst = chunk.try_into().expect("NR");
            }
            let tail = chunks.remainder();
            if !tail.is_empty() {
                let o = (panels - 1) * kc * NR + kk * NR;
                bpack[o..o + tail.len()].copy_from_slice(tail);
            }
        }
        let apack = &apack[..strips * kc * MR];
        for p in 0..panels {
            let c0 = p * NR;
            let nr = NR.min(n - c0);
            let bpanel = &bpack[p * kc * NR..(p + 1) * kc * NR];
            F::tn_panel(kc, apack, m, bpanel, &mut c[c0..], n, nr);
        }
        kb += kc;
    }
}

/// Portable panel kernel of [`gemm_tn`]: `C[.., ..nr] += Aᵀ · B` for all
/// strips of the packed `A` block (`m` rows of `C`, stride `ldc`) and one
/// packed `B` panel (`kc x NR`).
pub(crate) fn tn_panel_portable<F: Real>(
    kc: usize,
    apack: &[F],
    m: usize,
    bpanel: &[F],
    c: &mut [F],
    ldc: usize,
    nr: usize,
) {
    for (s, strip) in apack.chunks_exact(kc * MR).enumerate() {
        let i0 = s * MR;
        if i0 >= m {
            break;
        }
        let rows = MR.min(m - i0);
        let mut acc = [[F::zero(); NR]; MR];
        for (r, accr) in acc.iter_mut().enumerate().take(rows) {
            accr[..nr].copy_from_slice(&c[(i0 + r) * ldc..(i0 + r) * ldc + nr]);
        }
        for (av, bk) in strip.chunks_exact(MR).zip(bpanel.chunks_exact(NR)) {
            for (accr, &a) in acc.iter_mut().zip(av) {
                for (x, &bv) in accr.iter_mut().zip(bk) {
                    *x = *x + a * bv;
                }
            }
        }
        for (r, accr) in acc.iter().enumerate().take(rows) {
            c[(i0 + r) * ldc..(i0 + r) * ldc + nr].copy_from_slice(&accr[..nr]);
        }
    }
}

/// `f32` panel kernel of [`gemm_tn`]: AVX2+FMA when available.
pub(crate) fn tn_panel_f32(
    kc: usize,
    apack: &[f32],
    m: usize,
    bpanel: &[f32],
    c: &mut [f32],
    ldc: usize,
    nr: usize,
) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2_fma() {
        assert!(apack.len() >= m.div_ceil(MR) * kc * MR && bpanel.len() >= kc * NR);
        assert!(nr <= NR && (m == 0 || c.len() >= (m - 1) * ldc + nr));
        // SAFETY: AVX2 and FMA are available (checked at run time) and the
        // operand lengths were checked above.
        unsafe { x86::tn_panel_avx2(kc, apack, m, bpanel, c, ldc, nr) };
        return;
    }
    tn_panel_portable(kc, apack, m, bpanel, c, ldc, nr)
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{APair, PackedB, MR, NR};

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
    /// The CPU must support AVX2 and FMA; `a` must cover `m` rows of its
    /// two parts, `k1 + k2 <= b.k`, and `c` must hold `(m-1)*ldc + n` values
    /// (`n` of `b`).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn gemm_avx2(
        m: usize,
        a: &APair<'_, f32>,
        b: &PackedB<f32>,
        c: &mut [f32],
        ldc: usize,
        accumulate: bool,
    ) {
        let (kfull, n) = (b.k, b.n);
        let (k1, k) = (a.k1, a.k1 + a.k2);
        let (lda1, lda2) = (a.lda1, a.lda2);
        let cp = c.as_mut_ptr();
        if k == 0 {
            if !accumulate {
                for i in 0..m {
                    std::ptr::write_bytes(cp.add(i * ldc), 0, n);
                }
            }
            return;
        }
        // blocks of KC rows of the panels stay in L1 while the row tiles
        // stream past; the partial sums go through `C` unchanged (f32), so
        // the result is the same as without blocking.
        // SAFETY (all pointer accesses below): tiles read rows `i..i + R`
        // of the parts of `a` at columns `kb..ke` (< k1 + k2), rows
        // `kb..ke` of panels of `b` (`ke <= b.k`) and write rows of `c`
        // at columns `c0..c0 + nr` (< n): all covered by the caller's
        // contract.
        let mut kb = 0;
        while kb < k {
            let ke = k.min(kb + KC);
            let acc = accumulate || kb > 0;
            // columns kb..ke of [A1 | A2]: n1 from A1, then n2 from A2
            let n1 = ke.min(k1).saturating_sub(kb);
            let n2 = ke - kb - n1;
            let s2 = kb.max(k1) - k1;
            // `wrapping_add`: a part may be empty (pointer not dereferenced)
            let a1 = a.a1.as_ptr().wrapping_add(kb.min(k1));
            let a2 = a.a2.as_ptr().wrapping_add(s2);
            for p in 0..n.div_ceil(NR) {
                let c0 = p * NR;
                let nr = NR.min(n - c0);
                let panel = b.data.as_ptr().add(p * kfull * NR + kb * NR);
                let seg = |i: usize| Seg2 {
                    a1: a1.wrapping_add(i * lda1),
                    lda1,
                    n1,
                    a2: a2.wrapping_add(i * lda2),
                    lda2,
                    n2,
                };
                // a last tile of 1 or 2 rows has too few independent sums
                // to hide the FMA latency: the last MR + 1 or MR + 2 rows
                // are done as 4 + 3 or 4 + 4
                let full = if m > MR && matches!(m % MR, 1 | 2) {
                    m / MR - 1
                } else {
                    m / MR
                };
                let mut i = 0;
                while i < full * MR {
                    tile::<MR>(seg(i), panel, cp.add(i * ldc + c0), ldc, nr, acc);
                    i += MR;
                }
                if m - i > MR {
                    tile::<4>(seg(i), panel, cp.add(i * ldc + c0), ldc, nr, acc);
                    i += 4;
                }
                let ci = cp.add(i * ldc + c0);
                match m - i {
                    5 => tile::<5>(seg(i), panel, ci, ldc, nr, acc),
                    4 => tile::<4>(seg(i), panel, ci, ldc, nr, acc),
                    3 => tile::<3>(seg(i), panel, ci, ldc, nr, acc),
                    2 => tile::<2>(seg(i), panel, ci, ldc, nr, acc),
                    1 => tile::<1>(seg(i), panel, ci, ldc, nr, acc),
                    _ => {}
                }
            }
            kb = ke;
        }
    }

    /// Left operand of one tile: `n1` columns from `a1`, then `n2` from
    /// `a2` (row strides `lda1`, `lda2`).
    #[derive(Clone, Copy)]
    struct Seg2 {
        a1: *const f32,
        lda1: usize,
        n1: usize,
        a2: *const f32,
        lda2: usize,
        n2: usize,
    }

    /// Lane masks of the first `nr` (`1..=NR`) columns of a row: the low
    /// and the high 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn col_mask(nr: usize) -> (__m256i, __m256i) {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        let n = _mm256_set1_epi32(nr as i32);
        (
            _mm256_cmpgt_epi32(n, idx),
            _mm256_cmpgt_epi32(n, _mm256_add_epi32(idx, _mm256_set1_epi32(8))),
        )
    }

    /// Loads the first `nr` values of a row (zeros in the other lanes).
    ///
    /// # Safety
    /// AVX2; `p` points at `nr` (`1..=NR`) readable values; `mask` is
    /// `col_mask(nr)`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn load_row(p: *const f32, nr: usize, mask: (__m256i, __m256i)) -> (__m256, __m256) {
        // masked-out lanes are not accessed (no fault), so only the first
        // `nr` values are read
        if nr == NR {
            (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
        } else if nr > 8 {
            (_mm256_loadu_ps(p), _mm256_maskload_ps(p.add(8), mask.1))
        } else {
            (_mm256_maskload_ps(p, mask.0), _mm256_setzero_ps())
        }
    }

    /// Stores the first `nr` lanes of `(lo, hi)` to a row.
    ///
    /// # Safety
    /// AVX2; `p` points at `nr` (`1..=NR`) writable values; `mask` is
    /// `col_mask(nr)`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn store_row(p: *mut f32, nr: usize, mask: (__m256i, __m256i), lo: __m256, hi: __m256) {
        if nr == NR {
            _mm256_storeu_ps(p, lo);
            _mm256_storeu_ps(p.add(8), hi);
        } else if nr > 8 {
            _mm256_storeu_ps(p, lo);
            _mm256_maskstore_ps(p.add(8), mask.1, hi);
        } else {
            _mm256_maskstore_ps(p, mask.0, lo);
        }
    }

    /// [`super::tn_panel_portable`] with intrinsics: one `MR x NR` tile
    /// per strip of the packed `A` block, accumulated onto `C`.
    ///
    /// # Safety
    /// AVX2+FMA; `apack` holds `ceil(m / MR)` strips of `kc * MR` values,
    /// `bpanel` `kc * NR` values, `c` `m` rows of `nr <= NR` values (stride
    /// `ldc`).
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn tn_panel_avx2(
        kc: usize,
        apack: &[f32],
        m: usize,
        bpanel: &[f32],
        c: &mut [f32],
        ldc: usize,
        nr: usize,
    ) {
        // SAFETY (all pointer accesses below): strip `i0 / MR` of `apack`
        // and the panel hold `kc * MR` and `kc * NR` values, and rows
        // `i0..i0 + rows` of `c` hold `nr` values each (caller's contract).
        let bp = bpanel.as_ptr();
        let cp = c.as_mut_ptr();
        let mask = col_mask(nr);
        let mut i0 = 0;
        while i0 < m {
            let rows = MR.min(m - i0);
            let ap = apack.as_ptr().add(i0 * kc);
            let ci = cp.add(i0 * ldc);
            let mut lo = [_mm256_setzero_ps(); MR];
            let mut hi = [_mm256_setzero_ps(); MR];
            for r in 0..rows {
                (lo[r], hi[r]) = load_row(ci.add(r * ldc), nr, mask);
            }
            for kk in 0..kc {
                let b0 = _mm256_loadu_ps(bp.add(kk * NR));
                let b1 = _mm256_loadu_ps(bp.add(kk * NR + 8));
                for r in 0..MR {
                    let av = _mm256_broadcast_ss(&*ap.add(kk * MR + r));
                    lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                    hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
                }
            }
            for r in 0..rows {
                store_row(ci.add(r * ldc), nr, mask, lo[r], hi[r]);
            }
            i0 += MR;
        }
    }

    /// One `R x NR` tile of `C` (only the first `nr` columns are stored).
    ///
    /// # Safety
    /// AVX2+FMA; `a` points at `R` rows of its two parts, `panel` at
    /// `(n1 + n2) * NR` values, `c` at `R` rows of `nr` values (stride
    /// `ldc`).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn tile<const R: usize>(
        a: Seg2,
        panel: *const f32,
        c: *mut f32,
        ldc: usize,
        nr: usize,
        accumulate: bool,
    ) {
        let mut lo = [_mm256_setzero_ps(); R];
        let mut hi = [_mm256_setzero_ps(); R];
        let mask = col_mask(nr);
        if accumulate {
            for r in 0..R {
                (lo[r], hi[r]) = load_row(c.add(r * ldc), nr, mask);
            }
        }
        let panel2 = panel.add(a.n1 * NR);
        if nr > 8 {
            fma_rows::<R>(a.n1, a.a1, a.lda1, panel, &mut lo, &mut hi);
            fma_rows::<R>(a.n2, a.a2, a.lda2, panel2, &mut lo, &mut hi);
        } else {
            // a narrow last panel: the high half of the tile is not stored
            fma_rows_lo::<R>(a.n1, a.a1, a.lda1, panel, &mut lo);
            fma_rows_lo::<R>(a.n2, a.a2, a.lda2, panel2, &mut lo);
        }
        for r in 0..R {
            store_row(c.add(r * ldc), nr, mask, lo[r], hi[r]);
        }
    }

    /// [`fma_rows`] on the low 8 columns of the panel only.
    ///
    /// # Safety
    /// As [`fma_rows`].
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_rows_lo<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        lo: &mut [__m256; R],
    ) {
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(kk * NR));
            for (r, acc) in lo.iter_mut().enumerate() {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + kk));
                *acc = _mm256_fmadd_ps(av, b0, *acc);
            }
        }
    }

    /// `acc[r] += Σ_kk a[r][kk] · panel[kk]` over `k` columns.
    ///
    /// # Safety
    /// AVX2+FMA; `a` points at `R` rows of `k` values (stride `lda`),
    /// `panel` at `k * NR` values.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_rows<const R: usize>(
        k: usize,
        a: *const f32,
        lda: usize,
        panel: *const f32,
        lo: &mut [__m256; R],
        hi: &mut [__m256; R],
    ) {
        for kk in 0..k {
            let b0 = _mm256_loadu_ps(panel.add(kk * NR));
            let b1 = _mm256_loadu_ps(panel.add(kk * NR + 8));
            for r in 0..R {
                let av = _mm256_broadcast_ss(&*a.add(r * lda + kk));
                lo[r] = _mm256_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm256_fmadd_ps(av, b1, hi[r]);
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
            (8, 20, 40),
            (14, 7, 16),
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
                let one = APair {
                    a1: a_s,
                    lda1: k,
                    k1: k,
                    a2: &[],
                    lda2: 0,
                    k2: 0,
                };
                gemm_portable(m, &one, &pb, c_port.as_slice_mut().unwrap(), n, acc);
                // the same product with A in two parts side by side
                let k1 = k / 2;
                let a_lo: Vec<f32> = a.slice(ndarray::s![.., ..k1]).iter().copied().collect();
                let a_hi: Vec<f32> = a.slice(ndarray::s![.., k1..]).iter().copied().collect();
                let mut c_split = c0.clone();
                let cs = c_split.as_slice_mut().unwrap();
                gemm_packed2(m, (&a_lo, k1, k1), (&a_hi, k - k1, k - k1), &pb, cs, n, acc);
                for (w, v) in want.iter().zip(&c_split) {
                    assert!((w - *v as f64).abs() < tol, "split {m}x{k}x{n}");
                }
                let two = APair {
                    a1: &a_lo,
                    lda1: k1,
                    k1,
                    a2: &a_hi,
                    lda2: k - k1,
                    k2: k - k1,
                };
                let mut c_split_p = c0.clone();
                gemm_portable(m, &two, &pb, c_split_p.as_slice_mut().unwrap(), n, acc);
                for (w, v) in want.iter().zip(&c_split_p) {
                    assert!((w - *v as f64).abs() < tol, "split portable {m}x{k}x{n}");
                }
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

    /// `gemm_tn` (two left segments, several row blocks) against a naive
    /// product, on the dispatched (AVX2 where available) and the portable
    /// panel kernel.
    #[test]
    fn tn_products_match_naive_on_all_paths() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        for &(k, m1, m2, n) in &[
            (1, 1, 1, 1),
            (7, 5, 0, 17),
            (300, 13, 3, 52),
            (600, 32, 12, 128),
            (40, 6, 6, 16),
        ] {
            let (lda1, lda2, ldb) = (m1 + 2, m2.max(1), n + 3);
            let a1: Vec<f32> = (0..k * lda1).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let a2: Vec<f32> = (0..k * lda2).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..k * ldb).map(|_| rng.gen_range(-1.0..1.0)).collect();
            let m = m1 + m2 + 1;
            let av = |kk: usize, i: usize| {
                if i < m1 {
                    a1[kk * lda1 + i]
                } else if i < m1 + m2 {
                    a2[kk * lda2 + i - m1]
                } else {
                    1.0
                }
            };
            let want = Array2::from_shape_fn((m, n), |(i, j)| {
                (0..k)
                    .map(|kk| {
                        let a = av(kk, i);
                        a as f64 * b[kk * ldb + j] as f64
                    })
                    .sum::<f64>()
            });
            let segs = [
                TnSeg {
                    a: &a1,
                    lda: lda1,
                    m: m1,
                },
                TnSeg {
                    a: &a2,
                    lda: lda2,
                    m: m2,
                },
            ];
            let mut scratch = TnScratch::default();
            let mut c = vec![5.0f32; m * n + 3];
            gemm_tn(k, &segs, &b, ldb, n, &mut c, &mut scratch);
            let tol = 1e-6 * (k as f64 + 1.0) * 4.0;
            assert!(
                c[m * n..].iter().all(|&v| v == 5.0),
                "C written past its end"
            );
            for (i, row) in c[..m * n].chunks(n).enumerate() {
                for (j, v) in row.iter().enumerate() {
                    assert!((want[[i, j]] - *v as f64).abs() < tol, "{k}x{m}x{n}");
                }
            }
            // the portable panel kernel on the same packed blocks
            let strips = m.div_ceil(MR);
            let mut cp = vec![0.0f32; m * n];
            let mut kb = 0;
            while kb < k {
                let kc = KC_TN.min(k - kb);
                let mut apack = vec![0.0f32; strips * kc * MR];
                for i in 0..m {
                    for kk in 0..kc {
                        apack[(i / MR) * kc * MR + kk * MR + i % MR] = av(kb + kk, i);
                    }
                }
                for p in 0..n.div_ceil(NR) {
                    let (c0, nr) = (p * NR, NR.min(n - p * NR));
                    let mut bp = vec![0.0f32; kc * NR];
                    for kk in 0..kc {
                        bp[kk * NR..kk * NR + nr]
                            .copy_from_slice(&b[(kb + kk) * ldb + c0..(kb + kk) * ldb + c0 + nr]);
                    }
                    tn_panel_portable(kc, &apack, m, &bp, &mut cp[c0..], n, nr);
                }
                kb += kc;
            }
            for (p, d) in cp.iter().zip(&c[..m * n]) {
                assert!((p - d).abs() < tol as f32, "paths differ {k}x{m}x{n}");
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
