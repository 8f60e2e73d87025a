//! Small classification sets: a validation split of a few series is not
//! used (training loss instead, with a note), and a model at chance level is
//! reported with a warning naming its accuracy and the majority-class rate.

use std::path::Path;
use std::process::Command;

use lstm_train::artifact::DataSource;
use lstm_train::data::ClassConfig;
use lstm_train::evaluate::{ClassEvaluation, Evaluation};
use lstm_train::net::CellKind;
use lstm_train::run::{chance_warning, small_val_fallback, Prepared, MIN_VAL_SERIES_PER_CLASS};

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");

/// `per_class` series of `len` steps for each of `classes` classes (a sine
/// whose frequency depends on the class, plus a deterministic wiggle), in
/// the wide format, sorted by class as archive files often are.
fn write_set(path: &Path, classes: usize, per_class: usize, len: usize, phase: f64) {
    let mut text = String::from("label");
    for t in 0..len {
        text.push_str(&format!(",v{t}"));
    }
    text.push('\n');
    for k in 0..classes {
        for i in 0..per_class {
            text.push_str(&format!("{}", k + 1));
            for t in 0..len {
                let x = ((k + 1) as f64 * 0.3 * t as f64 + phase + i as f64 * 0.7).sin()
                    + 0.1 * ((i * 7 + t * 3) % 5) as f64;
                text.push_str(&format!(",{x:.4}"));
            }
            text.push('\n');
        }
    }
    std::fs::write(path, text).unwrap();
}

fn source(dir: &Path, val_fraction: f64) -> DataSource {
    DataSource::Classify {
        train: dir.join("train.csv"),
        test: dir.join("test.csv"),
        config: ClassConfig {
            val_fraction,
            ..ClassConfig::default()
        },
    }
}

#[test]
fn a_validation_split_of_a_few_series_is_dropped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    // 3 classes × 10 series: 10 % is 1 series per class.
    write_set(&dir.path().join("train.csv"), 3, 10, 24, 0.0);
    write_set(&dir.path().join("test.csv"), 3, 4, 24, 0.4);
    let prepared = Prepared::load(&source(dir.path(), 0.1)).unwrap();
    let (back, note) = small_val_fallback(&prepared).unwrap().expect("fallback");
    assert!(note.contains("3 series for 3 classes"), "{note}");
    assert!(note.contains("training loss"), "{note}");
    let lstm_train::fit::TaskData::Classify(d) = &back.data else {
        panic!("classification")
    };
    assert!(d.val.is_empty());
    assert_eq!(d.train.len(), 30);
    // The recorded source is what was trained on (export and eval re-read it).
    let DataSource::Classify { config, .. } = &back.source else {
        panic!("classification")
    };
    assert_eq!(config.val_fraction, 0.0);
    // No split, nothing to do.
    let none = Prepared::load(&source(dir.path(), 0.0)).unwrap();
    assert!(small_val_fallback(&none).unwrap().is_none());
}

#[test]
fn a_validation_split_of_enough_series_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    // 2 classes × 60 series: 10 % is 6 series per class.
    write_set(&dir.path().join("train.csv"), 2, 60, 8, 0.0);
    write_set(&dir.path().join("test.csv"), 2, 3, 8, 0.4);
    let prepared = Prepared::load(&source(dir.path(), 0.1)).unwrap();
    let lstm_train::fit::TaskData::Classify(d) = &prepared.data else {
        panic!("classification")
    };
    assert!(d.val.len() >= MIN_VAL_SERIES_PER_CLASS * 2);
    assert!(small_val_fallback(&prepared).unwrap().is_none());
}

fn class_eval(accuracy: f64, majority_accuracy: f64) -> Evaluation {
    Evaluation::Classify(ClassEvaluation {
        cell: CellKind::Lstm,
        classes: vec!["1".into(), "2".into(), "3".into()],
        n: 100,
        correct: (accuracy * 100.0) as usize,
        accuracy,
        majority_class: "2".into(),
        majority_accuracy,
        confusion: vec![vec![0; 3]; 3],
        nn_euclidean: None,
        nn_dtw: None,
        nn_dtw_skipped: None,
        restarts: Vec::new(),
    })
}

#[test]
fn chance_level_is_warned_about_with_both_numbers() {
    let w = chance_warning(&class_eval(0.30, 0.39)).expect("warning");
    assert!(w.contains("0.300") && w.contains("0.390"), "{w}");
    assert!(
        w.contains("--lr") && w.contains("--epochs") && w.contains("--hidden"),
        "{w}"
    );
    // Within the margin above the majority rate is still chance level.
    assert!(chance_warning(&class_eval(0.40, 0.39)).is_some());
    assert!(chance_warning(&class_eval(0.90, 0.39)).is_none());
}

