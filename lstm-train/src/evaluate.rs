//! Evaluation a user can trust: the model's metric on the held-out test
//! split, in original units, always next to baselines computed on the same
//! split, written to `metrics.json` and printed as an aligned table.
//!
//! * Forecasting: RMSE and MAE of the one-step-ahead predictions, brought
//!   back to original units with the model's target scaler, next to the
//!   naive (`ŷ[t] = y[t-1]`) and seasonal-naive (`ŷ[t] = y[t-m]`) forecasts.
//!   Windowed models are scored on sliding windows of the test rows (each
//!   window from the zero state); stateful models run the whole series from
//!   the start with the state carried and the test steps are scored — the
//!   way the firmware runs each kind.
//! * Classification: accuracy and the confusion matrix next to the
//!   majority-class baseline.
//!
//! Inputs are always scaled with the **model's** scalers (forecasting: from
//! the raw columns), so a model is never scored with scalers refitted on
//! other data.

use std::fmt::Write as _;
use std::ops::Range;
use std::path::Path;

use ndarray::{s, Array3, ArrayView2, Axis};
use serde::{Deserialize, Serialize};

use crate::artifact::{TaskKind, TrainMode, TrainedModel};
use crate::data::{ClassData, ForecastData, Metrics};
use crate::fit::{FitError, Result, TaskData};
use crate::io;
use crate::net::{Batch, CellKind, HeadMode, Mode, NetConfig, NetError, Network};

/// A split of the data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Split {
    /// The fit split (what the model was trained on).
    Train,
    /// The validation split.
    Val,
    /// The held-out test split.
    Test,
}

impl Split {
    /// `train`, `val` or `test`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Val => "val",
            Split::Test => "test",
        }
    }
}

/// One-step-ahead forecasts of one split, original units.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastPredictions {
    /// The split.
    pub split: Split,
    /// Target row (0-based) of each prediction.
    pub rows: Vec<usize>,
    /// Time label of each target row.
    pub times: Vec<String>,
    /// True values.
    pub truth: Vec<f64>,
    /// Predictions.
    pub pred: Vec<f64>,
}

/// Class predictions of one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassPredictions {
    /// The split.
    pub split: Split,
    /// Id of each series in its file.
    pub ids: Vec<String>,
    /// True class ids.
    pub truth: Vec<usize>,
    /// Predicted class ids (arg-max of the logits).
    pub pred: Vec<usize>,
    /// Softmax probabilities `[series][class]`.
    pub probabilities: Vec<Vec<f64>>,
    /// Class names; id `k` is `classes[k]`.
    pub classes: Vec<String>,
}

/// Predictions of a split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Predictions {
    /// Forecasting.
    Forecast(ForecastPredictions),
    /// Classification.
    Classify(ClassPredictions),
}

fn invalid(msg: String) -> FitError {
    FitError::InvalidConfig(msg)
}

/// Target rows of `split` for a model trained in `mode`.
fn split_rows(d: &ForecastData, split: Split, mode: TrainMode) -> Range<usize> {
    match split {
        Split::Train => match mode {
            TrainMode::Windowed { window } => window.min(d.n_fit)..d.n_fit,
            TrainMode::Stateful { .. } => 1.min(d.n_fit)..d.n_fit,
        },
        Split::Val => d.n_fit..d.n_train,
        Split::Test => d.n_train..d.n,
    }
}

/// Windows per forward pass when predicting a split.
const EVAL_CHUNK: usize = 512;

