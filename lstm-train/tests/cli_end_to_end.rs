//! End to end through the binary: fit a tiny model, export it to Q4.12,
//! inspect the file, predict with both the file and the trained model,
//! evaluate, resume.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");
const AIRLINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/forecasting/airline/data.csv"
);
const ITALY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/classification/ItalyPowerDemand"
);

fn run(args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("running lstm-train");
    assert!(
        out.status.success(),
        "lstm-train {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn forecasting_fit_export_inspect_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let out = run(&[
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--hidden",
        "6",
        "--epochs",
        "3",
        "--batch-size",
        "32",
        "--season",
        "12",
        "--seed",
        "7",
        "--quiet",
        "--out-dir",
        p(&run_dir),
    ]);
    let s = stdout(&out);
    assert!(s.contains("trained 3 epochs"), "{s}");
    assert!(s.contains("seasonal naive y[t-12]"), "{s}");
    for f in [
        "trained.json",
        "checkpoint.json",
        "best.json",
        "history.csv",
        "metrics.json",
        "predictions.png",
        "history.png",
    ] {
        assert!(run_dir.join(f).exists(), "{f} missing");
    }

    // Resume to 5 epochs.
    let out = run(&[
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--hidden",
        "6",
        "--epochs",
        "5",
        "--batch-size",
        "32",
        "--season",
        "12",
        "--seed",
        "7",
        "--quiet",
        "--out-dir",
        p(&run_dir),
        "--resume",
    ]);
    assert!(
        stdout(&out).contains("trained 5 epochs"),
        "{}",
        stdout(&out)
    );

    let trained = run_dir.join("trained.json");
    let model = dir.path().join("airline.lstm");
    let out = run(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "q4.12",
        "--out",
        p(&model),
    ]);
    let s = stdout(&out);
    assert!(
        s.contains("test metric before (trainer f32 forward)"),
        "{s}"
    );
    assert!(s.contains("DynModel<q4.12, fast activations>"), "{s}");
    assert!(s.contains("clipped weights: 0"), "{s}");

    let out = run(&["inspect", p(&model)]);
    let s = stdout(&out);
    assert!(s.contains("number format: q4.12"), "{s}");
    assert!(s.contains("LSTM  input 1, hidden 6"), "{s}");
    assert!(s.contains("training mode: windowed, W = 12"), "{s}");

    let preds = dir.path().join("preds.csv");
    run(&[
        "predict",
        "--model",
        p(&model),
        "--data",
        AIRLINE,
        "--out",
        p(&preds),
    ]);
    let body = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "time,forecast_next");
    assert_eq!(lines.len(), 1 + 144 - 12 + 1);
    assert!(lines[1].starts_with("1949-12,"), "{}", lines[1]);

    // The trained model predicts the same (to quantization error).
    let preds_json = dir.path().join("preds-json.csv");
    run(&[
        "predict",
        "--model",
        p(&trained),
        "--data",
        AIRLINE,
        "--out",
        p(&preds_json),
    ]);
    let body_json = std::fs::read_to_string(&preds_json).unwrap();
    assert!(body_json.starts_with("time,value_next\n"));
    let vals = |b: &str| -> Vec<f64> {
        b.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (vals(&body), vals(&body_json));
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst < 2.0,
        "Q4.12 file and trainer differ by {worst} passengers"
    );

    let out = run(&[
        "eval",
        "--model",
        p(&trained),
        "--season",
        "12",
        "--core",
        p(&model),
    ]);
    let s = stdout(&out);
    assert!(s.contains("naive y[t-1]"), "{s}");
    assert!(s.contains("via lstm-core (fast activations)"), "{s}");
}

#[test]
fn classification_fit_export_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("italy");
    let (train, test) = (format!("{ITALY}/train.csv"), format!("{ITALY}/test.csv"));
    run(&[
        "fit",
        "--train",
        &train,
        "--test",
        &test,
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--quiet",
        "--out-dir",
        p(&run_dir),
    ]);
    let model = dir.path().join("italy.lstm");
    let out = run(&[
        "export",
        "--model",
        p(&run_dir.join("trained.json")),
        "--format",
        "q16.16",
        "--out",
        p(&model),
    ]);
    assert!(stdout(&out).contains("accuracy"), "{}", stdout(&out));
    let out = run(&["inspect", p(&model)]);
    assert!(
        stdout(&out).contains("task: classification, 2 classes: 1, 2"),
        "{}",
        stdout(&out)
    );
    let preds = dir.path().join("classes.csv");
    run(&[
        "predict",
        "--model",
        p(&model),
        "--data",
        &test,
        "--out",
        p(&preds),
    ]);
    let body = std::fs::read_to_string(&preds).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "id,label,predicted,score_1,score_2");
    assert_eq!(lines.len(), 1 + 1029);
    let f: Vec<&str> = lines[1].split(',').collect();
    assert!(f[2] == "1" || f[2] == "2");
    let total: f64 = f[3].parse::<f64>().unwrap() + f[4].parse::<f64>().unwrap();
    assert!((total - 1.0).abs() < 1e-5);
}

#[test]
fn cross_validation_reports_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("cv.json");
    let out = run(&[
        "cv",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--hidden",
        "4,6",
        "--layers",
        "1",
        "--folds",
        "2",
        "--epochs",
        "2",
        "--quiet",
        "--report",
        p(&report),
    ]);
    let s = stdout(&out);
    assert!(
        s.contains("rolling-origin cross-validation, 2 folds"),
        "{s}"
    );
    assert!(s.contains("<- best"), "{s}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["candidates"].as_array().unwrap().len(), 2);
}
