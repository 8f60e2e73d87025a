//! `eval --core` on valid model files whose header values are far larger
//! than the data: a clear error naming the cause, never an abort from an
//! allocation sized by the header.

mod common;
use common::{fit_airline_one_epoch, BIN};

use std::process::Command;

/// FORMAT.md's test vector (Q4.12, LSTM(1 -> 1), Dense(1 -> 1)) with the
/// mode changed to windowed, W = 4 294 967 295, CRC recomputed: a file
/// `lstm-core` accepts (80 bytes).
const HUGE_WINDOW: &str = "4c53544d02000000120000001c0000000102000101010101000001ffffffff0f00000000000000000000000000000000000800fc0002000400f80006001000f4000100000000000100200000d8681bb0";

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn eval_core_refuses_a_window_longer_than_the_data_without_allocating_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    fit_airline_one_epoch(&run);
    let file = dir.path().join("huge-window.lstm");
    std::fs::write(&file, hex(HUGE_WINDOW)).expect("write");
    let inspect = Command::new(BIN)
        .arg("inspect")
        .arg(&file)
        .output()
        .expect("inspect");
    assert!(
        inspect.status.success(),
        "lstm-core must accept the file: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );

    let out = Command::new(BIN)
        .arg("eval")
        .arg("--model")
        .arg(run.join("trained.json"))
        .arg("--core")
        .arg(&file)
        .output()
        .expect("eval");
    let err = String::from_utf8_lossy(&out.stderr);
    // An abort (SIGABRT) has no exit code; a clean refusal exits 1.
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("cannot evaluate"), "{err}");
    assert!(err.contains("no full window of 4294967295 inputs"), "{err}");
    assert!(!err.contains("cannot export"), "{err}");
}
