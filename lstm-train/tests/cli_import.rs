//! `lstm-train import` on the shared Keras fixtures: the defaults `--help`
//! states and `inspect` shows, class names and scaling given by value,
//! scalers fitted on `--data` as `fit` fits them, and damaged or foreign
//! files refused with nothing written.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/import")
        .join(name)
}

fn sunspots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sunspots.csv")
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running lstm-train")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "lstm-train {args:?} failed:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn help_states_every_default() {
    let help = ok(&["import", "--help"]);
    for needle in [
        "no input or output scaling",
        "regression (classification when the head",
        "windows of the\nsequence length",
        "no differencing",
        "no data",
        "[default: q4.12]",
        "[default: none]",
        "[default: linear]",
        "[default: error]",
        "[default: no input scaling; with data, the --scaler fitted on it]",
        "[default: no output scaling; with data, the --scaler fitted on it]",
        "[default: no differencing]",
        "[default: the data's classes, else 0,1,…]",
    ] {
        assert!(help.contains(needle), "--help lacks `{needle}`:\n{help}");
    }
}

#[test]
fn defaults_are_what_inspect_shows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("m.lstm");
    let report = ok(&[
        "import",
        s(&fixture("keras_lstm2_dropout_forecast.keras")),
        "--out",
        s(&out),
    ]);
    assert!(report.contains("q4.12"), "{report}");
    assert!(report.contains("test metrics: skipped"), "{report}");
    let info = ok(&["inspect", s(&out)]);
    for needle in [
        "input scaling: identity",
        "output scaling: identity",
        "training mode: windowed, W = 12",
        "differencing: none",
        "task: regression",
        "0: LSTM  input 1, hidden 16",
        "1: LSTM  input 16, hidden 16",
        "2: Dense input 16, output 1",
    ] {
        assert!(info.contains(needle), "inspect lacks `{needle}`:\n{info}");
    }
    // A model whose last layer returns sequences runs as a stream.
    let out2 = dir.path().join("s.lstm");
    ok(&[
        "import",
        s(&fixture("keras_lstm_seq2seq.h5")),
        "--out",
        s(&out2),
        "--format",
        "f32",
    ]);
    let info = ok(&["inspect", s(&out2)]);
    assert!(info.contains("training mode: stateful"), "{info}");
    assert!(info.contains("number format: f32"), "{info}");
    // ... and refuses windows.
    let r = run(&[
        "import",
        s(&fixture("keras_lstm_seq2seq.h5")),
        "--out",
        s(&out2),
        "--window",
        "4",
    ]);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("returns sequences"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn classes_and_scaling_given_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.lstm");
    let classes = "a,b,c,d,e,f,g,h,i";
    let mean = ["0.5"; 12].join(",");
    let std = ["2"; 12].join(",");
    ok(&[
        "import",
        s(&fixture("keras_lstm_softmax_classify.keras")),
        "--out",
        s(&out),
        "--classes",
        classes,
        "--x-mean",
        &mean,
        "--x-std",
        &std,
        "--window",
        "10",
    ]);
    let info = ok(&["inspect", s(&out)]);
    assert!(
        info.contains("task: classification, 9 classes: a, b, c, d, e, f, g, h, i"),
        "{info}"
    );
    assert!(info.contains("input scaling: standard"), "{info}");
    assert!(info.contains("training mode: windowed, W = 10"), "{info}");
    // Without names, a softmax head is a classifier with classes 0..8.
    ok(&[
        "import",
        s(&fixture("keras_lstm_softmax_classify.h5")),
        "--out",
        s(&out),
    ]);
    let info = ok(&["inspect", s(&out)]);
    assert!(
        info.contains("9 classes: 0, 1, 2, 3, 4, 5, 6, 7, 8"),
        "{info}"
    );
    // The wrong number of names is refused, and nothing is written.
    let bad = dir.path().join("bad.lstm");
    let r = run(&[
        "import",
        s(&fixture("keras_lstm_softmax_classify.h5")),
        "--out",
        s(&bad),
        "--classes",
        "x,y",
    ]);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("2 class name(s) for a head of 9 output(s)"),
        "{}",
        text(&r.stderr)
    );
    assert!(!bad.exists());
    // Output scaling of the wrong length is refused.
    let r = run(&[
        "import",
        s(&fixture("keras_gru2_forecast.keras")),
        "--out",
        s(&bad),
        "--y-min",
        "0",
        "--y-max",
        "1",
    ]);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr).contains("output scaling for 1 output(s), the model has 2"),
        "{}",
        text(&r.stderr)
    );
    assert!(!bad.exists());
}

