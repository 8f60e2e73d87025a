//! The numeric abstraction shared by every layer: [`Scalar`], implemented
//! for `f32` and for two saturating fixed-point formats from the `fixed` crate.
//!
//! | format | Rust type | storage | accumulator | range | resolution |
//! |---|---|---|---|---|---|
//! | [`NumberFormat::F32`] | `f32` | 32-bit float | `f32` | IEEE | 24-bit mantissa |
//! | [`NumberFormat::Q4_12`] | [`Q4_12`] = `FixedI16<U12>` | `i16` | `i64` in Q40.24 | \[−8, 8) | 2⁻¹² ≈ 2.44e−4 |
//! | [`NumberFormat::Q16_16`] | [`Q16_16`] = `FixedI32<U16>` | `i32` | `i64` in Q32.32 | \[−32768, 32768) | 2⁻¹⁶ ≈ 1.53e−5 |
//! | [`NumberFormat::Q4_12W8`] | [`Q4_12`] | `i8` weights, a power-of-two scale per row ([`crate::w8`]) | exact integer sum | as Q4.12 | as Q4.12; weights `2⁻⁸`–`2⁻⁷` of their row's max |
//!
//! The 16-bit format holds weights, inputs, gate values and `h`; each
//! product of two Q4.12 values is exact in Q8.24 (an `i32`) and a dot product
//! sums them exactly in an `i64` (no intermediate rounding or overflow for any
//! length below 2³³), then rounds and saturates once (`SMLAL`/`SMLALD` on a
//! Cortex-M4 do exactly this).
//!
//! The LSTM cell state `c` is kept in [`Scalar::Cell`]: for Q4.12 that is
//! [`Q20_12`], the same 12 fractional bits in an `i32` (range ±524,288), so a
//! cell that counts past 8 keeps its value instead of saturating at Q4.12's
//! limit; `tanh(c)` reads it saturated to Q4.12, which loses nothing because
//! `tanh(±8)` already rounds to ±1 in Q4.12. Whenever `|c| < 8` the result is
//! bit-identical to keeping `c` in Q4.12. Every operation saturates; none
//! wraps or panics, including on `i16::MIN`-style corner values.

use fixed::types::extra::{U12, U16};
use fixed::{FixedI16, FixedI32};

/// Q4.12 kernels with `SMLALD` for Cortex-M4/M7 (`thumbv7em-*`; see `build.rs`).
#[cfg(lstm_arm_dsp)]
#[allow(unsafe_code)]
mod dsp;

/// The Q4.12 gate-row kernels (16-bit and 8-bit weights) for Cortex-M0/M0+
/// (`thumbv6m-*`; see `build.rs`).
#[cfg(lstm_thumb1)]
#[allow(unsafe_code)]
mod thumb1;

/// The LSTM per-unit update for Q4.12 with [`Fast`](crate::Fast)
/// activations on `thumbv7em` (see [`Activation::lstm_units`](crate::Activation::lstm_units)).
#[cfg(lstm_arm_dsp)]
#[inline]
pub(crate) fn q12_lstm_units(
    pre: &[[Q4_12; crate::cell::CHUNK]; 4],
    c: &mut [Q20_12],
    h: &mut [Q4_12],
) {
    dsp::lstm_units(pre, c, h)
}

/// The 8-bit-weight row sum on `thumbv7em` (see [`crate::w8`]).
#[cfg(lstm_arm_dsp)]
pub(crate) use dsp::{w8_pairs, w8_sum32};

/// The 8-bit-weight row pairs on the Cortex-M0 (see [`crate::w8`]).
#[cfg(lstm_thumb1)]
pub(crate) use thumb1::w8_pairs;

/// 16-bit Q4.12 fixed point: 4 integer bits (with sign), 12 fractional bits.
#[allow(non_camel_case_types)]
pub type Q4_12 = FixedI16<U12>;
/// 32-bit Q16.16 fixed point: 16 integer bits (with sign), 16 fractional bits.
#[allow(non_camel_case_types)]
pub type Q16_16 = FixedI32<U16>;
/// 32-bit Q20.12 fixed point: the cell state of a [`Q4_12`] LSTM layer
/// (the [`Scalar::Cell`] of `Q4_12`), Q4.12's resolution with 16 more integer bits.
#[allow(non_camel_case_types)]
pub type Q20_12 = FixedI32<U12>;

/// The number format a model file's weights are stored in, and a layer computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[allow(non_camel_case_types)]
pub enum NumberFormat {
    /// IEEE-754 single precision.
    F32,
    /// [`Q4_12`], 16-bit storage with 32-bit accumulation.
    Q4_12,
    /// [`Q16_16`], 32-bit storage with 64-bit accumulation.
    Q16_16,
    /// 8-bit weights with a power-of-two scale per output row, computing
    /// in [`Q4_12`] exactly as [`NumberFormat::Q4_12`] does (16-bit inputs,
    /// `h` and gate values, the cell state in [`Q20_12`], Q4.12 biases):
    /// half the weight bytes of Q4.12. See [`crate::w8`]. Format version 8.
    Q4_12W8,
}

impl NumberFormat {
    /// Every format, in file-code order.
    pub const ALL: [NumberFormat; 4] = [
        NumberFormat::F32,
        NumberFormat::Q4_12,
        NumberFormat::Q16_16,
        NumberFormat::Q4_12W8,
    ];

    /// Bytes per stored weight (1 for [`NumberFormat::Q4_12W8`], whose
    /// biases and row scales are stored beside the weights: see
    /// [`crate::w8`]).
    pub const fn size_of(self) -> usize {
        match self {
            NumberFormat::F32 | NumberFormat::Q16_16 => 4,
            NumberFormat::Q4_12 => 2,
            NumberFormat::Q4_12W8 => 1,
        }
    }

