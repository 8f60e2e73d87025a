//! `lstm-train export`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_core::file::TrainingMode;
use lstm_core::NumberFormat;
use lstm_train::artifact::TrainedModel;
use lstm_train::export::{default_out_path, export_model, ExportOptions, ExportReport};

use super::{ActivationArg, FormatArg};

/// Arguments of `export`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train export --model runs/airline/trained.json --format q4.12 --out airline.lstm
  lstm-train export --model trained.json --format f32 --out model.f32.lstm
  lstm-train export --model trained.json --format q16.16 --no-rescale
  lstm-train export --model trained.json --format q4.12 --out m.lstm --heldout m.lstm.inputs

The training data recorded in trained.json is read again to calibrate the
quantizer and to score the test split before (trainer, f32) and after
(the exported bytes run by lstm-core, fast activations for fixed point).")]
pub struct ExportArgs {
    /// The trained model (trained.json written by `fit`).
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// Number format of the file.
    #[arg(long, short = 'f', value_enum, default_value = "q4.12")]
    pub format: FormatArg,
    /// Output model file (default: model.<format>.lstm beside the trained model).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Do not fold power-of-two scale factors into the scalers and the
    /// first / last weights (they avoid saturation; exact).
    #[arg(long)]
    pub no_rescale: bool,
    /// Do not read the training data again: no calibration, no test metrics
    /// (only the weights are checked against the format's range).
    #[arg(long)]
    pub no_data: bool,
    /// Also write the held-out input stream for a device (raw little-endian
    /// f32, IN values per step: the test split, preceded by the rows the
    /// model needs first), e.g. `model.lstm.inputs` for `cargo xtask firmware`.
    /// Forecasting models only.
    #[arg(long, value_name = "FILE")]
    pub heldout: Option<PathBuf>,
    /// Activations lstm-core scores the export with (default: fast for fixed
    /// point, as the firmware; exact for f32).
    #[arg(long, value_enum)]
    pub activations: Option<ActivationArg>,
}

/// Exports, writes the file atomically and prints the report.
pub fn run(args: ExportArgs) -> anyhow::Result<()> {
    let format: NumberFormat = args.format.into();
    let model = TrainedModel::load(&args.model)
        .with_context(|| format!("loading the trained model `{}`", args.model.display()))?;
    let opts = ExportOptions {
        format,
        rescale: !args.no_rescale,
        use_data: !args.no_data,
        activations: args.activations.map(Into::into),
    };
    let report = export_model(&model, &opts)
        .with_context(|| format!("exporting `{}` as {format}", args.model.display()))?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| default_out_path(&args.model, format));
    if let Some(path) = &args.heldout {
        anyhow::ensure!(!args.no_data, "--heldout needs the data: drop --no-data");
        let data = lstm_train::export::EvalData::load(&model.data)
            .context("rebuilding the data for the held-out inputs")?;
        let bytes = lstm_train::core_runner::CoreBytes::new(&report.bytes);
        let file = bytes.parse().context("parsing the exported file")?;
        let inputs = lstm_train::export::heldout_inputs(&file.header, &data)
            .context("collecting the held-out inputs")?;
        let raw: Vec<u8> = inputs.iter().flat_map(|v| v.to_le_bytes()).collect();
        lstm_train::io::write_atomic(path, &raw)
            .with_context(|| format!("writing the held-out inputs `{}`", path.display()))?;
        println!(
            "wrote {} ({} steps of held-out inputs for the device)",
            path.display(),
            inputs.len() / file.header.input_size().max(1)
        );
    }
    lstm_train::io::write_atomic(&out, &report.bytes)
        .with_context(|| format!("writing the model file `{}`", out.display()))?;
    print_report(&args, &out, &report);
    Ok(())
}

fn print_report(args: &ExportArgs, out: &std::path::Path, r: &ExportReport) {
    let crc = r
        .bytes
        .get(r.bytes.len().saturating_sub(4)..)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .unwrap_or(0);
    println!(
        "wrote {} ({}, {} bytes, CRC-32 {crc:#010x}) from {}",
        out.display(),
        r.plan.format,
        r.bytes.len(),
        args.model.display()
    );
    if let Some(c) = &r.calibration {
        println!(
            "calibration: trainer f32 forward over {} training sequences ({} steps)",
            c.sequences, c.steps
        );
    }
    print!("quantization: {}", r.quant);
    let (Some(before), Some(after)) = (&r.before, &r.after) else {
        println!("test metrics: skipped (--no-data)");
        return;
    };
    let mode = match r.plan.mode {
        TrainingMode::Windowed { window } => {
            format!("windowed: each test window of {window} from the zero state")
        }
        TrainingMode::Stateful => {
            "stateful: the whole series with carried state, test steps scored".to_string()
        }
    };
    println!("test metric before (trainer f32 forward):  {before}");
    println!(
        "test metric after  (lstm-core DynModel<{}, {} activations> on the exported bytes; {mode}): {after}",
        r.plan.format, r.activations
    );
    let bar = if r.plan.format == NumberFormat::F32 {
        String::new()
    } else if before.within_bar(after) {
        " — within the 16-bit bar (≤ 1% RMSE / ≤ 0.5 accuracy points)".to_string()
    } else {
        " — OUTSIDE the 16-bit bar (≤ 1% RMSE / ≤ 0.5 accuracy points)".to_string()
    };
    println!("change: {}{bar}", before.change(after));
    if let Some(s) = &r.core_stats {
        if r.plan.format != NumberFormat::F32 && r.quant.cell_state {
            println!(
                "core state on the test data: max |c| {:.4}, max |h| {:.4}, saturated c values {}, saturated outputs {}",
                s.max_abs_c, s.max_abs_h, s.saturated_c, s.saturated_outputs
            );
        } else if r.plan.format != NumberFormat::F32 {
            println!(
                "core state on the test data: max |h| {:.4}, saturated outputs {}",
                s.max_abs_h, s.saturated_outputs
            );
        }
    }
}
