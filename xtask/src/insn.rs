//! `insn`: instructions per `step()` under QEMU, per format.
//!
//! Counting uses the TCG plugin `shared/bench/mcu/insn_regions.c` (built
//! here with `gcc` into the firmware's target dir): the firmware calls
//! `bench_mark_begin()` / `bench_mark_end()` around every `step()`, after one
//! empty region whose count (the markers' own cost) is subtracted. The plugin
//! needs QEMU without `-icount`, so the SysTick cross-check is a second run
//! of a `systick` build under `-icount shift=3` (mps2-an386 only: one SysTick
//! tick = 5 instructions there; it includes the two SysTick reads).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::firmware::{self, Machine, Options};
use crate::model::{self, with_suffix, MakeModel};
use crate::util::{self, err, Args, Result};

/// Instruction counts of one model on one machine.
#[derive(Clone, Debug)]
pub struct InsnReport {
    /// Model file measured.
    pub model: PathBuf,
    /// Number format (from the firmware's log).
    pub format: String,
    /// Machine.
    pub machine: Machine,
    /// Activation functions (`fast` / `exact`).
    pub activation: String,
    /// MACs per `step()` call (window × MACs per model step).
    pub macs_per_call: u64,
    /// The empty region's count, subtracted from every step.
    pub baseline: u64,
    /// Instructions of every `step()` call, baseline subtracted.
    pub per_step: Vec<u64>,
    /// Mean instructions per step from SysTick (×5) under `-icount shift=3`.
    pub systick_per_step: Option<f64>,
}

impl InsnReport {
    /// Median instructions per step.
    pub fn median(&self) -> u64 {
        let mut v = self.per_step.clone();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    }

    /// Median instructions per multiply-accumulate: the median step over
    /// the MACs of a full step (a windowed stream's first `W − 1` calls
    /// run shorter windows, which a mean would count against full ones).
    pub fn per_mac(&self) -> f64 {
        self.median() as f64 / self.macs_per_call.max(1) as f64
    }
}

/// The shapes of the README's table (`--shapes table`): LSTM at IN 1 and
/// 12 × H 32 and 64 (CMSIS-NN's benchmark shapes in
/// `shared/bench/mcu/README.md`, and IN 12 / H 32), GRU at IN 1 and 12 × H 64.
pub const TABLE_SHAPES: &str = "lstm:1:32,lstm:1:64,lstm:12:32,lstm:12:64,gru:1:64,gru:12:64";

/// What `cargo xtask insn --help` prints.
const USAGE: &str = "\
cargo xtask insn [--reference <json> | --model <file> | --shapes CELL:IN:H,..|table]
                 [--formats f32,q4.12,q16.16,q4.12-w8] [--machine mps2-an386|microbit]
                 [--activation fast|exact] [--no-systick]

Instructions per step() under QEMU (TCG plugin of shared/bench/mcu), each output
checked bit for bit against the host. --shapes builds one-layer models (+ Dense(1),
stateful, weights drawn uniformly from +-1/sqrt(H)) of the given shapes; `table`
is the README's table: lstm:1:32,lstm:1:64,lstm:12:32,lstm:12:64,gru:1:64,gru:12:64.
Without --shapes or --model: the reference case i2_h32_l1_t60_zero_state.";