/// The fit split of the sunspots series as `fit` splits it (test 20 %,
/// validation 10 % of the rest): its min and max, read here from the CSV.
fn sunspots_fit_range() -> (f64, f64) {
    let csv = std::fs::read_to_string(sunspots()).unwrap();
    let values: Vec<f64> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(1).unwrap().trim().parse().unwrap())
        .collect();
    let n = values.len();
    let n_train = (0.8 * n as f64).floor() as usize;
    let n_fit = n_train - (n_train - (0.9 * n_train as f64).floor() as usize);
    let fit = &values[..n_fit];
    (
        fit.iter().copied().fold(f64::INFINITY, f64::min),
        fit.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    )
}

#[test]
fn data_fits_the_scalers_calibrates_and_scores() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("s.lstm");
    let inputs = dir.path().join("s.inputs");
    let report = ok(&[
        "import",
        s(&fixture("keras_lstm2_dropout_forecast.h5")),
        "--data",
        s(&sunspots()),
        "--scaler",
        "minmax",
        "--out",
        s(&out),
        "--heldout",
        s(&inputs),
    ]);
    assert!(
        report.contains("calibration: trainer f32 forward over"),
        "{report}"
    );
    assert!(
        report.contains("test metric before (trainer f32 forward)"),
        "{report}"
    );
    assert!(report.contains("test metric after"), "{report}");
    assert!(inputs.exists());
    let (min, max) = sunspots_fit_range();
    let info = ok(&["inspect", s(&out)]);
    assert!(info.contains("input scaling: min-max"), "{info}");
    assert!(
        info.contains(&format!("[0] min {min}, max {max}")),
        "inspect lacks the fit split's range {min}..{max}:\n{info}"
    );
    // Differencing needs the data, and is recorded.
    let out2 = dir.path().join("d.lstm");
    ok(&[
        "import",
        s(&fixture("keras_lstm2_dropout_forecast.keras")),
        "--data",
        s(&sunspots()),
        "--difference",
        "1",
        "--out",
        s(&out2),
    ]);
    let info = ok(&["inspect", s(&out2)]);
    assert!(info.contains("differencing: first differences"), "{info}");
    let r = run(&[
        "import",
        s(&fixture("keras_lstm2_dropout_forecast.keras")),
        "--difference",
        "1",
        "--out",
        s(&out2),
    ]);
    assert!(!r.status.success());
    // Values given together with data are refused (the export rebuilds
    // the data with the scalers fitted on it).
    let r = run(&[
        "import",
        s(&fixture("keras_lstm2_dropout_forecast.keras")),
        "--data",
        s(&sunspots()),
        "--x-min",
        "0",
        "--x-max",
        "1",
        "--out",
        s(&out2),
    ]);
    assert!(!r.status.success());
    assert!(
        text(&r.stderr)
            .contains("scaling given by value (--x-*/--y-*) is for an import without data"),
        "{}",
        text(&r.stderr)
    );
}

