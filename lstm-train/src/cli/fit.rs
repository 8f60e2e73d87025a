//! `lstm-train fit`: the flags become [`FitRunOptions`]; the run itself
//! (data, training or resume, the run folder, evaluation and plots) is
//! [`lstm_train::run::run_fit`]; its summary is printed here.

use std::path::PathBuf;

use anyhow::{bail, ensure};
use clap::{Args, ValueEnum};
use lstm_train::artifact::DataSource;
use lstm_train::data::{ClassConfig, ForecastConfig, MissingPolicy, ScalerKind};
use lstm_train::fit::{FitConfig, FitMode};
use lstm_train::net::CellKind;
use lstm_train::run::{baseline_warning, chance_warning, run_fit, FitRunOptions, RUN_FOLDER_FILES};

use super::CellArg;

/// The seed when --seed is not given.
pub const DEFAULT_SEED: u64 = 42;

/// The task.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    /// One-step-ahead forecasting of a CSV series (`--data`).
    Forecast,
    /// Sequence classification (`--train`, `--test`).
    Classify,
}

/// Scaler choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ScalerArg {
    /// Min-max to [0, 1] on the fit split.
    Minmax,
    /// Zero mean, unit deviation on the fit split.
    Standard,
    /// No scaling.
    None,
}

impl From<ScalerArg> for ScalerKind {
    fn from(s: ScalerArg) -> Self {
        match s {
            ScalerArg::Minmax => ScalerKind::MinMax,
            ScalerArg::Standard => ScalerKind::Standard,
            ScalerArg::None => ScalerKind::None,
        }
    }
}

/// Missing-value policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum MissingArg {
    /// Refuse missing cells (the default).
    Error,
    /// Drop the row (forecasting) or series (classification).
    Drop,
    /// Repeat the previous value.
    Ffill,
    /// Linear interpolation between neighbours.
    Interpolate,
}

impl From<MissingArg> for MissingPolicy {
    fn from(m: MissingArg) -> Self {
        match m {
            MissingArg::Error => MissingPolicy::Error,
            MissingArg::Drop => MissingPolicy::Drop,
            MissingArg::Ffill => MissingPolicy::Ffill,
            MissingArg::Interpolate => MissingPolicy::Interpolate,
        }
    }
}

/// Where the data comes from and how it is prepared (shared by `fit` and `cv`).
#[derive(Debug, Args)]
pub struct DataArgs {
    /// Forecasting CSV (`time,value[,...]`, one row per step).
    #[arg(long, conflicts_with_all = ["train", "test"])]
    pub data: Option<PathBuf>,
    /// Classification training CSV (wide `label,v0,...` or long `series_id,label,t,f0,...`).
    #[arg(long, requires = "test")]
    pub train: Option<PathBuf>,
    /// Classification test CSV (same format as --train).
    #[arg(long, requires = "train")]
    pub test: Option<PathBuf>,
    /// The task (default: forecast with --data, classify with --train/--test).
    #[arg(long, value_enum)]
    pub task: Option<TaskArg>,
    /// Forecasting: the target column (default: the only value column).
    #[arg(long)]
    pub target: Option<String>,
    /// Forecasting: input feature columns, comma separated (default: the target).
    #[arg(long, value_delimiter = ',')]
    pub features: Option<Vec<String>>,
    /// Forecasting: window length W (past steps per input) [default: 12,
    /// or chosen automatically by `fit` when --difference is not given
    /// either].
    #[arg(long)]
    pub window: Option<usize>,
    /// Fraction of the training rows / series held out for validation [default: 0.1].
    #[arg(long)]
    pub val_split: Option<f64>,
    /// Scaler, fitted on the fit split [default: minmax (forecast), standard (classify)].
    #[arg(long, value_enum)]
    pub scaler: Option<ScalerArg>,
    /// What to do with missing cells (empty or NA).
    #[arg(long, value_enum, default_value = "error")]
    pub missing: MissingArg,
    /// Classification: z-normalise each series per channel over its own
    /// length before the scaler (the UCR convention); recorded in the model
    /// file (format version 5), where a device applies it to the buffered
    /// series (lstm_core::RawIo::normalize_series).
    #[arg(long)]
    pub per_series_norm: bool,
    /// Classification: input pooling, each model step the mean of K
    /// consecutive samples (after --per-series-norm, before the scaler; a
    /// trailing partial group is dropped): K times fewer steps to train and
    /// to run on the device. Recorded in the model file (format version
    /// 6), where lstm_core::RawIo pools the samples as they arrive.
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u16).range(1..))]
    pub pool: Option<u16>,
}