    /// The format inputs, states and outputs are computed in: the format
    /// itself, or [`NumberFormat::Q4_12`] for [`NumberFormat::Q4_12W8`].
    pub const fn activations(self) -> NumberFormat {
        match self {
            NumberFormat::Q4_12W8 => NumberFormat::Q4_12,
            f => f,
        }
    }

    /// The name used on the command line and in printed reports (`f32`,
    /// `q4.12`, `q16.16`, `q4.12-w8`).
    pub const fn name(self) -> &'static str {
        match self {
            NumberFormat::F32 => "f32",
            NumberFormat::Q4_12 => "q4.12",
            NumberFormat::Q16_16 => "q16.16",
            NumberFormat::Q4_12W8 => "q4.12-w8",
        }
    }

    /// Parses a name produced by [`NumberFormat::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl core::fmt::Display for NumberFormat {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for NumberFormat {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "{=str}", self.name())
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for super::Q4_12 {}
    impl Sealed for super::Q16_16 {}
}

/// A number type the recurrent layers compute in: `f32`, [`Q4_12`] or [`Q16_16`].
///
/// Arithmetic on fixed-point types saturates at the format's limits.
/// `Acc` is the wider type that dot products accumulate in.
///
/// ```
/// use lstm_core::num::{Q4_12, Scalar};
/// let big = Q4_12::from_f32(7.5);
/// assert_eq!(big.add(big), Q4_12::MAX); // saturates, never wraps
/// assert_eq!(Q4_12::from_f32(f32::NAN), Q4_12::ZERO);
/// ```
pub trait Scalar:
    sealed::Sealed + Copy + PartialEq + PartialOrd + core::fmt::Debug + bytemuck::Pod + 'static
{
    /// Accumulator of dot products.
    type Acc: Copy + core::fmt::Debug;
    /// The format tag stored in model files.
    const FORMAT: NumberFormat;
    /// Zero.
    const ZERO: Self;
    /// One (for fixed point, the closest representable value).
    const ONE: Self;
    /// The largest value.
    const MAX: Self;
    /// The smallest (most negative) value.
    const MIN: Self;

    /// Converts, rounding to nearest and saturating; NaN becomes zero.
    fn from_f32(x: f32) -> Self;
    /// Converts to `f32` (exact for both fixed formats' 16-bit part, rounded for Q16.16).
    fn to_f32(self) -> f32;
    /// Widens a value (typically a bias) to start an accumulation.
    fn to_acc(self) -> Self::Acc;
    /// `acc + a * b`, saturating.
    fn mac(acc: Self::Acc, a: Self, b: Self) -> Self::Acc;
    /// Narrows an accumulator, rounding to nearest and saturating.
    fn from_acc(acc: Self::Acc) -> Self;
    /// Saturating product.
    fn mul(self, other: Self) -> Self;
    /// Saturating sum.
    fn add(self, other: Self) -> Self;
    /// The GRU's blend `n + z·(h − n)` (= `(1 − z)·n + z·h`), computed exactly
    /// in the accumulator and rounded to nearest once, saturating.
    ///
    /// ```
    /// use lstm_core::num::{Q4_12, Scalar};
    /// let (z, h, n) = (Q4_12::from_f32(0.25), Q4_12::from_f32(1.0), Q4_12::from_f32(-0.5));
    /// assert_eq!(Q4_12::blend(z, h, n), Q4_12::from_f32(-0.125));
    /// assert_eq!(f32::blend(0.25, 1.0, -0.5), -0.125);
    /// ```
    fn blend(z: Self, h: Self, n: Self) -> Self;
    /// Whether the value may appear as a weight (finite for `f32`; always for fixed point).
    fn is_valid(self) -> bool {
        true
    }

    /// The type an LSTM layer keeps its cell state `c` in: `Self` for `f32`
    /// and [`Q16_16`], [`Q20_12`] for [`Q4_12`] (see the [module docs](self)).
    type Cell: Copy + PartialEq + PartialOrd + core::fmt::Debug + 'static;
    /// The zero cell state.
    const CELL_ZERO: Self::Cell;
    /// Converts to a cell state, rounding to nearest and saturating; NaN becomes zero.
    fn cell_from_f32(x: f32) -> Self::Cell;
    /// Converts a cell state to `f32`.
    fn cell_to_f32(c: Self::Cell) -> f32;
    /// The cell update `f·c + i·g`: each product rounded to nearest, the sum
    /// saturating at the cell type's limits.
    ///
    /// ```
    /// use lstm_core::num::{Q4_12, Scalar};
    /// let (one, half) = (Q4_12::ONE, Q4_12::from_f32(0.5));
    /// let c = Q4_12::cell_from_f32(7.75);
    /// // 7.75 + 0.5 = 8.25 is past Q4.12's range but not past the cell's.
    /// let c = Q4_12::cell_update(one, c, half, one);
    /// assert_eq!(Q4_12::cell_to_f32(c), 8.25);
    /// assert_eq!(Q4_12::cell_narrow(c), Q4_12::MAX);
    /// ```
    fn cell_update(f: Self, c: Self::Cell, i: Self, g: Self) -> Self::Cell;
    /// The cell state as a `Self` (saturating), the input of `tanh`.
    fn cell_narrow(c: Self::Cell) -> Self;

    /// `acc + Σ w[k]·x[k]` over the common length of `w` and `x`.
    #[inline]
    fn dot(acc: Self::Acc, w: &[Self], x: &[Self]) -> Self::Acc {
        w.iter()
            .zip(x.iter())
            .fold(acc, |a, (&w, &x)| Self::mac(a, w, x))
    }

    /// Whether [`Scalar::gate_rows`] has a batched kernel on this target
    /// (Q4.12 on `thumbv7em` and `thumbv6m`, `f32` on
    /// `thumbv7em-none-eabihf`, Q16.16 everywhere), so that the cells
    /// should call it for many rows at once rather than row by row.
    #[doc(hidden)]
    const BATCHED_ROWS: bool = false;

    /// Pre-activations of `out.len()` consecutive gate rows: for every
    /// `r`, `out[r] = from_acc(dot(dot(bias[r].to_acc(), w_ih_r, x), w_hh_r, h))`
    /// where `w_ih_r = w_ih[r·x.len() .. (r+1)·x.len()]` and
    /// `w_hh_r = w_hh[r·h.len() .. (r+1)·h.len()]`; a missing bias reads as
    /// zero and a row that does not fit in its slice as empty.
    #[inline]
    fn gate_rows(
        bias: &[Self],
        w_ih: &[Self],
        x: &[Self],
        w_hh: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) {
        gate_rows_portable(bias, w_ih, x, w_hh, h, out)
    }

    /// Input lengths up to which the batched GRU computes the candidate's
    /// input part unit by unit ([`Scalar::bias_dot`]) rather than by
    /// [`Scalar::gate_rows`] (the same results either way).
    #[doc(hidden)]
    const SHORT_INPUT: usize = usize::MAX;

    /// `from_acc(dot(bias.to_acc(), w, x))`: one pre-activation without a
    /// recurrent part (the GRU's candidate input part). A type may compute
    /// short rows without its batched kernel's call overhead; the result is
    /// the same.
    #[doc(hidden)]
    #[inline]
    fn bias_dot(bias: Self, w: &[Self], x: &[Self]) -> Self {
        Self::from_acc(Self::dot(bias.to_acc(), w, x))
    }

    /// The format of this type's computation with 8-bit weights
    /// ([`NumberFormat::Q4_12W8`] for [`Q4_12`]), if it has one.
    #[doc(hidden)]
    const FORMAT_W8: Option<NumberFormat> = None;

    /// One pre-activation from 8-bit weights with a power-of-two row scale
    /// ([`crate::w8::pre`] for [`Q4_12`]). Only called for types whose
    /// [`Scalar::FORMAT_W8`] is `Some` (`DynModel` refuses 8-bit weights
    /// for the others); this default returns the bias.
    #[doc(hidden)]
    #[inline]
    fn pre_w8(bias: Self, _shift: u8, _w_x: &[i8], _x: &[Self], _w_h: &[i8], _h: &[Self]) -> Self {
        bias
    }

    /// [`Scalar::pre_w8`] of `out.len()` consecutive rows in the file's
    /// pair layout ([`crate::w8::rows`] for [`Q4_12`]). Like
    /// [`Scalar::pre_w8`], only called for types whose
    /// [`Scalar::FORMAT_W8`] is `Some`; this default writes the biases.
    #[doc(hidden)]
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn w8_rows(
        first: usize,
        bias: &[Self],
        shift: &[u8],
        w_x: &[u8],
        x: &[Self],
        w_h: &[u8],
        h: &[Self],
        out: &mut [Self],
    ) {
        let _ = (first, shift, w_x, x, w_h, h);
        for (i, o) in out.iter_mut().enumerate() {
            *o = bias.get(i).map_or(Self::ZERO, |&b| b);
        }
    }

    /// Three rows over the same `x` and `h` (the GRU's r, z and n rows):
    /// for every `i`, `dot(dot(acc[i], w_x[i], x), w_h[i], h)`. A type may
    /// compute the recurrent parts in one pass over `h` (each row's sum in
    /// the same order, so the same results).
    #[doc(hidden)]
    #[inline]
    fn rows3(
        acc: [Self::Acc; 3],
        w_x: [&[Self]; 3],
        x: &[Self],
        w_h: [&[Self]; 3],
        h: &[Self],
    ) -> [Self::Acc; 3] {
        let ([a0, a1, a2], [x0, x1, x2], [h0, h1, h2]) = (acc, w_x, w_h);
        [
            Self::dot(Self::dot(a0, x0, x), h0, h),
            Self::dot(Self::dot(a1, x1, x), h1, h),
            Self::dot(Self::dot(a2, x2, x), h2, h),
        ]
    }
}

