//! `firmware`: build the firmware for a model file and run it under QEMU.
//!
//! [`run_firmware`] is the whole pipeline, also called by `golden`, `insn`
//! and `size` (and by `demo` once the trainer exports models):
//!
//! 1. the host build of `firmware-example` computes the expected outputs of
//!    the model over its held-out inputs with `lstm-core` on the host
//!    (raw bits of the number format) into the firmware's target dir;
//! 2. the device build embeds the model file, the inputs and those outputs
//!    (`LSTM_MODEL`, `LSTM_INPUTS`, `LSTM_EXPECTED`, see `firmware-example/build.rs`);
//! 3. `firmware-example/qemu-run.sh` runs it under QEMU and decodes the
//!    `defmt` log; the firmware exits non-zero if loading failed or any
//!    output differed from the host's by a single bit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::model::with_suffix;
use crate::util::{self, err, Args, Result};

/// A QEMU machine the firmware is built for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// Arm MPS2 AN386: Cortex-M4F, 4 MiB flash, 4 MiB RAM.
    Mps2An386,
    /// BBC micro:bit v1 (nRF51): Cortex-M0, 256 KiB flash, 16 KiB RAM.
    Microbit,
}

impl Machine {
    /// QEMU's `-machine` name (also `FIRMWARE_MACHINE` and the `memory/*.x` name).
    pub fn name(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "mps2-an386",
            Machine::Microbit => "microbit",
        }
    }

    /// The Rust target the firmware is built for.
    pub fn target(self) -> &'static str {
        match self {
            Machine::Mps2An386 => "thumbv7em-none-eabihf",
            Machine::Microbit => "thumbv6m-none-eabi",
        }
    }

    /// Parses [`Machine::name`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "mps2-an386" => Ok(Machine::Mps2An386),
            "microbit" => Ok(Machine::Microbit),
            _ => Err(err(format!("machine {s}: expected mps2-an386 or microbit"))),
        }
    }
}

/// How to build and run the firmware.
#[derive(Clone, Debug)]
pub struct Options {
    /// Held-out inputs; default `<model>.inputs`.
    pub inputs: Option<PathBuf>,
    /// QEMU machine (and target).
    pub machine: Machine,
    /// `fast` or `exact` activations (`LSTM_ACTIVATION`); default `fast`.
    pub activation: Option<String>,
    /// Cargo features of `firmware-example` (e.g. `systick`).
    pub features: Vec<String>,
    /// Extra QEMU arguments (e.g. `-icount shift=3`, `-plugin ...`).
    pub qemu_args: Vec<String>,
    /// Print the decoded log while it is produced (it is captured either way).
    pub echo: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inputs: None,
            machine: Machine::Mps2An386,
            activation: None,
            features: Vec::new(),
            qemu_args: Vec::new(),
            echo: true,
        }
    }
}

/// What a firmware run produced.
#[derive(Clone, Debug)]
pub struct Report {
    /// The model file that was embedded.
    pub model: PathBuf,
    /// The machine it ran on.
    pub machine: Machine,
    /// The firmware ELF.
    pub elf: PathBuf,
    /// The firmware's verdict: QEMU exited with status 0 (model loaded,
    /// every output bit-identical to the host's).
    pub passed: bool,
    /// QEMU's exit status (`None` if killed by a signal).
    pub exit_code: Option<i32>,
    /// Steps logged as matching the host.
    pub steps_ok: usize,
    /// Steps logged as differing from the host.
    pub steps_mismatched: usize,
    /// The decoded `defmt` log.
    pub log: String,
    /// Time to compute the expected outputs and build the firmware.
    pub build_time: Duration,
    /// Time QEMU ran.
    pub run_time: Duration,
}

/// `cargo xtask firmware --model <file> [--inputs <file>] [--machine m] [--activation a]`.
pub fn cmd(mut args: Args) -> Result<()> {
    let model = args
        .value("--model")?
        .map(PathBuf::from)
        .unwrap_or_else(demo_model);
    let machine = Machine::parse(
        &args
            .value("--machine")?
            .unwrap_or_else(|| "mps2-an386".into()),
    )?;
    let opts = Options {
        inputs: args.value("--inputs")?.map(PathBuf::from),
        machine,
        activation: args.value("--activation")?,
        ..Options::default()
    };
    args.finish()?;
    let report = run_firmware(&model, &opts)?;
    print_summary(&report);
    if report.passed {
        Ok(())
    } else {
        Err(err("the firmware reported a failure (see the log above)"))
    }
}

/// Prints a one-paragraph summary of a run.
pub fn print_summary(r: &Report) {
    println!(
        "firmware {} on {}: {} ({} steps bit-identical to the host, {} mismatched, exit {:?}); \
         build {:.1} s, QEMU {:.2} s",
        r.model.display(),
        r.machine.name(),
        if r.passed { "PASS" } else { "FAIL" },
        r.steps_ok,
        r.steps_mismatched,
        r.exit_code,
        r.build_time.as_secs_f64(),
        r.run_time.as_secs_f64()
    );
}

