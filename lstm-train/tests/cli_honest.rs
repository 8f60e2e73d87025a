//! The CLI says what it did: each test here is a defect or a silence a new
//! user met (issue 12, items 4 and 5), run through the `lstm-train` binary.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::{AIRLINE, BIN};

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running lstm-train")
}

fn ok(args: &[&str]) -> Output {
    let o = run(args);
    assert!(
        o.status.success(),
        "{args:?} failed:\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The first number after `key` in `s`.
fn number_after(s: &str, key: &str) -> f64 {
    let at = s.find(key).unwrap_or_else(|| panic!("no `{key}` in:\n{s}")) + key.len();
    s[at..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .next()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no number after `{key}` in:\n{s}"))
}

/// A seasonal-difference model of the airline series: the trainer's metric
/// beside the file's is in original units (it was the scaled difference's,
/// RMSE 366 beside 0.38), equal to `eval`'s own table; and `eval` without
/// --season scores the seasonal naive at the season `fit` was given.
#[test]
fn eval_core_on_a_differenced_model_and_the_recorded_season() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("air");
    let r = run_dir.to_str().unwrap();
    ok(&[
        "fit",
        "--data",
        AIRLINE,
        "--difference",
        "12",
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "2",
        "--season",
        "12",
        "--quiet",
        "--out-dir",
        r,
    ]);
    let model = run_dir.join("trained.json");
    let file = dir.path().join("air.lstm");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "f32",
        "--out",
        file.to_str().unwrap(),
    ]);
    let o = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--core",
        file.to_str().unwrap(),
    ]);
    let s = text(&o.stdout);
    let table = number_after(&s, "\nLSTM");
    let trainer = number_after(&s, "trainer f32:                          RMSE");
    let core = number_after(&s, "activations): RMSE");
    assert!((trainer - table).abs() < 1e-3, "{s}");
    assert!((trainer - core).abs() / core < 1e-3, "{s}");
    // The season given to fit is recorded and used.
    assert!(s.contains("seasonal naive y[t-12]"), "{s}");
    assert_eq!(json(&model)["season"], 12);
    // A resumed run without --season keeps the recorded season.
    ok(&[
        "fit",
        "--data",
        AIRLINE,
        "--difference",
        "12",
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "3",
        "--resume",
        "--quiet",
        "--out-dir",
        r,
    ]);
    assert_eq!(json(&model)["season"], 12);
    assert!(json(&run_dir.join("metrics.json"))["baselines"][1]["name"] == "seasonal_naive_m12");
}

/// `cv --help` lists only what cv accepts; the classification flags are
/// refused with a reason.
#[test]
fn cv_help_lists_no_classification_flags() {
    let help = text(&ok(&["cv", "--help"]).stdout);
    for flag in ["--train", "--test", "--per-series-norm", "--task"] {
        assert!(!help.contains(flag), "cv --help lists {flag}:\n{help}");
    }
    let o = run(&["cv", "--train", "a.csv", "--test", "b.csv"]);
    assert!(!o.status.success());
    assert!(
        text(&o.stderr).contains("forecasting"),
        "{}",
        text(&o.stderr)
    );
}

/// `inspect` counts recurrent layers apart from the Dense head, and
/// `predict` writes the forecast column under one name whether it runs
/// trained.json or the exported file, with a summary of the inputs.
#[test]
fn inspect_layers_and_predict_columns_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("air");
    common::fit_airline_one_epoch(&run_dir);
    let model = run_dir.join("trained.json");
    let file = dir.path().join("air.lstm");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "q4.12",
        "--out",
        file.to_str().unwrap(),
    ]);
    let s = text(&ok(&["inspect", file.to_str().unwrap()]).stdout);
    assert!(
        s.contains("layers: 1 recurrent + 1 Dense head (2 in the file)"),
        "{s}"
    );
    let from_file = ok(&[
        "predict",
        "--model",
        file.to_str().unwrap(),
        "--data",
        AIRLINE,
    ]);
    let from_json = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        AIRLINE,
    ]);
    for o in [&from_file, &from_json] {
        assert!(text(&o.stdout).starts_with("time,forecast_next\n"));
    }
    // The airline series climbs past its training maximum: the test
    // years' inputs are outside the training range, and it is said.
    let summary = text(&from_file.stderr);
    let outside = number_after(&summary, "values,");
    assert!(outside > 0.0, "{summary}");
    assert!(
        summary.contains("q4.12: 0 scaled inputs saturated") && summary.contains("cell-state"),
        "{summary}"
    );
    assert!(
        text(&from_json.stderr).contains("outside the range the model was trained on"),
        "{}",
        text(&from_json.stderr)
    );
}