/// `w[start..start + n]`, or an empty slice if out of range.
#[inline]
pub(crate) fn row<T>(w: &[T], start: usize, n: usize) -> &[T] {
    w.get(start..start.saturating_add(n)).unwrap_or(&[])
}

/// `w[start..]`, or an empty slice if out of range.
#[inline]
fn rest<T>(w: &[T], start: usize) -> &[T] {
    w.get(start..).unwrap_or(&[])
}

/// The portable [`Scalar::gate_rows`].
#[inline]
fn gate_rows_portable<T: Scalar>(
    bias: &[T],
    w_ih: &[T],
    x: &[T],
    w_hh: &[T],
    h: &[T],
    out: &mut [T],
) {
    let (input, hidden) = (x.len(), h.len());
    for (r, o) in out.iter_mut().enumerate() {
        let acc = bias.get(r).map_or(T::ZERO, |&b| b).to_acc();
        let acc = T::dot(acc, row(w_ih, r.saturating_mul(input), input), x);
        *o = T::from_acc(T::dot(acc, row(w_hh, r.saturating_mul(hidden), hidden), h));
    }
}

impl Scalar for f32 {
    type Acc = f32;
    const FORMAT: NumberFormat = NumberFormat::F32;
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = f32::MAX;
    const MIN: Self = f32::MIN;

