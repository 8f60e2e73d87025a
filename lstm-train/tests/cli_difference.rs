//! `fit --difference [LAG]` through the binary: on the airline series,
//! training on first differences, or on seasonal ones at lag 12, beats the
//! seasonal-naive baseline; the model
//! records it, resumes with it, and exports a model file that `lstm-core`
//! runs from raw values (differencing and un-differencing on the device's
//! side) within the 16-bit bar; classification refuses the flag.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");
const AIRLINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/airline.csv");

fn lstm_train(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running lstm-train")
}

fn ok(args: &[&str]) -> Output {
    let out = lstm_train(args);
    assert!(
        out.status.success(),
        "lstm-train {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn airline_differenced_beats_seasonal_naive_and_exports() {
    airline_case(
        &["--difference"],
        "32",
        1,
        &["on first differences", "differencing: first differences"],
    );
}

#[test]
fn airline_seasonally_differenced_beats_seasonal_naive_and_exports() {
    airline_case(
        &["--difference", "12"],
        "16",
        12,
        &[
            "on differences at lag 12",
            "differencing: seasonal, lag 12",
            "format version: 3",
        ],
    );
}

/// Fits airline with `diff` (differencing flags), `hidden` units; `lag` is
/// the differencing lag; `texts` are, in order, what `eval` and `inspect`
/// print about it (further ones: more `inspect` lines).
fn airline_case(diff: &[&str], hidden: &str, lag: usize, texts: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    // The settings of tests/fit_datasets.rs (up to 600 epochs there; 200
    // here to keep the debug build fast, which already reaches RMSE ≈ 18).
    let fit_args: Vec<&str> = [
        &["fit", "--data", AIRLINE][..],
        diff,
        &[
            "--window",
            "12",
            "--hidden",
            hidden,
            "--lr",
            "0.002",
            "--epochs",
            "200",
            "--val-split",
            "0",
            "--season",
            "12",
            "--seed",
            "42",
            "--quiet",
            "--out-dir",
            p(&run),
        ],
    ]
    .concat();
    ok(&fit_args);
    let m = json(&run.join("metrics.json"));
    assert_eq!(m["differenced"], true, "{m}");
    let rmse = m["model"]["rmse"].as_f64().unwrap();
    let seasonal = m["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == "seasonal_naive_m12")
        .expect("seasonal-naive baseline in metrics.json")["metrics"]["rmse"]
        .as_f64()
        .unwrap();
    eprintln!("airline --difference: test RMSE {rmse:.4}, seasonal naive {seasonal:.4}");
    assert!(
        rmse < seasonal,
        "differenced LSTM RMSE {rmse} is not below seasonal naive {seasonal}"
    );
    let trained = run.join("trained.json");
    assert_eq!(json(&trained)["difference"], true);

    // `eval` rebuilds the same differenced evaluation.
    let e = ok(&["eval", "--model", p(&trained), "--season", "12"]);
    let eval_text = String::from_utf8_lossy(&e.stdout);
    assert!(eval_text.contains(texts[0]), "{eval_text}");

    // `export` writes a differenced Q4.12 file; lstm-core, fed raw values,
    // scores it within 1 % of the trainer and still beats seasonal naive.
    let out_file = dir.path().join("airline.lstm");
    let heldout = dir.path().join("airline.lstm.inputs");
    let x = ok(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "q4.12",
        "--out",
        p(&out_file),
        "--heldout",
        p(&heldout),
    ]);
    let report = String::from_utf8_lossy(&x.stdout);
    let rmse_of = |prefix: &str| -> f64 {
        let line = report
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no `{prefix}` line in\n{report}"));
        let after = &line[line.find("RMSE ").expect("RMSE") + 5..];
        after.split(',').next().unwrap().trim().parse().unwrap()
    };
    let before = rmse_of("test metric before");
    let after = rmse_of("test metric after");
    eprintln!("airline --difference export: RMSE before {before:.4}, after {after:.4}");
    assert!(
        (before - rmse).abs() < 1e-3,
        "{before} vs metrics.json {rmse}"
    );
    assert!(after <= before * 1.01, "{after} vs {before}\n{report}");
    assert!(after < seasonal, "{after} vs seasonal naive {seasonal}");
    // The held-out stream starts `lag` rows earlier (those samples only
    // prime the differences): W = 12, + lag, + the 29 test rows (115..144) - 1.
    let steps = std::fs::read(&heldout).unwrap().len() / 4;
    assert_eq!(steps, 12 + lag + 29 - 1);
    let i = ok(&["inspect", p(&out_file)]);
    let text = String::from_utf8_lossy(&i.stdout);
    for t in &texts[1..] {
        assert!(text.contains(t), "{t}: {text}");
    }

    // `predict` with the file forecasts from raw values: the last forecast
    // (after the last row) is near the last value, within the series' scale.
    let pr = dir.path().join("pred.csv");
    ok(&[
        "predict",
        "--model",
        p(&out_file),
        "--data",
        AIRLINE,
        "--out",
        p(&pr),
    ]);
    let csv = std::fs::read_to_string(&pr).unwrap();
    // W = 12 rows for the first window after the `lag` priming rows: the
    // first forecast comes after CSV row 12 + lag (1-based, without the header).
    assert_eq!(csv.lines().count() - 1, 144 - lag - 11, "{csv}");
    let last: f64 = csv
        .lines()
        .last()
        .unwrap()
        .split(',')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        (last - 432.0).abs() < 100.0,
        "forecast after the last value 432: {last}"
    );

    // `predict` with the trained model gives the same forecasts (levels,
    // named after the CSV's target column, not its differences), within
    // the 16-bit file's quantization error.
    let pt = dir.path().join("pred_trained.csv");
    ok(&[
        "predict",
        "--model",
        p(&trained),
        "--data",
        AIRLINE,
        "--out",
        p(&pt),
    ]);
    let trained_csv = std::fs::read_to_string(&pt).unwrap();
    assert!(
        trained_csv.starts_with("time,forecast_next\n"),
        "{trained_csv}"
    );
    let rows = |text: &str| -> Vec<(String, f64)> {
        text.lines()
            .skip(1)
            .map(|l| {
                let (t, v) = l.split_once(',').unwrap();
                (t.to_string(), v.parse().unwrap())
            })
            .collect()
    };
    let (from_file, from_trained) = (rows(&csv), rows(&trained_csv));
    assert_eq!(from_file.len(), from_trained.len());
    for ((tf, vf), (tt, vt)) in from_file.iter().zip(&from_trained) {
        assert_eq!(tf, tt);
        assert!((vf - vt).abs() < 2.0, "{tf}: file {vf}, trained {vt}");
    }
}