#[test]
fn damaged_or_foreign_files_are_refused_with_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let good = std::fs::read(fixture("keras_lstm_seq2seq.keras")).unwrap();
    let good_h5 = std::fs::read(fixture("keras_lstm_seq2seq.h5")).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.keras",
            good[..good.len() / 2].to_vec(),
            "not a readable Keras 3 (.keras) file",
        ),
        (
            "text.keras",
            b"hello, not a zip".to_vec(),
            "not a zip archive",
        ),
        (
            "truncated.h5",
            good_h5[..good_h5.len() / 3].to_vec(),
            "not a readable Keras HDF5 (.h5) file",
        ),
        (
            "zip.h5",
            good.clone(),
            "not a readable Keras HDF5 (.h5) file",
        ),
        ("model.json", b"{}".to_vec(), "unknown model file type"),
    ];
    for (name, bytes, needle) in cases {
        let input = dir.path().join(name);
        std::fs::write(&input, bytes).unwrap();
        let out = dir.path().join(format!("{name}.lstm"));
        let r = run(&["import", s(&input), "--out", s(&out)]);
        assert_eq!(r.status.code(), Some(1), "{name}: {}", text(&r.stderr));
        let err = text(&r.stderr);
        assert!(err.contains(needle), "{name}: `{err}` lacks `{needle}`");
        assert!(
            err.contains(name),
            "{name}: the error does not name the file: {err}"
        );
        assert!(!out.exists(), "{name}: an output was written");
    }
    // Nothing else (no temporary file) was left in the folder either.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".lstm") || n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The README's "From Keras" commands run as written (with a shared fixture
/// as `m.keras` / `m.h5`), so the README cannot drift from the CLI.
#[test]
fn readme_keras_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let section = readme.split("## From Keras").nth(1).expect("the section");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(root.join("data"), dir.path().join("data")).unwrap();
    for ext in ["keras", "h5"] {
        std::fs::copy(
            fixture(&format!("keras_lstm2_dropout_forecast.{ext}")),
            dir.path().join(format!("m.{ext}")),
        )
        .unwrap();
    }
    let mut ran = 0;
    for line in block.lines().map(str::trim) {
        let Some(args) = line.strip_prefix("$T ") else {
            continue;
        };
        let args: Vec<&str> = args.split('#').next().unwrap().split_whitespace().collect();
        let out = Command::new(BIN)
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README command failed: lstm-train {}\n{}{}",
            args.join(" "),
            text(&out.stdout),
            text(&out.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 4, "three imports and an inspect");
    for f in ["m.lstm", "m.f32.lstm", "m.lstm.inputs"] {
        assert!(dir.path().join(f).is_file(), "{f} was written");
    }
}

/// A binary classifier saved by Keras (GRU + one sigmoid unit) imported with
/// the GunPoint train/test pair: the scaler fitted on the data, the class
/// names from the data, and the test accuracy before (trainer) and after
/// (the Q4.12 file run by lstm-core) equal to Keras' own accuracy on the
/// same test series (recorded in the fixture by `make.py`).
#[test]
fn train_test_pair_scores_a_sigmoid_classifier_as_keras_does() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("g.lstm");
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import");
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(fx.join("keras_gru_sigmoid_gunpoint.json")).unwrap(),
    )
    .unwrap();
    let (right, total) = (
        case["keras_test_accuracy"][0].as_u64().unwrap(),
        case["keras_test_accuracy"][1].as_u64().unwrap(),
    );
    let gp =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/datasets/classification/GunPoint");
    let report = ok(&[
        "import",
        s(&fx.join("keras_gru_sigmoid_gunpoint.keras")),
        "--train",
        s(&gp.join("train.csv")),
        "--test",
        s(&gp.join("test.csv")),
        "--scaler",
        "standard",
        "--out",
        s(&out),
    ]);
    let acc = format!("({right}/{total})");
    let before = report
        .lines()
        .find(|l| l.starts_with("test metric before"))
        .unwrap_or_default();
    let after = report
        .lines()
        .find(|l| l.starts_with("test metric after"))
        .unwrap_or_default();
    assert!(before.contains(&acc), "Keras scored {acc}:\n{report}");
    assert!(after.contains(&acc), "Keras scored {acc}:\n{report}");
    let info = ok(&["inspect", s(&out)]);
    assert!(
        info.contains("task: classification, 2 classes: 1, 2"),
        "{info}"
    );
    assert!(info.contains("input scaling: standard"), "{info}");
}