    #[inline]
    fn from_f32(x: f32) -> Self {
        if x.is_nan() {
            0.0
        } else {
            x
        }
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self
    }
    #[inline]
    fn to_acc(self) -> f32 {
        self
    }
    #[inline]
    fn mac(acc: f32, a: f32, b: f32) -> f32 {
        acc + a * b
    }
    #[inline]
    fn from_acc(acc: f32) -> f32 {
        acc
    }
    #[inline]
    fn mul(self, other: f32) -> f32 {
        self * other
    }
    #[inline]
    fn add(self, other: f32) -> f32 {
        self + other
    }
    #[inline]
    fn blend(z: f32, h: f32, n: f32) -> f32 {
        n + z * (h - n)
    }
    #[cfg(lstm_arm_fpu)]
    const BATCHED_ROWS: bool = true;
    /// On the Cortex-M4F/M7F, four rows per pass of an assembly kernel
    /// (`VMLA.F32`, not fused: the same roundings as `acc + a * b`); the
    /// rows past a multiple of 4 as the portable code computes them.
    #[cfg(lstm_arm_fpu)]
    #[inline]
    fn gate_rows(bias: &[f32], w_ih: &[f32], x: &[f32], w_hh: &[f32], h: &[f32], out: &mut [f32]) {
        let done = dsp::f32_gate_rows(bias, w_ih, x, w_hh, h, out);
        let (input, hidden) = (x.len(), h.len());
        gate_rows_portable(
            rest(bias, done),
            rest(w_ih, done.saturating_mul(input)),
            x,
            rest(w_hh, done.saturating_mul(hidden)),
            h,
            out.get_mut(done..).unwrap_or(&mut []),
        )
    }
    /// The input parts, then one pass over `h` for the three recurrent
    /// parts (one load of `h[k]` for three multiply-adds).
    #[inline]
    fn rows3(acc: [f32; 3], w_x: [&[f32]; 3], x: &[f32], w_h: [&[f32]; 3], h: &[f32]) -> [f32; 3] {
        let ([a0, a1, a2], [x0, x1, x2]) = (acc, w_x);
        let acc = [
            f32::dot(a0, x0, x),
            f32::dot(a1, x1, x),
            f32::dot(a2, x2, x),
        ];
        f32_dot3(acc, w_h, h)
    }
    fn is_valid(self) -> bool {
        self.is_finite()
    }

    type Cell = f32;
    const CELL_ZERO: f32 = 0.0;
    #[inline]
    fn cell_from_f32(x: f32) -> f32 {
        Self::from_f32(x)
    }
    #[inline]
    fn cell_to_f32(c: f32) -> f32 {
        c
    }
    #[inline]
    fn cell_update(f: f32, c: f32, i: f32, g: f32) -> f32 {
        f * c + i * g
    }
    #[inline]
    fn cell_narrow(c: f32) -> f32 {
        c
    }
}

/// The recurrent parts of [`Scalar::rows3`] for `f32`: `dot(acc[i], w[i],
/// x)` for every `i`, in one pass over `x`. Not inlined: with the lengths
/// known at compile time LLVM unrolls the loops completely and schedules the
/// loads of the three rows across the caller's activation calls, spilling
/// most of them (about twice the instructions); as a function it is a tight
/// loop.
#[inline(never)]
fn f32_dot3(acc: [f32; 3], w: [&[f32]; 3], x: &[f32]) -> [f32; 3] {
    let ([mut a0, mut a1, mut a2], [w0, w1, w2]) = (acc, w);
    let n = x.len().min(w0.len()).min(w1.len()).min(w2.len());
    // Blocks of 4 (fewer address updates and loop tests), then the tail.
    let blocks = |v| row(v, 0, n).chunks_exact(4);
    let (xb, b0, b1, b2) = (blocks(x), blocks(w0), blocks(w1), blocks(w2));
    let (xt, t0, t1, t2) = (
        xb.remainder(),
        b0.remainder(),
        b1.remainder(),
        b2.remainder(),
    );
    for (((x, w0), w1), w2) in xb.zip(b0).zip(b1).zip(b2) {
        for (((&x, &w0), &w1), &w2) in x.iter().zip(w0).zip(w1).zip(w2) {
            a0 += w0 * x;
            a1 += w1 * x;
            a2 += w2 * x;
        }
    }
    for (((&x, &w0), &w1), &w2) in xt.iter().zip(t0).zip(t1).zip(t2) {
        a0 += w0 * x;
        a1 += w1 * x;
        a2 += w2 * x;
    }
    // The rest of a longer row (only with rows of different lengths).
    let x = rest(x, n);
    [
        f32::dot(a0, rest(w0, n), x),
        f32::dot(a1, rest(w1, n), x),
        f32::dot(a2, rest(w2, n), x),
    ]
}

/// Rounds `x · 2^frac` to the nearest integer and saturates it into `[min, max]`.
#[inline]
fn f32_to_bits(x: f32, frac: u32, min: i64, max: i64) -> i64 {
    if x.is_nan() {
        return 0;
    }
    // Scaling by a power of two is exact in f32 (no f64 on the hot path).
    let scaled = libm::roundf(x * (1u32 << frac) as f32);
    if scaled >= max as f32 {
        max
    } else if scaled <= min as f32 {
        min
    } else {
        scaled as i64
    }
}

#[inline]
pub(crate) fn sat_i16(x: i64) -> i16 {
    if x > i16::MAX as i64 {
        i16::MAX
    } else if x < i16::MIN as i64 {
        i16::MIN
    } else {
        x as i16
    }
}

