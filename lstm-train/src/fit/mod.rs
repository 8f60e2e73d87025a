//! Keras-style training: [`fit`] a [`FitConfig`] on [`TaskData`] and get a
//! [`TrainedModel`] back, with shuffling, validation, early stopping,
//! reduce-LR-on-plateau, a progress bar, a history CSV, atomic per-epoch
//! checkpoints and bit-exact [`resume`].
//!
//! # Losses and modes
//!
//! * Forecasting, [`FitMode::Windowed`]: MSE of the one-step-ahead
//!   prediction made at the last step of each window (head at the last
//!   step), windows from the zero state, shuffled every epoch.
//! * Forecasting, [`FitMode::Stateful`]: the fit split is cut into parallel
//!   contiguous streams fed chunk by chunk with the state carried over
//!   (truncated BPTT), head at every step, MSE over all steps; the state is
//!   reset at each epoch start. Validation runs the whole series from the
//!   start and scores the validation steps (as the firmware would run it).
//! * Classification: softmax cross-entropy at each series' own last step
//!   (variable lengths), series shuffled every epoch.
//!
//! # Reproducibility
//!
//! The parameters are initialised from `ChaCha8Rng::seed_from_u64(seed)`;
//! epoch `e` (1-based) shuffles and draws dropout masks from the same seed
//! on stream `e` ([`epoch_rng`]). The generator therefore never needs to be
//! saved: a checkpoint after epoch `e` plus the data and the configuration
//! determine the rest of the run, and [`resume`] reproduces an
//! uninterrupted run bit for bit (on the same machine and build).
//!
//! # Files (when [`FitConfig::out_dir`] is set)
//!
//! * `checkpoint.json` ([`Checkpoint`]) after every epoch;
//! * `best.json` (a [`TrainedModel`]) whenever the monitored value improves;
//! * `history.csv` ([`History::to_csv`]) after every epoch.
//!
//! All are written atomically ([`crate::io::write_atomic`]). When training
//! diverges (non-finite loss, gradient or parameters, or a loss above
//! [`FitConfig::explode_factor`] times the first epoch's), [`fit`] returns
//! [`FitError::Diverged`] before anything of the broken epoch is written,
//! so `best.json` and `checkpoint.json` keep the last good state.

mod callbacks;
mod checkpoint;
mod config;
/// The default differencing lag (first differences), for `serde`.
pub(crate) fn first_lag() -> usize {
    1
}

mod difference;
mod engine;
mod history;
mod progress;
pub mod restarts;

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::artifact::{ArtifactError, DataSource, TaskKind, TrainMode, TrainedModel};
use crate::data::{
    load_classification, load_forecast, ClassDataset, DataError, ForecastData, Scaler,
};
use crate::io::IoError;
use crate::net::{HeadMode, NetConfig, NetError, Params};
use crate::optim::{Adam, AdamConfig};

pub use callbacks::{EarlyStopping, ReduceLrOnPlateau};
pub use checkpoint::{
    Best, Checkpoint, RunFiles, StopReason, BEST_FILE, CHECKPOINT_FILE, CHECKPOINT_VERSION,
    HISTORY_FILE,
};
pub use config::{EarlyStoppingConfig, FitConfig, FitMode, Monitor, ReduceLrConfig};
pub use difference::{differenced, differenced_for, undifference};
pub use history::{EpochRecord, History};
pub use progress::Progress;

/// Errors of training, evaluation, cross-validation and plotting.
#[derive(Debug, thiserror::Error)]
pub enum FitError {
    /// Reading or preparing the data failed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The network refused a configuration, parameters or inputs.
    #[error(transparent)]
    Net(#[from] NetError),
    /// A trained model could not be read or written.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// A file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An option is invalid or does not fit the data.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// Training diverged; nothing of the broken epoch was saved.
    #[error(
        "training diverged in epoch {epoch}: {reason} (loss {loss:e}); {}",
        match best {
            Some(p) => format!("the best model so far is kept in `{}`", p.display()),
            None => "no earlier epoch was saved".to_string(),
        }
    )]
    Diverged {
        /// 1-based epoch in which it happened.
        epoch: usize,
        /// The offending loss value (may be NaN or infinite).
        loss: f64,
        /// What was detected.
        reason: String,
        /// The best model file written before, if any.
        best: Option<PathBuf>,
    },
    /// A checkpoint cannot be used to resume this run.
    #[error("cannot resume from `{path}`: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A JSON file could not be encoded or decoded.
    #[error("`{path}`: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Drawing a plot failed.
    #[error("plot `{path}`: {reason}")]
    Plot {
        /// The image file.
        path: PathBuf,
        /// The drawing backend's message.
        reason: String,
    },
}

