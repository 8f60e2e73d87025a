//! `lstm-train predict`: model + CSV → CSV of predictions
//! ([`lstm_train::predict`]).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use lstm_train::core_runner::Activations;
use lstm_train::predict::{predict_path, PredictedCsv};

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
Without --out the CSV is printed; with --out it is written atomically.")]
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
}

/// Runs `predict`.
pub fn run(args: PredictArgs) -> anyhow::Result<()> {
    let activations = args.activations.map(Activations::from);
    let PredictedCsv { csv, rows } = predict_path(&args.model, &args.data, activations)
        .with_context(|| {
            format!(
                "predicting `{}` with `{}`",
                args.data.display(),
                args.model.display()
            )
        })?;
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