impl DataArgs {
    /// The task the flags ask for.
    pub fn task(&self) -> anyhow::Result<TaskArg> {
        let implied = match (&self.data, &self.train) {
            (Some(_), _) => TaskArg::Forecast,
            (None, Some(_)) => TaskArg::Classify,
            (None, None) => bail!(
                "give --data <csv> (forecasting) or --train <csv> --test <csv> (classification)"
            ),
        };
        if let Some(t) = self.task {
            ensure!(
                t == implied,
                "--task {} does not match the data flags ({} given)",
                t.to_possible_value()
                    .map_or_else(String::new, |v| v.get_name().to_string()),
                if implied == TaskArg::Forecast {
                    "--data"
                } else {
                    "--train/--test"
                }
            );
        }
        Ok(implied)
    }

    /// The data files and preparation options the flags ask for (paths as
    /// given).
    pub fn source(&self) -> anyhow::Result<DataSource> {
        match self.task()? {
            TaskArg::Forecast => {
                ensure!(
                    !self.per_series_norm,
                    "--per-series-norm is for classification (--train/--test): it normalises whole series"
                );
                ensure!(
                    self.pool.is_none(),
                    "--pool is for classification (--train/--test): it averages groups of samples of a series"
                );
                let d = ForecastConfig::default();
                let scaler = self.scaler.map_or(d.scale_x, Into::into);
                Ok(DataSource::Forecast {
                    path: self.data.clone().unwrap_or_default(),
                    config: ForecastConfig {
                        target: self.target.clone(),
                        features: self.features.clone(),
                        window: self.window.unwrap_or(d.window),
                        val_fraction: self.val_split.unwrap_or(d.val_fraction),
                        missing: self.missing.into(),
                        scale_x: scaler,
                        scale_y: scaler,
                        ..d
                    },
                })
            }
            TaskArg::Classify => {
                for (flag, set) in [
                    ("--target", self.target.is_some()),
                    ("--features", self.features.is_some()),
                    ("--window", self.window.is_some()),
                ] {
                    ensure!(!set, "{flag} is for forecasting (--data); classification uses every channel of whole series");
                }
                let d = ClassConfig::default();
                Ok(DataSource::Classify {
                    train: self.train.clone().unwrap_or_default(),
                    test: self.test.clone().unwrap_or_default(),
                    config: ClassConfig {
                        missing: self.missing.into(),
                        scaler: self.scaler.map_or(d.scaler, Into::into),
                        val_fraction: self.val_split.unwrap_or(d.val_fraction),
                        per_series_norm: self.per_series_norm,
                        pool: self.pool.map_or(1, usize::from),
                        ..d
                    },
                })
            }
        }
    }
}

/// Network and optimisation options (shared by `fit` and `cv`).
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Forecasting: train stateful (contiguous chunks, carried state) instead of windowed.
    #[arg(long)]
    pub stateful: bool,
    /// Stateful: truncated-BPTT chunk length.
    #[arg(long, requires = "stateful", default_value_t = 24)]
    pub chunk: usize,
    /// Stateful: number of parallel contiguous streams (batch rows).
    #[arg(long, requires = "stateful", default_value_t = 1)]
    pub streams: usize,
    /// Maximum epochs [default: 300 forecast, 200 classify].
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Windows / series per mini-batch [default: 16].
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Adam learning rate [default: 0.005].
    #[arg(long)]
    pub lr: Option<f64>,
    /// Early-stopping patience in epochs, 0 = off [default: 40 forecast, 30 classify].
    #[arg(long)]
    pub patience: Option<usize>,
    /// Reduce-LR-on-plateau patience in epochs, 0 = off [default: 15 forecast, 10 classify].
    #[arg(long)]
    pub reduce_lr_patience: Option<usize>,
    /// Clip the gradient to this global L2 norm, 0 = off [default: 1].
    #[arg(long)]
    pub clip_norm: Option<f64>,
    /// L1 penalty on the weights.
    #[arg(long, default_value_t = 0.0)]
    pub l1: f64,
    /// L2 penalty on the weights.
    #[arg(long, default_value_t = 0.0)]
    pub l2: f64,
    /// Dropout rate between stacked layers and before the head.
    #[arg(long, default_value_t = 0.0)]
    pub dropout: f32,
    /// Seed of initialisation, shuffling and dropout [default: 42]. `fit`:
    /// an explicit --seed alone trains that one seed (no restarts unless
    /// --restarts is given); with --resume and no --seed, the checkpoint's
    /// seed is used.
    #[arg(long)]
    pub seed: Option<u64>,
    /// No progress bar or per-epoch lines.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl TrainArgs {
    /// The training options for `task` with `layers` layers of `hidden`
    /// units of `cell`.
    pub fn config(
        &self,
        task: TaskArg,
        cell: CellKind,
        hidden: usize,
        layers: usize,
    ) -> anyhow::Result<FitConfig> {
        let base = match task {
            TaskArg::Forecast => FitConfig::forecasting(),
            TaskArg::Classify => FitConfig::classification(),
        };
        ensure!(
            !(self.stateful && task == TaskArg::Classify),
            "--stateful is for forecasting; classification series are independent"
        );
        ensure!(layers >= 1, "--layers must be at least 1");
        let mut early_stopping = base.early_stopping;
        if let Some(p) = self.patience {
            early_stopping = (p > 0).then(|| lstm_train::fit::EarlyStoppingConfig {
                patience: p,
                ..base.early_stopping.unwrap_or_default()
            });
        }
        let mut reduce_lr = base.reduce_lr;
        if let Some(p) = self.reduce_lr_patience {
            reduce_lr = (p > 0).then(|| lstm_train::fit::ReduceLrConfig {
                patience: p,
                ..base.reduce_lr.unwrap_or_default()
            });
        }
        let clip_norm = match self.clip_norm {
            Some(c) => (c != 0.0).then_some(c),
            None => base.clip_norm,
        };
        let cfg = FitConfig {
            cell,
            hidden_sizes: vec![hidden; layers],
            epochs: self.epochs.unwrap_or(base.epochs),
            batch_size: self.batch_size.unwrap_or(base.batch_size),
            lr: self.lr.unwrap_or(base.lr),
            clip_norm,
            l1: self.l1,
            l2: self.l2,
            dropout: self.dropout,
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            mode: if self.stateful {
                FitMode::Stateful {
                    chunk: self.chunk,
                    streams: self.streams,
                }
            } else {
                FitMode::Windowed
            },
            early_stopping,
            reduce_lr,
            quiet: self.quiet,
            ..base
        };
        cfg.validate()?;
        Ok(cfg)
    }
}