/// Shorthand for results of this module.
pub type Result<T, E = FitError> = std::result::Result<T, E>;

/// The prepared data of one task.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskData {
    /// One-step-ahead forecasting.
    Forecast(Box<ForecastData>),
    /// Sequence classification.
    Classify(Box<ClassDataset>),
}

impl TaskData {
    /// Loads the data recorded in `source` (the CSV files and options).
    ///
    /// Errors: [`FitError::Data`].
    pub fn load(source: &DataSource) -> Result<Self> {
        Ok(match source {
            DataSource::Forecast { path, config } => {
                TaskData::Forecast(Box::new(load_forecast(path, config)?))
            }
            DataSource::Classify {
                train,
                test,
                config,
            } => TaskData::Classify(Box::new(load_classification(train, test, config)?)),
            DataSource::Imported { model } => {
                return Err(FitError::InvalidConfig(DataSource::no_data_message(model)))
            }
        })
    }

    /// Number of input features.
    pub fn input_size(&self) -> usize {
        match self {
            TaskData::Forecast(d) => d.n_features(),
            TaskData::Classify(c) => c.channels.len(),
        }
    }

    /// Number of network outputs (1 for forecasting, the classes otherwise).
    pub fn output_size(&self) -> usize {
        match self {
            TaskData::Forecast(_) => 1,
            TaskData::Classify(c) => c.n_classes(),
        }
    }

    /// Name of the validation metric: `val_rmse` or `val_accuracy`.
    pub fn metric_name(&self) -> &'static str {
        match self {
            TaskData::Forecast(_) => "val_rmse",
            TaskData::Classify(_) => "val_accuracy",
        }
    }

    /// The task as recorded in a [`TrainedModel`].
    pub fn task_kind(&self) -> TaskKind {
        match self {
            TaskData::Forecast(d) => TaskKind::Regression {
                target: d.target_name.clone(),
            },
            TaskData::Classify(c) => TaskKind::Classification {
                classes: c.classes.clone(),
            },
        }
    }

    /// The fitted input and target scalers (`Scaler::None` as the target
    /// scaler of classification).
    pub fn scalers(&self) -> (Scaler, Scaler) {
        match self {
            TaskData::Forecast(d) => (d.scaler_x.clone(), d.scaler_y.clone()),
            TaskData::Classify(c) => (c.scaler.clone(), Scaler::None),
        }
    }
}

/// What [`fit`] returns.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOutcome {
    /// The trained model: the best epoch's parameters when early stopping
    /// with `restore_best` is configured (and training was not
    /// interrupted), else the last epoch's.
    pub model: TrainedModel,
    /// All epochs (including those before a resume).
    pub history: History,
    /// The best epoch by the monitored value, with its value.
    pub best: Option<(usize, f64)>,
    /// Whether [`FitOutcome::model`] holds the best epoch's parameters.
    pub restored_best: bool,
    /// Why training ended.
    pub stop: StopReason,
    /// Number of epochs completed in total.
    pub epochs_run: usize,
    /// Wall time of this call, seconds.
    pub seconds: f64,
    /// The files written, if [`FitConfig::out_dir`] was set.
    pub files: Option<RunFiles>,
}

/// The random generator of epoch `epoch` (1-based): `seed` on stream
/// `epoch` (stream 0 initialises the parameters).
pub fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(epoch as u64);
    rng
}