/// Output 0 (model units) of `model`, trained on windows of `window` rows,
/// for the window of `x` (`[rows][F]`, scaled) that ends before each row in
/// `ends`, each from the zero state: `x[end - window..end]`. The windows are
/// gathered [`EVAL_CHUNK`] at a time, so memory does not grow with the rows.
/// The caller checks `window <= ends.start` and `ends.end <= rows`.
pub(crate) fn windowed_forecasts(
    model: &TrainedModel,
    x: ArrayView2<'_, f32>,
    window: usize,
    ends: Range<usize>,
) -> std::result::Result<Vec<f32>, NetError> {
    let mut net = Network::<f32>::new(NetConfig {
        head: HeadMode::LastStep,
        ..model.net.clone()
    })?;
    let f = x.ncols();
    let mut out = Vec::with_capacity(ends.len());
    for start in ends.clone().step_by(EVAL_CHUNK) {
        let stop = (start + EVAL_CHUNK).min(ends.end);
        let xs = Array3::from_shape_fn((stop - start, window, f), |(i, k, j)| {
            x[[start + i - window + k, j]]
        });
        let y = net.predict(&model.params, &Batch::new(xs.view()))?;
        out.extend(y.column(0).iter().copied());
    }
    Ok(out)
}

/// Scaled one-step-ahead predictions of `model` for the target rows `rows`
/// of `d`, computed from `d`'s raw columns with the model's scalers.
fn forecast_scaled(model: &TrainedModel, d: &ForecastData, rows: Range<usize>) -> Result<Vec<f32>> {
    let f = d.n_features();
    if model.net.input_size != f {
        return Err(invalid(format!(
            "the model expects {} input features, the data have {f}",
            model.net.input_size
        )));
    }
    if let Some(n) = model.scaler_x.n_features() {
        if n != f {
            return Err(invalid(format!(
                "the model's input scaler has {n} features, the data have {f}"
            )));
        }
    }
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let x = model
        .scaler_x
        .transform(d.features_raw.view())
        .mapv(|v| v as f32);
    match model.mode {
        TrainMode::Windowed { window } => {
            if window == 0 || rows.start < window {
                return Err(invalid(format!(
                    "window {window} needs target rows from {window} on, got {rows:?}"
                )));
            }
            Ok(windowed_forecasts(model, x.view(), window, rows)?)
        }
        TrainMode::Stateful { .. } => {
            if rows.start == 0 {
                return Err(invalid("a stateful model predicts rows from 1 on".into()));
            }
            let xs = x.slice(s![..rows.end - 1, ..]).insert_axis(Axis(0));
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::EveryStep,
                ..model.net.clone()
            })?;
            net.forward(&model.params, &Batch::new(xs), Mode::Eval)?;
            let y = net.step_outputs()?;
            Ok(rows.map(|t| y[[0, t - 1, 0]]).collect())
        }
    }
}

/// Class logits of `model` for the (already scaled) series `c`, then
/// arg-max and softmax.
fn classify(model: &TrainedModel, c: &ClassData, split: Split) -> Result<ClassPredictions> {
    let classes = match &model.task {
        TaskKind::Classification { classes } => classes.clone(),
        TaskKind::Regression { .. } => {
            return Err(invalid("a regression model cannot classify series".into()))
        }
    };
    if c.classes != classes {
        return Err(invalid(format!(
            "the model's classes ({}) differ from the data's ({})",
            classes.join(", "),
            c.classes.join(", ")
        )));
    }
    let mut out = ClassPredictions {
        split,
        ids: c.ids.clone(),
        truth: c.labels.clone(),
        pred: Vec::new(),
        probabilities: Vec::new(),
        classes,
    };
    if c.is_empty() {
        return Ok(out);
    }
    let mut net = Network::<f32>::new(NetConfig {
        head: HeadMode::LastStep,
        ..model.net.clone()
    })?;
    let logits = net.predict(
        &model.params,
        &Batch::new(c.x.view()).with_lengths(&c.lengths),
    )?;
    for row in logits.outer_iter() {
        let max = row
            .iter()
            .fold(f64::NEG_INFINITY, |m, &v| m.max(f64::from(v)));
        let e: Vec<f64> = row.iter().map(|&v| (f64::from(v) - max).exp()).collect();
        let z: f64 = e.iter().sum();
        let p: Vec<f64> = e.iter().map(|v| v / z).collect();
        let mut best = 0;
        for (k, &v) in row.iter().enumerate() {
            if v > row[best] {
                best = k;
            }
        }
        out.pred.push(best);
        out.probabilities.push(p);
    }
    Ok(out)
}