/// `cargo xtask insn [--reference <json> | --model <file> | --shapes CELL:IN:H,..|table] [--formats ..] [--machine m] [--activation a] [--no-systick]`.
pub fn cmd(mut args: Args) -> Result<()> {
    if args.switch("--help") {
        println!("{USAGE}");
        return Ok(());
    }
    let reference = args
        .value("--reference")?
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            util::shared_dir()
                .join("reference")
                .join("i2_h32_l1_t60_zero_state.json")
        });
    let given_model = args.value("--model")?.map(PathBuf::from);
    let shapes = args.value("--shapes")?;
    let formats = args
        .value("--formats")?
        .unwrap_or_else(|| "f32,q4.12,q16.16".into());
    let machine = Machine::parse(
        &args
            .value("--machine")?
            .unwrap_or_else(|| "mps2-an386".into()),
    )?;
    let activation = args.value("--activation")?.unwrap_or_else(|| "fast".into());
    let systick = !args.switch("--no-systick") && machine == Machine::Mps2An386;
    args.finish()?;

    let models: Vec<PathBuf> = match (given_model, shapes) {
        (Some(m), _) => vec![m],
        (None, Some(shapes)) => {
            let dir = util::scratch_dir()?.join("insn");
            let mut models = Vec::new();
            let shapes = if shapes == "table" {
                TABLE_SHAPES
            } else {
                &shapes
            };
            for shape in shapes.split(',') {
                let (cell, input, hidden) = model::parse_shape(shape)?;
                for f in formats.split(',') {
                    let format = model::parse_format(f)?;
                    let name = format!(
                        "{}_i{input}_h{hidden}.{}.lstm",
                        cell.to_string().to_ascii_lowercase(),
                        format.name()
                    );
                    let out = dir.join(name);
                    eprintln!(
                        "{}",
                        model::make_synthetic(cell, input, hidden, format, &out)?
                    );
                    models.push(out);
                }
            }
            models
        }
        (None, None) => {
            let case = reference
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "case".into());
            let dir = util::scratch_dir()?.join("insn");
            formats
                .split(',')
                .map(|f| {
                    let format = model::parse_format(f)?;
                    let out = dir.join(format!("{case}.{}.lstm", format.name()));
                    let summary = model::make_model(&MakeModel {
                        reference: reference.clone(),
                        format,
                        mode: lstm_core::file::TrainingMode::Stateful,
                        out: out.clone(),
                    })?;
                    eprintln!("{summary}");
                    Ok(out)
                })
                .collect::<Result<_>>()?
        }
    };

    let opts = Options {
        machine,
        activation: Some(activation),
        echo: false,
        ..Options::default()
    };
    let mut reports = Vec::new();
    for m in &models {
        reports.push(measure(m, &opts, systick)?);
    }
    print_table(&reports);
    Ok(())
}

/// Prints the results as a Markdown table.
pub fn print_table(reports: &[InsnReport]) {
    println!();
    println!("| model | machine | format | activation | MACs/step | instructions/step (median, min–max) | instructions/MAC (median) | SysTick cross-check (median insns/step) | marker overhead (subtracted) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in reports {
        let min = r.per_step.iter().min().copied().unwrap_or(0);
        let max = r.per_step.iter().max().copied().unwrap_or(0);
        println!(
            "| {} | {} | {} | {} | {} | {} ({}–{}) | {:.2} | {} | {} |",
            r.model
                .file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            r.machine.name(),
            r.format,
            r.activation,
            r.macs_per_call,
            r.median(),
            min,
            max,
            r.per_mac(),
            r.systick_per_step
                .map_or_else(|| "–".into(), |s| format!("{s:.0}")),
            r.baseline
        );
    }
}

/// Builds `libinsn_regions.so` from `shared/bench/mcu/insn_regions.c` if needed.
pub fn build_plugin() -> Result<PathBuf> {
    let src = util::shared_dir()
        .join("bench")
        .join("mcu")
        .join("insn_regions.c");
    if !src.is_file() {
        return Err(err(format!(
            "no {} (set LSTM_SHARED_DIR to the shared/ folder)",
            src.display()
        )));
    }
    let so = util::scratch_dir()?.join("libinsn_regions.so");
    let stale = match (std::fs::metadata(&so), std::fs::metadata(&src)) {
        (Ok(a), Ok(b)) => a.modified()? < b.modified()?,
        _ => true,
    };
    if stale {
        util::run(
            Command::new("gcc")
                .args(["-shared", "-fPIC", "-O2", "-o"])
                .arg(&so)
                .arg(&src),
        )?;
    }
    Ok(so)
}

/// Address of a symbol in an ELF (Thumb bit cleared).
pub fn symbol_address(elf: &Path, name: &str) -> Result<u64> {
    let out = util::stdout_of(Command::new("arm-none-eabi-nm").arg(elf))?;
    out.lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            let (addr, _kind, sym) = (w.next()?, w.next()?, w.next()?);
            (sym == name).then(|| u64::from_str_radix(addr, 16).ok())?
        })
        .map(|a| a & !1)
        .ok_or_else(|| err(format!("no symbol {name} in {}", elf.display())))
}

