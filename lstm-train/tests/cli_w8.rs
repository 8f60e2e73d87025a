//! 8-bit weights through the binary: fit a small LSTM on the airline
//! series, export it as `q4.12-w8` (and as `q4.12` to compare), read the
//! report, inspect the file, score it with `eval --core` and predict with it.

use std::path::Path;
use std::process::{Command, Output};

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

/// Runs `lstm-train` (which must succeed) and returns its standard output.
fn out(args: &[&str]) -> String {
    let o = run(args);
    assert!(
        o.status.success(),
        "lstm-train {} failed:\n{}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// The number after `key` in `text` (e.g. the RMSE of a report line).
fn number_after(text: &str, key: &str) -> f64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no `{key}` in:\n{text}"))
        + key.len();
    text[at..]
        .trim_start()
        .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("`{key}` not followed by a number ({e}) in:\n{text}"))
}

#[test]
fn export_inspect_eval_predict_with_8_bit_weights() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = dir.path().join("run");
    out(&[
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--hidden",
        "16",
        "--epochs",
        "30",
        "--batch-size",
        "16",
        "--season",
        "12",
        "--difference",
        "12",
        "--seed",
        "42",
        "--quiet",
        "--out-dir",
        p(&run_dir),
    ]);
    let trained = run_dir.join("trained.json");
    let (m8, m12) = (dir.path().join("a.w8.lstm"), dir.path().join("a.q12.lstm"));
    let r12 = out(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "q4.12",
        "--out",
        p(&m12),
    ]);
    let r8 = out(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "q4.12-w8",
        "--out",
        p(&m8),
    ]);
    for needle in [
        "wrote ",
        "(q4.12-w8, ",
        "8-bit weights: 1104 in 65 rows, a scale 2^-e per row, e from ",
        "biases Q4.12",
        "test metric before (trainer f32 forward)",
        "DynModel<q4.12-w8, fast activations>",
    ] {
        assert!(r8.contains(needle), "missing `{needle}` in:\n{r8}");
    }
    // The same trained model, so the same "before"; the "after" of 8-bit
    // weights within 5% of the trainer's RMSE (the 16-bit bar is 1%;
    // `ISSUE 15` asks to say by how much it is missed, not to hide it).
    let before = number_after(&r8, "forward):  RMSE");
    assert_eq!(before, number_after(&r12, "forward):  RMSE"));
    let after8 = number_after(
        &r8,
        "exported bytes; windowed: each test window of 12 from the zero state): RMSE",
    );
    assert!(
        (after8 - before).abs() <= 0.05 * before,
        "w8 RMSE {after8} against f32 {before}:\n{r8}"
    );
    // Half the weight bytes, give or take the scales, biases and padding.
    let (n8, n12) = (
        std::fs::metadata(&m8).unwrap().len(),
        std::fs::metadata(&m12).unwrap().len(),
    );
    assert!(n8 * 10 < n12 * 6, "{n8} bytes against {n12}");

    let s = out(&["inspect", p(&m8)]);
    for needle in [
        "format version: 8",
        "number format: q4.12-w8 (8-bit weights",
        "LSTM  input 1, hidden 16",
        "(valid)",
    ] {
        assert!(s.contains(needle), "missing `{needle}` in:\n{s}");
    }
    let s = out(&["eval", "--model", p(&trained), "--core", p(&m8)]);
    assert!(s.contains("via lstm-core"), "{s}");

    // The file predicts close to the Q4.12 file (passengers).
    let vals = |m: &Path| -> Vec<f64> {
        out(&["predict", "--model", p(m), "--data", AIRLINE])
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect()
    };
    let (a, b) = (vals(&m8), vals(&m12));
    assert_eq!(a.len(), b.len());
    assert!(!a.is_empty());
    let worst = a
        .iter()
        .zip(&b)
        .fold(0.0f64, |m, (x, y)| m.max((x - y).abs()));
    assert!(
        worst > 0.0,
        "8-bit weights changed nothing: is the format used?"
    );
    assert!(
        worst < 20.0,
        "8-bit and Q4.12 files differ by {worst} passengers"
    );

    // `w8a16` names the same format; an unknown one is refused by name.
    let m = dir.path().join("alias.lstm");
    out(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "w8a16",
        "--out",
        p(&m),
    ]);
    assert_eq!(std::fs::read(&m).unwrap(), std::fs::read(&m8).unwrap());
    let o = run(&[
        "export",
        "--model",
        p(&trained),
        "--format",
        "q4.8",
        "--out",
        p(&m),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("q4.12-w8"));
}