/// Arguments of `fit`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train fit --data airline/data.csv --season 12 --out-dir runs/airline
  lstm-train fit --data airline/data.csv --window 12 --season 12 --out-dir runs/airline-w12
  lstm-train fit --data sunspots/data.csv --difference none --window 22 --restarts 5 --out-dir runs/sunspots-r5
  lstm-train fit --data sunspots/data.csv --window 22 --hidden 32 --epochs 200 --out-dir runs/sunspots
  lstm-train fit --data airline/data.csv --stateful --chunk 24 --out-dir runs/airline-stateful
  lstm-train fit --data airline/data.csv --difference --window 12 --lr 0.002 --epochs 600 --val-split 0 --season 12 --out-dir runs/airline-diff
  lstm-train fit --data airline/data.csv --difference 12 --window 12 --hidden 16 --lr 0.002 --epochs 600 --val-split 0 --season 12 --out-dir runs/airline-sdiff
  lstm-train fit --train GunPoint/train.csv --test GunPoint/test.csv --out-dir runs/gunpoint
  lstm-train fit --train GunPoint/train.csv --test GunPoint/test.csv --pool 2 --layers 2 --lr 0.002 --epochs 400 --l2 1e-4 --val-split 0 --patience 0 --out-dir runs/gunpoint-pool2
  lstm-train fit --train GunPoint/train.csv --test GunPoint/test.csv --cell gru --out-dir runs/gunpoint-gru
  lstm-train fit --data airline/data.csv --out-dir runs/airline --epochs 400 --resume

