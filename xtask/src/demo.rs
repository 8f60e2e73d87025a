//! `cargo xtask demo [--dataset sunspots|airline] [--cell lstm|gru]`: the
//! whole path on a fresh machine. Installs what is missing, trains a small
//! LSTM (or, with `--cell gru`, GRU) on a bundled
//! series with `lstm-train` (yearly sunspot numbers by default; monthly
//! airline passengers, trained on seasonal differences at lag 12, with
//! `--dataset airline`), exports it in Q4.12, builds the firmware with it,
//! runs it under QEMU (Cortex-M4F), and prints host vs device predictions
//! side by side, the metric on the held-out data next to the baselines,
//! instructions per step, and flash and RAM use.

use std::path::Path;
use std::time::Instant;

use crate::firmware::{self, Machine, Options};
use crate::util::{self, err, Args, Result};

/// A bundled series and how the demo trains on it.
struct Dataset {
    /// Name (`data/<name>.csv`, `--dataset <name>`).
    name: &'static str,
    /// What one value is, for the table's title.
    what: &'static str,
    /// `lstm-train fit` options besides the data and output directory.
    fit: &'static [&'static str],
    /// A reference figure from `shared/datasets/README.md`.
    reference: &'static str,
}

const DATASETS: [Dataset; 2] = [
    Dataset {
        name: "sunspots",
        what: "yearly mean sunspot number",
        fit: &[
            "--window", "12", "--season", "11", "--hidden", "32", "--seed", "42",
        ],
        reference: "ARIMA(9,0,0) RMSE 19.476",
    },
    Dataset {
        name: "airline",
        what: "monthly airline passengers, thousands; trained on differences at lag 12",
        fit: &[
            "--difference",
            "12",
            "--window",
            "12",
            "--hidden",
            "16",
            "--lr",
            "0.002",
            "--epochs",
            "600",
            "--val-split",
            "0",
            "--season",
            "12",
            "--seed",
            "42",
        ],
        reference: "SARIMA RMSE about 16",
    },
];

/// `cargo xtask demo`.
pub fn cmd(mut args: Args) -> Result<()> {
    let name = args
        .value("--dataset")?
        .unwrap_or_else(|| "sunspots".into());
    let cell = args.value("--cell")?.unwrap_or_else(|| "lstm".into());
    args.finish()?;
    run(&name, &cell)
}

/// The demo on the bundled dataset `name` with recurrent cell `cell`
/// (`lstm` or `gru`; what `cargo xtask ci` runs too).
pub fn run(name: &str, cell: &str) -> Result<()> {
    let ds = DATASETS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| err(format!("--dataset {name}: expected sunspots or airline")))?;
    if !matches!(cell, "lstm" | "gru") {
        return Err(err(format!("--cell {cell}: expected lstm or gru")));
    }
    // The LSTM keeps the names it always had; other cells get their own.
    let stem = match cell {
        "lstm" => ds.name.to_owned(),
        _ => format!("{}.{cell}", ds.name),
    };
    let start = Instant::now();
    crate::setup::ensure()?;

    let root = util::root();
    let out = util::target_dir()?.join("demo");
    std::fs::create_dir_all(&out)?;
    let trainer = util::build_release_bin("lstm-train", "lstm-train")?;

    // 1. Train (seconds) and 2. export in the 16-bit format with the held-out stream.
    let run_dir = out.join(&stem);
    let data = root.join("data").join(format!("{}.csv", ds.name));
    util::run(
        std::process::Command::new(&trainer)
            .args(["fit".as_ref(), "--data".as_ref(), data.as_os_str()])
            .args(ds.fit)
            .args(["--cell", cell])
            .args([
                "--quiet".as_ref(),
                "--out-dir".as_ref(),
                run_dir.as_os_str(),
            ]),
    )?;
    let model = out.join(format!("{stem}.q4_12.lstm"));
    let inputs = out.join(format!("{stem}.q4_12.lstm.inputs"));
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
    let host_csv = out.join(format!("{stem}.host-predictions.csv"));
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

    side_by_side(
        ds,
        &data,
        &run_dir.join("metrics.json"),
        &host_csv,
        &report.log,
    )?;
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
fn side_by_side(
    ds: &Dataset,
    data: &Path,
    metrics: &Path,
    host_csv: &Path,
    log: &str,
) -> Result<()> {
    let truth = series(data)?;
    let host = series(host_csv)?;
    let device = device_outputs(log);
    let metrics: serde_json::Value = serde_json::from_slice(&std::fs::read(metrics)?)
        .map_err(|e| err(format!("{}: {e}", metrics.display())))?;
    let n = truth.len();
    // The test rows the trainer scored (its chronological split).
    let first_test = metrics["rows"][0]
        .as_u64()
        .ok_or_else(|| err("metrics.json has no test rows"))? as usize;
    let start = n - 1 - device.len(); // the device gave forecasts after rows start ..= n-2
    println!(
        "\none-step-ahead forecasts on the held-out test split ({})",
        ds.what
    );
    println!(
        "{:<8} {:>8} {:>10} {:>10}",
        "time", "truth", "host", "device"
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
    let baselines: Vec<String> = metrics["baselines"]
        .as_array()
        .map(|b| {
            b.iter()
                .map(|b| {
                    format!(
                        "{} RMSE {:.3}",
                        b["name"].as_str().unwrap_or("?"),
                        b["metrics"]["rmse"].as_f64().unwrap_or(f64::NAN)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!(
        "device on {count} held-out steps: RMSE {:.3}, MAE {:.3} (trainer f32: RMSE {:.3}; baselines on the same steps: {}; {} in shared/datasets/README.md)",
        (se / count as f64).sqrt(),
        ae / count as f64,
        metrics["model"]["rmse"].as_f64().unwrap_or(f64::NAN),
        baselines.join(", "),
        ds.reference
    );
    Ok(())
}
