//! `lstm-train cv`: rolling-origin cross-validation of a forecasting
//! configuration over a grid of cells, hidden sizes and layer counts.

use std::path::PathBuf;

use anyhow::{ensure, Context};
use clap::Args;
use lstm_train::artifact::DataSource;
use lstm_train::cv::{cross_validate, CvConfig};
use lstm_train::fit::{FitConfig, TaskData};
use lstm_train::net::CellKind;
use lstm_train::run::Prepared;

use super::fit::{DataArgs, TaskArg, TrainArgs};
use super::CellArg;

/// Arguments of `cv`. The classification flags of the shared data options
/// are hidden from `cv --help` (they are still parsed, so that `cv --train`
/// gets an error saying cv is for forecasting).
#[derive(Debug, Args)]
#[command(
    mut_arg("train", |a| a.hide(true)),
    mut_arg("test", |a| a.hide(true)),
    mut_arg("task", |a| a.hide(true)),
    mut_arg("per_series_norm", |a| a.hide(true)),
    mut_arg("pool", |a| a.hide(true))
)]
#[command(after_help = "Examples:
  lstm-train cv --data airline/data.csv --window 12 --folds 3 --hidden 16,32 --layers 1,2
  lstm-train cv --data sunspots/data.csv --window 22 --folds 4 --block 12 --hidden 32 --epochs 150
  lstm-train cv --data airline/data.csv --difference --report cv.json
  lstm-train cv --data airline/data.csv --difference 12 --window 12 --hidden 16,32 --layers 1
  lstm-train cv --data airline/data.csv --window 12 --cell lstm,gru --hidden 16,32 --layers 1

Only the training portion of the series is used (the test split is never
touched): fold k trains on the rows before its origin and is scored on the
one-step-ahead forecasts of the next block (RMSE in original units).")]
pub struct CvArgs {
    /// Data (forecasting: --data).
    #[command(flatten)]
    pub data: DataArgs,
    /// Training options of every fold.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Candidate cells, comma separated: lstm, gru or lstm,gru to compare
    /// the two (every cell with every --hidden and --layers).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "lstm")]
    pub cell: Vec<CellArg>,
    /// Candidate units per recurrent layer, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    pub hidden: Vec<usize>,
    /// Candidate numbers of stacked layers, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    pub layers: Vec<usize>,
    /// Number of folds K.
    #[arg(long, default_value_t = 3)]
    pub folds: usize,
    /// Rows per validation block (default: the validation split's length).
    #[arg(long)]
    pub block: Option<usize>,
    /// Train on differences at lag LAG (default 1: first differences, for a
    /// series with a trend; e.g. 12: seasonal ones); forecasts are added
    /// back to the value LAG rows before scoring.
    #[arg(long, value_name = "LAG", num_args = 0..=1, default_missing_value = "1",
          value_parser = clap::value_parser!(u16).range(1..))]
    pub difference: Option<u16>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
}

/// Runs `cv`.
pub fn run(args: CvArgs) -> anyhow::Result<()> {
    let task = args.data.task()?;
    ensure!(
        task == TaskArg::Forecast,
        "cv is rolling-origin cross-validation of a forecasting series: give --data <csv>"
    );
    let prepared = Prepared::load(&args.data.source()?)?;
    let (TaskData::Forecast(data), DataSource::Forecast { config, .. }) =
        (&prepared.data, &prepared.source)
    else {
        anyhow::bail!("cv needs forecasting data");
    };
    let cells: Vec<CellKind> = args.cell.iter().map(|&c| c.into()).collect();
    let fit = args.train.config(
        task,
        cells.first().copied().unwrap_or_default(),
        args.hidden.first().copied().unwrap_or(1),
        1,
    )?;
    let cfg = CvConfig {
        folds: args.folds,
        block: args.block,
        cells,
        hidden_sizes: args.hidden.clone(),
        layers: args.layers.clone(),
        fit: FitConfig {
            difference_lag: args.difference.map_or(1, usize::from),
            ..fit
        },
        difference: args.difference.is_some(),
        verbose: !args.train.quiet,
    };
    let report =
        cross_validate(data, config, &prepared.source, &cfg).context("cross-validating")?;
    print!("{}", report.table());
    if let Some(path) = &args.report {
        report
            .write_json(path)
            .with_context(|| format!("writing `{}`", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}