Writes to --out-dir: trained.json (the model to export), checkpoint.json,
best.json, history.csv, metrics.json (test split next to baselines),
predictions.png and history.png.")]
pub struct FitArgs {
    /// Data.
    #[command(flatten)]
    pub data: DataArgs,
    /// Training options.
    #[command(flatten)]
    pub train: TrainArgs,
    /// Recurrent cell of the layers: lstm (gates i, f, g, o; state h and c)
    /// or gru (gates r, z, n; state h only; 3/4 of the LSTM's weights and
    /// multiply-adds). Exported files run either on the device.
    #[arg(long, value_enum, default_value = "lstm")]
    pub cell: CellArg,
    /// Units per recurrent layer.
    #[arg(long, default_value_t = 32)]
    pub hidden: usize,
    /// Stacked recurrent layers.
    #[arg(long, default_value_t = 1)]
    pub layers: usize,
    /// Season m of the seasonal-naive baseline in the evaluation (forecasting).
    #[arg(long)]
    pub season: Option<usize>,
    /// Folder for the run's files [default: runs/<data name>].
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Continue the run in --out-dir from its checkpoint.json (same options;
    /// --epochs may be raised).
    #[arg(long)]
    pub resume: bool,
    /// Forecasting: train on differences of the series at lag LAG (default
    /// 1): first differences x[t] - x[t-1] for a series with a trend, or
    /// seasonal ones x[t] - x[t-LAG] (e.g. 12 for monthly data) for a
    /// season that grows with the trend; `--difference none` trains on the
    /// series itself. The model predicts the next difference and its
    /// forecast adds it to the value LAG rows before. Recorded in
    /// trained.json and in exported files; metrics are in original units.
    ///
    /// Default (forecasting, neither --difference nor --window given, not
    /// --stateful or --resume): `fit` chooses the differencing (none,
    /// first, and seasonal at --season when given) and the window (6, 12,
    /// 24, those the data leave room for) by rolling-origin validation on
    /// the training part (3 folds, each the validation split's length or a
    /// fifth of the training part if longer, at
    /// most 40 epochs each, the run's cell, size, seed and optimiser; the
    /// test split is never touched), prints the choice and records it in
    /// trained.json (difference, window) and metrics.json (`auto`, with
    /// every candidate's fold RMSE). Cost: up to 9 candidates x 3 short
    /// fits: 0.2-1.5 s in a release build on the airline and sunspots
    /// series, less than the training itself; a series longer than 5000
    /// rows is judged on its first 5000.
    /// Either flag (or --no-auto) fixes the preparation and skips it.
    #[arg(long, value_name = "LAG|none", num_args = 0..=1, default_missing_value = "1",
          value_parser = parse_difference)]
    pub difference: Option<u16>,
    /// Forecasting: no automatic choice of differencing and window (use
    /// --difference / --window or their defaults: none, 12).
    #[arg(long)]
    pub no_auto: bool,
    /// Train N restarts from seeds S, S+1, ... (S = --seed) and keep the
    /// model with the lowest validation loss at its best epoch (training
    /// loss without a validation split); every restart's seed, losses and
    /// epochs go to metrics.json (`restarts`) and one line each to stderr
    /// unless --quiet. Costs N times the training. `--restarts 1` is
    /// exactly the single run of --seed.
    ///
    /// Default: 3 when the training set is small -- time steps per epoch
    /// (training windows x W, or series x length) x --epochs at most
    /// 1,000,000, e.g. airline or sunspots with the default 300 epochs --
    /// else 1; and 1 with an explicit --seed or with --resume. --resume
    /// continues the one kept model (its checkpoint is the kept restart's,
    /// resumed with that restart's seed when --seed is not given) and
    /// refuses --restarts above 1. A run with restarts that is killed
    /// cannot be resumed: start it again.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub restarts: Option<u32>,
}

/// `none` (or 0): no differencing; else a lag of at least 1.
fn parse_difference(s: &str) -> Result<u16, String> {
    if s.eq_ignore_ascii_case("none") || s == "0" {
        return Ok(0);
    }
    match s.parse::<u16>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err(format!(
            "`{s}` is not a differencing lag: give none or a whole number from 1 to 65535"
        )),
    }
}

/// Runs `fit`.
pub fn run(args: FitArgs) -> anyhow::Result<()> {
    let task = args.data.task()?;
    ensure!(
        !(args.difference.is_some_and(|d| d > 0) && task == TaskArg::Classify),
        "--difference is for forecasting (--data); classification series (--train/--test) are not differenced"
    );
    let auto = task == TaskArg::Forecast
        && args.difference.is_none()
        && args.data.window.is_none()
        && !args.no_auto
        && !args.train.stateful
        && !args.resume;
    let restarts = match (args.restarts, args.train.seed, args.resume) {
        (Some(n), ..) => Some(n as usize),
        (None, Some(_), _) | (None, None, true) => Some(1),
        (None, None, false) => None,
    };
    let options = FitRunOptions {
        data: args.data.source()?,
        fit: args
            .train
            .config(task, args.cell.into(), args.hidden, args.layers)?,
        difference: args.difference.filter(|&d| d > 0).map(usize::from),
        season: args.season,
        out_dir: args.out_dir,
        resume: args.resume,
        restarts,
        auto,
        seed_from_checkpoint: args.resume && args.train.seed.is_none(),
    };
    let summary = run_fit(&options)?;
    if let Some(a) = &summary.auto {
        println!("{}", a.summary());
    }
    if let Some(k) = summary.restarts.iter().position(|s| s.kept) {
        if summary.restarts.len() > 1 {
            println!(
                "kept restart {}/{} (seed {}) of {}",
                k + 1,
                summary.restarts.len(),
                summary.restarts[k].seed,
                summary
                    .restarts
                    .iter()
                    .map(|s| s.seed.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    println!("{}", summary.outcome);
    print!("{}", summary.evaluation.table());
    for w in chance_warning(&summary.evaluation)
        .into_iter()
        .chain(baseline_warning(&summary.evaluation))
    {
        eprintln!("{w}");
    }
    if !args.train.quiet {
        println!(
            "wrote {}: {}",
            summary.out_dir.display(),
            RUN_FOLDER_FILES.join(", ")
        );
        println!(
            "next: lstm-train export --model {} --format q4.12",
            summary.trained.display()
        );
    }
    Ok(())
}