#[inline]
fn sat_i32(x: i64) -> i32 {
    // Compare the low word's sign extension with `x`, rather than two
    // 64-bit comparisons: fewer instructions on 32-bit cores.
    let low = x as i32;
    if i64::from(low) == x {
        low
    } else if x < 0 {
        i32::MIN
    } else {
        i32::MAX
    }
}

impl Scalar for Q4_12 {
    /// Q40.24 in an `i64`.
    type Acc = i64;
    const FORMAT: NumberFormat = NumberFormat::Q4_12;
    const ZERO: Self = Q4_12::ZERO;
    const ONE: Self = Q4_12::from_bits(1 << 12);
    const MAX: Self = Q4_12::MAX;
    const MIN: Self = Q4_12::MIN;

    #[inline]
    fn from_f32(x: f32) -> Self {
        Q4_12::from_bits(f32_to_bits(x, 12, i16::MIN as i64, i16::MAX as i64) as i16)
    }
    #[inline]
    fn to_f32(self) -> f32 {
        self.to_bits() as f32 / 4096.0
    }
    #[inline]
    fn to_acc(self) -> i64 {
        (self.to_bits() as i64) << 12
    }
    #[inline]
    fn mac(acc: i64, a: Self, b: Self) -> i64 {
        // |a·b| ≤ 2^30 is exact in an i32; the sum saturates (never wraps).
        acc.saturating_add((a.to_bits() as i32 * b.to_bits() as i32) as i64)
    }
    /// Sums the products exactly in an `i64`; only the final addition to
    /// `acc` saturates. On `thumbv7em` (Cortex-M4/M7) two products per
    /// `SMLALD` instruction, with the same result.
    #[inline]
    fn dot(acc: i64, w: &[Self], x: &[Self]) -> i64 {
        #[cfg(lstm_arm_dsp)]
        {
            // `SMLALD`: the same exact sum (lengths < 2^31 on this target).
            acc.saturating_add(dsp::dot(w, x))
        }
        #[cfg(not(lstm_arm_dsp))]
        {
            q12_dot_portable(acc, w, x)
        }
    }
    #[cfg(lstm_arm_dsp)]
    const BATCHED_ROWS: bool = true;
    #[cfg(lstm_arm_dsp)]
    #[inline]
    fn gate_rows(
        bias: &[Self],
        w_ih: &[Self],
        x: &[Self],
        w_hh: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) {
        if !dsp::gate_rows(bias, w_ih, x, w_hh, h, out) {
            gate_rows_portable(bias, w_ih, x, w_hh, h, out)
        }
    }
    #[cfg(lstm_thumb1)]
    const BATCHED_ROWS: bool = true;
    /// On the Cortex-M0, row pairs by the Thumb-1 kernel (32-bit sums,
    /// overflow detected, the portable code otherwise and for the rest).
    #[cfg(lstm_thumb1)]
    #[inline]
    fn gate_rows(
        bias: &[Self],
        w_ih: &[Self],
        x: &[Self],
        w_hh: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) {
        let done = thumb1::gate_rows(bias, w_ih, x, w_hh, h, out);
        let (input, hidden) = (x.len(), h.len());
        gate_rows_portable(
            rest(bias, done),
            rest(w_ih, done.saturating_mul(input)),
            x,
            rest(w_hh, done.saturating_mul(hidden)),
            h,
            out.get_mut(done..).unwrap_or(&mut []),
        )
    }
    const FORMAT_W8: Option<NumberFormat> = Some(NumberFormat::Q4_12W8);
    #[inline]
    fn pre_w8(bias: Self, shift: u8, w_x: &[i8], x: &[Self], w_h: &[i8], h: &[Self]) -> Self {
        crate::w8::pre(bias, shift, w_x, x, w_h, h)
    }
    #[inline]
    fn w8_rows(
        first: usize,
        bias: &[Self],
        shift: &[u8],
        w_x: &[u8],
        x: &[Self],
        w_h: &[u8],
        h: &[Self],
        out: &mut [Self],
    ) {
        crate::w8::rows(first, bias, shift, w_x, x, w_h, h, out)
    }
    #[inline]
    fn from_acc(acc: i64) -> Self {
        // (acc + 2^11) >> 12 without overflow at i64::MAX.
        Q4_12::from_bits(sat_i16((acc >> 12) + ((acc >> 11) & 1)))
    }
    /// `from_acc(mac(0, a, b))`, in 32-bit arithmetic: the product
    /// (`|a·b| ≤ 2^30`) and its rounded shift fit in an `i32`.
    #[inline]
    fn mul(self, other: Self) -> Self {
        let p = self.to_bits() as i32 * other.to_bits() as i32;
        let r = (p >> 12) + ((p >> 11) & 1);
        Q4_12::from_bits(r.clamp(i16::MIN as i32, i16::MAX as i32) as i16)
    }
    #[inline]
    fn add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
    /// `|z·(h − n)| ≤ 2^15 · (2^16 − 1) < 2^31` is exact in an `i32`; the
    /// sum with `n` (Q.24, `|n·2^12| ≤ 2^27`) too unless it overflows
    /// (possible only for `|z| > 7.5`, never for a sigmoid's `z`), else in
    /// an `i64`; then rounded like [`Scalar::from_acc`]. The same result
    /// (and rounding) either way.
    #[inline]
    fn blend(z: Self, h: Self, n: Self) -> Self {
        let d = i32::from(h.to_bits()) - i32::from(n.to_bits());
        let p = i32::from(z.to_bits()) * d;
        let n24 = i32::from(n.to_bits()) << 12;
        match p.checked_add(n24) {
            Some(s) => q12_narrow_i32(s),
            None => Self::from_acc(i64::from(n24) + i64::from(p)),
        }
    }
    #[cfg(lstm_arm_dsp)]
    const SHORT_INPUT: usize = SHORT_INPUT;
    #[cfg(lstm_arm_dsp)]
    #[inline]
    fn bias_dot(bias: Self, w: &[Self], x: &[Self]) -> Self {
        if x.len() <= SHORT_INPUT {
            // Short rows in Rust, inlined: the call of the `SMLALD` kernel
            // costs more than a few multiply-adds.
            q12_bias_dot(bias, w, x)
        } else {
            Self::from_acc(Self::dot(bias.to_acc(), w, x))
        }
    }

