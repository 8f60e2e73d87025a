//! The arithmetic of the network: a float type with the network's
//! activations (`f32` for fast training, `f64` for gradient checks). The
//! matrix-product and cell kernels build on it; the network's `Scalar` adds
//! them.

use std::fmt::{Debug, Display};

use ndarray::{LinalgScalar, ScalarOperand};
use num_traits::{Float, FromPrimitive};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Floating-point arithmetic the kernels compute in (implemented for `f32`
/// and `f64`).
///
/// Besides the usual numeric traits it provides the two activations. For
/// `f64` they are exact (`std`); for `f32` they are branch-free
/// approximations that the compiler vectorises: `sigmoid` and `tanh` have an
/// absolute error below `2e-7` over the whole real line (tested in this
/// module), which is below the rounding of an `f32` value of order 1.
pub trait Real:
    Float
    + FromPrimitive
    + LinalgScalar
    + ScalarOperand
    + Send
    + Sync
    + Debug
    + Display
    + Default
    + Serialize
    + DeserializeOwned
    + 'static
{
    /// Logistic function `1 / (1 + e^-x)`.
    fn sigmoid(x: Self) -> Self;
    /// Hyperbolic tangent.
    fn tanh_act(x: Self) -> Self;
    /// Conversion from `f64` (rounding to nearest).
    fn of(x: f64) -> Self;
    /// Conversion to `f64`.
    fn to_f64_lossless(self) -> f64;
}

impl Real for f64 {
    #[inline(always)]
    fn sigmoid(x: f64) -> f64 {
        1.0 / (1.0 + (-x).exp())
    }
    #[inline(always)]
    fn tanh_act(x: f64) -> f64 {
        x.tanh()
    }
    #[inline(always)]
    fn of(x: f64) -> f64 {
        x
    }
    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        self
    }
}

impl Real for f32 {
    #[inline(always)]
    fn sigmoid(x: f32) -> f32 {
        1.0 / (1.0 + fast_exp_f32(-x))
    }
    #[inline(always)]
    fn tanh_act(x: f32) -> f32 {
        // tanh(x) = 1 - 2 / (1 + e^{2x}); absolute error ~1 ulp of 1.
        1.0 - 2.0 / (1.0 + fast_exp_f32(x + x))
    }
    #[inline(always)]
    fn of(x: f64) -> f32 {
        x as f32
    }
    #[inline(always)]
    fn to_f64_lossless(self) -> f64 {
        self as f64
    }
}

/// Constants of [`fast_exp_f32`] (shared with the AVX2 cell kernels, which
/// evaluate the same operations in the same order).
pub(crate) mod exp_consts {
    pub(crate) const LO: f32 = -87.0;
    pub(crate) const HI: f32 = 88.0;
    pub(crate) const LOG2E: f32 = std::f32::consts::LOG2_E;
    pub(crate) const C1: f32 = 0.693_359_4;
    pub(crate) const C2: f32 = -2.121_944_4e-4;
    /// 1.5 * 2^23: adding it rounds to an integer.
    pub(crate) const MAGIC: f32 = 12_582_912.0;
    /// Bits of `MAGIC`.
    pub(crate) const MAGIC_BITS: i32 = 0x4B40_0000;
    pub(crate) const P0: f32 = 1.987_569_1e-4;
    pub(crate) const P1: f32 = 1.398_2e-3;
    pub(crate) const P2: f32 = 8.333_452e-3;
    pub(crate) const P3: f32 = 4.166_579_6e-2;
    pub(crate) const P4: f32 = 1.666_666_5e-1;
}

/// Branch-free `e^x` for `f32` (Cephes polynomial, relative error about
/// 2 ulp), saturating to `e^-87` / `e^88` outside that range; NaN stays NaN.
#[inline(always)]
pub(crate) fn fast_exp_f32(x: f32) -> f32 {
    use exp_consts::*;
    let x = if x < LO { LO } else { x };
    let x = if x > HI { HI } else { x };
    let t = x * LOG2E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * C1 - n * C2;
    let z = r * r;
    let p = ((((P0 * r + P1) * r + P2) * r + P3) * r + P4) * r + 0.5;
    let y = p * z + r + 1.0;
    // integer n sits in the low mantissa bits of t
    let ni = (t.to_bits() as i32).wrapping_sub(MAGIC_BITS);
    let scale = f32::from_bits((ni.wrapping_add(127) << 23) as u32);
    y * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_activations_bound() {
        let mut max_s = 0.0f64;
        let mut max_t = 0.0f64;
        let mut max_e = 0.0f64;
        let n = 400_000;
        for k in 0..=n {
            let x = -40.0 + 80.0 * k as f64 / n as f64;
            let xf = x as f32;
            let xd = xf as f64;
            let s = <f32 as Real>::sigmoid(xf) as f64;
            let t = <f32 as Real>::tanh_act(xf) as f64;
            max_s = max_s.max((s - 1.0 / (1.0 + (-xd).exp())).abs());
            max_t = max_t.max((t - xd.tanh()).abs());
            if xd.abs() < 80.0 {
                let e = fast_exp_f32(xf) as f64;
                max_e = max_e.max(((e - xd.exp()) / xd.exp()).abs());
            }
        }
        assert!(max_s < 2e-7, "sigmoid error {max_s}");
        assert!(max_t < 2e-7, "tanh error {max_t}");
        assert!(max_e < 5e-7, "exp rel error {max_e}");
        assert!(fast_exp_f32(f32::NAN).is_nan());
        assert_eq!(<f32 as Real>::tanh_act(1e4), 1.0);
        assert_eq!(<f32 as Real>::tanh_act(-1e4), -1.0);
    }
}
