//! Row-major matrix product on contiguous slices for the per-step recurrent
//! products, `C (m x n) = [C +] A (m x k) · B (k x n)`, via `ndarray`'s
//! `general_mat_mul` (`matrixmultiply`).
//!
//! (An unpacked AVX2/FMA register-blocked kernel was tried for these small
//! products; it was not faster than `matrixmultiply` on the benchmark
//! configurations, so it was dropped.)

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2};

use super::Scalar;

/// `C = [C +] A · B` on contiguous row-major slices.
pub(crate) fn gemm<F: Scalar>(
    m: usize,
    k: usize,
    n: usize,
    a: &[F],
    b: &[F],
    c: &mut [F],
    accumulate: bool,
) {
    let av = ArrayView2::from_shape((m, k), &a[..m * k]).expect("gemm operand sized by caller");
    let bv = ArrayView2::from_shape((k, n), &b[..k * n]).expect("gemm operand sized by caller");
    let mut cv =
        ArrayViewMut2::from_shape((m, n), &mut c[..m * n]).expect("gemm operand sized by caller");
    let beta = if accumulate { F::one() } else { F::zero() };
    general_mat_mul(F::one(), &av, &bv, beta, &mut cv);
}