/// The checked-in demo model.
pub fn demo_model() -> PathBuf {
    util::firmware_dir().join("models").join("demo.lstm")
}

/// A `cargo` command in `firmware-example`, with its own target dir.
fn firmware_cargo() -> Command {
    let mut cmd = util::cargo();
    cmd.current_dir(util::firmware_dir())
        .env("CARGO_TARGET_DIR", util::firmware_target_dir());
    cmd
}

fn absolute(p: &Path) -> Result<PathBuf> {
    Ok(std::path::absolute(p)?)
}

/// `LSTM_ACTIVATION` for `opts`.
fn activation(opts: &Options) -> &str {
    opts.activation.as_deref().unwrap_or("fast")
}

/// Computes the host's outputs for `model` over `inputs` (raw bits) into
/// `expected`, with the host build of `firmware-example` (same `lstm-core`
/// code, same generated types, same activations as `opts`).
pub fn compute_expected(
    model: &Path,
    inputs: &Path,
    expected: &Path,
    opts: &Options,
) -> Result<()> {
    let host = util::host_triple()?;
    let out = util::capture(
        firmware_cargo()
            // The dev profile (opt-level "s", see firmware-example/Cargo.toml):
            // the results do not depend on optimisation (no fast-math in Rust,
            // software libm), and it builds much faster than release's fat LTO.
            .args(["run", "--quiet", "--target", &host, "--"])
            .arg(expected)
            .env("LSTM_MODEL", model)
            .env("LSTM_INPUTS", inputs)
            .env("LSTM_ACTIVATION", activation(opts)),
    )?;
    if !out.status.success() {
        return Err(err(format!(
            "host build of firmware-example failed for {}:\n{}{}",
            model.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(())
}

/// Builds the firmware for `model` (expected outputs at `expected`) and
/// returns the ELF's path.
pub fn build_firmware(
    model: &Path,
    inputs: &Path,
    expected: &Path,
    opts: &Options,
) -> Result<PathBuf> {
    let mut cmd = firmware_cargo();
    cmd.args(["build", "--release", "--target", opts.machine.target()])
        .env("LSTM_MODEL", model)
        .env("LSTM_INPUTS", inputs)
        .env("LSTM_EXPECTED", expected)
        .env("FIRMWARE_MACHINE", opts.machine.name())
        .env("LSTM_ACTIVATION", activation(opts));
    if !opts.features.is_empty() {
        cmd.args(["--features", &opts.features.join(",")]);
    }
    util::run(&mut cmd)?;
    Ok(util::firmware_target_dir()
        .join(opts.machine.target())
        .join("release")
        .join("firmware-example"))
}

/// Runs a built ELF under QEMU (through `qemu-run.sh`), capturing the decoded log.
pub fn run_elf(elf: &Path, opts: &Options) -> Result<(Option<i32>, String, Duration)> {
    let mut cmd = Command::new(util::firmware_dir().join("qemu-run.sh"));
    cmd.arg(elf)
        .args(&opts.qemu_args)
        .env("FIRMWARE_MACHINE", opts.machine.name())
        .env("QEMU_TIMEOUT", "600");
    eprintln!("$ {}", util::show(&cmd));
    let start = Instant::now();
    let out = util::capture(&mut cmd)?;
    let elapsed = start.elapsed();
    let log = String::from_utf8_lossy(&out.stdout).into_owned();
    if opts.echo {
        print!("{log}");
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !stderr.trim().is_empty() {
        eprint!("{stderr}");
    }
    Ok((out.status.code(), log, elapsed))
}

/// Builds the firmware for `model_path` and runs it under QEMU: the one
/// entry point for everything that runs a model on the (emulated) device.
///
/// The expected outputs are recomputed on the host every time, into
/// `firmware-example/target/xtask/<model name>.expected`.
pub fn run_firmware(model_path: &Path, opts: &Options) -> Result<Report> {
    let model = absolute(model_path)?;
    if !model.is_file() {
        return Err(err(format!("no model file at {}", model.display())));
    }
    let inputs = absolute(
        &opts
            .inputs
            .clone()
            .unwrap_or_else(|| with_suffix(&model, "inputs")),
    )?;
    if !inputs.is_file() {
        return Err(err(format!(
            "no held-out inputs at {} (raw little-endian f32, IN per step)",
            inputs.display()
        )));
    }
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".into());
    let expected = util::scratch_dir()?.join(format!("{name}.expected"));

    let start = Instant::now();
    compute_expected(&model, &inputs, &expected, opts)?;
    let elf = build_firmware(&model, &inputs, &expected, opts)?;
    let build_time = start.elapsed();

    let (exit_code, log, run_time) = run_elf(&elf, opts)?;
    let steps_ok = log
        .lines()
        .filter(|l| l.contains(" step ") && l.ends_with(" ok"))
        .count();
    let steps_mismatched = log.lines().filter(|l| l.ends_with(" MISMATCH")).count();
    Ok(Report {
        model,
        machine: opts.machine,
        elf,
        passed: exit_code == Some(0),
        exit_code,
        steps_ok,
        steps_mismatched,
        log,
        build_time,
        run_time,
    })
}
