//! The command line: help texts, usage errors, `inspect` on good and corrupt
//! files, `predict` error handling.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use lstm_core::NumberFormat;
use lstm_train::artifact::{DataSource, TaskKind, TrainMode, TrainedModel};
use lstm_train::data::{ForecastConfig, Scaler};
use lstm_train::export::ExportPlan;
use lstm_train::net::{NetConfig, Params};
use rand::SeedableRng;

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");
const AIRLINE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/datasets/forecasting/airline/data.csv"
);

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("running lstm-train")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn small_model() -> TrainedModel {
    let net = NetConfig::new(1, 4, 1, 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
    let params = Params::<f32>::init(&net, &mut rng).unwrap();
    TrainedModel {
        net,
        params,
        task: TaskKind::Regression {
            target: "value".into(),
        },
        mode: TrainMode::Windowed { window: 3 },
        scaler_x: Scaler::MinMax {
            min: vec![100.0],
            max: vec![600.0],
        },
        scaler_y: Scaler::MinMax {
            min: vec![100.0],
            max: vec![600.0],
        },
        data: DataSource::Forecast {
            path: PathBuf::from(AIRLINE),
            config: ForecastConfig {
                window: 3,
                ..ForecastConfig::default()
            },
        },
        difference: false,
        difference_lag: 1,
        season: None,
    }
}

fn write_model_file(dir: &Path, format: NumberFormat) -> PathBuf {
    let bytes = ExportPlan::from_model(&small_model(), format)
        .unwrap()
        .encode()
        .unwrap();
    let path = dir.join("model.lstm");
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in ["fit", "eval", "predict", "export", "inspect", "cv"] {
        let out = run(&[sub, "--help"]);
        assert!(
            out.status.success(),
            "{sub} --help failed: {}",
            text(&out.stderr)
        );
        let help = text(&out.stdout);
        assert!(
            help.contains("Examples:"),
            "{sub} --help has no examples:\n{help}"
        );
        assert!(
            help.contains(&format!("lstm-train {sub}")),
            "{sub}:\n{help}"
        );
    }
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Examples:"));
}

#[test]
fn an_unknown_flag_exits_2_naming_it() {
    for sub in ["fit", "export", "predict", "inspect"] {
        let out = run(&[sub, "--frobnicate", "3"]);
        assert_eq!(out.status.code(), Some(2), "{sub}");
        let err = text(&out.stderr);
        assert!(err.contains("--frobnicate"), "{sub}: {err}");
    }
}

#[test]
fn inspect_shows_every_format() {
    let dir = tempfile::tempdir().unwrap();
    for (format, name) in [
        (NumberFormat::F32, "f32"),
        (NumberFormat::Q4_12, "q4.12"),
        (NumberFormat::Q16_16, "q16.16"),
    ] {
        let path = write_model_file(dir.path(), format);
        let out = run(&["inspect", path.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let s = text(&out.stdout);
        for needle in [
            "format version: 2".to_string(),
            format!("number format: {name}"),
            "LSTM  input 1, hidden 4".into(),
            "parameters: 101".into(),
            "[0] min 100, max 600".into(),
            "training mode: windowed, W = 3".into(),
            "task: regression".into(),
            "differencing: none".into(),
            "(valid)".into(),
        ] {
            assert!(s.contains(&needle), "missing `{needle}` in:\n{s}");
        }
    }
}

#[test]
fn inspect_names_the_crc_mismatch_of_a_corrupted_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_model_file(dir.path(), NumberFormat::Q4_12);
    let mut bytes = std::fs::read(&path).unwrap();
    // Flip one byte inside the weights blob (which ends 4 bytes before the end).
    let at = bytes.len() - 10;
    bytes[at] ^= 0x40;
    std::fs::write(&path, &bytes).unwrap();
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("CRC mismatch"), "{err}");
    assert!(err.contains("model file corrupt"), "{err}");
}

#[test]
fn inspect_refuses_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_model_file(dir.path(), NumberFormat::F32);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 7]).unwrap();
    let out = run(&["inspect", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("truncated"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn predict_refuses_empty_and_nan_csvs_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model_file(dir.path(), NumberFormat::Q4_12);
    let json = dir.path().join("trained.json");
    small_model().save(&json).unwrap();
    let cases = [
        ("empty.csv", "", "empty file"),
        ("header.csv", "time,value\n", "no data rows"),
        (
            "nan.csv",
            "time,value\n1949-01,112\n1949-02,NaN\n1949-03,132\n1949-04,129\n",
            "line 3",
        ),
    ];
    for m in [&model, &json] {
        for (name, body, needle) in cases {
            let csv = dir.path().join(name);
            std::fs::write(&csv, body).unwrap();
            let out_csv = dir.path().join(format!("preds-{name}"));
            let out = run(&[
                "predict",
                "--model",
                m.to_str().unwrap(),
                "--data",
                csv.to_str().unwrap(),
                "--out",
                out_csv.to_str().unwrap(),
            ]);
            assert_eq!(out.status.code(), Some(1), "{name}");
            let err = text(&out.stderr);
            assert!(err.contains(needle), "{name}: {err}");
            assert!(!out_csv.exists(), "{name}: an output file was written");
        }
    }
}

#[test]
fn predict_with_a_model_file_writes_forecasts() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model_file(dir.path(), NumberFormat::Q4_12);
    let csv = dir.path().join("series.csv");
    std::fs::write(&csv, "time,value\na,112\nb,118\nc,132\nd,129\ne,121\n").unwrap();
    let out_csv = dir.path().join("preds.csv");
    let out = run(&[
        "predict",
        "--model",
        model.to_str().unwrap(),
        "--data",
        csv.to_str().unwrap(),
        "--out",
        out_csv.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let body = std::fs::read_to_string(&out_csv).unwrap();
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines[0], "time,forecast_next");
    // Windows of 3 end at rows c, d, e.
    assert_eq!(lines.len(), 4, "{body}");
    assert!(lines[1].starts_with("c,"));
    let v: f64 = lines[3].split(',').nth(1).unwrap().parse().unwrap();
    assert!(v.is_finite());
}

#[test]
fn export_without_its_data_explains_and_no_data_still_exports() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = small_model();
    m.data = DataSource::Forecast {
        path: dir.path().join("gone.csv"),
        config: ForecastConfig::default(),
    };
    let json = dir.path().join("trained.json");
    m.save(&json).unwrap();
    let out_file = dir.path().join("m.lstm");
    let args = [
        "export",
        "--model",
        json.to_str().unwrap(),
        "--format",
        "q4.12",
        "--out",
        out_file.to_str().unwrap(),
    ];
    let out = run(&args);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: exporting"), "{err}");
    assert!(err.contains("  caused by: rebuilding the data"), "{err}");
    assert!(err.contains("gone.csv"), "{err}");
    assert!(!out_file.exists());

    let mut with_flag = args.to_vec();
    with_flag.push("--no-data");
    let out = run(&with_flag);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("clipped weights: 0"), "{s}");
    assert!(s.contains("test metrics: skipped"), "{s}");
    assert!(out_file.exists());
}

#[test]
fn a_closed_stdout_ends_quietly() {
    // `lstm-train inspect m.lstm | head -0`: the reader is gone before the
    // first line; the tool must not print a panic (exit 141, or 0 if it
    // wrote everything before the pipe closed).
    let dir = tempfile::tempdir().unwrap();
    let path = write_model_file(dir.path(), NumberFormat::Q4_12);
    let mut child = Command::new(BIN)
        .args(["inspect", path.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        out.status.code() == Some(141) || out.status.success(),
        "{:?}: {err}",
        out.status
    );
}