/// Predictions of `model` on `split` of `data`, in original units
/// (forecasting) or class ids with probabilities (classification).
/// Forecast inputs are scaled with the model's scalers from the raw
/// columns, so `data` may come from another file with the same columns;
/// classification data must have been scaled with the model's scaler
/// (prepare other files with [`crate::data::ClassDataset::prepare`] of a
/// dataset built from the model's training file).
///
/// Errors: [`FitError::InvalidConfig`] (task, shapes, classes or scaler do
/// not match the model), [`FitError::Net`].
pub fn predict_split(model: &TrainedModel, data: &TaskData, split: Split) -> Result<Predictions> {
    model.params.check_config(&model.net)?;
    match data {
        TaskData::Forecast(d) => {
            if !matches!(model.task, TaskKind::Regression { .. }) {
                return Err(invalid(
                    "a classification model cannot forecast a series".into(),
                ));
            }
            let rows = split_rows(d, split, model.mode);
            let scaled = forecast_scaled(model, d, rows.clone())?;
            let pred = model
                .scaler_y
                .inverse_transform_column(0, ndarray::Array1::from(scaled).mapv(f64::from).view())
                .to_vec();
            Ok(Predictions::Forecast(ForecastPredictions {
                split,
                times: rows.clone().map(|t| d.times[t].to_owned()).collect(),
                truth: rows.clone().map(|t| d.target_raw[t]).collect(),
                rows: rows.collect(),
                pred,
            }))
        }
        TaskData::Classify(c) => {
            if c.scaler != model.scaler_x {
                return Err(invalid(
                    "the series were scaled with another scaler than the model's".into(),
                ));
            }
            let part = match split {
                Split::Train => &c.train,
                Split::Val => &c.val,
                Split::Test => &c.test,
            };
            Ok(Predictions::Classify(classify(model, part, split)?))
        }
    }
}

/// Options of [`evaluate`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalOptions {
    /// Season `m` of the seasonal-naive baseline (`None`: not reported).
    pub season: Option<usize>,
}

/// Like [`predict_split`] for a model trained on differences when
/// `difference` is set ([`crate::fit::differenced`]): the model gets the
/// differenced series (built with the window and scalers recorded in the
/// model) and its forecasts are turned back into forecasts of the original
/// series ([`crate::fit::undifference`]). `data` is the original series.
///
/// Errors: those of [`predict_split`] and [`crate::fit::differenced`].
pub fn predict_with(
    model: &TrainedModel,
    data: &TaskData,
    split: Split,
    difference: bool,
) -> Result<Predictions> {
    match (difference, data) {
        (true, TaskData::Forecast(d)) => {
            let dd = TaskData::Forecast(Box::new(crate::fit::differenced_for(model, d)?));
            let p = predict_split(model, &dd, split)?;
            crate::fit::undifference(&p, d, model.difference_lag)
        }
        _ => predict_split(model, data, split),
    }
}

/// A baseline's name and metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// E.g. `naive`, `seasonal_naive_m12`.
    pub name: String,
    /// Its metrics on the same test rows.
    pub metrics: Metrics,
}

/// Forecasting evaluation on the test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForecastEvaluation {
    /// The model's recurrent cell (absent in older files: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// Target column.
    pub target: String,
    /// How the model was run (`windowed W=12` or `stateful`).
    pub mode: String,
    /// First and one-past-last test row.
    pub rows: (usize, usize),
    /// The model's RMSE / MAE in original units.
    pub model: Metrics,
    /// Baselines: naive, then seasonal naive if requested.
    pub baselines: Vec<Baseline>,
    /// The model forecasts differences (added to the value
    /// `difference_lag` rows back).
    pub differenced: bool,
    /// The lag of those differences (1: first differences; 0 when not
    /// differenced).
    #[serde(default)]
    pub difference_lag: usize,
    /// The differencing and window `fit` chose automatically, with every
    /// candidate's rolling-origin score (absent when they were given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<crate::cv::AutoChoice>,
    /// Every restart of `fit --restarts` (seed, best losses, epochs; the
    /// kept one marked); empty when not recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<crate::fit::restarts::RestartScore>,
}