/// The network configuration `cfg` gives for `data`.
///
/// Errors: [`FitError::InvalidConfig`] (stateful classification).
pub fn net_config(cfg: &FitConfig, data: &TaskData) -> Result<NetConfig> {
    let head = match (cfg.mode, data) {
        (FitMode::Stateful { .. }, TaskData::Classify(_)) => {
            return Err(FitError::InvalidConfig(
                "stateful training is for forecasting; classification series are independent"
                    .into(),
            ))
        }
        (FitMode::Stateful { .. }, _) => HeadMode::EveryStep,
        (FitMode::Windowed, _) => HeadMode::LastStep,
    };
    Ok(NetConfig {
        cell: cfg.cell,
        input_size: data.input_size(),
        hidden_sizes: cfg.hidden_sizes.clone(),
        output_size: data.output_size(),
        head,
        dropout: cfg.dropout,
        unit_forget_bias: cfg.unit_forget_bias && cfg.cell.has_cell_state(),
    })
}

/// The [`TrainMode`] recorded for `cfg` on `data`: the window length for
/// windowed forecasting, the longest training series for classification,
/// the chunk for stateful training.
pub fn train_mode(cfg: &FitConfig, data: &TaskData) -> TrainMode {
    match (cfg.mode, data) {
        (FitMode::Stateful { chunk, .. }, _) => TrainMode::Stateful { chunk },
        (FitMode::Windowed, TaskData::Forecast(d)) => TrainMode::Windowed { window: d.window },
        (FitMode::Windowed, TaskData::Classify(c)) => TrainMode::Windowed {
            window: c.train.max_len().max(c.val.max_len()).max(1),
        },
    }
}

fn check_data(cfg: &FitConfig, data: &TaskData) -> Result<()> {
    let empty = match data {
        TaskData::Forecast(d) => match cfg.mode {
            FitMode::Windowed => d.train.is_empty(),
            FitMode::Stateful { .. } => d.n_fit < 2,
        },
        TaskData::Classify(c) => c.train.is_empty(),
    };
    if cfg.difference && cfg.difference_lag == 0 {
        return Err(FitError::InvalidConfig(
            "the differencing lag must be at least 1".into(),
        ));
    }
    if cfg.difference && !matches!(data, TaskData::Forecast(_)) {
        return Err(FitError::InvalidConfig(
            "differencing is for forecasting; classification series are not differenced".into(),
        ));
    }
    if empty {
        return Err(FitError::InvalidConfig(
            "the training split has no samples".into(),
        ));
    }
    Ok(())
}

/// Trains a fresh model. Shorthand for [`fit_with_callback`] with no
/// callback.
///
/// Errors: see [`fit_with_callback`].
pub fn fit(cfg: &FitConfig, data: &TaskData, source: DataSource) -> Result<FitOutcome> {
    fit_with_callback(cfg, data, source, &mut |_, _| ControlFlow::Continue(()))
}

/// Trains a fresh model on `data` (whose origin `source` is recorded in the
/// model), calling `callback` after each epoch once its checkpoint is
/// written. The callback may stop the run (`ControlFlow::Break`: the run
/// ends as if killed, with [`StopReason::Interrupted`], and can be
/// resumed) and may change the parameters (which then makes the run
/// irreproducible; meant for tests and experiments).
///
/// Errors: [`FitError::InvalidConfig`], [`FitError::Net`],
/// [`FitError::Data`] (metrics), [`FitError::Io`] / [`FitError::Json`]
/// (writing files), [`FitError::Diverged`].
pub fn fit_with_callback(
    cfg: &FitConfig,
    data: &TaskData,
    source: DataSource,
    callback: &mut dyn FnMut(&EpochRecord, &mut Params<f32>) -> ControlFlow<()>,
) -> Result<FitOutcome> {
    cfg.validate()?;
    check_data(cfg, data)?;
    let net = net_config(cfg, data)?;
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let params = Params::<f32>::init(&net, &mut rng)?;
    let adam = Adam::with_config(
        &params,
        AdamConfig {
            lr: cfg.lr,
            beta1: cfg.beta1,
            beta2: cfg.beta2,
            ..AdamConfig::default()
        },
    );
    let (scaler_x, scaler_y) = data.scalers();
    let ck = Checkpoint {
        version: CHECKPOINT_VERSION,
        config: cfg.clone(),
        model: TrainedModel {
            net,
            params,
            task: data.task_kind(),
            mode: train_mode(cfg, data),
            scaler_x,
            scaler_y,
            data: source,
            difference: cfg.difference,
            difference_lag: cfg.difference_lag,
            season: None,
        },
        adam,
        epoch: 0,
        first_loss: None,
        best: None,
        early_stopping: cfg.early_stopping.map(EarlyStopping::new),
        reduce_lr: cfg.reduce_lr.map(ReduceLrOnPlateau::new),
        history: History::new(data.metric_name(), cfg.cell),
        stopped: None,
    };
    run(cfg, data, ck, callback)
}

