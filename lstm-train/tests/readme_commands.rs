//! Runs the commands of the README's "Training on your own CSV" block with
//! the built `lstm-train` binary, so the README cannot drift from the CLI.
//! (`cargo build` is what built this binary; `cargo xtask firmware` is run by
//! `cargo xtask ci`.)

use std::path::Path;
use std::process::Command;

#[test]
fn readme_training_commands_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let section = readme
        .split("## Training on your own CSV")
        .nth(1)
        .expect("the section exists");
    let block = section
        .split("```sh")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("a sh block");
    let dir = tempfile::tempdir().expect("temp dir");
    std::os::unix::fs::symlink(root.join("data"), dir.path().join("data")).expect("link data/");
    let mut ran = 0;
    for line in block.lines().map(str::trim) {
        let Some(args) = line.strip_prefix("$T ") else {
            continue;
        };
        let args: Vec<&str> = args
            .split('#')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_lstm-train"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .expect("run lstm-train");
        assert!(
            out.status.success(),
            "README command failed: lstm-train {}\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        ran += 1;
    }
    assert_eq!(ran, 4, "fit, export, inspect and predict ran");
    for file in [
        "runs/sunspots/trained.json",
        "runs/sunspots/metrics.json",
        "sunspots.lstm",
        "sunspots.lstm.inputs",
        "forecasts.csv",
    ] {
        assert!(dir.path().join(file).is_file(), "{file} was written");
    }
}
