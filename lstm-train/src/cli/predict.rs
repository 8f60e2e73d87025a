//! `lstm-train predict`: model + CSV → CSV of predictions
//! ([`lstm_train::predict`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_train::core_runner::Activations;
use lstm_train::predict::{predict_path_with, PredictOptions, PredictedCsv};

use super::fit::MissingArg;
use super::ActivationArg;

/// Arguments of `predict`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train predict --model airline.lstm --data airline.csv --out preds.csv
  lstm-train predict --model runs/airline/trained.json --data airline.csv
  lstm-train predict --model gunpoint.lstm --data GunPoint/test.csv --out classes.csv

Forecasting CSV for a model file: the model's input columns, optionally preceded
by a time column. Classification CSV: wide (`[label,]v0,v1,...`) or long
(`series_id,[label,]t,f0,...`); the label column is optional.
Without --out the CSV is printed; with --out it is written atomically.
Forecasts are in the column `forecast_next`. A summary on stderr counts the
input values outside the range the model was trained on (min-max scaling)
and, for a fixed-point file, the values saturated at the format's limits.")]
pub struct PredictArgs {
    /// A model file (exported by `export`) or a trained model (trained.json).
    #[arg(long, short = 'm')]
    pub model: PathBuf,
    /// The CSV to predict from.
    #[arg(long, short = 'd')]
    pub data: PathBuf,
    /// Output CSV (default: standard output).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// lstm-core activations for a model file (default: fast for fixed point,
    /// as the firmware; exact for f32).
    #[arg(long, value_enum)]
    pub activations: Option<ActivationArg>,
    /// What to do with missing cells (empty or NA), as in `fit`: refuse
    /// (naming file, line and column), drop the row (forecasting) or the
    /// series (classification), forward fill, or interpolate.
    #[arg(long, value_enum, default_value = "error")]
    pub missing: MissingArg,
}

/// Runs `predict`.
pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let opts = PredictOptions {
        activations: args.activations.map(Activations::from),
        missing: args.missing.into(),
    };
    let PredictedCsv { csv, rows, summary } = predict_path_with(&args.model, &args.data, &opts)
        .with_context(|| {
            format!(
                "predicting `{}` with `{}`",
                args.data.display(),
                args.model.display()
            )
        })?;
    // What the inputs did goes to stderr, so the CSV on stdout stays clean.
    for line in &summary {
        eprintln!("{line}");
    }
    match &args.out {
        Some(out) => {
            lstm_train::io::write_atomic(out, csv.as_bytes())
                .with_context(|| format!("writing predictions to `{}`", out.display()))?;
            eprintln!("wrote {rows} predictions to {}", out.display());
        }
        None => print!("{csv}"),
    }
    Ok(())
}