/// Continues the run saved in `checkpoint` up to `cfg.epochs` epochs. The
/// result is bit-identical to a run that was never interrupted.
/// `cfg` must equal the checkpoint's configuration except for `epochs`,
/// `quiet` and `out_dir`; `data` and `source` must be the same data.
///
/// Errors: [`FitError::Checkpoint`] (other options or data),
/// [`FitError::Json`] / [`FitError::Io`] (unreadable file), and those of
/// [`fit_with_callback`].
pub fn resume(
    cfg: &FitConfig,
    data: &TaskData,
    source: DataSource,
    checkpoint: &Path,
) -> Result<FitOutcome> {
    resume_with_callback(cfg, data, source, checkpoint, &mut |_, _| {
        ControlFlow::Continue(())
    })
}

/// [`resume`] with an epoch callback (see [`fit_with_callback`]).
///
/// Errors: see [`resume`].
pub fn resume_with_callback(
    cfg: &FitConfig,
    data: &TaskData,
    source: DataSource,
    checkpoint: &Path,
    callback: &mut dyn FnMut(&EpochRecord, &mut Params<f32>) -> ControlFlow<()>,
) -> Result<FitOutcome> {
    cfg.validate()?;
    let ck = Checkpoint::load(checkpoint)?;
    let refuse = |reason: String| FitError::Checkpoint {
        path: checkpoint.to_path_buf(),
        reason,
    };
    if ck.config.result_relevant() != cfg.result_relevant() {
        return Err(refuse(format!(
            "the training options differ from the checkpoint's (only epochs, quiet and the output folder may change); checkpoint: {:?}",
            ck.config.result_relevant()
        )));
    }
    if ck.model.data != source {
        return Err(refuse(format!(
            "the checkpoint was trained on {:?}, not {source:?}",
            ck.model.data
        )));
    }
    let (sx, sy) = data.scalers();
    if ck.model.net != net_config(cfg, data)? || ck.model.scaler_x != sx || ck.model.scaler_y != sy
    {
        return Err(refuse(
            "the data differ from the checkpoint's (shapes or fitted scalers)".into(),
        ));
    }
    ck.model.params.check_config(&ck.model.net)?;
    run(cfg, data, ck, callback)
}

