//! Progress when stderr is not a terminal: plain lines during each epoch
//! (every tenth of the mini-batches or every 10 s), nothing with `--quiet`.

use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_lstm-train");

/// A noisy sine of `rows` rows, `time,value`.
fn write_csv(path: &Path, rows: usize) {
    let mut s = String::from("time,value\n");
    for i in 0..rows {
        let t = i as f64;
        let noise = ((i * 7919) % 101) as f64 / 1000.0;
        s += &format!("{i},{:.4}\n", 10.0 + 5.0 * (t * 0.126).sin() + noise);
    }
    std::fs::write(path, s).expect("writing the csv");
}

fn fit(dir: &Path, data: &Path, extra: &[&str]) -> Output {
    // `output()` pipes stderr, so it is not a terminal.
    Command::new(BIN)
        .args(["fit", "--data"])
        .arg(data)
        .args(["--window", "4", "--hidden", "3", "--epochs", "2"])
        .args(["--batch-size", "8", "--out-dir"])
        .arg(dir.join("run"))
        .args(extra)
        .output()
        .expect("running lstm-train")
}

#[test]
fn piped_stderr_gets_progress_lines_each_tenth() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("sine.csv");
    // 1000 rows: 720 fit rows, 716 windows, 90 batches of 8 per epoch.
    write_csv(&data, 1000);
    let out = fit(dir.path(), &data, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fit failed: {err}");
    for epoch in 1..=2 {
        let prefix = format!("epoch {epoch}/2: ");
        let lines: Vec<&str> = err.lines().filter(|l| l.starts_with(&prefix)).collect();
        // One line per tenth (10 %, 20 %, ... 90 %) in each run (the default
        // trains several restarts); the end of the epoch has its own summary
        // line.
        assert!(
            !lines.is_empty() && lines.len().is_multiple_of(9),
            "epoch {epoch}:\n{err}"
        );
        for (k, line) in lines.iter().enumerate() {
            let k = k % 9;
            let pct: usize = line[prefix.len()..]
                .split(' ')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("no percentage in {line:?}"));
            assert_eq!(pct, 10 * (k + 1), "{line:?}");
            assert!(line.contains("/90 batches), loss "), "{line:?}");
            assert!(line.ends_with(" s"), "{line:?}");
        }
        // The summary line of the epoch follows its progress lines.
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("epoch {epoch}/2 loss "))),
            "{err}"
        );
    }
}

#[test]
fn quiet_prints_no_progress() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("sine.csv");
    write_csv(&data, 1000);
    let out = fit(dir.path(), &data, &["--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fit failed: {err}");
    assert!(!err.contains("epoch 1/2"), "{err}");
}
