//! A whole training run, as `lstm-train fit` does it: read and prepare the
//! data ([`Prepared::load`]), train or resume ([`crate::fit`]), save the
//! trained model, evaluate it on the test split next to the baselines
//! ([`crate::evaluate`]) and draw the plots ([`crate::plot`]), all into one
//! run folder ([`run_fit`]). What it did comes back as a [`FitSummary`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::artifact::{ArtifactError, DataSource, TrainedModel};
use crate::cv::{auto_choose, AutoChoice};
use crate::data::outlier::{class_outliers, forecast_outliers, outlier_warning};
use crate::data::DataError;
use crate::evaluate::{evaluate_model, EvalOptions, Evaluation};
use crate::fit::restarts::{default_restarts, fit_restarts, score, RestartScore};
use crate::fit::{
    differenced, resume, Checkpoint, FitConfig, FitError, FitMode, FitOutcome, RunFiles,
    StopReason, TaskData, BEST_FILE, CHECKPOINT_FILE, HISTORY_FILE,
};
use crate::plot::{plot_history, plot_test_predictions};
use crate::run_dir::{LockError, RunDirLock};

/// File name of the trained model inside the run folder.
pub const TRAINED_FILE: &str = "trained.json";
/// File name of the test-split evaluation inside the run folder.
pub const METRICS_FILE: &str = "metrics.json";
/// File name of the test predictions plot inside the run folder.
pub const PREDICTIONS_PLOT: &str = "predictions.png";
/// File name of the training history plot inside the run folder.
pub const HISTORY_PLOT: &str = "history.png";
/// Every file [`run_fit`] leaves in the run folder, in the order they are
/// announced.
pub const RUN_FOLDER_FILES: [&str; 7] = [
    TRAINED_FILE,
    CHECKPOINT_FILE,
    BEST_FILE,
    HISTORY_FILE,
    METRICS_FILE,
    PREDICTIONS_PLOT,
    HISTORY_PLOT,
];

/// Fewest validation series per class, on average, that [`run_fit`] keeps a
/// classification validation split for: with fewer, the split is too small
/// to steer early stopping (a handful of series, one wrong guess moves the
/// accuracy by tens of percent), so the run trains on every training series
/// and monitors the training loss instead, and says so.
pub const MIN_VAL_SERIES_PER_CLASS: usize = 5;

/// A classifier whose test accuracy is at most the majority-class rate plus
/// this margin is reported as scoring at chance level.
pub const CHANCE_MARGIN: f64 = 0.02;

