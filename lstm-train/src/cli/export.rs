//! `lstm-train export`: [`export_model`], the file and the held-out inputs
//! written, and the report ([`ReportText`]) printed.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_core::NumberFormat;
use lstm_train::artifact::TrainedModel;
use lstm_train::export::{
    default_out_path, export_model, write_heldout, ExportOptions, ReportText,
};

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
        let steps = write_heldout(&model, &report.bytes, path)?;
        println!(
            "wrote {} ({steps} steps of held-out inputs for the device)",
            path.display()
        );
    }
    lstm_train::io::write_atomic(&out, &report.bytes)
        .with_context(|| format!("writing the model file `{}`", out.display()))?;
    print!(
        "{}",
        ReportText {
            report: &report,
            out: &out,
            model: &args.model,
        }
    );
    Ok(())
}
