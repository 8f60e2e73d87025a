//! The float type the network computes in: `f32` for fast training, `f64`
//! for gradient checks.

use super::cell::gru::GruKernels;
use super::cell::lstm::LstmKernels;
use super::gemm::GemmKernels;
use super::real::Real;

/// Floating-point type the network computes in (implemented for `f32` and
/// `f64`): the arithmetic and activations of [`Real`] together with the
/// matrix-product and cell kernels chosen for the type (AVX2 builds for
/// `f32` on x86-64, portable loops otherwise).
///
/// The activations are exact for `f64` (`std`); for `f32` they are
/// branch-free approximations that the compiler vectorises: `sigmoid` and
/// `tanh` have an absolute error below `2e-7` over the whole real line
/// (tested in `real.rs`), which is below the rounding of an `f32` value of
/// order 1.
pub trait Scalar: Real + GemmKernels + LstmKernels + GruKernels {}

impl<T: Real + GemmKernels + LstmKernels + GruKernels> Scalar for T {}
