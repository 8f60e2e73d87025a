//! `ci`: everything CI checks, in order; every step runs, and the summary
//! lists those that failed.
//!
//! 1. formatting, clippy (`-D warnings`), tests and docs (`-D warnings`) of the workspace
//!    (`lstm-core`'s feature `codegen` included; with the release-only
//!    tests: the shared datasets, and 100 000 damaged Keras and 12 000
//!    damaged PyTorch files through the importer);
//! 2. `lstm-core` for the three thumb targets, with and without `defmt`;
//! 3. clippy of `firmware-example` (device and host builds);
//! 4. firmware runs under QEMU: the demo on both machines, more shapes and
//!    formats from `shared/reference/` (stacked layers, windowed, Q16.16,
//!    GRU cells on both machines, a Keras LSTM brought in by `lstm-train
//!    import`), and the device's own rejection of a corrupt and a mismatched model file;
//! 5. `cargo xtask demo` on both bundled series (train, export Q4.12, QEMU,
//!    host and device identical; airline is trained on first differences);
//! 6. the golden logs;
//! 7. the README's board build (`FIRMWARE_MACHINE=stm32f411`, feature
//!    `rtt`), its vector table at the STM32's flash address.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use lstm_core::file::TrainingMode;
use lstm_core::NumberFormat;

use crate::firmware::{self, Machine, Options};
use crate::model::{self, with_suffix, MakeModel};
use crate::setup::THUMB_TARGETS;
use crate::util::{self, err, Args, Result};

/// Runs the steps, collecting failures.
struct Steps {
    failed: Vec<String>,
    times: Vec<(String, f64)>,
}

impl Steps {
    fn step(&mut self, name: &str, f: impl FnOnce() -> Result<()>) {
        eprintln!("\n==== ci: {name}");
        let start = Instant::now();
        let result = f();
        self.times
            .push((name.to_owned(), start.elapsed().as_secs_f64()));
        if let Err(e) = result {
            eprintln!("==== ci: {name}: FAILED: {e}");
            self.failed.push(name.to_owned());
        }
    }

    fn cargo(&mut self, name: &str, args: &[&str], env: &[(&str, &str)]) {
        self.step(name, || {
            let mut cmd = util::cargo();
            cmd.current_dir(util::root()).args(args);
            for (k, v) in env {
                cmd.env(k, v);
            }
            util::run(&mut cmd)
        });
    }
}

/// A `cargo` command in `firmware-example` with its own target dir.
fn firmware_cargo(args: &[&str]) -> Command {
    let mut cmd = util::cargo();
    cmd.current_dir(util::firmware_dir())
        .env("CARGO_TARGET_DIR", util::firmware_target_dir())
        .args(args);
    cmd
}

/// `cargo xtask demo --dataset airline` in a child process whose
/// `CARGO_TARGET_DIR` lies outside the checkout (as on build servers): the
/// trainer, the firmware and the demo's files must all land there.
fn demo_elsewhere() -> Result<()> {
    let dir = std::env::temp_dir().join("lstm-mcu-ci-target");
    util::run(
        util::cargo()
            .current_dir(util::root())
            .env("CARGO_TARGET_DIR", &dir)
            .args(["xtask", "demo", "--dataset", "airline"]),
    )?;
    for file in [
        dir.join("demo").join("airline.q4_12.lstm"),
        dir.join("release").join("lstm-train"),
        dir.join("firmware-example"),
    ] {
        if !file.exists() {
            return Err(err(format!(
                "CARGO_TARGET_DIR={}: the demo wrote no {}",
                dir.display(),
                file.display()
            )));
        }
    }
    Ok(())
}