    /// Q20.12 in an `i32`.
    type Cell = Q20_12;
    const CELL_ZERO: Q20_12 = Q20_12::ZERO;
    #[inline]
    fn cell_from_f32(x: f32) -> Q20_12 {
        Q20_12::from_bits(f32_to_bits(x, 12, i32::MIN as i64, i32::MAX as i64) as i32)
    }
    #[inline]
    fn cell_to_f32(c: Q20_12) -> f32 {
        (c.to_bits() as f64 / 4096.0) as f32
    }
    /// `f·c` is exact in an `i64` (`|f·c| < 2^46`) and rounded like
    /// [`Scalar::mul`]; `i·g` is [`Scalar::mul`]; the sum saturates in the
    /// `i32`. Adding the rounded `i·g` (a whole number of LSBs) before the
    /// rounding shift of `f·c` gives the same sum in one multiply-accumulate.
    #[inline]
    fn cell_update(f: Self, c: Q20_12, i: Self, g: Self) -> Q20_12 {
        // |i·g| ≤ 2^15 LSBs, so `ig << 12` fits in an `i32`.
        let ig = (i32::from(i.mul(g).to_bits()) << 12) | (1 << 11);
        // While `c` fits in 16 bits (|c| < 8, the common case) the same sum
        // fits in an `i32` (|f·c| ≤ 2^30, |ig| ≤ 2^27 + 2^11): cheaper than
        // the 64-bit product on the Cortex-M4 (`SMLAL`) and much cheaper on
        // the Cortex-M0 (a library call). Same result either way.
        if let Ok(c16) = i16::try_from(c.to_bits()) {
            return Q20_12::from_bits((i32::from(f.to_bits()) * i32::from(c16) + ig) >> 12);
        }
        let acc = i64::from(ig) + i64::from(f.to_bits()) * i64::from(c.to_bits());
        Q20_12::from_bits(sat_i32(acc >> 12))
    }
    #[inline]
    fn cell_narrow(c: Q20_12) -> Self {
        Q4_12::from_bits(c.to_bits().clamp(i16::MIN as i32, i16::MAX as i32) as i16)
    }
}

/// [`Scalar::from_acc`] for Q4.12 of an accumulator that fits in an `i32`:
/// `(acc + 2^11) >> 12` (without overflow), saturated.
#[inline]
fn q12_narrow_i32(acc: i32) -> Q4_12 {
    let r = (acc >> 12) + ((acc >> 11) & 1);
    Q4_12::from_bits(r.clamp(i16::MIN as i32, i16::MAX as i32) as i16)
}

/// [`Scalar::from_acc`] for Q4.12, in 32-bit arithmetic when the
/// accumulator fits in an `i32` (the same result, fewer instructions).
#[cfg_attr(not(lstm_arm_dsp), allow(dead_code))]
#[inline]
fn q12_narrow(acc: i64) -> Q4_12 {
    match i32::try_from(acc) {
        Ok(a) => q12_narrow_i32(a),
        Err(_) => Q4_12::from_acc(acc),
    }
}

/// Inputs up to this length take [`q12_bias_dot`] rather than the kernel
/// (whose per-call and per-row overheads, like a call of [`dsp::dot`], cost
/// more than a few multiply-adds).
#[cfg(lstm_arm_dsp)]
const SHORT_INPUT: usize = 4;

/// [`Scalar::bias_dot`] for Q4.12 in Rust, for `x.len() <= SHORT_INPUT`:
/// the products summed exactly in an `i64` (as [`Q4_12::dot`] does) onto
/// the bias, then rounded once.
#[cfg(lstm_arm_dsp)]
#[inline]
fn q12_bias_dot(bias: Q4_12, w: &[Q4_12], x: &[Q4_12]) -> Q4_12 {
    // |bias| ≤ 2^27 and |sum| ≤ SHORT_INPUT · 2^30: no overflow, so the
    // same as `dot`'s saturating addition.
    q12_narrow(bias.to_acc() + q12_sum(w, x))
}

/// `Σ w[k]·x[k]` over the common length, exact in an `i64` (lengths below
/// 2^33; used for short rows only).
#[cfg(lstm_arm_dsp)]
#[inline]
fn q12_sum(w: &[Q4_12], x: &[Q4_12]) -> i64 {
    w.iter()
        .zip(x)
        .map(|(w, x)| i64::from(i32::from(w.to_bits()) * i32::from(x.to_bits())))
        .sum()
}

/// The portable Q4.12 dot product: sums the products in a plain `i64`,
/// which cannot overflow (each product is at most 2^30 in magnitude and
/// there are at most 2^32 of them); only the final addition to `acc`
/// saturates. Used on every target without the `SMLALD` kernel, whose
/// results it defines.
#[cfg_attr(lstm_arm_dsp, allow(dead_code))]
#[inline]
fn q12_dot_portable(acc: i64, w: &[Q4_12], x: &[Q4_12]) -> i64 {
    if w.len() as u64 > 1 << 32 {
        return w
            .iter()
            .zip(x.iter())
            .fold(acc, |a, (&w, &x)| Q4_12::mac(a, w, x));
    }
    let sum: i64 = w
        .iter()
        .zip(x.iter())
        .map(|(w, x)| (w.to_bits() as i32 * x.to_bits() as i32) as i64)
        .sum();
    acc.saturating_add(sum)
}