fn run(
    cfg: &FitConfig,
    data: &TaskData,
    mut ck: Checkpoint,
    callback: &mut dyn FnMut(&EpochRecord, &mut Params<f32>) -> ControlFlow<()>,
) -> Result<FitOutcome> {
    let t0 = Instant::now();
    let files = cfg.out_dir.as_deref().map(RunFiles::in_dir);
    if let (Some(f), true) = (&files, ck.epoch > 0) {
        // A resumed run's history is the checkpoint's: a kill between the
        // checkpoint's write and history.csv's left the file an epoch
        // behind, and a resume with nothing left to train writes no epoch.
        ck.history.write_csv(&f.history)?;
    }
    let mut engine = engine::Engine::new(cfg, data, &ck.model.net, &ck.model.params)?;
    let mut progress = Progress::new(cfg.quiet, cfg.epochs, data.metric_name());
    let mut stop = StopReason::Completed;
    if let Some(s) = ck.stopped {
        stop = s;
    }
    while ck.stopped.is_none() && ck.epoch < cfg.epochs {
        let epoch = ck.epoch + 1;
        let started = Instant::now();
        let lr = ck.adam.lr();
        let mut rng = epoch_rng(cfg.seed, epoch);
        progress.start_epoch(epoch, engine.batches_per_epoch());
        let result = epoch_step(&mut engine, &mut ck, &mut rng, epoch, &mut progress);
        let (loss, val) = match result {
            Ok(v) => v,
            Err(FitError::Diverged {
                epoch,
                loss,
                reason,
                ..
            }) => {
                progress.abandon();
                let best = match (&files, &ck.best) {
                    (Some(f), Some(_)) => Some(f.best.clone()),
                    _ => None,
                };
                return Err(FitError::Diverged {
                    epoch,
                    loss,
                    reason,
                    best,
                });
            }
            Err(e) => {
                progress.abandon();
                return Err(e);
            }
        };
        if epoch == 1 {
            ck.first_loss = Some(loss);
        }
        let rec = EpochRecord {
            epoch,
            loss,
            val_loss: val.map(|v| v.loss),
            val_metric: val.map(|v| v.metric),
            lr,
            seconds: started.elapsed().as_secs_f64(),
        };
        ck.history.epochs.push(rec.clone());
        let monitored = match cfg.monitor {
            Monitor::ValLoss => val.map_or(loss, |v| v.loss),
            Monitor::TrainLoss => loss,
        };
        if ck.best.as_ref().is_none_or(|b| monitored < b.value) {
            ck.best = Some(Best {
                epoch,
                value: monitored,
                params: ck.model.params.clone(),
            });
            if let Some(f) = &files {
                ck.model.save(&f.best)?;
            }
        }
        if let Some(es) = &mut ck.early_stopping {
            if es.update(monitored) {
                ck.stopped = Some(StopReason::EarlyStopped { epoch });
            }
        }
        if let Some(rl) = &mut ck.reduce_lr {
            let new_lr = rl.update(monitored, lr);
            if new_lr < lr {
                ck.adam.set_lr(new_lr);
                progress.note(&format!(
                    "epoch {epoch}: no improvement for {} epochs, learning rate {lr:.3e} -> {new_lr:.3e}",
                    rl.config.patience
                ));
            }
        }
        ck.epoch = epoch;
        if let Some(f) = &files {
            ck.save(&f.checkpoint)?;
            ck.history.write_csv(&f.history)?;
        }
        progress.end_epoch(&rec);
        if let Some(s) = ck.stopped {
            stop = s;
            progress.note(&format!(
                "early stopping after epoch {epoch}: no improvement for {} epochs",
                cfg.early_stopping.map_or(0, |e| e.patience)
            ));
            break;
        }
        if callback(&rec, &mut ck.model.params).is_break() {
            stop = StopReason::Interrupted { epoch };
            break;
        }
    }
    let mut model = ck.model.clone();
    let restore = !matches!(stop, StopReason::Interrupted { .. })
        && ck
            .early_stopping
            .as_ref()
            .is_some_and(|e| e.config.restore_best);
    let mut restored_best = false;
    if let (true, Some(b)) = (restore, &ck.best) {
        model.params = b.params.clone();
        restored_best = true;
    }
    Ok(FitOutcome {
        model,
        history: ck.history,
        best: ck.best.as_ref().map(|b| (b.epoch, b.value)),
        restored_best,
        stop,
        epochs_run: ck.epoch,
        seconds: t0.elapsed().as_secs_f64(),
        files,
    })
}

/// Trains one epoch and validates; checks for divergence.
fn epoch_step(
    engine: &mut engine::Engine<'_>,
    ck: &mut Checkpoint,
    rng: &mut ChaCha8Rng,
    epoch: usize,
    progress: &mut Progress,
) -> Result<(f64, Option<engine::ValResult>)> {
    let loss = engine.train_epoch(
        &mut ck.model.params,
        &mut ck.adam,
        rng,
        epoch,
        ck.first_loss,
        progress,
    )?;
    let fail = |loss: f64, reason: String| FitError::Diverged {
        epoch,
        loss,
        reason,
        best: None,
    };
    if !engine::params_finite(&ck.model.params) {
        return Err(fail(loss, "the parameters are no longer finite".into()));
    }
    if let Some(first) = ck.first_loss {
        if loss > ck.config.explode_factor * first {
            return Err(fail(
                loss,
                format!(
                    "the epoch's loss exceeds {:e} x the first epoch's loss {first:.6e}",
                    ck.config.explode_factor
                ),
            ));
        }
    }
    let val = engine.validate(&ck.model.params)?;
    if let Some(v) = val {
        if !v.loss.is_finite() {
            return Err(fail(v.loss, "the validation loss is not finite".into()));
        }
    }
    Ok((loss, val))
}
