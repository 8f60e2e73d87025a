//! A model file whose outputs cannot be finite (valid CRC, every check of
//! `lstm-core` passed) is refused by `predict`: exit code 1, a message
//! counting the outputs that are not finite, and no output file — never
//! `inf` with exit code 0.

mod common;
use common::{fit_airline_one_epoch, BIN};

use std::path::Path;
use std::process::Command;

use lstm_core::file::{to_vec, Differencing, Header, Scaling, Task, TrainingMode};
use lstm_core::{LayerShape, NumberFormat};

/// F32, LSTM(1 → 2), Dense(2 → 1), windows of 3.
fn header(output_scaling: Scaling) -> Header<'static> {
    Header {
        format: NumberFormat::F32,
        layers: heapless::Vec::from_slice(&[
            LayerShape::Lstm {
                input: 1,
                hidden: 2,
            },
            LayerShape::Dense {
                input: 2,
                output: 1,
            },
        ])
        .expect("two layers"),
        input_scaling: Scaling::Identity,
        output_scaling,
        mode: TrainingMode::Windowed { window: 3 },
        task: Task::Regression,
        differencing: Differencing::None,
        pool: 1,
    }
}

fn file(header: &Header<'_>, weight: f32) -> Vec<u8> {
    let n = header.parameter_count().expect("parameter count");
    to_vec(header, &vec![weight; n]).expect("a valid file")
}

/// Twelve rows, a time column and one positive value column: ten windows of 3.
fn write_csv(dir: &Path) -> std::path::PathBuf {
    let mut csv = String::from("time,value\n");
    for t in 0..12 {
        csv.push_str(&format!("{t},{}\n", 1.0 + f64::from(t) * 0.5));
    }
    let path = dir.join("data.csv");
    std::fs::write(&path, csv).expect("write csv");
    path
}

/// Runs `predict --out` on `model` and checks the refusal.
fn assert_refused(model_bytes: &[u8], name: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = write_csv(dir.path());
    let model = dir.path().join(format!("{name}.lstm"));
    std::fs::write(&model, model_bytes).expect("write model");
    let inspect = Command::new(BIN)
        .arg("inspect")
        .arg(&model)
        .output()
        .expect("inspect");
    assert!(
        inspect.status.success(),
        "lstm-core must accept the file: {}",
        String::from_utf8_lossy(&inspect.stderr)
    );
    let out_csv = dir.path().join("preds.csv");
    let out = Command::new(BIN)
        .arg("predict")
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out_csv)
        .output()
        .expect("predict");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{name}: {err}");
    assert!(
        err.contains("10 of 10 forecasts are not finite (inf or NaN)"),
        "{name}: {err}"
    );
    assert!(
        err.contains("the model file's weights or scaling overflow f32"),
        "{name}: {err}"
    );
    assert!(!out_csv.exists(), "{name}: no output file is written");
    // Printed to standard output instead: nothing printed either.
    let out = Command::new(BIN)
        .arg("predict")
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .output()
        .expect("predict");
    assert_eq!(out.status.code(), Some(1), "{name}");
    assert!(out.stdout.is_empty(), "{name}: nothing on standard output");
}

#[test]
fn predict_refuses_a_model_whose_weights_overflow_f32() {
    assert_refused(&file(&header(Scaling::Identity), f32::MAX), "f32-max");
}

#[test]
fn predict_refuses_a_model_whose_output_scaling_overflows_f32() {
    let scaling = Scaling::MinMax {
        min: heapless::Vec::from_slice(&[-3e38]).expect("one"),
        max: heapless::Vec::from_slice(&[3e38]).expect("one"),
    };
    assert_refused(&file(&header(scaling), 0.1), "minmax-overflow");
}

#[test]
fn predict_accepts_the_same_model_with_finite_outputs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = write_csv(dir.path());
    let model = dir.path().join("ok.lstm");
    std::fs::write(&model, file(&header(Scaling::Identity), 0.1)).expect("write model");
    let out_csv = dir.path().join("preds.csv");
    let out = Command::new(BIN)
        .arg("predict")
        .arg("--model")
        .arg(&model)
        .arg("--data")
        .arg(&data)
        .arg("--out")
        .arg(&out_csv)
        .output()
        .expect("predict");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = std::fs::read_to_string(&out_csv).expect("written");
    assert_eq!(csv.lines().count(), 11, "{csv}");
    assert!(!csv.contains("inf") && !csv.contains("NaN"), "{csv}");
}

#[test]
fn eval_core_refuses_model_files_whose_outputs_are_not_finite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    fit_airline_one_epoch(&run);
    let overflowing_scaling = Scaling::MinMax {
        min: heapless::Vec::from_slice(&[-3e38]).expect("one"),
        max: heapless::Vec::from_slice(&[3e38]).expect("one"),
    };
    for (name, bytes) in [
        ("f32-max", file(&header(Scaling::Identity), f32::MAX)),
        ("minmax-overflow", file(&header(overflowing_scaling), 0.1)),
    ] {
        let model = dir.path().join(format!("{name}.lstm"));
        std::fs::write(&model, bytes).expect("write model");
        let out = Command::new(BIN)
            .arg("eval")
            .arg("--model")
            .arg(run.join("trained.json"))
            .arg("--core")
            .arg(&model)
            .output()
            .expect("eval");
        let err = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains("cannot evaluate"), "{name}: {err}");
        assert!(
            err.contains("forecasts are not finite (inf or NaN)"),
            "{name}: {err}"
        );
        assert!(!stdout.contains("inf"), "{name}: {stdout}");
    }
}