impl Scalar for Q16_16 {
    /// Q32.32 in an `i64`.
    type Acc = i64;
    const FORMAT: NumberFormat = NumberFormat::Q16_16;
    const ZERO: Self = Q16_16::ZERO;
    const ONE: Self = Q16_16::ONE;
    const MAX: Self = Q16_16::MAX;
    const MIN: Self = Q16_16::MIN;

    #[inline]
    fn from_f32(x: f32) -> Self {
        Q16_16::from_bits(f32_to_bits(x, 16, i32::MIN as i64, i32::MAX as i64) as i32)
    }
    #[inline]
    fn to_f32(self) -> f32 {
        (self.to_bits() as f64 / 65536.0) as f32
    }
    #[inline]
    fn to_acc(self) -> i64 {
        (self.to_bits() as i64) << 16
    }
    #[inline]
    fn mac(acc: i64, a: Self, b: Self) -> i64 {
        // |a·b| ≤ 2^62: the product itself never overflows an i64.
        acc.saturating_add(a.to_bits() as i64 * b.to_bits() as i64)
    }
    const BATCHED_ROWS: bool = true;
    /// When every value of `x` and `h` lies within ±16 (`|bits| ≤ 2^20`)
    /// and a row has at most 2048 of them, no partial sum can saturate
    /// (`|w·v| ≤ 2^51`, `2^11` of them and the bias's `2^47` stay below
    /// `2^63`), so each row is a plain `i64` sum (`SMLAL` on the
    /// Cortex-M4), the same value as the saturating one. Otherwise, the
    /// portable code.
    #[inline]
    fn gate_rows(
        bias: &[Self],
        w_ih: &[Self],
        x: &[Self],
        w_hh: &[Self],
        h: &[Self],
        out: &mut [Self],
    ) {
        let small = |v: &[Self]| v.iter().all(|v| v.to_bits().unsigned_abs() <= 1 << 20);
        if x.len() + h.len() > 2048 || !small(x) || !small(h) {
            return gate_rows_portable(bias, w_ih, x, w_hh, h, out);
        }
        let (input, hidden) = (x.len(), h.len());
        let plain = |acc: i64, w: &[Self], v: &[Self]| {
            w.iter().zip(v).fold(acc, |a, (w, v)| {
                a + i64::from(w.to_bits()) * i64::from(v.to_bits())
            })
        };
        for (r, o) in out.iter_mut().enumerate() {
            let acc = bias.get(r).map_or(0, |b| b.to_acc());
            let acc = plain(acc, row(w_ih, r.saturating_mul(input), input), x);
            *o = Self::from_acc(plain(acc, row(w_hh, r.saturating_mul(hidden), hidden), h));
        }
    }
    #[inline]
    fn from_acc(acc: i64) -> Self {
        // (acc + 2^15) >> 16 without overflow at i64::MAX.
        let shifted = (acc >> 16) + ((acc >> 15) & 1);
        Q16_16::from_bits(sat_i32(shifted))
    }
    #[inline]
    fn mul(self, other: Self) -> Self {
        Self::from_acc(Self::mac(0, self, other))
    }
    #[inline]
    fn add(self, other: Self) -> Self {
        self.saturating_add(other)
    }
    /// `h − n` is exact in an `i64` (33 bits); the product with `z`
    /// saturates only where the exact result saturates anyway (it is then
    /// at least 2^63 in magnitude, and `|n| < 2^47` in Q.32).
    #[inline]
    fn blend(z: Self, h: Self, n: Self) -> Self {
        let d = i64::from(h.to_bits()) - i64::from(n.to_bits());
        let p = i64::from(z.to_bits()).saturating_mul(d);
        Self::from_acc(n.to_acc().saturating_add(p))
    }