/// Classification evaluation on the test split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassEvaluation {
    /// The model's recurrent cell (absent in older files: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// Class names.
    pub classes: Vec<String>,
    /// Number of test series.
    pub n: usize,
    /// Correctly classified test series.
    pub correct: usize,
    /// `correct / n`.
    pub accuracy: f64,
    /// Majority class of the training file.
    pub majority_class: String,
    /// Accuracy of always predicting it.
    pub majority_accuracy: f64,
    /// `confusion[true][predicted]` counts.
    pub confusion: Vec<Vec<usize>>,
    /// Test accuracy of 1-NN Euclidean on the same prepared series, with
    /// the training file as neighbours ([`crate::data::nn`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nn_euclidean: Option<f64>,
    /// Test accuracy of 1-NN DTW (unconstrained), when affordable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nn_dtw: Option<f64>,
    /// Why 1-NN DTW was not computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nn_dtw_skipped: Option<String>,
    /// Every restart of `fit --restarts` (seed, best losses, epochs; the
    /// kept one marked); empty when not recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub restarts: Vec<crate::fit::restarts::RestartScore>,
}

/// The result of [`evaluate`], serialised to `metrics.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "snake_case")]
pub enum Evaluation {
    /// Forecasting.
    Forecast(ForecastEvaluation),
    /// Classification.
    Classify(ClassEvaluation),
}

fn mode_text(mode: TrainMode) -> String {
    match mode {
        TrainMode::Windowed { window } => format!("windowed W={window}"),
        TrainMode::Stateful { chunk } => format!("stateful (trained in chunks of {chunk})"),
    }
}

/// Evaluates `model` on the test split of `data` next to the baselines.
///
/// Errors: those of [`predict_split`], [`FitError::Data`] for the baselines
/// (e.g. a season longer than the training part).
pub fn evaluate(model: &TrainedModel, data: &TaskData, opts: &EvalOptions) -> Result<Evaluation> {
    let pred = predict_split(model, data, Split::Test)?;
    Ok(evaluate_predictions(&pred, model.mode, data, opts)?.of_cell(model.net.cell))
}

/// [`evaluate`] for a model trained on differences
/// ([`crate::fit::differenced`]); `data` is the original series, the
/// forecasts are un-differenced before scoring.
///
/// Errors: those of [`evaluate`] and [`predict_with`].
pub fn evaluate_differenced(
    model: &TrainedModel,
    data: &TaskData,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    let pred = predict_with(model, data, Split::Test, true)?;
    let mut ev = evaluate_predictions(&pred, model.mode, data, opts)?.of_cell(model.net.cell);
    if let Evaluation::Forecast(e) = &mut ev {
        e.differenced = true;
        e.difference_lag = model.difference_lag;
    }
    Ok(ev)
}

/// [`evaluate`], or [`evaluate_differenced`] for a model trained on
/// differences (as the model records it).
///
/// Errors: those of [`evaluate`] and [`evaluate_differenced`].
pub fn evaluate_model(
    model: &TrainedModel,
    data: &TaskData,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    if model.difference {
        evaluate_differenced(model, data, opts)
    } else {
        evaluate(model, data, opts)
    }
}

