//! Sigmoid and tanh: exact ([`Exact`], `libm`) and fast ([`Fast`]) variants
//! for every [`Scalar`].
//!
//! Maximum absolute errors against `f64` math, measured over a dense grid by
//! this module's tests (`MAX_ERROR_*` constants; the tests fail above them):
//!
//! | variant | type | σ max error | tanh max error | how |
//! |---|---|---|---|---|
//! | [`Exact`] | `f32` | [`MAX_ERROR_EXACT_F32`] | [`MAX_ERROR_EXACT_F32`] | `libm::expf`, `libm::tanhf` |
//! | [`Fast`] | `f32` | [`MAX_ERROR_FAST_F32`] | [`MAX_ERROR_FAST_F32`] | `micromath` `exp` (σ = 1/(1+e⁻ˣ), tanh = 1 − 2/(e²ˣ+1)) |
//! | [`Exact`] | [`Q4_12`] | [`MAX_ERROR_Q4_12`] | [`MAX_ERROR_Q4_12`] | `libm` in `f32`, rounded to the format |
//! | [`Fast`] | [`Q4_12`] | [`MAX_ERROR_Q4_12`] | [`MAX_ERROR_Q4_12`] | 513-entry tables, linear interpolation, integer only |
//! | [`Exact`] | [`Q16_16`] | [`MAX_ERROR_EXACT_Q16_16`] | [`MAX_ERROR_EXACT_Q16_16`] | `libm` in `f32`, rounded to the format |
//! | [`Fast`] | [`Q16_16`] | [`MAX_ERROR_FAST_Q16_16`] | [`MAX_ERROR_FAST_Q16_16`] | the same tables |
//!
//! The tables sample σ on \[−16, 16\] every 1/16 and tanh on \[−8, 8\] every
//! 1/32, in Q16.16; outside, the end value is returned. Every variant is
//! monotone (non-decreasing) and odd-symmetric (`tanh(−x) = −tanh(x)`,
//! `σ(−x) = 1 − σ(x)`) up to one unit in the last place of the format.

use crate::activation_tables::{SIGMOID_Q16, TANH_Q16};
use crate::num::{Scalar, Q16_16, Q4_12};

/// A choice of sigmoid and tanh for number type `T`.
pub trait Activation<T: Scalar> {
    /// Logistic sigmoid σ(x) = 1 / (1 + e⁻ˣ).
    fn sigmoid(x: T) -> T;
    /// Hyperbolic tangent.
    fn tanh(x: T) -> T;
}

/// Activations computed with `libm` (software, so bit-identical on every target).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Exact;

/// Fast approximations: `micromath` for `f32`, interpolated tables for fixed point.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fast;

/// Maximum absolute error of [`Exact`] on `f32`.
pub const MAX_ERROR_EXACT_F32: f32 = 2e-7;
/// Maximum absolute error of [`Fast`] on `f32`.
pub const MAX_ERROR_FAST_F32: f32 = 6e-4;
/// Maximum absolute error of both variants on [`Q4_12`] (dominated by the output's half-LSB, 1.22e−4).
pub const MAX_ERROR_Q4_12: f32 = 2.5e-4;
/// Maximum absolute error of [`Exact`] on [`Q16_16`].
pub const MAX_ERROR_EXACT_Q16_16: f32 = 1.5e-7 + 7.7e-6;
/// Maximum absolute error of [`Fast`] on [`Q16_16`] (interpolation of the tanh table).
pub const MAX_ERROR_FAST_Q16_16: f32 = 1.1e-4;

/// σ(x), evaluated on −|x| and mirrored so that σ(−x) = 1 − σ(x) holds by construction.
#[inline]
fn mirrored_sigmoid(x: f32, exp: fn(f32) -> f32) -> f32 {
    let s = 1.0 / (1.0 + exp(-x.abs()));
    if x < 0.0 {
        1.0 - s
    } else {
        s
    }
}

#[inline]
fn exact_sigmoid(x: f32) -> f32 {
    mirrored_sigmoid(x, libm::expf)
}

#[inline]
fn micromath_exp(x: f32) -> f32 {
    micromath::F32(x).exp().0
}