    type Cell = Q16_16;
    const CELL_ZERO: Q16_16 = Q16_16::ZERO;
    #[inline]
    fn cell_from_f32(x: f32) -> Q16_16 {
        Self::from_f32(x)
    }
    #[inline]
    fn cell_to_f32(c: Q16_16) -> f32 {
        c.to_f32()
    }
    #[inline]
    fn cell_update(f: Self, c: Q16_16, i: Self, g: Self) -> Q16_16 {
        f.mul(c).add(i.mul(g))
    }
    #[inline]
    fn cell_narrow(c: Q16_16) -> Self {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Q4_12::mul` in 32-bit arithmetic equals `from_acc(mac(0, a, b))`.
    #[test]
    fn q4_12_mul_equals_from_acc_of_mac() {
        let values = (i16::MIN..=i16::MAX).step_by(97).chain([
            i16::MIN,
            i16::MIN + 1,
            -1,
            0,
            1,
            2047,
            2048,
            i16::MAX,
        ]);
        for a in values.clone() {
            for b in values.clone() {
                let (a, b) = (Q4_12::from_bits(a), Q4_12::from_bits(b));
                assert_eq!(a.mul(b), Q4_12::from_acc(Q4_12::mac(0, a, b)), "{a} * {b}");
            }
        }
    }

    /// `Q4_12::blend` (32-bit with a 64-bit fallback) equals its definition,
    /// `from_acc(n·2^12 + z·(h − n))` in an `i64`, including `|z| > 1`
    /// (where the 32-bit sum overflows).
    #[test]
    fn q4_12_blend_equals_i64_definition() {
        let values = (i16::MIN..=i16::MAX).step_by(251).chain([
            i16::MIN,
            i16::MIN + 1,
            -4096,
            -1,
            0,
            1,
            2047,
            2048,
            4096,
            i16::MAX,
        ]);
        for z in values.clone() {
            for h in values.clone() {
                for n in values.clone().step_by(7) {
                    let (zq, hq, nq) = (
                        Q4_12::from_bits(z),
                        Q4_12::from_bits(h),
                        Q4_12::from_bits(n),
                    );
                    let want = Q4_12::from_acc(
                        (i64::from(n) << 12) + i64::from(z) * (i64::from(h) - i64::from(n)),
                    );
                    assert_eq!(Q4_12::blend(zq, hq, nq), want, "z {z}, h {h}, n {n}");
                }
            }
        }
    }

    /// `f32`'s one-pass `rows3` equals the default (row by row), bit for
    /// bit, also with rows of different lengths.
    #[test]
    fn f32_rows3_equals_row_by_row() {
        let v = |k: usize| ((k * 7919 % 1000) as f32 - 500.0) * 1.37e-3;
        let w: [f32; 64] = core::array::from_fn(|k| v(k + 3));
        let x: [f32; 3] = core::array::from_fn(|k| v(k + 101));
        let h: [f32; 11] = core::array::from_fn(|k| v(k + 1001));
        for (l0, l1, l2, lh) in [
            (11, 11, 11, 11),
            (9, 11, 10, 11),
            (11, 3, 0, 11),
            (5, 5, 5, 4),
            (0, 0, 0, 0),
        ] {
            let acc = [0.25, -1.5, 3.0];
            let w_x = [&w[0..3], &w[3..5], &w[..0]];
            let w_h = [&w[10..10 + l0], &w[30..30 + l1], &w[50..50 + l2]];
            let got = f32::rows3(acc, w_x, &x, w_h, &h[..lh]);
            let want: [f32; 3] =
                core::array::from_fn(|i| f32::dot(f32::dot(acc[i], w_x[i], &x), w_h[i], &h[..lh]));
            assert_eq!(
                got.map(f32::to_bits),
                want.map(f32::to_bits),
                "{l0} {l1} {l2} {lh}"
            );
        }
    }

    /// Q16.16's `gate_rows` (plain sums when nothing can saturate) equals
    /// the row-by-row saturating definition, with values inside and outside
    /// its ±16 bound and at the format's limits.
    #[test]
    fn q16_16_gate_rows_matches_definition() {
        let mut seed = 0x9e37_79b9u32;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for case in 0..400 {
            let (nx, nh, rows) = (case % 5, (case / 5) % 9, 1 + case % 7);
            let mut v = |k: u32| {
                let r = next() as i32;
                Q16_16::from_bits(match (case / 45) % 4 {
                    0 => r >> (k % 12),
                    1 => r >> 11,
                    2 => [i32::MIN, i32::MAX, r][k as usize % 3],
                    _ => r,
                })
            };
            let bias: std::vec::Vec<Q16_16> = (0..rows as u32).map(&mut v).collect();
            let w_ih: std::vec::Vec<Q16_16> = (0..(rows * nx) as u32).map(&mut v).collect();
            let w_hh: std::vec::Vec<Q16_16> = (0..(rows * nh) as u32).map(&mut v).collect();
            let x: std::vec::Vec<Q16_16> = (0..nx as u32).map(&mut v).collect();
            let h: std::vec::Vec<Q16_16> = (0..nh as u32).map(&mut v).collect();
            let mut out = std::vec![Q16_16::ZERO; rows];
            Q16_16::gate_rows(&bias, &w_ih, &x, &w_hh, &h, &mut out);
            for (r, &got) in out.iter().enumerate() {
                let acc = bias[r].to_acc();
                let acc = w_ih[r * nx..(r + 1) * nx]
                    .iter()
                    .zip(&x)
                    .fold(acc, |a, (&w, &x)| Q16_16::mac(a, w, x));
                let acc = w_hh[r * nh..(r + 1) * nh]
                    .iter()
                    .zip(&h)
                    .fold(acc, |a, (&w, &h)| Q16_16::mac(a, w, h));
                assert_eq!(got, Q16_16::from_acc(acc), "case {case}, row {r}");
            }
        }
    }

    /// The default and the (possibly batched) `gate_rows` agree with the
    /// row-by-row definition, including missing rows and biases.
    #[test]
    fn gate_rows_matches_definition() {
        let v = |k: usize| Q4_12::from_bits(((k * 7919) % 65536) as u16 as i16);
        let bias: [Q4_12; 5] = core::array::from_fn(v);
        let w_ih: [Q4_12; 13] = core::array::from_fn(|k| v(k + 11));
        let w_hh: [Q4_12; 40] = core::array::from_fn(|k| v(k + 101));
        let x = [v(3), v(4), v(5)];
        let h: [Q4_12; 8] = core::array::from_fn(|k| v(k + 1001));
        for rows in 0..6 {
            for (nx, nh) in [(0, 0), (1, 8), (3, 8), (3, 7), (2, 6), (0, 8), (3, 0)] {
                let mut out = [Q4_12::ZERO; 6];
                Q4_12::gate_rows(&bias, &w_ih, &x[..nx], &w_hh, &h[..nh], &mut out[..rows]);
                for (r, &got) in out[..rows].iter().enumerate() {
                    let acc = bias.get(r).map_or(0, |b| b.to_acc());
                    let acc = Q4_12::dot(acc, row(&w_ih, r * nx, nx), &x[..nx]);
                    let want = Q4_12::from_acc(Q4_12::dot(acc, row(&w_hh, r * nh, nh), &h[..nh]));
                    assert_eq!(got, want, "rows {rows}, in {nx}, hidden {nh}, row {r}");
                }
            }
        }
    }
}
