//! Fixed-point arithmetic against f64: saturation, rounding, error bounds.

use lstm_core::num::{Scalar, Q16_16, Q4_12};
use proptest::prelude::*;

/// Exact value of a fixed-point number.
fn q12(x: Q4_12) -> f64 {
    x.to_bits() as f64 / 4096.0
}
fn q16(x: Q16_16) -> f64 {
    x.to_bits() as f64 / 65536.0
}

/// f64 result saturated into the format's range.
fn clamp(v: f64, lo: f64, hi: f64) -> f64 {
    v.clamp(lo, hi)
}

const Q12_LSB: f64 = 1.0 / 4096.0;
const Q16_LSB: f64 = 1.0 / 65536.0;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn q4_12_add_mul_saturate_and_round(a in any::<i16>(), b in any::<i16>()) {
        let (x, y) = (Q4_12::from_bits(a), Q4_12::from_bits(b));
        let (lo, hi) = (q12(Q4_12::MIN), q12(Q4_12::MAX));
        // Sum: exact unless saturated.
        prop_assert_eq!(q12(x.add(y)), clamp(q12(x) + q12(y), lo, hi));
        // Product: within half an LSB of the saturated exact product.
        let exact = clamp(q12(x) * q12(y), lo, hi);
        prop_assert!((q12(x.mul(y)) - exact).abs() <= Q12_LSB / 2.0, "{} * {}", q12(x), q12(y));
    }

    #[test]
    fn q16_16_add_mul_saturate_and_round(a in any::<i32>(), b in any::<i32>()) {
        let (x, y) = (Q16_16::from_bits(a), Q16_16::from_bits(b));
        let (lo, hi) = (q16(Q16_16::MIN), q16(Q16_16::MAX));
        prop_assert_eq!(q16(x.add(y)), clamp(q16(x) + q16(y), lo, hi));
        let exact = clamp(q16(x) * q16(y), lo, hi);
        prop_assert!((q16(x.mul(y)) - exact).abs() <= Q16_LSB / 2.0 + 1e-12, "{} * {}", q16(x), q16(y));
    }

    #[test]
    fn q4_12_dot_product_is_exact_then_rounds_and_saturates_once(
        w in proptest::array::uniform16(any::<i16>()),
        x in proptest::array::uniform16(any::<i16>()),
        bias in any::<i16>(),
    ) {
        let w = w.map(Q4_12::from_bits);
        let x = x.map(Q4_12::from_bits);
        let b = Q4_12::from_bits(bias);
        let got = Q4_12::from_acc(Q4_12::dot(b.to_acc(), &w, &x));
        // Reference: the exact sum in f64 (exact: at most 2^36 in units of 2^-24),
        // rounded and saturated once.
        let acc: f64 = q12(b) + w.iter().zip(x.iter()).map(|(w, x)| q12(*w) * q12(*x)).sum::<f64>();
        let expected = clamp(acc, q12(Q4_12::MIN), q12(Q4_12::MAX));
        prop_assert!((q12(got) - expected).abs() <= Q12_LSB / 2.0);
    }

    #[test]
    fn from_f32_rounds_to_nearest_and_saturates(v in any::<f32>()) {
        let q = Q4_12::from_f32(v);
        let r = Q16_16::from_f32(v);
        if v.is_nan() {
            prop_assert_eq!(q, Q4_12::ZERO);
            prop_assert_eq!(r, Q16_16::ZERO);
        } else {
            let e12 = clamp(v as f64, q12(Q4_12::MIN), q12(Q4_12::MAX));
            prop_assert!((q12(q) - e12).abs() <= Q12_LSB / 2.0);
            let e16 = clamp(v as f64, q16(Q16_16::MIN), q16(Q16_16::MAX));
            // f32 itself has only 24 bits of mantissa, so large values are exact in f32 but
            // may round in Q16.16 by at most half an LSB.
            prop_assert!((q16(r) - e16).abs() <= Q16_LSB / 2.0 + e16.abs() * 1e-7);
        }
    }
}

