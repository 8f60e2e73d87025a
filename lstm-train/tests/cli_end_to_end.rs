//! End to end through the binary: fit a tiny model, export it to Q4.12,
//! inspect the file, predict with both the file and the trained model,
//! evaluate, resume; the same for a GRU (`--cell gru`), and `cv` over both
//! cells.

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
    let s = export(p(&trained), "q4.12", p(&model));
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
    assert!(body_json.starts_with("time,forecast_next\n"));
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
    let s = export(p(&run_dir.join("trained.json")), "q16.16", p(&model));
    assert!(s.contains("accuracy"), "{s}");
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

// The GRU through the binary, as the LSTM: `fit --cell gru` (windowed and
// stateful forecasting, classification; dropout, L1/L2, clipping, early
// stopping) and `--resume`, the cell recorded in trained.json, history.csv
// and metrics.json, export to Q4.12 / Q16.16 with a report without a cell
// state, inspect, predict (file and trained model), eval --core, and
// `cv --cell lstm,gru`.

/// Runs `lstm-train` (which must succeed) and returns its standard output.
fn out(args: &[&str]) -> String {
    stdout(&run(args))
}

/// `export --model TRAINED --format FORMAT --out MODEL`; its stdout (the report).
fn export(trained: &str, format: &str, model: &str) -> String {
    out(&[
        "export", "--model", trained, "--format", format, "--out", model,
    ])
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `fit` on the airline series with a GRU and every regulariser on.
fn fit_args<'a>(dir: &'a str, epochs: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "fit",
        "--data",
        AIRLINE,
        "--cell",
        "gru",
        "--window",
        "12",
        "--hidden",
        "6",
        "--layers",
        "2",
        "--dropout",
        "0.1",
        "--l1",
        "1e-5",
        "--l2",
        "1e-4",
        "--clip-norm",
        "0.5",
        "--patience",
        "50",
        "--epochs",
        epochs,
        "--batch-size",
        "32",
        "--season",
        "12",
        "--seed",
        "7",
        "--quiet",
        "--out-dir",
        dir,
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn gru_forecasting_fit_resume_export_inspect_predict_eval() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    let rd = p(&run_dir);
    let s = out(&fit_args(rd, "3", &[]));
    assert!(s.contains("trained 3 epochs"), "{s}");
    assert!(s.contains("GRU "), "the evaluation names the cell: {s}");
    let trained = run_dir.join("trained.json");
    assert_eq!(json(&trained)["net"]["cell"], "gru");
    assert_eq!(json(&run_dir.join("metrics.json"))["cell"], "gru");
    let history = std::fs::read_to_string(run_dir.join("history.csv")).unwrap();
    assert!(
        history.lines().skip(1).all(|l| l.ends_with(",gru")),
        "{history}"
    );

    // Resume to 5 epochs; resuming as an LSTM is refused.
    let s = out(&fit_args(rd, "5", &["--resume"]));
    assert!(s.contains("trained 5 epochs"), "{s}");
    let mut as_lstm = fit_args(rd, "6", &["--resume"]);
    as_lstm[4] = "lstm";
    let refused = Command::new(BIN).args(&as_lstm).output().unwrap();
    assert!(
        !refused.status.success(),
        "resuming a GRU run as an LSTM must fail"
    );

    for (format, name) in [("q4.12", "gru.q4_12.lstm"), ("q16.16", "gru.q16_16.lstm")] {
        let model = dir.path().join(name);
        let s = export(p(&trained), format, p(&model));
        assert!(s.contains("within the 16-bit bar"), "{s}");
        assert!(s.contains("saturating inputs / h / outputs"), "{s}");
        assert!(!s.contains("cell state c"), "{s}");
        assert!(!s.contains("max |c|"), "{s}");

        let s = out(&["inspect", p(&model)]);
        assert!(s.contains("GRU   input 1, hidden 6"), "{s}");
        assert!(s.contains("GRU   input 6, hidden 6"), "{s}");

        let s = out(&["eval", "--model", p(&trained), "--core", p(&model)]);
        assert!(s.contains("via lstm-core"), "{s}");
    }

    // The model file and the trained model predict the same (to Q4.12).
    let file_preds = out(&[
        "predict",
        "--model",
        p(&dir.path().join("gru.q4_12.lstm")),
        "--data",
        AIRLINE,
    ]);
    let trained_preds = out(&["predict", "--model", p(&trained), "--data", AIRLINE]);
    let vals = |b: &str| -> Vec<f64> {
        b.lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (vals(&file_preds), vals(&trained_preds));
    assert_eq!(a.len(), 144 - 12 + 1);
    assert_eq!(a.len(), b.len());
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst < 2.0,
        "Q4.12 file and trainer differ by {worst} passengers"
    );
}

#[test]
fn gru_stateful_fit_and_resume() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("stateful");
    let rd = p(&run_dir);
    let args = |epochs: &'static str, resume: bool| {
        let mut a = vec![
            "fit",
            "--data",
            AIRLINE,
            "--cell",
            "gru",
            "--stateful",
            "--chunk",
            "24",
            "--hidden",
            "5",
            "--epochs",
            epochs,
            "--seed",
            "3",
            "--quiet",
            "--out-dir",
            rd,
        ];
        if resume {
            a.push("--resume");
        }
        a
    };
    assert!(out(&args("2", false)).contains("trained 2 epochs"));
    assert!(out(&args("4", true)).contains("trained 4 epochs"));
    let trained = run_dir.join("trained.json");
    assert_eq!(json(&trained)["net"]["cell"], "gru");
    let model = dir.path().join("stateful.lstm");
    let s = export(p(&trained), "q4.12", p(&model));
    assert!(s.contains("stateful"), "{s}");
    let s = out(&["eval", "--model", p(&trained), "--core", p(&model)]);
    assert!(s.contains("via lstm-core"), "{s}");
}

#[test]
fn gru_classification_fit_export_predict() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("italy");
    let (train, test) = (format!("{ITALY}/train.csv"), format!("{ITALY}/test.csv"));
    let s = out(&[
        "fit",
        "--train",
        &train,
        "--test",
        &test,
        "--cell",
        "gru",
        "--hidden",
        "6",
        "--epochs",
        "2",
        "--quiet",
        "--out-dir",
        p(&run_dir),
    ]);
    assert!(s.contains("GRU "), "{s}");
    let model = dir.path().join("italy.lstm");
    let s = export(p(&run_dir.join("trained.json")), "q16.16", p(&model));
    assert!(s.contains("accuracy"), "{s}");
    let preds = out(&["predict", "--model", p(&model), "--data", &test]);
    assert_eq!(preds.lines().count(), 1 + 1029);
}

#[test]
fn cv_compares_lstm_and_gru() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("cv.json");
    let s = out(&[
        "cv",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--cell",
        "lstm,gru",
        "--hidden",
        "4",
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
    assert!(s.contains("<- best"), "{s}");
    let cells: Vec<String> = json(&report)["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["cell"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(cells, ["lstm", "gru"]);
}

#[test]
fn help_describes_the_cell() {
    let s = out(&["fit", "--help"]);
    assert!(s.contains("--cell <CELL>") && s.contains("gru"), "{s}");
    let s = out(&["cv", "--help"]);
    assert!(s.contains("--cell <CELL>") && s.contains("lstm,gru"), "{s}");
}
