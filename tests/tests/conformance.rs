//! Conformance of `lstm-core` with PyTorch: every reference case in
//! `<workspace>/../shared/reference/*.json` (LSTM) and
//! `<workspace>/../shared/reference/gru/*.json` (GRU) and, when
//! `LSTM_REFERENCE_DIR` is set, every `*.json` in that folder (tests prefixed
//! `env_`; LSTM or GRU by the case's `"cell"` key), in every number format
//! and activation variant, within the same bounds for both cells.
//!
//! `build.rs` generates one test per case (the case's dimensions become const
//! generics of the model type); each test runs every batch element as its own
//! stream from the case's `h0`/`c0` through all steps and compares `outputs`,
//! `hidden`, `h_n` and `c_n` within the variant's bound below, and checks that
//! the model loaded from a model file in that format gives bit-identical
//! results, as does `DynModel` over the same file; and `DynModel` over the
//! case written with 8-bit weights (`q4.12-w8`) within its own bound. Run with `-- --nocapture`
//! to see the measured errors.

use lstm_core::{Exact, Fast, Q16_16, Q4_12};
use tests::conformance::{CaseRun, Variant};

// Largest absolute error allowed on every compared value (outputs, hidden,
// h_n, c_n), per format and activation variant. The fixed-point and fast
// bounds are about 1.7–2x the largest error measured over the shared cases
// (noted per constant; the max over outputs, hidden, h_n and c_n).

/// `f32` with exact activations: the reference's own tolerance (measured max 9.7e-8).
const BOUND_F32_EXACT: f64 = 1e-5;
/// `f32` with fast activations (measured max 5.6e-4).
const BOUND_F32_FAST: f64 = 1e-3;
/// Q4.12 with exact activations (measured max 4.8e-4).
const BOUND_Q4_12_EXACT: f64 = 8e-4;
/// Q4.12 with fast (table) activations (measured max 5.3e-4).
const BOUND_Q4_12_FAST: f64 = 1e-3;
/// Q4.12 activations with 8-bit weights (`q4.12-w8`, `DynModel` over the
/// file), exact activations (measured max 4.3e-3, `gru_i2_h8_l1_t20`'s
/// hidden state). About 9x Q4.12's: each weight is off by up to half a
/// step of its row, `2^-8` to `2^-7` of the row's largest `|w|`, against
/// Q4.12's fixed `2^-13`, and a recurrent layer carries the error on.
const BOUND_Q4_12_W8_EXACT: f64 = 8e-3;
/// The same with fast activations (measured max 4.3e-3).
const BOUND_Q4_12_W8_FAST: f64 = 8e-3;
/// Q16.16 with exact activations (measured max 3.5e-5).
const BOUND_Q16_16_EXACT: f64 = 6e-5;
/// Q16.16 with fast (table) activations (measured max 1.3e-4).
const BOUND_Q16_16_FAST: f64 = 2.5e-4;

/// Checks the case `$name` stored at `$path` with `$model<T, A>` (inputs
/// `$in`, outputs `$out`) in every format and activation variant.
macro_rules! check_case {
    ($name:expr, $path:expr, $model:ident, $in:literal, $out:literal) => {{
        let mut run = CaseRun::load($name, $path);
        run.check::<f32, Exact, $model<f32, Exact>, $in, $out>(Variant::new(
            "exact",
            BOUND_F32_EXACT,
        ));
        run.check::<f32, Fast, $model<f32, Fast>, $in, $out>(Variant::new("fast", BOUND_F32_FAST));
        run.check::<Q4_12, Exact, $model<Q4_12, Exact>, $in, $out>(Variant::new(
            "exact",
            BOUND_Q4_12_EXACT,
        ));
        run.check::<Q4_12, Fast, $model<Q4_12, Fast>, $in, $out>(Variant::new(
            "fast",
            BOUND_Q4_12_FAST,
        ));
        run.check_w8::<Exact>(Variant::new("exact", BOUND_Q4_12_W8_EXACT));
        run.check_w8::<Fast>(Variant::new("fast", BOUND_Q4_12_W8_FAST));
        run.check::<Q16_16, Exact, $model<Q16_16, Exact>, $in, $out>(Variant::new(
            "exact",
            BOUND_Q16_16_EXACT,
        ));
        run.check::<Q16_16, Fast, $model<Q16_16, Fast>, $in, $out>(Variant::new(
            "fast",
            BOUND_Q16_16_FAST,
        ));
        run.finish();
    }};
}

include!(concat!(env!("OUT_DIR"), "/generated.rs"));

/// Fails when the shared cases are missing, so that an empty or misplaced
/// folder cannot make the suite pass vacuously.
#[test]
fn reference_cases_found() {
    println!("shared reference folder {SHARED_DIR}: {SHARED_CASES:?}");
    if let Some(dir) = ENV_DIR {
        println!("LSTM_REFERENCE_DIR={dir}: {ENV_CASES:?}");
    }
    assert!(
        SHARED_DIR_ERROR.is_none(),
        "shared reference folder unreadable: {}",
        SHARED_DIR_ERROR.unwrap_or_default()
    );
    assert!(
        SHARED_CASES.len() >= 9,
        "expected at least 5 LSTM and 4 GRU reference cases in {SHARED_DIR} and its gru/, found {}: {SHARED_CASES:?}",
        SHARED_CASES.len()
    );
    let gru = SHARED_CASES
        .iter()
        .filter(|c| c.starts_with("gru_"))
        .count();
    assert!(gru >= 4, "expected at least 4 GRU cases, found {gru}");
}

/// Fails when `LSTM_REFERENCE_DIR` is set but names no readable folder of cases.
#[test]
fn reference_dir_env_is_usable() {
    if let Some(e) = ENV_DIR_ERROR {
        panic!("{e}");
    }
    for dup in ENV_DUPLICATES {
        println!("{dup} is a shared case, run once as such");
    }
    if let Some(dir) = ENV_DIR {
        assert!(
            !ENV_CASES.is_empty() || !ENV_DUPLICATES.is_empty(),
            "LSTM_REFERENCE_DIR={dir} gave no case"
        );
    }
}