/// Scores test-split predictions (from [`predict_split`]) next to the
/// baselines; `mode` is only reported (and the cell, set with
/// [`Evaluation::of_cell`]).
///
/// Errors: [`FitError::Data`] (empty split, bad season),
/// [`FitError::InvalidConfig`] (predictions of another task or split).
pub fn evaluate_predictions(
    pred: &Predictions,
    mode: TrainMode,
    data: &TaskData,
    opts: &EvalOptions,
) -> Result<Evaluation> {
    match (pred, data) {
        (Predictions::Forecast(p), TaskData::Forecast(d)) => {
            if p.split != Split::Test || p.rows != d.test_rows().collect::<Vec<_>>() {
                return Err(invalid(
                    "evaluation needs the test split's predictions".into(),
                ));
            }
            let model = Metrics::of(&p.truth, &p.pred)?;
            let mut baselines = vec![Baseline {
                name: "naive".into(),
                metrics: d.naive_baseline()?,
            }];
            if let Some(m) = opts.season {
                baselines.push(Baseline {
                    name: format!("seasonal_naive_m{m}"),
                    metrics: d.seasonal_naive_baseline(m)?,
                });
            }
            Ok(Evaluation::Forecast(ForecastEvaluation {
                cell: CellKind::default(),
                target: d.target_name.clone(),
                mode: mode_text(mode),
                rows: (d.n_train, d.n),
                model,
                baselines,
                differenced: false,
                difference_lag: 0,
                auto: None,
                restarts: Vec::new(),
            }))
        }
        (Predictions::Classify(p), TaskData::Classify(c)) => {
            if p.split != Split::Test || p.truth != c.test.labels {
                return Err(invalid(
                    "evaluation needs the test split's predictions".into(),
                ));
            }
            let k = c.n_classes();
            let mut confusion = vec![vec![0usize; k]; k];
            for (&t, &q) in p.truth.iter().zip(&p.pred) {
                if t < k && q < k {
                    confusion[t][q] += 1;
                }
            }
            let correct = p.truth.iter().zip(&p.pred).filter(|(a, b)| a == b).count();
            let accuracy = crate::data::accuracy(&p.truth, &p.pred)?;
            let (maj, maj_acc) = c.majority_baseline()?;
            let nn = crate::data::nn::nn_baselines(&c.train, &c.val, &c.test);
            Ok(Evaluation::Classify(ClassEvaluation {
                cell: CellKind::default(),
                classes: c.classes.clone(),
                n: p.truth.len(),
                correct,
                accuracy,
                majority_class: c.classes.get(maj).cloned().unwrap_or_default(),
                majority_accuracy: maj_acc,
                confusion,
                nn_euclidean: Some(nn.euclidean),
                nn_dtw: nn.dtw,
                nn_dtw_skipped: nn.dtw_skipped,
                restarts: Vec::new(),
            }))
        }
        _ => Err(invalid(
            "the predictions are of another task than the data".into(),
        )),
    }
}

impl Evaluation {
    /// The same evaluation of a model of `cell`.
    pub fn of_cell(mut self, cell: CellKind) -> Self {
        match &mut self {
            Evaluation::Forecast(e) => e.cell = cell,
            Evaluation::Classify(e) => e.cell = cell,
        }
        self
    }

    /// The same evaluation with the restarts of the run recorded.
    pub fn with_restarts(mut self, restarts: Vec<crate::fit::restarts::RestartScore>) -> Self {
        match &mut self {
            Evaluation::Forecast(e) => e.restarts = restarts,
            Evaluation::Classify(e) => e.restarts = restarts,
        }
        self
    }

    /// The same evaluation with the automatic choice recorded (forecasting).
    pub fn with_auto(mut self, auto: Option<crate::cv::AutoChoice>) -> Self {
        if let Evaluation::Forecast(e) = &mut self {
            e.auto = auto;
        }
        self
    }

    /// Pretty JSON text.
    ///
    /// Errors: [`FitError::Json`] (not expected for these types).
    pub fn to_json(&self) -> Result<String> {
        serde_json::to_string_pretty(self).map_err(|source| FitError::Json {
            path: "metrics.json".into(),
            source,
        })
    }