impl Activation<f32> for Exact {
    #[inline]
    fn sigmoid(x: f32) -> f32 {
        exact_sigmoid(x)
    }
    #[inline]
    fn tanh(x: f32) -> f32 {
        libm::tanhf(x)
    }
}

/// Inputs beyond this magnitude saturate (e^±30 is still finite in f32).
const FAST_F32_CLAMP: f32 = 30.0;

impl Activation<f32> for Fast {
    #[inline]
    fn sigmoid(x: f32) -> f32 {
        mirrored_sigmoid(x.clamp(-FAST_F32_CLAMP, FAST_F32_CLAMP), micromath_exp)
    }
    #[inline]
    fn tanh(x: f32) -> f32 {
        // Evaluated on |x| so that tanh is odd by construction.
        let a = x.abs().min(FAST_F32_CLAMP / 2.0);
        let t = 1.0 - 2.0 / (micromath_exp(2.0 * a) + 1.0);
        if x < 0.0 {
            -t
        } else {
            t
        }
    }
}

/// Linear interpolation in `table` (Q16.16 values sampled every `2^-(16-shift)`
/// from `-half_range`), at the Q16.16 point `x`; saturates at the ends.
///
/// Everything fits in an `i32` (no 64-bit arithmetic on 32-bit cores): the
/// offset is below 2·`half_range` ≤ 2²¹ and the table values lie in
/// \[−2¹⁶, 2¹⁶\], so `|b − a|·frac < 2¹⁷·2¹² = 2²⁹`.
#[inline]
fn interpolate(table: &[i32; 513], half_range: i32, shift: u32, x: i32) -> i32 {
    let lo = -half_range;
    let hi = half_range - 1;
    let offset = x.clamp(lo, hi).wrapping_sub(lo); // 0 ..= 2·half_range − 1
    let idx = (offset >> shift) as usize; // 0 ..= 511
    let frac = offset & ((1 << shift) - 1);
    match (table.get(idx), table.get(idx + 1)) {
        (Some(&a), Some(&b)) => {
            let delta = b.wrapping_sub(a).wrapping_mul(frac);
            a.wrapping_add(delta.wrapping_add(1 << (shift - 1)) >> shift)
        }
        _ => table.last().copied().unwrap_or(0),
    }
}

/// σ of a Q16.16 value, in Q16.16, from the table; looked up at −|x| and
/// mirrored, so σ(−x) = 1 − σ(x) exactly.
#[inline]
fn sigmoid_q16(x: i32) -> i32 {
    let s = interpolate(
        &SIGMOID_Q16,
        16 << 16,
        12,
        x.saturating_abs().wrapping_neg(),
    );
    if x > 0 {
        (1 << 16) - s
    } else {
        s
    }
}

/// tanh of a Q16.16 value, in Q16.16, from the table; looked up at |x|, so tanh is odd exactly.
#[inline]
fn tanh_q16(x: i32) -> i32 {
    let t = interpolate(&TANH_Q16, 8 << 16, 11, x.saturating_abs());
    if x < 0 {
        -t
    } else {
        t
    }
}

/// Q16.16 bits to Q4.12 bits, rounding; the inputs here are within ±1.
#[inline]
fn q16_to_q12(y: i32) -> Q4_12 {
    Q4_12::from_bits(((y + 8) >> 4) as i16)
}

impl Activation<Q4_12> for Exact {
    #[inline]
    fn sigmoid(x: Q4_12) -> Q4_12 {
        Q4_12::from_f32(exact_sigmoid(x.to_f32()))
    }
    #[inline]
    fn tanh(x: Q4_12) -> Q4_12 {
        Q4_12::from_f32(libm::tanhf(x.to_f32()))
    }
}

impl Activation<Q4_12> for Fast {
    #[inline]
    fn sigmoid(x: Q4_12) -> Q4_12 {
        q16_to_q12(sigmoid_q16((x.to_bits() as i32) << 4))
    }
    #[inline]
    fn tanh(x: Q4_12) -> Q4_12 {
        q16_to_q12(tanh_q16((x.to_bits() as i32) << 4))
    }
}

impl Activation<Q16_16> for Exact {
    #[inline]
    fn sigmoid(x: Q16_16) -> Q16_16 {
        Q16_16::from_f32(exact_sigmoid(x.to_f32()))
    }
    #[inline]
    fn tanh(x: Q16_16) -> Q16_16 {
        Q16_16::from_f32(libm::tanhf(x.to_f32()))
    }
}