/// Errors of [`Prepared::load`] and [`run_fit`]: each names the step that
/// failed and keeps its cause as the error's source.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A data file does not exist or cannot be resolved.
    #[error("cannot open `{}`", path.display())]
    Open {
        /// The file as it was given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Preparing a forecasting series failed.
    #[error("preparing `{}`", path.display())]
    PrepareForecast {
        /// The CSV file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<DataError>,
    },
    /// Preparing a classification train/test pair failed.
    #[error("preparing `{}` and `{}`", train.display(), test.display())]
    PrepareClassify {
        /// The training CSV.
        train: PathBuf,
        /// The test CSV.
        test: PathBuf,
        /// The cause.
        #[source]
        source: Box<DataError>,
    },
    /// Differencing was asked for on data that is not a forecasting series.
    #[error("--difference is for forecasting (--data)")]
    DifferenceNotForecast,
    /// Differencing the series failed.
    #[error("differencing the series")]
    Difference(#[source] Box<FitError>),
    /// A resumed run has no checkpoint in its folder.
    #[error("--resume: no checkpoint `{}` (run fit with this --out-dir first)", path.display())]
    NoCheckpoint {
        /// The checkpoint that is missing.
        path: PathBuf,
    },
    /// Resuming from the checkpoint failed.
    #[error("resuming from `{}`", path.display())]
    Resume {
        /// The checkpoint.
        path: PathBuf,
        /// The cause.
        #[source]
        source: Box<FitError>,
    },
    /// Training failed.
    #[error("training")]
    Train(#[source] Box<FitError>),
    /// The trained model could not be saved.
    #[error("saving `{}`", path.display())]
    Save {
        /// The model file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: ArtifactError,
    },
    /// Evaluating the trained model failed.
    #[error("evaluating on the test split")]
    Evaluate(#[source] Box<FitError>),
    /// Writing the metrics, predicting or plotting failed.
    #[error(transparent)]
    Fit(Box<FitError>),
    /// The run folder is in use by another process, or cannot be locked.
    #[error(transparent)]
    Lock(#[from] LockError),
}

impl From<FitError> for RunError {
    fn from(e: FitError) -> Self {
        RunError::Fit(Box::new(e))
    }
}

/// The prepared data of a run and its recorded source.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    /// The task data.
    pub data: TaskData,
    /// Where it came from, with absolute paths (recorded in trained.json).
    pub source: DataSource,
}

fn absolute(p: &Path) -> Result<PathBuf, RunError> {
    std::fs::canonicalize(p).map_err(|source| RunError::Open {
        path: p.to_path_buf(),
        source,
    })
}

impl Prepared {
    /// Reads and prepares the data that `request` names (paths may be
    /// relative); the source recorded is `request` with absolute paths.
    ///
    /// Errors: [`RunError::Open`], [`RunError::PrepareForecast`],
    /// [`RunError::PrepareClassify`].
    pub fn load(request: &DataSource) -> Result<Self, RunError> {
        match request {
            DataSource::Forecast { path, config } => {
                let path = absolute(path)?;
                let data = crate::data::load_forecast(&path, config).map_err(|source| {
                    RunError::PrepareForecast {
                        path: path.clone(),
                        source: Box::new(source),
                    }
                })?;
                Ok(Prepared {
                    data: TaskData::Forecast(Box::new(data)),
                    source: DataSource::Forecast {
                        path,
                        config: config.clone(),
                    },
                })
            }
            DataSource::Classify {
                train,
                test,
                config,
            } => {
                let train = absolute(train)?;
                let test = absolute(test)?;
                let data =
                    crate::data::load_classification(&train, &test, config).map_err(|source| {
                        RunError::PrepareClassify {
                            train: train.clone(),
                            test: test.clone(),
                            source: Box::new(source),
                        }
                    })?;
                Ok(Prepared {
                    data: TaskData::Classify(Box::new(data)),
                    source: DataSource::Classify {
                        train,
                        test,
                        config: config.clone(),
                    },
                })
            }
            DataSource::Imported { model } => Err(RunError::Fit(Box::new(
                crate::fit::FitError::InvalidConfig(DataSource::no_data_message(model)),
            ))),
        }
    }
}

/// `runs/<name>`, the default run folder for the data `request` names: the
/// data file's folder name for `data.csv` / `train.csv`, else the file's
/// stem.
pub fn default_run_dir(request: &DataSource) -> PathBuf {
    let file = match request {
        DataSource::Forecast { path, .. } => path,
        DataSource::Classify { train, .. } => train,
        DataSource::Imported { model } => model,
    };
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    let name = match stem {
        Some(s) if s == "data" || s == "train" => file
            .parent()
            .and_then(Path::file_name)
            .map(|n| n.to_string_lossy().into_owned()),
        other => other,
    };
    PathBuf::from("runs").join(name.unwrap_or_else(|| "model".into()))
}

/// Options of [`run_fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitRunOptions {
    /// The data to read ([`Prepared::load`]).
    pub data: DataSource,
    /// The training options; the run sets their `out_dir` and differencing
    /// from the fields below.
    pub fit: FitConfig,
    /// Train on differences of the series at this lag (forecasting); the
    /// evaluation and the plots are in original units.
    pub difference: Option<usize>,
    /// Season `m` of the seasonal-naive baseline in the evaluation.
    pub season: Option<usize>,
    /// The run folder (`None`: [`default_run_dir`]).
    pub out_dir: Option<PathBuf>,
    /// Continue the run in the folder from its checkpoint.
    pub resume: bool,
    /// Number of restarts (seeds `fit.seed`, `fit.seed + 1`, …; the best by
    /// validation loss is kept). `None`: 1 when resuming, else
    /// [`default_restarts`]. More than 1 is refused with `resume`.
    pub restarts: Option<usize>,
    /// Forecasting: choose the differencing and the window automatically
    /// ([`auto_choose`]); `difference` and the data's window are then
    /// ignored. Refused with `resume` and stateful training.
    pub auto: bool,
    /// When resuming, take the seed from the checkpoint (the kept
    /// restart's) instead of `fit.seed`.
    pub seed_from_checkpoint: bool,
}

/// What [`run_fit`] did.
#[derive(Clone, Debug)]
pub struct FitSummary {
    /// The training outcome (its `Display` is the one-line summary).
    pub outcome: FitOutcome,
    /// The test split next to the baselines.
    pub evaluation: Evaluation,
    /// The run folder, holding [`RUN_FOLDER_FILES`].
    pub out_dir: PathBuf,
    /// The trained model's file.
    pub trained: PathBuf,
    /// Every restart's score (one entry without restarts or when resuming).
    pub restarts: Vec<RestartScore>,
    /// The automatic choice of differencing and window, if made.
    pub auto: Option<AutoChoice>,
    /// Notes and warnings about the run, also printed on stderr and kept in
    /// `metrics.json` under `notes`: a validation split too small to use
    /// ([`MIN_VAL_SERIES_PER_CLASS`]), a classifier at chance level
    /// ([`CHANCE_MARGIN`]).
    pub notes: Vec<String>,
}

/// Classification: when the validation split holds fewer than
/// [`MIN_VAL_SERIES_PER_CLASS`] series per class on average, the data
/// without a validation split (every training series is fitted; early
/// stopping, the learning-rate schedule and the kept best epoch then follow
/// the training loss) and the note saying so. `None` when the split is kept
/// (or empty, or the data is a forecasting series).
///
/// Errors: those of [`Prepared::load`].
pub fn small_val_fallback(prepared: &Prepared) -> Result<Option<(Prepared, String)>, RunError> {
    let (TaskData::Classify(d), DataSource::Classify { config, .. }) =
        (&prepared.data, &prepared.source)
    else {
        return Ok(None);
    };
    let (n_val, k) = (d.val.len(), d.n_classes());
    if n_val == 0 || n_val >= MIN_VAL_SERIES_PER_CLASS * k {
        return Ok(None);
    }
    let mut request = prepared.source.clone();
    if let DataSource::Classify { config: c, .. } = &mut request {
        c.val_fraction = 0.0;
    }
    let note = format!(
        "note: the validation split ({} = {:.0} % of the training file) would hold {n_val} series for {k} classes \
         ({:.1} per class, fewer than {MIN_VAL_SERIES_PER_CLASS}): too few to steer training, so it is not used; \
         all {} training series are fitted and early stopping / the best epoch follow the training loss \
         (give --val-split 0 to train so without this note)",
        config.val_fraction,
        config.val_fraction * 100.0,
        n_val as f64 / k as f64,
        n_val + d.train.len(),
    );
    Ok(Some((Prepared::load(&request)?, note)))
}

/// The warning for a classifier whose test accuracy is at most the
/// majority-class rate plus [`CHANCE_MARGIN`], or `None`.
pub fn chance_warning(evaluation: &Evaluation) -> Option<String> {
    let Evaluation::Classify(e) = evaluation else {
        return None;
    };
    (e.accuracy <= e.majority_accuracy + CHANCE_MARGIN).then(|| {
        format!(
            "warning: test accuracy {:.3} is at chance level: always predicting the majority class `{}` scores {:.3}; \
             the model has not learnt to tell the classes apart. Try {}",
            e.accuracy, e.majority_class, e.majority_accuracy, CHANCE_HINT
        )
    })
}

/// The warning for a forecaster whose test RMSE is not below a baseline's
/// (naive, or seasonal naive with `--season`), with what to try, or `None`.
pub fn baseline_warning(evaluation: &Evaluation) -> Option<String> {
    let Evaluation::Forecast(e) = evaluation else {
        return None;
    };
    let lost: Vec<String> = e
        .baselines
        .iter()
        .filter(|b| e.model.rmse >= b.metrics.rmse)
        .map(|b| format!("{} (RMSE {:.4})", b.name, b.metrics.rmse))
        .collect();
    if lost.is_empty() {
        return None;
    }
    let hint = if e.differenced {
        "another window (--window, or leave --difference and --window open for the automatic choice, or compare with `cv`)"
    } else {
        "--difference (first differences, for a trend), --difference M (seasonal, for a season of M steps), \
         another --window, or leave --difference and --window open so that fit chooses them by rolling-origin validation"
    };
    Some(format!(
        "warning: the model's test RMSE {:.4} is not below {}: a baseline forecasts this series as well. Try {hint}",
        e.model.rmse,
        lost.join(" and ")
    ))
}

/// What [`chance_warning`] suggests.
const CHANCE_HINT: &str =
    "--per-series-norm (z-normalise each series), another --lr (e.g. 0.002 or 0.01), more --epochs, a larger --hidden, or --val-split 0 --patience 0";

/// Trains (or resumes) a model as `options` say, saves it, evaluates it on
/// the test split and draws the plots, all into the run folder.
///
/// Errors: those of [`Prepared::load`], then the [`RunError`] of the step
/// that failed.
pub fn run_fit(options: &FitRunOptions) -> Result<FitSummary, RunError> {
    if options.resume && options.restarts.is_some_and(|n| n > 1) {
        return Err(RunError::Train(Box::new(FitError::InvalidConfig(
            "--resume continues the single run kept in the folder; it cannot be combined with --restarts above 1".into(),
        ))));
    }
    if options.auto && (options.resume || matches!(options.fit.mode, FitMode::Stateful { .. })) {
        return Err(RunError::Train(Box::new(FitError::InvalidConfig(
            "the automatic choice of differencing and window is for fresh windowed forecasting runs; give --difference and --window".into(),
        ))));
    }
    let mut request = options.data.clone();
    let mut lag = options.difference;
    let mut auto = None;
    let mut prepared = Prepared::load(&request)?;
    let mut notes = Vec::new();
    if let Some((p, note)) = small_val_fallback(&prepared)? {
        eprintln!("{note}");
        notes.push(note);
        prepared = p;
    }
    if let TaskData::Classify(d) = &prepared.data {
        if let Some(note) = &d.length_note {
            eprintln!("{note}");
            notes.push(note.clone());
        }
    }
    // An extreme value is reported before anything is trained on it.
    let outliers = match &prepared.data {
        TaskData::Forecast(d) => outlier_warning(&d.file, &forecast_outliers(d)),
        TaskData::Classify(d) => {
            let file = match &prepared.source {
                DataSource::Classify { train, test, .. } => {
                    format!("{} / {}", train.display(), test.display())
                }
                DataSource::Forecast { path, .. } => path.display().to_string(),
                DataSource::Imported { model } => model.display().to_string(),
            };
            outlier_warning(&file, &class_outliers(d))
        }
    };
    if let Some(w) = outliers {
        eprintln!("{w}");
        notes.push(w);
    }
    if options.auto {
        if let (TaskData::Forecast(d), DataSource::Forecast { config, .. }) =
            (&prepared.data, &prepared.source)
        {
            auto = Some(
                auto_choose(
                    d,
                    config,
                    &prepared.source,
                    &options.fit,
                    options.season,
                    !options.fit.quiet,
                )
                .map_err(|e| RunError::Train(Box::new(e)))?,
            );
        }
    }
    if let Some(choice) = &auto {
        lag = (choice.difference > 0).then_some(choice.difference);
        if let DataSource::Forecast { config, .. } = &mut request {
            config.window = choice.window;
        }
        // The first preparation is freed before the chosen one is read, so
        // the two never take memory at once.
        drop(prepared);
        prepared = Prepared::load(&request)?;
    }
    // With differencing the model trains on the differenced series; the
    // evaluation and the plots use the original one.
    let diffed = match (lag, &prepared.data, &prepared.source) {
        (None, ..) => None,
        (Some(lag), TaskData::Forecast(d), DataSource::Forecast { config, .. }) => {
            Some(TaskData::Forecast(Box::new(
                differenced(d, config, lag).map_err(|e| RunError::Difference(Box::new(e)))?,
            )))
        }
        (Some(_), ..) => return Err(RunError::DifferenceNotForecast),
    };
    let train_data = diffed.as_ref().unwrap_or(&prepared.data);
    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| default_run_dir(&options.data));
    let mut cfg = FitConfig {
        out_dir: Some(out_dir.clone()),
        difference: lag.is_some(),
        difference_lag: lag.unwrap_or(1),
        ..options.fit.clone()
    };
    let ck = RunFiles::in_dir(&out_dir).checkpoint;
    if options.resume && !ck.exists() {
        return Err(RunError::NoCheckpoint { path: ck });
    }
    // One process per run folder, held until the last file is written; the
    // temporary files a killed run left are swept here.
    let _lock = RunDirLock::acquire(&out_dir, "fit")?;
    let (outcome, restarts) = if options.resume {
        let saved = Checkpoint::load(&ck).map_err(|e| RunError::Resume {
            path: ck.clone(),
            source: Box::new(e),
        })?;
        if options.seed_from_checkpoint {
            cfg.seed = saved.config.seed;
        }
        // On stderr only: a resumed run's metrics.json stays the one an
        // uninterrupted run writes.
        if let Some(note) = resume_note(&saved, cfg.epochs) {
            eprintln!("{note}");
        }
        let out = resume(&cfg, train_data, prepared.source.clone(), &ck).map_err(|e| {
            RunError::Resume {
                path: ck,
                source: Box::new(e),
            }
        })?;
        // Recorded as the one (kept) run, as an uninterrupted run records it.
        let kept = RestartScore {
            kept: true,
            ..score(cfg.seed, &out)
        };
        (out, vec![kept])
    } else {
        let n = options
            .restarts
            .unwrap_or_else(|| default_restarts(&cfg, train_data));
        let quiet = cfg.quiet;
        let mut report = |k: usize, s: &RestartScore| {
            if !quiet && n > 1 {
                eprintln!("{}", restart_line(k, n, s));
            }
        };
        fit_restarts(&cfg, train_data, prepared.source.clone(), n, &mut report)
            .map_err(|e| RunError::Train(Box::new(e)))?
    };
    let mut outcome = outcome;
    // `eval` scores the seasonal-naive baseline at the season `fit` was
    // given; a resumed run without --season keeps the one its folder's
    // trained.json records.
    outcome.model.season = options.season.or_else(|| {
        options
            .resume
            .then(|| TrainedModel::load(&out_dir.join(TRAINED_FILE)).ok())
            .flatten()
            .and_then(|m| m.season)
    });
    let season = outcome.model.season;
    let mut summary = finish(
        outcome,
        &prepared.data,
        out_dir,
        season,
        restarts.clone(),
        auto.clone(),
        notes,
    )?;
    summary.restarts = restarts;
    summary.auto = auto;
    Ok(summary)
}

/// Why a resumed run will train no epoch, or `None` when it will: the
/// checkpoint's run ended by early stopping (which a resume does not undo),
/// or it has already run `epochs` epochs.
pub fn resume_note(saved: &Checkpoint, epochs: usize) -> Option<String> {
    match saved.stopped {
        Some(StopReason::EarlyStopped { epoch }) => Some(format!(
            "note: --resume: the run in this folder ended by early stopping after epoch {epoch} (no improvement \
             for {} epochs), so no epoch is trained, whatever --epochs says; the kept model is evaluated again. \
             To train longer, start a new run with a larger --patience (or --patience 0) in another --out-dir",
            saved.config.early_stopping.map_or(0, |e| e.patience)
        )),
        _ if saved.epoch >= epochs => Some(format!(
            "note: --resume: the checkpoint has already run {} epochs and --epochs is {epochs}, so no epoch is \
             trained; give a larger --epochs to train on",
            saved.epoch
        )),
        _ => None,
    }
}

/// `restart K/N: seed S, best epoch E, val_loss V (loss L), E epochs[ <- kept]`.
pub fn restart_line(k: usize, n: usize, s: &RestartScore) -> String {
    let mut line = format!("restart {}/{n}: seed {}", k + 1, s.seed);
    match (&s.error, s.best_epoch) {
        (Some(e), _) => line.push_str(&format!(", failed: {e}")),
        (None, Some(e)) => {
            line.push_str(&format!(", best epoch {e}"));
            if let Some(v) = s.val_loss {
                line.push_str(&format!(", val_loss {v:.6}"));
            }
            if let Some(l) = s.loss {
                line.push_str(&format!(", loss {l:.6}"));
            }
        }
        (None, None) => {}
    }
    line.push_str(&format!(", {} epochs", s.epochs));
    if s.kept {
        line.push_str("  <- kept");
    }
    line
}

/// Saves the model, evaluates it and draws the plots.
fn finish(
    outcome: FitOutcome,
    data: &TaskData,
    out_dir: PathBuf,
    season: Option<usize>,
    restarts: Vec<RestartScore>,
    auto: Option<AutoChoice>,
    mut notes: Vec<String>,
) -> Result<FitSummary, RunError> {
    let trained = out_dir.join(TRAINED_FILE);
    outcome
        .model
        .save(&trained)
        .map_err(|source| RunError::Save {
            path: trained.clone(),
            source,
        })?;
    let evaluation = evaluate_model(&outcome.model, data, &EvalOptions { season })
        .map_err(|e| RunError::Evaluate(Box::new(e)))?
        .with_restarts(restarts)
        .with_auto(auto);
    notes.extend(chance_warning(&evaluation));
    notes.extend(baseline_warning(&evaluation));
    write_metrics(&evaluation, &notes, &out_dir.join(METRICS_FILE))?;
    plot_test_predictions(&outcome.model, data, &out_dir.join(PREDICTIONS_PLOT))?;
    plot_history(
        &outcome.history,
        &out_dir.join(HISTORY_PLOT),
        "training history",
    )?;
    Ok(FitSummary {
        outcome,
        evaluation,
        out_dir,
        trained,
        restarts: Vec::new(),
        auto: None,
        notes,
    })
}

/// Writes `metrics.json`: the evaluation, plus `notes` when there are any.
fn write_metrics(evaluation: &Evaluation, notes: &[String], path: &Path) -> Result<(), RunError> {
    if notes.is_empty() {
        return Ok(evaluation.write_json(path)?);
    }
    let mut value: serde_json::Value =
        serde_json::from_str(&evaluation.to_json()?).map_err(|source| FitError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    if let Some(map) = value.as_object_mut() {
        map.insert("notes".into(), notes.into());
    }
    let text = serde_json::to_string_pretty(&value).map_err(|source| FitError::Json {
        path: path.to_path_buf(),
        source,
    })?;
    crate::io::write_atomic(path, text.as_bytes()).map_err(FitError::from)?;
    Ok(())
}

/// `trained N epochs in S s (why it stopped[; best epoch E (monitored V)[ restored]])`.
impl fmt::Display for FitOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "trained {} epochs in {:.1} s (",
            self.epochs_run, self.seconds
        )?;
        match self.stop {
            StopReason::Completed => write!(f, "all epochs run")?,
            StopReason::EarlyStopped { epoch } => write!(f, "early stopping after epoch {epoch}")?,
            StopReason::Interrupted { epoch } => write!(f, "interrupted after epoch {epoch}")?,
        }
        if let Some((e, v)) = self.best {
            write!(f, "; best epoch {e} (monitored {v:.6})")?;
            if self.restored_best {
                write!(f, " restored")?;
            }
        }
        write!(f, ")")
    }
}
