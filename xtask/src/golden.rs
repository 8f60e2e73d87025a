//! `golden`: the demo model's `defmt` log, checked in under
//! `firmware-example/golden/`, so that any change in its predictions (or in
//! what the firmware reports) shows up as a diff.
//!
//! The log is normalised before comparing: every word that starts with `@`
//! (addresses, stack depths: what changes with the code but not with the
//! model) becomes `@…`. The decoded log has no timestamps or source
//! locations (`qemu-run.sh` asks defmt-print for level and message only).
//!
//! `golden` also checks that `firmware-example/models/demo.lstm.expected`
//! (the host outputs that a plain `cargo run` in `firmware-example` embeds)
//! is what the host computes today. `--bless` rewrites both.

use std::path::PathBuf;

use crate::firmware::{self, Machine, Options};
use crate::model::with_suffix;
use crate::util::{self, err, Args, Result};

/// Machines the golden logs are kept for.
pub const MACHINES: [Machine; 2] = [Machine::Mps2An386, Machine::Microbit];

/// The checked-in log for the demo model on `machine`.
pub fn golden_path(machine: Machine) -> PathBuf {
    util::firmware_dir()
        .join("golden")
        .join(format!("demo.{}.out", machine.name()))
}

/// Replaces build-dependent words (those starting with `@`) and trailing
/// blanks, line by line.
pub fn normalize(log: &str) -> String {
    let mut out = String::new();
    for line in log.lines() {
        let words: Vec<&str> = line
            .split(' ')
            .map(|w| if w.starts_with('@') { "@…" } else { w })
            .collect();
        out += words.join(" ").trim_end();
        out.push('\n');
    }
    out
}

/// A short line-by-line diff (first differences only).
fn diff(want: &str, got: &str) -> String {
    let (w, g): (Vec<&str>, Vec<&str>) = (want.lines().collect(), got.lines().collect());
    let mut out = String::new();
    let mut shown = 0;
    for i in 0..w.len().max(g.len()) {
        let (a, b) = (w.get(i).copied(), g.get(i).copied());
        if a != b {
            out += &format!(
                "line {}:\n  - {}\n  + {}\n",
                i + 1,
                a.unwrap_or("<none>"),
                b.unwrap_or("<none>")
            );
            shown += 1;
            if shown == 10 {
                out += "  ...\n";
                break;
            }
        }
    }
    out
}

/// `cargo xtask golden [--machine m] [--bless]`.
pub fn cmd(mut args: Args) -> Result<()> {
    let bless = args.switch("--bless");
    let machines = match args.value("--machine")? {
        Some(m) => vec![Machine::parse(&m)?],
        None => MACHINES.to_vec(),
    };
    args.finish()?;
    check(&machines, bless)
}

/// Runs the demo model on each machine and compares (or, with `bless`,
/// rewrites) the golden logs and the checked-in expected outputs.
pub fn check(machines: &[Machine], bless: bool) -> Result<()> {
    let model = firmware::demo_model();
    let mut failures = Vec::new();
    for &machine in machines {
        let opts = Options {
            machine,
            echo: false,
            ..Options::default()
        };
        let report = firmware::run_firmware(&model, &opts)?;
        firmware::print_summary(&report);
        if !report.passed {
            print!("{}", report.log);
            failures.push(format!("{}: the firmware failed", machine.name()));
            continue;
        }
        let got = normalize(&report.log);
        let path = golden_path(machine);
        if bless {
            std::fs::create_dir_all(path.parent().expect("golden/ has a parent"))?;
            std::fs::write(&path, &got)?;
            println!("blessed {}", path.display());
            continue;
        }
        let want = std::fs::read_to_string(&path).map_err(|e| {
            err(format!(
                "cannot read {} ({e}); create it with `cargo xtask golden --bless`",
                path.display()
            ))
        })?;
        if want == got {
            println!("golden {}: identical", path.display());
        } else {
            println!(
                "golden {} differs from this run:\n{}",
                path.display(),
                diff(&want, &got)
            );
            failures.push(format!("{}: log differs from the golden", machine.name()));
        }
    }

    // The demo's checked-in expected outputs must be today's host outputs.
    let fresh = util::scratch_dir()?.join("demo.lstm.expected");
    let checked_in = with_suffix(&model, "expected");
    if bless {
        std::fs::copy(&fresh, &checked_in)?;
        println!("blessed {}", checked_in.display());
    } else if std::fs::read(&fresh)? != std::fs::read(&checked_in).unwrap_or_default() {
        failures.push(format!(
            "{} is not what the host computes now (cargo xtask golden --bless)",
            checked_in.display()
        ));
    }

    if failures.is_empty() {
        Ok(())
    } else {
        Err(err(failures.join("; ")))
    }
}
