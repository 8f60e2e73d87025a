//! Helpers shared by the integration tests that run the `lstm-train` binary
//! on a small trained model (`mod common;` in each).

#![allow(dead_code)] // each test binary uses its own subset

use std::path::Path;
use std::process::Command;

/// The CLI under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");

/// The shared monthly airline series (one value column).
pub const AIRLINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/forecasting/airline/data.csv"
);

/// `fit` of a tiny windowed model (W = 3, H = 2, one epoch) on the airline
/// series into `run`; panics with fit's stderr if it fails.
pub fn fit_airline_one_epoch(run: &Path) {
    let fit = Command::new(BIN)
        .args(["fit", "--data", AIRLINE, "--window", "3", "--hidden", "2"])
        .args(["--epochs", "1", "--quiet", "--out-dir"])
        .arg(run)
        .output()
        .expect("running lstm-train fit");
    assert!(
        fit.status.success(),
        "{}",
        String::from_utf8_lossy(&fit.stderr)
    );
}