/// `predict --missing` accepts gaps as `fit --missing` does; without it
/// the gap is refused naming its line.
#[test]
fn predict_handles_missing_cells_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("air");
    common::fit_airline_one_epoch(&run_dir);
    let model = run_dir.join("trained.json");
    let file = dir.path().join("air.lstm");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "f32",
        "--out",
        file.to_str().unwrap(),
    ]);
    let csv = std::fs::read_to_string(AIRLINE).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let time = lines[21].split(',').next().unwrap().to_string();
    lines[21] = format!("{time},");
    let gap = dir.path().join("gap.csv");
    std::fs::write(&gap, lines.join("\n") + "\n").unwrap();
    let g = gap.to_str().unwrap();
    for m in [&file, &model] {
        let m = m.to_str().unwrap();
        let refused = run(&["predict", "--model", m, "--data", g]);
        assert!(!refused.status.success());
        assert!(
            text(&refused.stderr).contains("line 22, column `value`: missing value"),
            "{}",
            text(&refused.stderr)
        );
        let filled = ok(&[
            "predict",
            "--model",
            m,
            "--data",
            g,
            "--missing",
            "interpolate",
        ]);
        assert!(text(&filled.stderr).contains("1 cells filled"));
        let full = ok(&["predict", "--model", m, "--data", AIRLINE]);
        let dropped = ok(&["predict", "--model", m, "--data", g, "--missing", "drop"]);
        assert_eq!(
            text(&filled.stdout).lines().count(),
            text(&full.stdout).lines().count()
        );
        assert_eq!(
            text(&dropped.stdout).lines().count() + 1,
            text(&full.stdout).lines().count()
        );
    }
}

/// A value beyond the f32 range is "out of range" (file, line, column),
/// and an extreme but representable one is reported before training.
#[test]
fn out_of_range_values_and_extreme_outliers() {
    let dir = tempfile::tempdir().unwrap();
    let csv = std::fs::read_to_string(AIRLINE).unwrap();
    let mut lines: Vec<String> = csv.lines().map(String::from).collect();
    let time = lines[60].split(',').next().unwrap().to_string();
    lines[60] = format!("{time},1e39");
    let big = dir.path().join("big.csv");
    std::fs::write(&big, lines.join("\n") + "\n").unwrap();
    let o = run(&["fit", "--data", big.to_str().unwrap(), "--quiet"]);
    assert!(!o.status.success());
    let e = text(&o.stderr);
    assert!(
        e.contains("line 61, column `value`: value `1e39` is out of range")
            && !e.contains("not finite"),
        "{e}"
    );
    lines[60] = format!("{time},1e30");
    let outlier = dir.path().join("outlier.csv");
    std::fs::write(&outlier, lines.join("\n") + "\n").unwrap();
    let r = dir.path().join("run");
    let o = ok(&[
        "fit",
        "--data",
        outlier.to_str().unwrap(),
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--quiet",
        "--out-dir",
        r.to_str().unwrap(),
    ]);
    let e = text(&o.stderr);
    assert!(
        e.contains("robust standard deviations") && e.contains(&format!("time `{time}`")),
        "{e}"
    );
    // It is said before training: before the baseline warning the
    // evaluation gives.
    let warn_at = e.find("robust standard deviations").unwrap();
    let base_at = e.find("is not below naive").unwrap_or(usize::MAX);
    assert!(warn_at < base_at, "{e}");
    let m = json(&r.join("metrics.json"));
    assert!(m["notes"]
        .to_string()
        .contains("robust standard deviations"));
}

/// A forecaster that loses to the naive forecast says so, with the hint.
#[test]
fn losing_to_naive_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("run");
    // No differencing on a trending series, one epoch: worse than naive.
    let o = ok(&[
        "fit",
        "--data",
        AIRLINE,
        "--difference",
        "none",
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "1",
        "--quiet",
        "--out-dir",
        r.to_str().unwrap(),
    ]);
    let e = text(&o.stderr);
    assert!(
        e.contains("is not below naive") && e.contains("--difference"),
        "{e}"
    );
    let m = json(&r.join("metrics.json"));
    assert!(m["notes"].to_string().contains("not below naive"));
}

/// `--resume --epochs N` after an early stop trains nothing, and says why.
#[test]
fn resume_after_early_stopping_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().join("run");
    let rs = r.to_str().unwrap();
    let first = ok(&[
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "200",
        "--patience",
        "1",
        "--lr",
        "0.05",
        "--out-dir",
        rs,
    ]);
    let out = text(&first.stdout);
    assert!(out.contains("early stopping after epoch"), "{out}");
    let o = ok(&[
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "3",
        "--hidden",
        "2",
        "--epochs",
        "400",
        "--patience",
        "1",
        "--lr",
        "0.05",
        "--resume",
        "--quiet",
        "--out-dir",
        rs,
    ]);
    let e = text(&o.stderr);
    assert!(
        e.contains("ended by early stopping") && e.contains("no epoch is trained"),
        "{e}"
    );
}

