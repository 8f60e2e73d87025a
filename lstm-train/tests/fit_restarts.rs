//! `fit --restarts N`: N seeds trained, the one with the lowest validation
//! loss kept, every restart recorded in metrics.json; `--restarts 1` is the
//! single run of the seed; `--resume` refuses more than one restart.

use std::path::Path;
use std::process::{Command, Output};

/// The airline series bundled with the project (the same bytes as
/// `shared/datasets/forecasting/airline/data.csv`).
const AIRLINE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/airline.csv");

fn lstm_train(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lstm-train"))
        .args(args)
        .output()
        .unwrap()
}

fn ok(args: &[&str]) -> Output {
    let o = lstm_train(args);
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn base<'a>(dir: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut a = vec![
        "fit",
        "--data",
        AIRLINE,
        "--window",
        "12",
        "--hidden",
        "4",
        "--epochs",
        "4",
        "--quiet",
        "--out-dir",
        dir,
    ];
    a.extend_from_slice(extra);
    a
}

#[test]
fn three_restarts_keep_the_lowest_validation_loss_and_record_all() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("r3");
    ok(&base(
        run.to_str().unwrap(),
        &["--restarts", "3", "--seed", "5"],
    ));
    let m = json(&run.join("metrics.json"));
    let r = m["restarts"].as_array().expect("restarts in metrics.json");
    assert_eq!(r.len(), 3, "{m}");
    let seeds: Vec<u64> = r.iter().map(|s| s["seed"].as_u64().unwrap()).collect();
    assert_eq!(seeds, [5, 6, 7]);
    let vals: Vec<f64> = r.iter().map(|s| s["val_loss"].as_f64().unwrap()).collect();
    let min = vals.iter().copied().fold(f64::INFINITY, f64::min);
    let kept: Vec<&serde_json::Value> = r.iter().filter(|s| s["kept"] == true).collect();
    assert_eq!(kept.len(), 1, "{m}");
    assert_eq!(kept[0]["val_loss"].as_f64().unwrap(), min, "{m}");
    assert_eq!(kept[0]["best"].as_f64().unwrap(), min, "{m}");
    for s in r {
        assert_eq!(s["epochs"].as_u64(), Some(4));
    }
    // No restart folder is left; the kept restart's files are the run's.
    assert!(!run.join(".restarts").exists());
    for f in [
        "trained.json",
        "checkpoint.json",
        "best.json",
        "history.csv",
    ] {
        assert!(run.join(f).exists(), "{f}");
    }

    // The kept model is exactly the single run of its seed (--restarts 1).
    let seed = kept[0]["seed"].as_u64().unwrap().to_string();
    let one = dir.path().join("r1");
    ok(&base(
        one.to_str().unwrap(),
        &["--restarts", "1", "--seed", &seed],
    ));
    assert_eq!(
        std::fs::read(run.join("trained.json")).unwrap(),
        std::fs::read(one.join("trained.json")).unwrap()
    );
    // An explicit --seed alone is that single run too (today's behaviour).
    let plain = dir.path().join("plain");
    ok(&base(plain.to_str().unwrap(), &["--seed", &seed]));
    assert_eq!(
        std::fs::read(plain.join("trained.json")).unwrap(),
        std::fs::read(one.join("trained.json")).unwrap()
    );
    let pm = json(&plain.join("metrics.json"));
    assert_eq!(pm["restarts"].as_array().map(Vec::len), Some(1), "{pm}");

    // --resume continues the kept restart (its seed from the checkpoint)
    // and refuses more than one restart.
    let o = lstm_train(&base(
        run.to_str().unwrap(),
        &["--resume", "--restarts", "2"],
    ));
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--restarts"));
    let mut resumed = base(run.to_str().unwrap(), &["--resume"]);
    resumed[8] = "6";
    ok(&resumed);
    let h = std::fs::read_to_string(run.join("history.csv")).unwrap();
    assert_eq!(h.lines().count(), 7, "{h}");
}

#[test]
fn default_is_three_restarts_on_a_small_set_and_prints_them() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("d");
    let mut a = base(run.to_str().unwrap(), &[]);
    a.retain(|x| *x != "--quiet");
    let o = ok(&a);
    let err = String::from_utf8_lossy(&o.stderr);
    for k in 1..=3 {
        assert!(
            err.contains(&format!("restart {k}/3: seed {}", 41 + k)),
            "{err}"
        );
    }
    let m = json(&run.join("metrics.json"));
    assert_eq!(m["restarts"].as_array().map(Vec::len), Some(3), "{m}");
}