#[test]
fn fit_says_so_on_stderr_and_in_metrics_json() {
    let dir = tempfile::tempdir().unwrap();
    write_set(&dir.path().join("train.csv"), 3, 10, 24, 0.0);
    write_set(&dir.path().join("test.csv"), 3, 4, 24, 0.4);
    let run_dir = dir.path().join("run");
    let out = Command::new(BIN)
        .args(["fit", "--train"])
        .arg(dir.path().join("train.csv"))
        .arg("--test")
        .arg(dir.path().join("test.csv"))
        .args([
            "--hidden", "2", "--epochs", "1", "--lr", "0.0001", "--seed", "1",
        ])
        .args(["--quiet", "--out-dir"])
        .arg(&run_dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("note: the validation split"), "{stderr}");
    let metrics: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("metrics.json")).unwrap())
            .unwrap();
    let notes = metrics["notes"].as_array().expect("notes");
    assert!(notes[0].as_str().unwrap().contains("validation split"));
    // One epoch at a tiny learning rate learns nothing: 4 of 12 test series
    // per class, at most chance level.
    let acc = metrics["accuracy"].as_f64().unwrap();
    let majority = metrics["majority_accuracy"].as_f64().unwrap();
    if acc <= majority + lstm_train::run::CHANCE_MARGIN {
        assert!(stderr.contains("is at chance level"), "{stderr}");
        assert!(notes[1].as_str().unwrap().contains("chance level"));
    }
    // metrics.json with notes still reads back as an evaluation.
    let _: Evaluation = serde_json::from_value(metrics).unwrap();
}

fn run_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(out.status.success(), "{o}\n{e}");
    o
}

#[test]
fn per_series_norm_is_recorded_in_a_version_5_file_and_the_core_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    write_set(&train, 2, 12, 16, 0.0);
    write_set(&test, 2, 5, 16, 0.4);
    // The data: every series has mean 0 before the (standard) scaler.
    let prepared = Prepared::load(&DataSource::Classify {
        train: train.clone(),
        test: test.clone(),
        config: ClassConfig {
            val_fraction: 0.0,
            per_series_norm: true,
            ..ClassConfig::default()
        },
    })
    .unwrap();
    let lstm_train::fit::TaskData::Classify(d) = &prepared.data else {
        panic!("classification")
    };
    assert!(d.per_series_norm);
    for i in 0..d.test.len() {
        let s = d.test.series(i);
        let (m, sd) = match &d.scaler {
            lstm_train::data::Scaler::Standard { mean, std } => (mean[0], std[0]),
            other => panic!("{other:?}"),
        };
        let raw_mean = s.iter().map(|&v| f64::from(v) * sd + m).sum::<f64>() / s.len() as f64;
        assert!(raw_mean.abs() < 1e-5, "{raw_mean}");
    }

    let run_dir = dir.path().join("run");
    let os = |s: &str| std::ffi::OsString::from(s);
    let mut args: Vec<std::ffi::OsString> = vec![
        os("fit"),
        os("--train"),
        train.into(),
        os("--test"),
        test.clone().into(),
    ];
    for a in [
        "--per-series-norm",
        "--hidden",
        "4",
        "--epochs",
        "3",
        "--seed",
        "1",
        "--quiet",
        "--out-dir",
    ] {
        args.push(os(a));
    }
    args.push(run_dir.clone().into());
    let refs: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run_ok(&refs);
    let trained = run_dir.join("trained.json");
    assert!(std::fs::read_to_string(&trained)
        .unwrap()
        .contains("\"per_series_norm\":true"));
    let model = dir.path().join("m.lstm");
    run_ok(&[
        "export".as_ref(),
        "--model".as_ref(),
        trained.as_os_str(),
        "--format".as_ref(),
        "f32".as_ref(),
        "--out".as_ref(),
        model.as_os_str(),
    ]);
    let s = run_ok(&["inspect".as_ref(), model.as_os_str()]);
    assert!(s.contains("format version: 5"), "{s}");
    assert!(s.contains("per-series z-normalisation"), "{s}");
    let s = run_ok(&[
        "eval".as_ref(),
        "--model".as_ref(),
        trained.as_os_str(),
        "--core".as_ref(),
        model.as_os_str(),
    ]);
    assert!(s.contains("via lstm-core"), "{s}");
    // The file's version field.
    let bytes = std::fs::read(&model).unwrap();
    assert_eq!(bytes[4], 5);

    // `predict` normalises each series the same way from the trained model
    // and from the file: the same scores (f32, exact activations).
    let scores = |m: &Path, name: &str| -> Vec<f64> {
        let out = dir.path().join(name);
        run_ok(&[
            "predict".as_ref(),
            "--model".as_ref(),
            m.as_os_str(),
            "--data".as_ref(),
            test.as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ]);
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .skip(1)
            .flat_map(|l| l.split(',').skip(3).map(str::to_owned).collect::<Vec<_>>())
            .map(|v| v.parse().unwrap())
            .collect()
    };
    let (from_trained, from_file) = (scores(&trained, "t.csv"), scores(&model, "f.csv"));
    assert_eq!(from_trained.len(), from_file.len());
    assert!(!from_trained.is_empty());
    for (a, b) in from_trained.iter().zip(&from_file) {
        assert!((a - b).abs() < 1e-4, "{from_trained:?}\n{from_file:?}");
    }
}