/// `cargo xtask ci`.
pub fn cmd(args: Args) -> Result<()> {
    args.finish()?;
    let mut s = Steps {
        failed: Vec::new(),
        times: Vec::new(),
    };
    let host = util::host_triple()?;

    s.step("setup", crate::setup::ensure);
    s.cargo("fmt", &["fmt", "--all", "--check"], &[]);
    s.step("fmt firmware-example", || {
        util::run(&mut firmware_cargo(&["fmt", "--check"]))
    });
    s.cargo(
        "clippy",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    );
    s.cargo("test", &["test", "--workspace"], &[]);
    // The five shared datasets: accuracy / RMSE targets and the 16-bit
    // quantization bar; fit's automatic choice beating the naive forecast
    // with only the data-forced flags (seconds in release, too slow in debug).
    s.cargo(
        "datasets (fit, Q4.12 export, scored by lstm-core; automatic choice against naive)",
        &[
            "test",
            "-p",
            "lstm-train",
            "--release",
            "--test",
            "fit_datasets",
            "--test",
            "fit_auto",
            "--",
            "--ignored",
            "--test-threads",
            "1",
        ],
        &[],
    );
    // Damaged model files through the importer: 100 000 mutated copies of
    // the .keras / .h5 fixtures and 12 000 of the .safetensors / .onnx ones,
    // each Ok or a typed error naming the file, no panic, no allocation over
    // the tests' budgets (`cargo test` runs 2 000 and 1 200 in debug).
    s.cargo(
        "import: 100 000 mutated .keras / .h5 and 12 000 .safetensors / .onnx files (release)",
        &[
            "test",
            "-p",
            "lstm-train",
            "--release",
            "--test",
            "import_mutations",
            "--test",
            "import_torch_mutations",
        ],
        &[
            ("IMPORT_MUTATION_CASES", "100000"),
            ("IMPORT_MUTATIONS", "12000"),
        ],
    );
    // `lstm_core::codegen` (host-only, for build scripts) is documented too;
    // its tests run in `cargo test --workspace` (lstm-core's dev-dependency
    // on itself turns the feature on).
    s.cargo(
        "doc",
        &[
            "doc",
            "--workspace",
            "--no-deps",
            "--features",
            "lstm-core/codegen",
        ],
        &[("RUSTDOCFLAGS", "-D warnings")],
    );
    for target in THUMB_TARGETS {
        // Default features, + defmt, and none at all (no model file types).
        for features in [None, Some("defmt"), Some("")] {
            let mut args = vec!["build", "-p", "lstm-core", "--target", target];
            match features {
                Some("") => args.push("--no-default-features"),
                Some(f) => args.extend(["--features", f]),
                None => {}
            }
            let name = format!(
                "lstm-core {target}{}",
                match features {
                    Some("") => " --no-default-features".to_string(),
                    Some(f) => format!(" +{f}"),
                    None => String::new(),
                }
            );
            s.cargo(&name, &args, &[]);
        }
    }
    s.step("clippy firmware-example (device)", || {
        util::run(&mut firmware_cargo(&[
            "clippy",
            "--target",
            "thumbv7em-none-eabihf",
            "--",
            "-D",
            "warnings",
        ]))
    });
    s.step("clippy firmware-example (host)", || {
        util::run(&mut firmware_cargo(&[
            "clippy", "--target", &host, "--", "-D", "warnings",
        ]))
    });

    for machine in [Machine::Mps2An386, Machine::Microbit] {
        s.step(&format!("firmware demo on {}", machine.name()), || {
            expect_pass(&firmware::demo_model(), machine)
        });
    }
    let (m4, m0) = (Machine::Mps2An386, Machine::Microbit);
    let cases = [
        (
            "i3_h8_l2_t20",
            NumberFormat::F32,
            TrainingMode::Windowed { window: 8 },
            m4,
        ),
        (
            "i1_h4_l1_t10",
            NumberFormat::Q16_16,
            TrainingMode::Stateful,
            m4,
        ),
        (
            "i5_h16_l1_t30_classify",
            NumberFormat::Q4_12,
            TrainingMode::Stateful,
            m4,
        ),
        // GRU cells: Q4.12 on both machines (SMLALD kernels on the M4F,
        // portable code on the M0), a stacked windowed classifier in f32.
        (
            "gru/gru_i2_h8_l1_t20",
            NumberFormat::Q4_12,
            TrainingMode::Stateful,
            m4,
        ),
        (
            "gru/gru_i2_h8_l1_t20",
            NumberFormat::Q4_12,
            TrainingMode::Stateful,
            m0,
        ),
        (
            "gru/gru_i1_h32_l1_t60_zero_state",
            NumberFormat::Q16_16,
            TrainingMode::Stateful,
            m0,
        ),
        (
            "gru/gru_i3_h16_l2_t30_classify",
            NumberFormat::F32,
            TrainingMode::Windowed { window: 8 },
            m4,
        ),
        // Layer 2 has 16 inputs: the candidate's input part through the
        // SMLALD kernel (short inputs take a per-unit path).
        (
            "gru/gru_i3_h16_l2_t30_classify",
            NumberFormat::Q4_12,
            TrainingMode::Stateful,
            m4,
        ),
        // 8-bit weights: an LSTM classifier and a stacked GRU classifier
        // (layer 2: 16 inputs, two blocks of the row-pair kernel) on the M4F,
        // the GRU also on the M0 (its Thumb-1 row-pair kernel).
        (
            "i5_h16_l1_t30_classify",
            NumberFormat::Q4_12W8,
            TrainingMode::Stateful,
            m4,
        ),
        (
            "gru/gru_i3_h16_l2_t30_classify",
            NumberFormat::Q4_12W8,
            TrainingMode::Stateful,
            m4,
        ),
        (
            "gru/gru_i3_h16_l2_t30_classify",
            NumberFormat::Q4_12W8,
            TrainingMode::Stateful,
            m0,
        ),
    ];
    for (case, format, mode, machine) in cases {
        s.step(
            &format!("firmware {case} {format} {mode:?} on {}", machine.name()),
            || {
                let model = reference_model(case, format, mode)?;
                expect_pass(&model, machine)
            },
        );
    }
    s.step(
        "firmware: Keras LSTM imported (lstm-train import, Q4.12) on mps2-an386",
        || expect_pass(&imported_keras_model()?, m4),
    );
    s.step("demo --dataset sunspots", || {
        crate::demo::run("sunspots", "lstm")
    });
    s.step("demo --dataset sunspots --cell gru", || {
        crate::demo::run("sunspots", "gru")
    });
    s.step(
        "demo --dataset airline, CARGO_TARGET_DIR outside the checkout",
        demo_elsewhere,
    );
    s.step("firmware rejects a corrupt model file", || {
        negative(Corruption::FlipBit, "model file rejected: CrcMismatch")
    });
    s.step("firmware rejects another number format", || {
        negative(
            Corruption::OtherFormat,
            "model does not match this firmware: FormatMismatch",
        )
    });
    s.step("golden", || {
        crate::golden::check(&crate::golden::MACHINES, false)
    });
    s.step("firmware for a real board (stm32f411, rtt)", board_build);

    eprintln!("\n==== ci summary");
    for (name, secs) in &s.times {
        let mark = if s.failed.contains(name) {
            "FAIL"
        } else {
            "ok"
        };
        eprintln!("  {mark:<4} {secs:>7.1} s  {name}");
    }
    if s.failed.is_empty() {
        Ok(())
    } else {
        Err(err(format!("failed: {}", s.failed.join(", "))))
    }
}

