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
//! | [`Fast`] | [`Q4_12`] | [`MAX_ERROR_Q4_12`] | [`MAX_ERROR_Q4_12`] | the Q16.16 tables below rounded to Q4.12, folded at compile time into 512 (tanh) and 256 (σ) pieces of one multiply-add each (6 KiB), integer only |
//! | [`Exact`] | [`Q16_16`] | [`MAX_ERROR_EXACT_Q16_16`] | [`MAX_ERROR_EXACT_Q16_16`] | `libm` in `f32`, rounded to the format |
//! | [`Fast`] | [`Q16_16`] | [`MAX_ERROR_FAST_Q16_16`] | [`MAX_ERROR_FAST_Q16_16`] | the same tables |
//!
//! The tables sample σ on \[−16, 16\] every 1/16 and tanh on \[−8, 8\] every
//! 1/32, in Q16.16; outside, the end value is returned. Every variant is
//! monotone (non-decreasing) and odd-symmetric (`tanh(−x) = −tanh(x)`,
//! `σ(−x) = 1 − σ(x)`) up to one unit in the last place of the format.

use crate::activation_tables::{SIGMOID_Q16, TANH_Q16};
use crate::cell::CHUNK;
use crate::num::{Scalar, Q16_16, Q4_12};

/// A choice of sigmoid and tanh for number type `T`.
pub trait Activation<T: Scalar> {
    /// Logistic sigmoid σ(x) = 1 / (1 + e⁻ˣ).
    fn sigmoid(x: T) -> T;
    /// Hyperbolic tangent.
    fn tanh(x: T) -> T;