/// The number before `marker` in the log (e.g. `4384 MACs/model step`).
fn number_before(log: &str, marker: &str) -> Option<u64> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let before = &line[..line.find(marker)?];
    before.split_whitespace().last()?.parse().ok()
}

/// The word after `marker` in the log (e.g. the format after `format `).
fn word_after(log: &str, marker: &str) -> Option<String> {
    let line = log.lines().find(|l| l.contains(marker))?;
    let after = &line[line.find(marker)? + marker.len()..];
    Some(after.split([' ', ',']).next()?.to_owned())
}

/// Builds and runs `model` with the plugin (and, with `systick`, the
/// SysTick build under `-icount`); both runs must pass the host check.
pub fn measure(model: &Path, opts: &Options, systick: bool) -> Result<InsnReport> {
    let model = std::path::absolute(model)?;
    let inputs = opts
        .inputs
        .clone()
        .unwrap_or_else(|| with_suffix(&model, "inputs"));
    let name = model
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let scratch = util::scratch_dir()?;
    let expected = scratch.join(format!("{name}.expected"));
    firmware::compute_expected(&model, &inputs, &expected, opts)?;
    let elf = firmware::build_firmware(&model, &inputs, &expected, opts)?;

    let plugin = build_plugin()?;
    let begin = symbol_address(&elf, "bench_mark_begin")?;
    let end = symbol_address(&elf, "bench_mark_end")?;
    let plugin_log = scratch.join(format!("{name}.{}.plugin.log", opts.machine.name()));
    let _ = std::fs::remove_file(&plugin_log);
    let mut run_opts = opts.clone();
    run_opts.qemu_args = vec![
        "-plugin".into(),
        format!("{},begin={begin:#x},end={end:#x}", plugin.display()),
        "-d".into(),
        "plugin".into(),
        "-D".into(),
        plugin_log.display().to_string(),
    ];
    let (code, log, _) = firmware::run_elf(&elf, &run_opts)?;
    if code != Some(0) {
        print!("{log}");
        return Err(err(format!(
            "{}: the firmware failed under the plugin",
            model.display()
        )));
    }
    let regions: Vec<u64> = std::fs::read_to_string(&plugin_log)?
        .lines()
        .filter_map(|l| l.strip_prefix("PLUGIN_REGION "))
        .map(|l| {
            l.split_once(" insns=")
                .and_then(|(_, n)| n.trim().parse().ok())
                .ok_or_else(|| err(format!("bad plugin line: {l}")))
        })
        .collect::<Result<_>>()?;
    let Some((&baseline, steps)) = regions.split_first() else {
        return Err(err("the plugin reported no regions"));
    };
    let per_step: Vec<u64> = steps.iter().map(|&n| n.saturating_sub(baseline)).collect();
    let macs = number_before(&log, " MACs/model step").unwrap_or(0)
        * number_before(&log, " model steps/step()").unwrap_or(1);
    let format = word_after(&log, "format ").unwrap_or_default();

    let systick_per_step = if systick {
        let mut st = opts.clone();
        st.features.push("systick".into());
        st.qemu_args = vec!["-icount".into(), "shift=3".into()];
        let elf = firmware::build_firmware(&model, &inputs, &expected, &st)?;
        let (code, log, _) = firmware::run_elf(&elf, &st)?;
        if code != Some(0) {
            print!("{log}");
            return Err(err("the SysTick build failed"));
        }
        let ticks: Vec<u64> = log
            .lines()
            .filter(|l| l.contains("systick step "))
            .filter_map(|l| number_before(l, " ticks"))
            .collect();
        // The median, like the plugin's figure.
        let mut ticks = ticks;
        ticks.sort_unstable();
        ticks.get(ticks.len() / 2).map(|&t| 5.0 * t as f64)
    } else {
        None
    };

    Ok(InsnReport {
        model,
        format,
        machine: opts.machine,
        activation: opts.activation.clone().unwrap_or_else(|| "fast".into()),
        macs_per_call: macs,
        baseline,
        per_step,
        systick_per_step,
    })
}