    /// Writes [`Evaluation::to_json`] to `path` (e.g. `metrics.json`)
    /// atomically.
    ///
    /// Errors: [`FitError::Io`], [`FitError::Json`].
    pub fn write_json(&self, path: &Path) -> Result<()> {
        let text = self.to_json()?;
        io::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// An aligned text table of the model next to the baselines.
    pub fn table(&self) -> String {
        let mut s = String::new();
        match self {
            Evaluation::Forecast(e) => {
                let _ = writeln!(
                    s,
                    "test split: rows {}..{} ({} one-step-ahead forecasts of `{}`), model {}{}; original units",
                    e.rows.0,
                    e.rows.1,
                    e.model.n,
                    e.target,
                    e.mode,
                    match (e.differenced, e.difference_lag) {
                        (false, _) => String::new(),
                        (true, 0 | 1) => ", on first differences".to_string(),
                        (true, lag) => format!(", on differences at lag {lag}"),
                    }
                );
                let mut rows: Vec<(String, &Metrics)> =
                    vec![(e.cell.name().to_uppercase(), &e.model)];
                for b in &e.baselines {
                    let name = if b.name == "naive" {
                        "naive y[t-1]".to_string()
                    } else if let Some(m) = b.name.strip_prefix("seasonal_naive_m") {
                        format!("seasonal naive y[t-{m}]")
                    } else {
                        b.name.clone()
                    };
                    rows.push((name, &b.metrics));
                }
                let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
                let _ = writeln!(s, "{:<w$}  {:>12}  {:>12}", "model", "RMSE", "MAE");
                for (name, m) in rows {
                    let _ = writeln!(s, "{name:<w$}  {:>12.4}  {:>12.4}", m.rmse, m.mae);
                }
            }
            Evaluation::Classify(e) => {
                let _ = writeln!(s, "test split: {} series, {} classes", e.n, e.classes.len());
                let maj = format!("majority ({})", e.majority_class);
                let w = maj.len().max(14);
                let _ = writeln!(s, "{:<w$}  {:>9}  {:>11}", "model", "accuracy", "correct");
                let _ = writeln!(
                    s,
                    "{:<w$}  {:>9.4}  {:>11}",
                    e.cell.name().to_uppercase(),
                    e.accuracy,
                    format!("{}/{}", e.correct, e.n)
                );
                let maj_correct = (e.majority_accuracy * e.n as f64).round() as usize;
                let _ = writeln!(
                    s,
                    "{maj:<w$}  {:>9.4}  {:>11}",
                    e.majority_accuracy,
                    format!("{maj_correct}/{}", e.n)
                );
                for (name, acc) in [("1-NN Euclidean", e.nn_euclidean), ("1-NN DTW", e.nn_dtw)] {
                    if let Some(a) = acc {
                        let correct = (a * e.n as f64).round() as usize;
                        let _ = writeln!(
                            s,
                            "{name:<w$}  {a:>9.4}  {:>11}",
                            format!("{correct}/{}", e.n)
                        );
                    }
                }
                if let Some(why) = &e.nn_dtw_skipped {
                    let _ = writeln!(s, "({why})");
                }
                let _ = writeln!(s, "confusion matrix (rows: true class, columns: predicted)");
                let cw = e
                    .classes
                    .iter()
                    .map(|c| c.len())
                    .chain(std::iter::once(e.n.to_string().len()))
                    .max()
                    .unwrap_or(1);
                let _ = write!(s, "{:<cw$}", "");
                for c in &e.classes {
                    let _ = write!(s, "  {c:>cw$}");
                }
                s.push('\n');
                for (c, row) in e.classes.iter().zip(&e.confusion) {
                    let _ = write!(s, "{c:<cw$}");
                    for v in row {
                        let _ = write!(s, "  {v:>cw$}");
                    }
                    s.push('\n');
                }
            }
        }
        s
    }
}