/// Writes a long-format classification file (`series_id,label,t,value`)
/// of `n` series per class: class `a` a rising ramp, class `b` a falling
/// one, series `i` of length `lens[i % lens.len()]`.
fn write_ramps(path: &Path, n: usize, lens: &[usize]) {
    let mut s = String::from("series_id,label,t,value\n");
    for i in 0..n {
        for (label, sign) in [("a", 1.0), ("b", -1.0)] {
            let len = lens[i % lens.len()];
            for t in 0..len {
                let v = sign * t as f64 / len as f64 + 0.05 * ((i * 7 + t) % 5) as f64;
                s.push_str(&format!("{label}{i},{label},{t},{v:.4}\n"));
            }
        }
    }
    std::fs::write(path, s).unwrap();
}

/// Test series of other lengths than the training series: said by fit and
/// predict, and a longer one is classified from its last W steps by the
/// trainer and by the exported file alike (the device keeps W samples).
/// The 1-NN baselines are printed beside the majority class.
#[test]
fn classification_lengths_and_nearest_neighbour_baselines() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    write_ramps(&train, 10, &[8]);
    write_ramps(&test, 3, &[8, 12, 5]);
    let r = dir.path().join("run");
    let o = ok(&[
        "fit",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--hidden",
        "3",
        "--epochs",
        "3",
        "--quiet",
        "--out-dir",
        r.to_str().unwrap(),
    ]);
    let e = text(&o.stderr);
    assert!(
        e.contains("4 of 6 test series differ in length") && e.contains("last 8 steps"),
        "{e}"
    );
    let s = text(&o.stdout);
    assert!(
        s.contains("1-NN Euclidean") && s.contains("1-NN DTW"),
        "{s}"
    );
    let m = json(&r.join("metrics.json"));
    assert!(
        m["nn_euclidean"].as_f64().is_some() && m["nn_dtw"].as_f64().is_some(),
        "{m}"
    );
    let model = r.join("trained.json");
    let file = dir.path().join("m.lstm");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "f32",
        "--out",
        file.to_str().unwrap(),
    ]);
    let ev = text(
        &ok(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--core",
            file.to_str().unwrap(),
        ])
        .stdout,
    );
    let trainer = number_after(&ev, "trainer f32:                          accuracy");
    let core = number_after(&ev, "activations): accuracy");
    assert_eq!(trainer, core, "{ev}");
    let scores_file = ok(&[
        "predict",
        "--model",
        file.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    let scores_json = ok(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    for o in [&scores_file, &scores_json] {
        assert!(
            text(&o.stderr).contains("2 of 6 series are longer than the model's window of 8 steps"),
            "{}",
            text(&o.stderr)
        );
    }
    // The same classes from the trainer and from the file.
    let classes = |o: &Output| -> Vec<String> {
        text(&o.stdout)
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(2).unwrap().to_string())
            .collect()
    };
    assert_eq!(classes(&scores_file), classes(&scores_json));
}

/// `fit --pool 2`: recorded in the exported file (version 6), described by
/// `inspect`, and run by lstm-core (its RawIo pools) to the trainer's
/// accuracy.
#[test]
fn pooling_is_recorded_exported_and_run_by_the_core() {
    let dir = tempfile::tempdir().unwrap();
    let (train, test) = (dir.path().join("train.csv"), dir.path().join("test.csv"));
    write_ramps(&train, 10, &[12]);
    write_ramps(&test, 4, &[12, 11]);
    let r = dir.path().join("run");
    ok(&[
        "fit",
        "--train",
        train.to_str().unwrap(),
        "--test",
        test.to_str().unwrap(),
        "--pool",
        "2",
        "--hidden",
        "3",
        "--epochs",
        "3",
        "--quiet",
        "--out-dir",
        r.to_str().unwrap(),
    ]);
    let model = r.join("trained.json");
    assert_eq!(json(&model)["data"]["Classify"]["config"]["pool"], 2);
    let file = dir.path().join("m.lstm");
    ok(&[
        "export",
        "--model",
        model.to_str().unwrap(),
        "--format",
        "q4.12",
        "--out",
        file.to_str().unwrap(),
    ]);
    let s = text(&ok(&["inspect", file.to_str().unwrap()]).stdout);
    assert!(
        s.contains("format version: 6")
            && s.contains("mean of 2 raw samples")
            && s.contains("W = 6"),
        "{s}"
    );
    let ev = text(
        &ok(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--core",
            file.to_str().unwrap(),
        ])
        .stdout,
    );
    let trainer = number_after(&ev, "trainer f32:                          accuracy");
    let core = number_after(&ev, "activations): accuracy");
    assert_eq!(trainer, core, "{ev}");
    let o = ok(&[
        "predict",
        "--model",
        file.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    assert_eq!(text(&o.stdout).lines().count(), 9);
    let o = run(&["fit", "--data", AIRLINE, "--pool", "2"]);
    assert!(!o.status.success() && text(&o.stderr).contains("--pool is for classification"));
}