#[test]
fn resume_keeps_differencing() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("run");
    let base = [
        "fit",
        "--data",
        AIRLINE,
        "--hidden",
        "4",
        "--quiet",
        "--out-dir",
        p(&run),
    ];
    ok(&[&base[..], &["--difference", "--epochs", "2"]].concat());
    ok(&[&base[..], &["--difference", "--epochs", "4", "--resume"]].concat());
    let trained = json(&run.join("trained.json"));
    assert_eq!(trained["difference"], true);
    let history = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(history.lines().count(), 5, "{history}");
    // Resuming a differenced run without --difference is refused.
    let o = lstm_train(&[&base[..], &["--epochs", "5", "--resume"]].concat());
    assert!(!o.status.success());
}

#[test]
fn difference_is_refused_for_classification() {
    let dir = tempfile::tempdir().unwrap();
    let train = dir.path().join("train.csv");
    let test = dir.path().join("test.csv");
    let csv = "label,v0,v1,v2\na,1,2,3\nb,3,2,1\na,1,2,4\nb,4,2,1\n";
    std::fs::write(&train, csv).unwrap();
    std::fs::write(&test, csv).unwrap();
    let out_dir = dir.path().join("run");
    let o = lstm_train(&[
        "fit",
        "--train",
        p(&train),
        "--test",
        p(&test),
        "--difference",
        "--out-dir",
        p(&out_dir),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--difference is for forecasting"),
        "unclear error: {err}"
    );
    assert!(!out_dir.exists());
}
