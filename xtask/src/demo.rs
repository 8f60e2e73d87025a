//! `cargo xtask demo`: the whole path on a fresh machine. Installs what is
//! missing, trains a small LSTM on the bundled yearly sunspot numbers with
//! `lstm-train`, exports it in Q4.12, builds the firmware with it, runs it
//! under QEMU (Cortex-M4F), and prints host vs device predictions side by
//! side, the metric on the held-out data, instructions per step, and flash
//! and RAM use.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::firmware::{self, Machine, Options};
use crate::util::{self, err, Args, Result};

/// The bundled dataset.
fn dataset() -> PathBuf {
    util::root().join("data").join("sunspots.csv")
}

/// `cargo xtask demo`.
pub fn cmd(args: Args) -> Result<()> {
    args.finish()?;
    let start = Instant::now();
    crate::setup::ensure()?;

    let root = util::root();
    let out = root.join("target").join("demo");
    std::fs::create_dir_all(&out)?;
    util::run(util::cargo().current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        "lstm-train",
    ]))?;
    let trainer = root.join("target").join("release").join("lstm-train");

    // 1. Train (seconds) and 2. export in the 16-bit format with the held-out stream.
    let run_dir = out.join("sunspots");
    let data = dataset();
    util::run(std::process::Command::new(&trainer).args([
        "fit".as_ref(),
        "--data".as_ref(),
        data.as_os_str(),
        "--window".as_ref(),
        "12".as_ref(),
        "--season".as_ref(),
        "11".as_ref(),
        "--hidden".as_ref(),
        "32".as_ref(),
        "--seed".as_ref(),
        "42".as_ref(),
        "--quiet".as_ref(),
        "--out-dir".as_ref(),
        run_dir.as_os_str(),
    ]))?;
    let model = out.join("sunspots.q4_12.lstm");
    let inputs = out.join("sunspots.q4_12.lstm.inputs");
    util::run(std::process::Command::new(&trainer).args([
        "export".as_ref(),
        "--model".as_ref(),
        run_dir.join("trained.json").as_os_str(),
        "--format".as_ref(),
        "q4.12".as_ref(),
        "--out".as_ref(),
        model.as_os_str(),
        "--heldout".as_ref(),
        inputs.as_os_str(),
    ]))?;

    // 3. Host predictions of the same file (lstm-core on the host, via `predict`).
    let host_csv = out.join("sunspots.host-predictions.csv");
    util::run(std::process::Command::new(&trainer).args([
        "predict".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--data".as_ref(),
        data.as_os_str(),
        "--out".as_ref(),
        host_csv.as_os_str(),
    ]))?;

    // 4. The firmware under QEMU.
    let opts = Options {
        machine: Machine::Mps2An386,
        ..Options::default()
    };
    let report = firmware::run_firmware(&model, &opts)?;
    if !report.passed {
        print!("{}", report.log);
        return Err(err(format!(
            "the firmware failed (exit {:?}, {} mismatched steps)",
            report.exit_code, report.steps_mismatched
        )));
    }

    side_by_side(&data, &host_csv, &report.log)?;
    firmware::print_summary(&report);
    let insn = crate::insn::measure(&model, &opts, false)?;
    crate::insn::print_table(&[insn]);
    crate::size::print_sizes(&report)?;
    println!("\ndemo finished in {:.1} s", start.elapsed().as_secs_f64());
    Ok(())
}

/// Values of a `time,value` CSV.
fn series(path: &Path) -> Result<Vec<(String, f64)>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (t, v) = l
                .split_once(',')
                .ok_or_else(|| err(format!("{}: bad row {l}", path.display())))?;
            let v: f64 = v
                .trim()
                .parse()
                .map_err(|_| err(format!("{}: bad value in {l}", path.display())))?;
            Ok((t.to_owned(), v))
        })
        .collect()
}

/// Device outputs (original units: the firmware unscales) from the log lines `step k: y = [v] …`.
fn device_outputs(log: &str) -> Vec<f32> {
    log.lines()
        .filter_map(|l| {
            let rest = &l[l.find(": y = [")? + ": y = [".len()..];
            rest[..rest.find(']')?]
                .split(',')
                .next()?
                .trim()
                .parse()
                .ok()
        })
        .collect()
}

/// Prints truth, host and device predictions for every held-out test step,
/// with RMSE and MAE in original units, and fails unless the device's
/// values equal the host's.
fn side_by_side(data: &Path, host_csv: &Path, log: &str) -> Result<()> {
    let truth = series(data)?;
    let host = series(host_csv)?;
    let device = device_outputs(log);
    let n = truth.len();
    let first_test = n * 8 / 10; // the trainer's chronological split: first ⌊0.8·n⌋ rows train
    let start = n - 1 - device.len(); // the device streamed rows start ..= n-2
    println!("\none-step-ahead forecasts on the held-out test split (yearly mean sunspot number)");
    println!(
        "{:<8} {:>8} {:>10} {:>10}",
        "year", "truth", "host", "device"
    );
    let (mut se, mut ae, mut count) = (0.0, 0.0, 0usize);
    for (k, &y) in device.iter().enumerate() {
        let row = start + k + 1; // the prediction after streaming row start + k is for row start + k + 1
        if row < first_test {
            continue;
        }
        let device_value = y as f64; // the firmware logs outputs in original units
                                     // `predict` writes one row per time t with the forecast for t + 1.
        let previous = &truth[row - 1].0;
        let host_value = host
            .iter()
            .find(|(t, _)| t == previous)
            .map(|(_, v)| *v)
            .ok_or_else(|| err(format!("no host forecast after {previous}")))?;
        let (time, actual) = &truth[row];
        println!("{time:<8} {actual:>8.1} {host_value:>10.3} {device_value:>10.3}");
        if (host_value - device_value).abs() > 1e-3 * host_value.abs().max(1.0) {
            return Err(err(format!(
                "{time}: host {host_value} and device {device_value} differ"
            )));
        }
        se += (device_value - actual).powi(2);
        ae += (device_value - actual).abs();
        count += 1;
    }
    if count == 0 {
        return Err(err("no test predictions in the firmware log"));
    }
    println!(
        "device on {count} held-out years: RMSE {:.3}, MAE {:.3} (baselines on the same years: naive RMSE 33.276, seasonal naive m=11 37.861, ARIMA(9,0,0) 19.476; shared/datasets/README.md)",
        (se / count as f64).sqrt(),
        ae / count as f64
    );
    Ok(())
}