#[test]
fn corner_values_saturate_without_panicking() {
    let min = Q4_12::MIN;
    let max = Q4_12::MAX;
    assert_eq!(min.mul(min), max, "(-8)·(-8) saturates to the maximum");
    assert_eq!(min.add(min), min);
    assert_eq!(max.add(max), max);
    assert_eq!(Q4_12::from_acc(i64::MIN), min);
    assert_eq!(Q4_12::from_acc(i64::MAX), max);
    assert_eq!(Q4_12::mac(i64::MAX, max, max), i64::MAX);
    assert_eq!(Q4_12::mac(i64::MIN, min, max), i64::MIN);
    assert_eq!(Q16_16::MIN.mul(Q16_16::MIN), Q16_16::MAX);
    assert_eq!(Q16_16::from_acc(i64::MIN), Q16_16::MIN);
    assert_eq!(Q16_16::from_acc(i64::MAX), Q16_16::MAX);
    assert_eq!(Q16_16::mac(i64::MAX, Q16_16::MAX, Q16_16::MAX), i64::MAX);
    assert_eq!(Q4_12::from_f32(f32::INFINITY), max);
    assert_eq!(Q4_12::from_f32(f32::NEG_INFINITY), min);
}

/// Exact value of a Q4.12 layer's cell state.
fn q20(c: <Q4_12 as Scalar>::Cell) -> f64 {
    c.to_bits() as f64 / 4096.0
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    /// The Q4.12 cell update `f·c + i·g` is within one LSB of the exact
    /// value (two rounded products), saturated at the cell's range, and equals
    /// the update in plain Q4.12 arithmetic whenever that does not saturate.
    #[test]
    fn q4_12_cell_update_is_exact_to_rounding(
        f in any::<i16>(), c in prop_oneof![-(1i32 << 24)..(1i32 << 24), any::<i32>()], i in any::<i16>(), g in any::<i16>(),
    ) {
        let (f, i, g) = (Q4_12::from_bits(f), Q4_12::from_bits(i), Q4_12::from_bits(g));
        let cell = lstm_core::Q20_12::from_bits(c);
        let got = q20(Q4_12::cell_update(f, cell, i, g));
        let exact = q12(f) * q20(cell) + clamp(q12(i) * q12(g), -8.0, 8.0 - Q12_LSB);
        let exact = clamp(exact, -524_288.0, 524_288.0 - Q12_LSB);
        prop_assert!((got - exact).abs() <= Q12_LSB, "{} * {} + {} * {}", q12(f), q20(cell), q12(i), q12(g));
        if let Ok(c16) = i16::try_from(c) {
            let narrow = f.mul(Q4_12::from_bits(c16)).add(i.mul(g));
            let lo_hi = q12(Q4_12::MIN)..=q12(Q4_12::MAX);
            if lo_hi.contains(&exact) && lo_hi.contains(&(q12(f) * q20(cell))) {
                prop_assert_eq!(q12(narrow), got);
            }
        }
        prop_assert_eq!(Q4_12::cell_narrow(Q4_12::cell_update(f, cell, i, g)),
            Q4_12::from_f32(got as f32));
    }
}

/// The cell saturates at its own limits, never wraps.
#[test]
fn q4_12_cell_saturates() {
    let max = Q4_12::cell_from_f32(f32::INFINITY);
    assert_eq!(max.to_bits(), i32::MAX);
    assert_eq!(Q4_12::cell_from_f32(f32::NEG_INFINITY).to_bits(), i32::MIN);
    assert_eq!(Q4_12::cell_from_f32(f32::NAN).to_bits(), 0);
    let (one, big) = (Q4_12::ONE, Q4_12::MAX);
    assert_eq!(Q4_12::cell_update(big, max, big, big), max);
    assert_eq!(
        Q4_12::cell_update(Q4_12::MIN, max, Q4_12::MIN, big).to_bits(),
        i32::MIN
    );
    assert_eq!(
        Q4_12::cell_update(one, Q4_12::CELL_ZERO, one, one),
        Q4_12::cell_from_f32(1.0)
    );
}