/// Writes a model for a reference case into the scratch dir.
fn reference_model(
    case: &str,
    format: NumberFormat,
    mode: TrainingMode,
) -> Result<std::path::PathBuf> {
    let out = util::scratch_dir()?
        .join("ci")
        .join(format!("{case}.{}.lstm", format.name()));
    let summary = model::make_model(&MakeModel {
        reference: util::shared_dir()
            .join("reference")
            .join(format!("{case}.json")),
        format,
        mode,
        out: out.clone(),
    })?;
    eprintln!("{summary}");
    Ok(out)
}

/// The shared Keras fixture `keras_lstm2_dropout_forecast.keras` (two
/// stacked LSTM layers, Dropout, Dense) imported by `lstm-train import` in
/// Q4.12 with the sunspots series as data (min-max scalers fitted on its
/// fit split, calibration, held-out inputs), into the scratch dir.
fn imported_keras_model() -> Result<std::path::PathBuf> {
    let trainer = util::build_release_bin("lstm-train", "lstm-train")?;
    let dir = util::scratch_dir()?.join("ci");
    std::fs::create_dir_all(&dir)?;
    let out = dir.join("keras_lstm2_dropout_forecast.q4_12.lstm");
    let inputs = dir.join("keras_lstm2_dropout_forecast.q4_12.lstm.inputs");
    let keras = util::shared_dir()
        .join("import")
        .join("keras_lstm2_dropout_forecast.keras");
    let data = util::root().join("data").join("sunspots.csv");
    util::run(Command::new(&trainer).args([
        "import".as_ref(),
        keras.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--scaler".as_ref(),
        "minmax".as_ref(),
        "--format".as_ref(),
        "q4.12".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--heldout".as_ref(),
        inputs.as_os_str(),
    ]))?;
    Ok(out)
}

