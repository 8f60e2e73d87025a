//! A run folder after crashes and under concurrent use: `fit` killed with
//! `SIGKILL` at seeded random moments and resumed leaves no temporary file
//! and the same files as an uninterrupted run; a second `fit` or `export`
//! into a folder a `fit` is using is refused, naming the first process; a
//! dead process's temporary files are swept by the next run.

#![cfg(unix)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The airline series bundled with the project.
const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/airline.csv");

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_lstm-train"))
}

fn data() -> PathBuf {
    PathBuf::from(DATA)
}

fn fit_cmd(data: &Path, dir: &Path, epochs: u32, resume: bool) -> Command {
    let mut c = bin();
    c.arg("fit")
        .arg("--data")
        .arg(data)
        .args(["--window", "12", "--hidden", "8", "--seed", "1", "--quiet"])
        .args(["--epochs", &epochs.to_string()])
        .arg("--out-dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if resume {
        c.arg("--resume");
    }
    c
}

fn run_ok(mut c: Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "{:?} failed: {}",
        c,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

/// history.csv without its `seconds` column (wall-clock time per epoch).
fn history_without_seconds(dir: &Path) -> String {
    let text = fs::read_to_string(dir.join("history.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == "seconds");
    text.lines()
        .map(|l| {
            l.split(',')
                .enumerate()
                .filter(|(i, _)| Some(*i) != col)
                .map(|(_, v)| v)
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A pid no live process has: that of a child that has exited and been
/// reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

/// Files that are the same bytes after a kill and a resume as after an
/// uninterrupted run (checkpoint.json and history.csv hold wall-clock
/// seconds; history.csv is compared without that column).
const IDENTICAL: [&str; 5] = [
    "trained.json",
    "best.json",
    "metrics.json",
    "predictions.png",
    "history.png",
];

#[test]
fn sigkill_during_fit_then_resume_leaves_no_temporary_and_the_same_files() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    let started = Instant::now();
    run_ok(fit_cmd(&data, &reference, 30, false));
    let full = started.elapsed();
    assert!(temporaries(&reference).is_empty());

    // Seeded delays over the length of a whole run (training, then saving,
    // evaluating and plotting).
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for round in 0..4 {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let frac = (state >> 33) as f64 / (1u64 << 31) as f64;
        let delay = full.mul_f64(0.1 + 0.8 * frac);
        let dir = root.path().join(format!("killed{round}"));
        let mut child: Child = fit_cmd(&data, &dir, 30, false).spawn().unwrap();
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        // What a kill inside a write leaves, whatever this kill hit.
        fs::create_dir_all(&dir).unwrap();
        let pid = dead_pid();
        fs::write(dir.join(format!(".checkpoint.json.{pid}.tmp")), b"{\"part").unwrap();
        fs::write(dir.join(format!(".history.csv.{pid}.tmp")), b"epoch,lo").unwrap();

        let resume = dir.join("checkpoint.json").exists();
        eprintln!(
            "round {round}: killed after {delay:?} (a whole run: {full:?}), resume: {resume}"
        );
        run_ok(fit_cmd(&data, &dir, 30, resume));
        assert_eq!(
            temporaries(&dir),
            Vec::<String>::new(),
            "round {round} ({delay:?}, resumed: {resume})"
        );
        for name in IDENTICAL {
            assert!(
                fs::read(dir.join(name)).unwrap() == fs::read(reference.join(name)).unwrap(),
                "round {round} ({delay:?}, resumed: {resume}): {name} differs"
            );
        }
        assert_eq!(
            history_without_seconds(&dir),
            history_without_seconds(&reference),
            "round {round}: history.csv differs"
        );
    }
}

/// The kill that lands between the checkpoint's write and history.csv's
/// (the seeded test above hits it now and then): the checkpoint holds the
/// last epoch, history.csv lacks it. The resume, with nothing left to
/// train, writes the checkpoint's history.
#[test]
fn resume_after_a_kill_between_checkpoint_and_history_restores_the_history() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let reference = root.path().join("reference");
    run_ok(fit_cmd(&data, &reference, 5, false));
    let killed = root.path().join("killed");
    fs::create_dir_all(&killed).unwrap();
    for e in fs::read_dir(&reference).unwrap() {
        let e = e.unwrap();
        fs::copy(e.path(), killed.join(e.file_name())).unwrap();
    }
    let full = fs::read_to_string(reference.join("history.csv")).unwrap();
    let behind: Vec<&str> = full.lines().collect();
    fs::write(
        killed.join("history.csv"),
        behind[..behind.len() - 1].join("\n") + "\n",
    )
    .unwrap();
    run_ok(fit_cmd(&data, &killed, 5, true));
    assert_eq!(
        fs::read_to_string(killed.join("history.csv")).unwrap(),
        full,
        "history.csv after the resume"
    );
}

/// Waits until `dir`'s lock file names `pid`.
fn wait_for_lock(dir: &Path, pid: u32) {
    let lock = dir.join(".lstm-train.lock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if fs::read_to_string(&lock).is_ok_and(|t| t.starts_with(&format!("{pid} "))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} never named {pid}", lock.display());
}

#[test]
fn a_second_fit_or_export_into_a_busy_folder_is_refused_naming_the_first() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("busy");
    let mut first = fit_cmd(&data, &dir, 1_000_000, false).spawn().unwrap();
    let pid = first.id();
    wait_for_lock(&dir, pid);

    let second = fit_cmd(&data, &dir, 2, false).output().unwrap();
    let msg = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "second fit succeeded: {msg}");
    assert!(
        msg.contains(&format!("in use by lstm-train process {pid} (fit)")),
        "{msg}"
    );
    assert!(!dir.join("trained.json").exists(), "mixed files");

    // An export into the busy folder is refused too (the model comes from
    // another, finished run).
    let other = root.path().join("other");
    run_ok(fit_cmd(&data, &other, 2, false));
    let export = bin()
        .arg("export")
        .arg("--model")
        .arg(other.join("trained.json"))
        .args(["--format", "q4.12", "--out"])
        .arg(dir.join("m.lstm"))
        .output()
        .unwrap();
    let msg = String::from_utf8_lossy(&export.stderr);
    assert!(!export.status.success(), "export succeeded: {msg}");
    assert!(
        msg.contains(&format!("in use by lstm-train process {pid} (fit)")),
        "{msg}"
    );
    assert_eq!(msg.matches("is in use by").count(), 1, "said once: {msg}");
    assert!(!dir.join("m.lstm").exists());

    // The kernel releases the lock of a killed process.
    first.kill().unwrap();
    first.wait().unwrap();
    run_ok(fit_cmd(&data, &dir, 2, false));
    assert!(dir.join("trained.json").exists());
    assert!(temporaries(&dir).is_empty());
}

#[test]
fn export_sweeps_a_dead_exports_temporary() {
    let data = data();
    let root = tempfile::tempdir().unwrap();
    let run = root.path().join("run");
    run_ok(fit_cmd(&data, &run, 2, false));
    let out_dir = root.path().join("models");
    fs::create_dir_all(&out_dir).unwrap();
    let pid = dead_pid();
    let stale = out_dir.join(format!(".m.lstm.{pid}.tmp"));
    fs::write(&stale, b"LSTM").unwrap();
    let mut export = bin();
    export
        .arg("export")
        .arg("--model")
        .arg(run.join("trained.json"))
        .args(["--format", "q4.12", "--out"])
        .arg(out_dir.join("m.lstm"))
        .arg("--heldout")
        .arg(out_dir.join("m.lstm.inputs"));
    run_ok(export);
    assert!(out_dir.join("m.lstm").exists());
    assert_eq!(temporaries(&out_dir), Vec::<String>::new());
    // An export never leaves a lock file in a folder no run used.
    assert!(!out_dir.join(".lstm-train.lock").exists());
}