impl Activation<Q16_16> for Fast {
    #[inline]
    fn sigmoid(x: Q16_16) -> Q16_16 {
        Q16_16::from_bits(sigmoid_q16(x.to_bits()))
    }
    #[inline]
    fn tanh(x: Q16_16) -> Q16_16 {
        Q16_16::from_bits(tanh_q16(x.to_bits()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The interpolation as first written, in `i64`: the `i32` version must
    /// agree on every input either format can give it.
    fn interpolate_i64(table: &[i32; 513], half_range: i32, shift: u32, x: i32) -> i32 {
        let lo = -half_range;
        let hi = half_range - 1;
        let offset = x.clamp(lo, hi) as i64 - lo as i64;
        let idx = (offset >> shift) as usize;
        let frac = offset & ((1 << shift) - 1);
        match (table.get(idx), table.get(idx + 1)) {
            (Some(&a), Some(&b)) => {
                let delta = (b as i64 - a as i64) * frac;
                (a as i64 + ((delta + (1 << (shift - 1))) >> shift)) as i32
            }
            _ => table.last().copied().unwrap_or(0),
        }
    }

    #[test]
    fn interpolation_in_i32_equals_i64() {
        let xs = (i32::MIN..=i32::MAX)
            .step_by(65_521)
            .chain((-(17 << 16)..=(17 << 16)).step_by(7))
            .chain([i32::MIN, i32::MAX, -1, 0, 1]);
        for x in xs {
            for (table, half, shift) in [(&SIGMOID_Q16, 16 << 16, 12), (&TANH_Q16, 8 << 16, 11)] {
                assert_eq!(
                    interpolate(table, half, shift, x),
                    interpolate_i64(table, half, shift, x),
                    "x = {x}"
                );
            }
        }
    }

    fn sigmoid64(x: f64) -> f64 {
        1.0 / (1.0 + libm::exp(-x))
    }

    #[test]
    fn tables_match_libm() {
        for (k, &v) in SIGMOID_Q16.iter().enumerate() {
            let x = -16.0 + k as f64 / 16.0;
            assert_eq!(
                v,
                libm::round(sigmoid64(x) * 65536.0) as i32,
                "sigmoid entry {k}"
            );
        }
        for (k, &v) in TANH_Q16.iter().enumerate() {
            let x = -8.0 + k as f64 / 32.0;
            assert_eq!(
                v,
                libm::round(libm::tanh(x) * 65536.0) as i32,
                "tanh entry {k}"
            );
        }
    }

    /// Max |error| of `f` against `truth` over `xs`, plus monotonicity and symmetry checks.
    fn check<T: Scalar>(
        lsb: f64,
        name: &str,
        xs: impl Iterator<Item = T> + Clone,
        f: fn(T) -> T,
        truth: fn(f64) -> f64,
        bound: f32,
        odd: bool,
    ) -> f64 {
        let mut max_err = 0.0f64;
        let mut prev: Option<f64> = None;
        for x in xs.clone() {
            let y = f(x).to_f32() as f64;
            let err = (y - truth(x.to_f32() as f64)).abs();
            max_err = max_err.max(err);
            if let Some(p) = prev {
                assert!(y >= p, "{name}: not monotone at x = {:?}", x);
            }
            prev = Some(y);
            let neg = T::from_f32(-x.to_f32());
            if neg.to_f32() == -x.to_f32() {
                let yn = f(neg).to_f32() as f64;
                let mirrored = if odd { -y } else { 1.0 - y };
                assert!(
                    (yn - mirrored).abs() <= lsb,
                    "{name}: not symmetric at x = {:?}: {yn} vs {mirrored}",
                    x
                );
            }
        }
        std::println!("{name}: max error {max_err:.3e} (bound {bound:.1e})");
        assert!(
            max_err <= bound as f64,
            "{name}: max error {max_err:e} > bound {bound:e}"
        );
        max_err
    }

    /// Symmetry tolerances: one unit in the last place of each format
    /// (f32: of values near 1).
    const F32_SYM: f64 = f32::EPSILON as f64;
    const Q12_LSB: f64 = 1.0 / 4096.0;
    const Q16_LSB: f64 = 1.0 / 65536.0;

    fn grid_f32() -> impl Iterator<Item = f32> + Clone {
        (-400_000..=400_000).map(|k| k as f32 * 5e-5)
    }

    #[test]
    fn f32_exact_and_fast_within_bounds() {
        check(
            F32_SYM,
            "exact sigmoid f32",
            grid_f32(),
            Exact::sigmoid,
            sigmoid64,
            MAX_ERROR_EXACT_F32,
            false,
        );
        check(
            F32_SYM,
            "exact tanh f32",
            grid_f32(),
            <Exact as Activation<f32>>::tanh,
            libm::tanh,
            MAX_ERROR_EXACT_F32,
            true,
        );
        check(
            F32_SYM,
            "fast sigmoid f32",
            grid_f32(),
            Fast::sigmoid,
            sigmoid64,
            MAX_ERROR_FAST_F32,
            false,
        );
        check(
            F32_SYM,
            "fast tanh f32",
            grid_f32(),
            <Fast as Activation<f32>>::tanh,
            libm::tanh,
            MAX_ERROR_FAST_F32,
            true,
        );
    }

    #[test]
    fn q4_12_every_input_within_bounds() {
        let all = || (i16::MIN..=i16::MAX).map(Q4_12::from_bits);
        check(
            Q12_LSB,
            "exact sigmoid q4.12",
            all(),
            Exact::sigmoid,
            sigmoid64,
            MAX_ERROR_Q4_12,
            false,
        );
        check(
            Q12_LSB,
            "exact tanh q4.12",
            all(),
            <Exact as Activation<Q4_12>>::tanh,
            libm::tanh,
            MAX_ERROR_Q4_12,
            true,
        );
        check(
            Q12_LSB,
            "fast sigmoid q4.12",
            all(),
            Fast::sigmoid,
            sigmoid64,
            MAX_ERROR_Q4_12,
            false,
        );
        check(
            Q12_LSB,
            "fast tanh q4.12",
            all(),
            <Fast as Activation<Q4_12>>::tanh,
            libm::tanh,
            MAX_ERROR_Q4_12,
            true,
        );
    }

    #[test]
    fn q16_16_dense_grid_within_bounds() {
        // Every 7th value over ±20, plus the corner values.
        let grid = || {
            (-(20i32 << 16)..=(20 << 16))
                .step_by(7)
                .map(Q16_16::from_bits)
        };
        let sorted = || {
            core::iter::once(Q16_16::from_bits(i32::MIN + 1))
                .chain(grid())
                .chain(core::iter::once(Q16_16::MAX))
        };
        let e = MAX_ERROR_EXACT_Q16_16;
        let fst = MAX_ERROR_FAST_Q16_16;
        check(
            Q16_LSB,
            "exact sigmoid q16.16",
            sorted(),
            Exact::sigmoid,
            sigmoid64,
            e,
            false,
        );
        check(
            Q16_LSB,
            "exact tanh q16.16",
            sorted(),
            <Exact as Activation<Q16_16>>::tanh,
            libm::tanh,
            e,
            true,
        );
        check(
            Q16_LSB,
            "fast sigmoid q16.16",
            sorted(),
            Fast::sigmoid,
            sigmoid64,
            fst,
            false,
        );
        check(
            Q16_LSB,
            "fast tanh q16.16",
            sorted(),
            <Fast as Activation<Q16_16>>::tanh,
            libm::tanh,
            fst,
            true,
        );
    }

    #[test]
    fn corner_values_do_not_panic() {
        for x in [Q4_12::MIN, Q4_12::MAX, Q4_12::ZERO] {
            let _ = <Fast as Activation<Q4_12>>::tanh(x);
            let _ = <Exact as Activation<Q4_12>>::sigmoid(x);
        }
        for x in [Q16_16::MIN, Q16_16::MAX] {
            let _ = <Fast as Activation<Q16_16>>::tanh(x);
            let _ = <Fast as Activation<Q16_16>>::sigmoid(x);
        }
        for x in [f32::MIN, f32::MAX, f32::INFINITY, f32::NEG_INFINITY] {
            assert!(<Fast as Activation<f32>>::tanh(x).is_finite());
            assert!(<Fast as Activation<f32>>::sigmoid(x).is_finite());
        }
    }
}