/// Runs a model on a machine; an error unless the firmware passed.
fn expect_pass(model: &Path, machine: Machine) -> Result<()> {
    let report = firmware::run_firmware(
        model,
        &Options {
            machine,
            echo: false,
            ..Options::default()
        },
    )?;
    firmware::print_summary(&report);
    if report.passed && report.steps_mismatched == 0 && report.steps_ok > 0 {
        Ok(())
    } else {
        print!("{}", report.log);
        Err(err("the firmware failed"))
    }
}

/// How [`negative`] breaks the demo model.
enum Corruption {
    /// One bit of a weight flipped (the CRC must catch it).
    FlipBit,
    /// The demo's weights in f32 while the firmware is built for the demo's Q4.12.
    OtherFormat,
}

/// Builds the firmware for the demo's types but embeds a broken or
/// mismatched model file (`LSTM_TYPES_FROM`); it must exit non-zero with
/// `want` in its log.
fn negative(how: Corruption, want: &str) -> Result<()> {
    let demo = firmware::demo_model();
    let dir = util::scratch_dir()?.join("ci");
    std::fs::create_dir_all(&dir)?;
    let bad = match how {
        Corruption::FlipBit => {
            let mut bytes = std::fs::read(&demo)?;
            let at = bytes.len() / 2;
            bytes[at] ^= 0x10;
            let bad = dir.join("corrupt.lstm");
            std::fs::write(&bad, bytes)?;
            bad
        }
        Corruption::OtherFormat => reference_model(
            "i2_h32_l1_t60_zero_state",
            NumberFormat::F32,
            TrainingMode::Stateful,
        )?,
    };
    let elf = {
        let mut cmd = util::cargo();
        cmd.current_dir(util::firmware_dir())
            .env("CARGO_TARGET_DIR", util::firmware_target_dir())
            .args(["build", "--release"])
            .env("LSTM_MODEL", &bad)
            .env("LSTM_TYPES_FROM", &demo)
            .env("LSTM_INPUTS", with_suffix(&demo, "inputs"))
            .env("LSTM_EXPECTED", with_suffix(&demo, "expected"));
        util::run(&mut cmd)?;
        util::firmware_target_dir()
            .join(Machine::Mps2An386.target())
            .join("release")
            .join("firmware-example")
    };
    let (code, log, _) = firmware::run_elf(&elf, &Options::default())?;
    if code == Some(0) {
        return Err(err("the firmware accepted a bad model file"));
    }
    if !log.contains(want) {
        return Err(err(format!("expected `{want}` in the log")));
    }
    eprintln!("ok: exit {code:?}, log says `{want}`");
    Ok(())
}

/// The README's board build: `FIRMWARE_MACHINE=stm32f411 cargo build
/// --release --features rtt` in `firmware-example`; the reset vector must
/// point into the STM32F411's flash (0x0800_0000..0x0808_0000) and the RTT
/// control block must be there.
fn board_build() -> Result<()> {
    util::run(
        firmware_cargo(&["build", "--release", "--features", "rtt"])
            .env("FIRMWARE_MACHINE", "stm32f411"),
    )?;
    let elf = util::firmware_target_dir()
        .join("thumbv7em-none-eabihf")
        .join("release")
        .join("firmware-example");
    let nm = util::stdout_of(Command::new("arm-none-eabi-nm").arg(&elf))?;
    let address = |name: &str| -> Option<u64> {
        nm.lines().find_map(|l| {
            let mut w = l.split_whitespace();
            let (a, _, n) = (w.next()?, w.next()?, w.next()?);
            (n == name).then(|| u64::from_str_radix(a, 16).ok())?
        })
    };
    let reset = address("Reset").ok_or_else(|| err("no `Reset` symbol in the board ELF"))?;
    if !(0x0800_0000..0x0808_0000).contains(&reset) {
        return Err(err(format!(
            "Reset at {reset:#x}, not in the STM32F411's flash"
        )));
    }
    if address("_SEGGER_RTT").is_none() {
        return Err(err("no RTT control block (`_SEGGER_RTT`) in the board ELF"));
    }
    eprintln!("board ELF: Reset at {reset:#010x}, RTT control block present");
    Ok(())
}