    /// The batched LSTM's per-unit update,
    /// [`units_portable`](crate::lstm::units_portable) (which defines it); a
    /// choice may run a kernel that computes the same bits.
    #[doc(hidden)]
    #[inline]
    fn lstm_units(pre: &[[T; CHUNK]; 4], c: &mut [T::Cell], h: &mut [T])
    where
        Self: Sized,
    {
        crate::lstm::units_portable::<T, Self>(pre, c, h)
    }
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

#[cfg_attr(not(test), allow(dead_code))]
#[inline]
fn micromath_exp(x: f32) -> f32 {
    micromath::F32(x).exp().0
}

/// `micromath`'s `exp` (2.x: `x·log2 e` split into integer and fraction,
/// `e^(fraction·ln 2)` by a 4-term Horner series, the integer added to the
/// exponent field), bit for bit, in fewer instructions: the integer part by
/// one conversion instead of `micromath`'s bit-level `trunc` and `fract`
/// (the difference `t − trunc(t)` is exact in `f32`, so both give the same
/// fraction), the same operations in the same order otherwise, for
/// `|x| ≤ 30` (every input [`Fast`] gives it but NaN); NaN and larger
/// inputs go to `micromath` itself. `tests::fast_exp_equals_micromath`
/// checks it.
#[inline]
fn fast_exp(x: f32) -> f32 {
    use core::f32::consts::{E, LN_2, LOG2_E};
    let bits = x.to_bits();
    let mag = bits & 0x7fff_ffff;
    if mag > 30.0f32.to_bits() {
        // NaN and |x| > 30 (never from `Fast`): `micromath` itself.
        return micromath::F32(x).exp().0;
    }
    // `micromath`'s special cases: `x == 0` gives 1, `|x − 1| < ε` (x is
    // 1 or 1 − ε/2) gives e, `|x + 1| < ε` gives 1/e; as bit tests.
    if mag == 0 {
        return 1.0;
    }
    if mag.wrapping_sub(0x3f7f_ffff) < 2 {
        return if bits >> 31 == 0 { E } else { 1.0 / E };
    }
    let t = x * LOG2_E;
    // |t| < 44: the conversion truncates exactly.
    let n = t as i32;
    let f = (t - n as f32) * LN_2;
    let s = 1.0 + f / 4.0;
    let s = 1.0 + (f / 3.0) * s;
    let s = 1.0 + (f / 2.0) * s;
    let s = 1.0 + f * s;
    let bits = s.to_bits();
    let e = ((bits >> 23) & 0xff) as i32 - 127 + n;
    if e < -127 {
        return 0.0;
    }
    if e > 128 {
        return f32::INFINITY;
    }
    f32::from_bits((bits & !0x7f80_0000) | (((e + 127) as u32) << 23))
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
        mirrored_sigmoid(x.clamp(-FAST_F32_CLAMP, FAST_F32_CLAMP), fast_exp)
    }
    #[inline]
    fn tanh(x: f32) -> f32 {
        // Evaluated on |x| so that tanh is odd by construction. `f32::min`
        // written out (NaN becomes the bound, as with `min`), without the
        // library call.
        let a = x.abs();
        let a = if a <= FAST_F32_CLAMP / 2.0 {
            a
        } else {
            FAST_F32_CLAMP / 2.0
        };
        let t = 1.0 - 2.0 / (fast_exp(2.0 * a) + 1.0);
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
/// (What [`Fast`] on Q4.12 computed before its tables were folded; the
/// tests compare against it.)
#[cfg(test)]
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

/// One piece of a folded Q4.12 activation: on its piece of inputs, the
/// table interpolation, the mirroring and the rounding to Q4.12 together
/// are `(p·v + q) >> k` with `v = x ^ (x >> 15)` (`|x|` for `x ≥ 0`,
/// `|x| − 1` for `x < 0`); see [`fold_tanh`] and [`fold_sigmoid`].
#[derive(Clone, Copy, Debug)]
#[repr(C, align(8))]
pub(crate) struct Piece {
    p: i32,
    q: i32,
}

/// `−⌊a / 2^k⌋` as `⌊(−a + 2^k − 1) / 2^k⌋`: the piece for the negated
/// result, `(p, q)` → `(−p, 2^k − 1 − q)`.
const fn negated(p: i64, q: i64, k: u32) -> (i64, i64) {
    (-p, (1 << k) - 1 - q)
}

/// tanh of Q4.12 in 512 pieces indexed by the top 9 bits of `x` (128
/// inputs each), folded at compile time from [`TANH_Q16`]: `(p·v + q) >>
/// 15` equals `q16_to_q12(tanh_q16(x << 4))` for every `x`
/// (`activation::tests::folded_q4_12_equals_tables` checks all 65 536).
///
/// Derivation: for `|x| ∈ [128k, 128k + 128]`, `tanh_q16` reads entry
/// `idx = 256 + k` at `frac = 16|x| − 2048k` (the right end, `frac =
/// 2048`, gives entry `idx + 1` exactly, so one piece covers both ends and
/// `|x| = 32768`, where the input clamps, too), `t = a + ⌊(d·frac + 2¹⁰) /
/// 2¹¹⌋` with `d = b − a`, and `⌊(t + 8) / 16⌋ = ⌊(16d·|x| + q₊) / 2¹⁵⌋`
/// with `q₊ = 2¹⁰ + (a + 8)·2¹¹ − 2048·d·k`. For `x < 0` the result is
/// `⌊(−t + 8) / 16⌋ = −⌊(t + 7) / 16⌋`, with `|x| = v + 1`: the piece
/// `(16d, q₊ + 16d − 2¹¹)` in `v`, negated. Piece `k` (`x ≥ 0`) sits at
/// index `k`, its mirror at `511 − k`, which is `x`'s top 9 bits either way.
const fn fold_tanh() -> [Piece; 512] {
    let mut out = [Piece { p: 0, q: 0 }; 512];
    let mut k = 0;
    while k < 256 {
        let a = TANH_Q16[256 + k] as i64;
        let d = TANH_Q16[257 + k] as i64 - a;
        let (p, q) = (16 * d, 1024 + (a + 8) * 2048 - d * 2048 * k as i64);
        out[k] = Piece {
            p: p as i32,
            q: q as i32,
        };
        let (pn, qn) = negated(p, q + p - 2048, 15);
        out[511 - k] = Piece {
            p: pn as i32,
            q: qn as i32,
        };
        k += 1;
    }
    out
}

/// σ of Q4.12 in 256 pieces indexed by the top 8 bits of `x` (256 inputs
/// each), folded from [`SIGMOID_Q16`]: `(p·v + q) >> 16` equals
/// `q16_to_q12(sigmoid_q16(x << 4))`. For `|x| ∈ [256j, 256j + 256]`,
/// `sigmoid_q16` reads entry `255 − j` at `frac = 2²⁰ − 16|x| −
/// 4096·(255 − j)` (`frac = 4096` at `|x| = 256j` gives entry `256 − j`
/// exactly), `s = a + ⌊(d·frac + 2¹¹) / 2¹²⌋`, and `⌊(s + 8) / 16⌋ =
/// ⌊N / 2¹⁶⌋` with `N(|x|) = −16d·|x| + q₀`, `q₀ = 4096d·(j + 1) + 2¹¹ +
/// (a + 8)·2¹²`. For `x < 0` that
/// is the result, at `|x| = v + 1`; for `x ≥ 0` the result is
/// `4096 − ⌊(s + 7) / 16⌋ = 4096 − ⌊(N − 2¹²) / 2¹⁶⌋`, at `|x| = v`.
const fn fold_sigmoid() -> [Piece; 256] {
    let mut out = [Piece { p: 0, q: 0 }; 256];
    let mut j = 0;
    while j < 128 {
        let a = SIGMOID_Q16[255 - j] as i64;
        let d = SIGMOID_Q16[256 - j] as i64 - a;
        let (p, q) = (-16 * d, d * 4096 * (j as i64 + 1) + 2048 + (a + 8) * 4096);
        // x ≥ 0: 4096 − ⌊(p·v + q − 4096) / 2^16⌋.
        let (pp, qp) = negated(p, q - 4096, 16);
        out[j] = Piece {
            p: pp as i32,
            q: (qp + (4096 << 16)) as i32,
        };
        // x < 0: ⌊(p·(v + 1) + q) / 2^16⌋.
        out[255 - j] = Piece {
            p: p as i32,
            q: (q + p) as i32,
        };
        j += 1;
    }
    out
}

/// [`fold_tanh`], evaluated at compile time (4 KiB).
pub(crate) static TANH_Q12: [Piece; 512] = fold_tanh();
/// [`fold_sigmoid`], evaluated at compile time (2 KiB).
pub(crate) static SIGMOID_Q12: [Piece; 256] = fold_sigmoid();

/// `(p·(x ^ (x >> 15)) + q) >> k` for the piece at index `x >> shift`
/// (`x` as unsigned 16 bits, so the index is below `table.len()` =
/// `2^(16 − shift)`).
#[inline(always)]
fn folded<const N: usize>(table: &[Piece; N], shift: u32, k: u32, x: Q4_12) -> Q4_12 {
    let b = x.to_bits();
    let v = i32::from(b ^ (b >> 15));
    let at = usize::from(b as u16 >> shift);
    let Piece { p, q } = table.get(at).copied().unwrap_or(Piece { p: 0, q: 0 });
    Q4_12::from_bits((p.wrapping_mul(v).wrapping_add(q) >> k) as i16)
}

/// [`Fast`] tanh of Q4.12 from [`TANH_Q12`]: one multiply-add.
#[inline]
fn tanh_q12(x: Q4_12) -> Q4_12 {
    folded(&TANH_Q12, 7, 15, x)
}

/// [`Fast`] σ of Q4.12 from [`SIGMOID_Q12`]: one multiply-add.
#[inline]
fn sigmoid_q12(x: Q4_12) -> Q4_12 {
    folded(&SIGMOID_Q12, 8, 16, x)
}

impl Activation<Q4_12> for Fast {
    #[inline]
    fn sigmoid(x: Q4_12) -> Q4_12 {
        sigmoid_q12(x)
    }
    #[inline]
    fn tanh(x: Q4_12) -> Q4_12 {
        tanh_q12(x)
    }
    /// On `thumbv7em`, an assembly loop over the units (the same
    /// arithmetic: the folded tables, `SMLABB` products, the 32-bit cell
    /// update with its 64-bit `SMLAL` fallback).
    #[cfg(lstm_arm_dsp)]
    #[inline]
    fn lstm_units(pre: &[[Q4_12; CHUNK]; 4], c: &mut [crate::Q20_12], h: &mut [Q4_12]) {
        crate::num::q12_lstm_units(pre, c, h)
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

    /// `fast_exp` equals `micromath`'s `exp` bit for bit on every `f32`
    /// in ±30 at a stride of 251 bit patterns, the special values and
    /// their neighbours, and NaN; and the `f32` activations equal their
    /// definitions with `micromath` and `clamp`/`min`.
    #[test]
    fn fast_exp_equals_micromath() {
        let mut xs: std::vec::Vec<f32> = std::vec::Vec::new();
        let top = 30.0f32.to_bits();
        for b in (0..=top).step_by(251).chain([top]) {
            let x = f32::from_bits(b);
            xs.extend([x, -x]);
        }
        for v in [
            0.0f32,
            1.0,
            -1.0,
            0.5,
            2.0,
            15.0,
            30.0,
            core::f32::consts::LN_2,
        ] {
            for d in -3i32..=3 {
                let x = f32::from_bits(v.to_bits().wrapping_add_signed(d));
                xs.extend([x, -x]);
            }
        }
        xs.extend([f32::NAN, -f32::NAN, 1.0 + f32::EPSILON / 2.0, 31.0, -31.0]);
        xs.extend([
            f32::INFINITY,
            f32::NEG_INFINITY,
            100.0,
            -100.0,
            f32::MAX,
            f32::MIN,
        ]);
        for &x in &xs {
            assert_eq!(
                fast_exp(x).to_bits(),
                micromath_exp(x).to_bits(),
                "exp({x:e})"
            );
        }
        let sigmoid_def = |x: f32| mirrored_sigmoid(x.clamp(-30.0, 30.0), micromath_exp);
        let tanh_def = |x: f32| {
            let a = x.abs().min(15.0);
            let t = 1.0 - 2.0 / (micromath_exp(2.0 * a) + 1.0);
            if x < 0.0 {
                -t
            } else {
                t
            }
        };
        for &x in &xs {
            assert_eq!(
                <Fast as Activation<f32>>::sigmoid(x).to_bits(),
                sigmoid_def(x).to_bits(),
                "sigmoid({x:e})"
            );
            assert_eq!(
                <Fast as Activation<f32>>::tanh(x).to_bits(),
                tanh_def(x).to_bits(),
                "tanh({x:e})"
            );
        }
    }

    /// The folded Q4.12 tables give what the Q16.16 tables give, rounded
    /// to Q4.12, for every one of the 65 536 inputs.
    #[test]
    fn folded_q4_12_equals_tables() {
        for bits in i16::MIN..=i16::MAX {
            let x = Q4_12::from_bits(bits);
            let x16 = i32::from(bits) << 4;
            assert_eq!(
                sigmoid_q12(x),
                q16_to_q12(sigmoid_q16(x16)),
                "sigmoid at {bits}"
            );
            assert_eq!(tanh_q12(x), q16_to_q12(tanh_q16(x16)), "tanh at {bits}");
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
