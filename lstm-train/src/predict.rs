//! Predictions from a CSV: a model file or a trained model in, a CSV of
//! predictions out (what `lstm-train predict` prints or writes).
//!
//! * With a model file (`.lstm`, recognised by its magic bytes) the
//!   predictions are computed by `lstm-core`'s `DynModel` in the file's number
//!   format, from raw values scaled by the file's own scaling, exactly as on
//!   the device ([`predict_with_file`]).
//! * With a trained model (`trained.json`) by the trainer's `f32` forward
//!   ([`predict_with_trained`]).
//!
//! Forecasting: one row per prediction, the one-step-ahead forecast in
//! original units of the value after row `time` (windowed models: from the
//! row's last `W` rows; stateful models: the state carried over all rows).
//! Classification: one row per series with the predicted class name and the
//! softmax score of every class.

use std::path::Path;

use lstm_core::file::{Task, TrainingMode};
use ndarray::{s, Array1, Array2, Axis};

use crate::artifact::{ArtifactError, DataSource, TaskKind, TrainMode, TrainedModel};
use crate::core_runner::{
    base_row, check_finite, model_inputs, raw_outputs, Activations, CoreBytes, CoreRunner,
    NonFinite,
};
use crate::data::classify::normalize_series;
use crate::data::{DataError, ForecastColumns, Table, Times};
use crate::evaluate::windowed_forecasts;
use crate::export::error::ExportError;
use crate::export::padding::{pad_scaled, pad_series};
use crate::io::IoError;
use crate::net::{Batch, HeadMode, Mode, NetConfig, NetError, Network};

/// Everything that can go wrong while predicting.
#[derive(Debug, thiserror::Error)]
pub enum PredictError {
    /// Reading the model or the data failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The trained model could not be read.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// `lstm-core` refused the model file.
    #[error("reading the model file")]
    ModelFile(#[source] lstm_core::Error),
    /// `lstm-core` refused the inputs.
    #[error(transparent)]
    Core(#[from] lstm_core::Error),
    /// The CSV could not be read.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The trainer's network refused the inputs.
    #[error(transparent)]
    Net(#[from] NetError),
    /// Scaling and padding the series failed.
    #[error(transparent)]
    Export(#[from] ExportError),
    /// Writing the CSV failed.
    #[error("writing the predictions: {0}")]
    Csv(#[from] csv::Error),
    /// The CSV does not fit the model (columns, rows, format) or the model
    /// cannot predict.
    #[error("{0}")]
    Input(String),
    /// The model file's outputs are not finite (its weights or scaling
    /// overflow `f32`): nothing is written.
    #[error(transparent)]
    NonFinite(#[from] NonFinite),
    /// `--activations` was given for a trained model.
    #[error("activations apply to model files (lstm-core); `{0}` is a trained model")]
    ActivationsForTrained(String),
}

type Result<T, E = PredictError> = std::result::Result<T, E>;

/// Returns a [`PredictError::Input`] with a formatted message.
macro_rules! fail {
    ($($arg:tt)*) => {
        return Err(PredictError::Input(format!($($arg)*)))
    };
}

/// Fails with a formatted message unless the condition holds.
macro_rules! check {
    ($cond:expr, $($arg:tt)*) => {
        if !$cond {
            fail!($($arg)*);
        }
    };
}

/// A CSV of predictions, in memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PredictedCsv {
    /// The CSV text (header and one line per prediction).
    pub csv: String,
    /// Number of predictions (lines after the header).
    pub rows: usize,
}

/// Predictions of the model at `model` — a model file (by its magic bytes)
/// or a trained model — for the CSV at `data`. `activations` applies to
/// model files only (default: the firmware's).
pub fn predict_path(
    model: &Path,
    data: &Path,
    activations: Option<Activations>,
) -> Result<PredictedCsv> {
    let bytes = crate::io::read(model)?;
    if bytes.starts_with(&lstm_core::file::MAGIC) {
        predict_with_file(&bytes, data, activations)
    } else {
        if activations.is_some() {
            return Err(PredictError::ActivationsForTrained(
                model.display().to_string(),
            ));
        }
        predict_with_trained(&TrainedModel::load(model)?, data)
    }
}

/// A CSV being built in memory (written at once, atomically, at the end).
struct CsvOut {
    w: csv::Writer<Vec<u8>>,
    rows: usize,
}

impl CsvOut {
    fn new(header: &[String]) -> Result<Self> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(header)?;
        Ok(CsvOut { w, rows: 0 })
    }

    fn row(&mut self, fields: &[String]) -> Result<()> {
        self.w.write_record(fields)?;
        self.rows += 1;
        Ok(())
    }

    fn finish(self) -> Result<PredictedCsv> {
        let bytes = self
            .w
            .into_inner()
            .map_err(|e| PredictError::Csv(e.into_error().into()))?;
        let csv =
            String::from_utf8(bytes).expect("the CSV writer writes the UTF-8 strings it is given");
        Ok(PredictedCsv {
            csv,
            rows: self.rows,
        })
    }
}

/// Raw forecasting inputs: time labels and values `[rows][features]`.
struct Series {
    times: Times,
    values: Array2<f64>,
}

/// Reads a forecasting CSV for a model file: `features` value columns,
/// optionally preceded by a time column.
fn read_series_for_file(path: &Path, features: usize) -> Result<Series> {
    let table = Table::from_path(path)?;
    let cols = table.header.len();
    let first_value = if cols == features + 1 {
        1
    } else if cols == features {
        0
    } else {
        fail!(
            "{}: {cols} columns ({}), but the model takes {features} input value(s) per step: \
             give {features} value column(s), optionally preceded by a time column",
            table.file,
            table.header_text()
        );
    };
    let n = table.len();
    let mut values = Array2::zeros((n, features));
    for r in 0..n {
        for j in 0..features {
            values[[r, j]] = table
                .number(r, first_value + j)?
                .ok_or_else(|| table.missing_error(r, first_value + j))?;
        }
    }
    let times = (0..n)
        .map(|r| {
            if first_value == 1 {
                table.text(r, 0).to_string()
            } else {
                r.to_string()
            }
        })
        .collect();
    Ok(Series { times, values })
}

/// Labelled (or unlabelled) series from a classification CSV.
struct SeriesSet {
    ids: Vec<String>,
    labels: Option<Vec<String>>,
    series: Vec<Array2<f64>>,
}

/// Reads a classification CSV, wide (`[label,]v0,...`, trailing empty cells
/// end a shorter series) or long (`series_id,[label,]t,f0,...`), with an
/// optional label column; checks the number of channels.
fn read_series_set(path: &Path, channels: usize) -> Result<SeriesSet> {
    let table = Table::from_path(path)?;
    let label = table.find_column("label");
    let (id_col, t_col) = (table.find_column("series_id"), table.find_column("t"));
    let mut out = SeriesSet {
        ids: Vec::new(),
        labels: label.map(|_| Vec::new()),
        series: Vec::new(),
    };
    if let (Some(id_col), Some(t_col)) = (id_col, t_col) {
        let feats: Vec<usize> = (0..table.header.len())
            .filter(|&c| c != id_col && c != t_col && Some(c) != label)
            .collect();
        check!(
            feats.len() == channels,
            "{}: long format with {} feature column(s), but the model takes {channels}",
            table.file,
            feats.len()
        );
        let mut r = 0;
        while r < table.len() {
            let id = table.text(r, id_col).to_string();
            let start = r;
            while r < table.len() && table.text(r, id_col) == id {
                r += 1;
            }
            check!(
                !out.ids.contains(&id),
                "{}: line {}: the rows of series `{id}` are not contiguous",
                table.file,
                table.line(r - 1)
            );
            let mut arr = Array2::zeros((r - start, channels));
            for (i, row) in (start..r).enumerate() {
                for (j, &c) in feats.iter().enumerate() {
                    arr[[i, j]] = table
                        .number(row, c)?
                        .ok_or_else(|| table.missing_error(row, c))?;
                }
            }
            if let (Some(l), Some(labels)) = (label, out.labels.as_mut()) {
                labels.push(table.text(start, l).to_string());
            }
            out.ids.push(id);
            out.series.push(arr);
        }
    } else {
        check!(
            channels == 1,
            "{}: wide format (one univariate series per row), but the model takes {channels} channels: \
             use the long format series_id,label,t,f0,...",
            table.file
        );
        let values: Vec<usize> = (0..table.header.len())
            .filter(|&c| Some(c) != label)
            .collect();
        check!(!values.is_empty(), "{}: no value columns", table.file);
        for r in 0..table.len() {
            let mut v = Vec::with_capacity(values.len());
            let mut ended = false;
            for &c in &values {
                match table.number(r, c)? {
                    Some(x) if !ended => v.push(x),
                    Some(_) => fail!(
                        "{}: line {}: a value after a missing cell in column `{}` (only trailing cells may be empty)",
                        table.file,
                        table.line(r),
                        table.header[c]
                    ),
                    None => ended = true,
                }
            }
            if v.is_empty() {
                return Err(table.missing_error(r, values[0]).into());
            }
            if let (Some(l), Some(labels)) = (label, out.labels.as_mut()) {
                labels.push(table.text(r, l).to_string());
            }
            out.ids.push(r.to_string());
            out.series
                .push(Array2::from_shape_vec((v.len(), 1), v).expect("one column"));
        }
    }
    Ok(out)
}

fn softmax(logits: ndarray::ArrayView1<'_, f32>) -> Vec<f64> {
    let m = logits.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    let e: Vec<f64> = logits.iter().map(|&v| f64::from(v - m).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.into_iter().map(|v| v / sum).collect()
}

fn class_csv(set: &SeriesSet, classes: &[String], logits: &Array2<f32>) -> Result<PredictedCsv> {
    let mut header = vec!["id".to_string()];
    if set.labels.is_some() {
        header.push("label".into());
    }
    header.push("predicted".into());
    header.extend(classes.iter().map(|c| format!("score_{c}")));
    let mut csv = CsvOut::new(&header)?;
    for (i, row) in logits.outer_iter().enumerate() {
        let scores = softmax(row);
        let best = (0..scores.len()).fold(0, |b, k| if scores[k] > scores[b] { k } else { b });
        let mut fields = vec![set.ids[i].clone()];
        if let Some(l) = &set.labels {
            fields.push(l[i].clone());
        }
        fields.push(classes[best].clone());
        fields.extend(scores.iter().map(|s| format!("{s:.6}")));
        csv.row(&fields)?;
    }
    csv.finish()
}

fn forecast_csv(times: &Times, first: usize, column: &str, pred: &[f64]) -> Result<PredictedCsv> {
    let mut csv = CsvOut::new(&["time".to_string(), column.to_string()])?;
    for (k, p) in pred.iter().enumerate() {
        csv.row(&[times[first + k].to_owned(), format!("{p}")])?;
    }
    csv.finish()
}

/// Predictions of a model file's bytes (run by `lstm-core` in the file's
/// number format with `activations`, by default the firmware's) for the CSV
/// at `data` (see the module docs).
pub fn predict_with_file(
    bytes: &[u8],
    data: &Path,
    activations: Option<Activations>,
) -> Result<PredictedCsv> {
    let aligned = CoreBytes::new(bytes);
    let file = aligned.parse().map_err(PredictError::ModelFile)?;
    let h = &file.header;
    let act = activations.unwrap_or_else(|| Activations::firmware_default(h.format));
    let runner = CoreRunner::new(&file, act).map_err(PredictError::ModelFile)?;
    match &h.task {
        Task::Regression => {
            let series = read_series_for_file(data, h.input_size())?;
            // Row r of `x` is the input of raw row r + lag (a differenced
            // model has no input for the first `lag` rows).
            // One forecast series is written (output 0): a model with more
            // outputs is refused here, before anything is sized by them.
            check!(
                h.output_size() == 1,
                "the model file has {} outputs, but `predict` writes one forecast series: \
                 give it a regression model of one target",
                h.output_size()
            );
            let lag = h.differencing.lag();
            let n = series.values.nrows();
            check!(
                n > lag,
                "the model's differencing lag of {lag} samples needs at least {} rows of data, \
                 but there are {n}",
                lag + 1
            );
            // Checked against the data before anything is sized by the
            // window: a window longer than the data is refused.
            if let TrainingMode::Windowed { window } = h.mode {
                let w = window as usize;
                check!(
                    w <= n - lag,
                    "the model's window of {window} samples is longer than the {} \
                     rows of data{}",
                    n - lag,
                    if lag > 0 {
                        format!(" left after its differencing lag of {lag} ({n} rows in all)")
                    } else {
                        String::new()
                    }
                );
            }
            let x = model_inputs(h, series.values.view())?;
            let (y, first) = match h.mode {
                TrainingMode::Windowed { window } => {
                    let w = window as usize;
                    // One forecast per window, read in place from `x`.
                    let ends: Vec<usize> = (w..=x.nrows()).collect();
                    (
                        runner.run_windows_ending(x.view(), w, &ends)?.0,
                        w - 1 + lag,
                    )
                }
                TrainingMode::Stateful => (runner.run_sequence(x.view())?, lag),
            };
            // Forecast k came after raw row first + k: it is the forecast
            // of row first + k + 1 and adds to that row's base row.
            let base = base_row(h, first + 1);
            let base_raw = series.values.slice(s![base..base + y.nrows(), ..]);
            let pred = raw_outputs(h, y.view(), base_raw)?;
            check_finite(pred.iter().copied(), "forecasts")?;
            forecast_csv(
                &series.times,
                first,
                "forecast_next",
                &pred.column(0).to_vec(),
            )
        }
        Task::Classification { classes } => {
            let set = read_series_set(data, h.input_size())?;
            let (x, lengths) = pad_scaled(h, &set.series)?;
            let (y, _) = runner.run_windows(x.view(), Some(&lengths))?;
            check_finite(y.iter().copied(), "class scores")?;
            let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
            class_csv(&set, &names, &y)
        }
    }
}

/// Predictions of a trained model (the trainer's `f32` forward) for the CSV
/// at `data` (see the module docs).
pub fn predict_with_trained(model: &TrainedModel, data: &Path) -> Result<PredictedCsv> {
    match (&model.task, &model.data) {
        (TaskKind::Regression { .. }, DataSource::Forecast { config, .. }) => {
            let cols = ForecastColumns::read(data, config)?;
            // A model trained with `fit --difference [L]` is fed the
            // differences at lag L of the raw features (row `r` of `feats`
            // is row `r + L` of the CSV) and predicts the next difference.
            let lag = model.difference_lag;
            let feats = if model.difference {
                check!(
                    lag >= 1 && cols.features.nrows() > lag,
                    "a model trained on differences at lag {lag} needs at least {} rows",
                    lag + 1
                );
                let n = cols.features.nrows();
                &cols.features.slice(s![lag.., ..]) - &cols.features.slice(s![..n - lag, ..])
            } else {
                cols.features.clone()
            };
            let x = model.scaler_x.transform(feats.view()).mapv(|v| v as f32);
            let (y, first) = match model.mode {
                TrainMode::Windowed { window } => {
                    let n = x.nrows();
                    check!(
                        window >= 1 && n >= window,
                        "{n} rows, but the model needs windows of {window} rows"
                    );
                    let y = windowed_forecasts(model, x.view(), window, window..n + 1)?;
                    (Array1::from(y).insert_axis(Axis(1)), window - 1)
                }
                TrainMode::Stateful { .. } => {
                    let mut net = Network::<f32>::new(NetConfig {
                        head: HeadMode::EveryStep,
                        ..model.net.clone()
                    })?;
                    let xb = x.view().insert_axis(Axis(0));
                    net.forward(&model.params, &Batch::new(xb), Mode::Eval)?;
                    (net.step_outputs()?.index_axis(Axis(0), 0).to_owned(), 0)
                }
            };
            let mut pred = model
                .scaler_y
                .inverse_transform_column(0, y.column(0).mapv(f64::from).view())
                .to_vec();
            let first = if model.difference {
                // Difference row `first + k` ends at CSV row `first + k + L`;
                // the forecast of the row after it is the value L rows
                // before that one, row `first + k + 1`, plus the predicted
                // change.
                for (k, p) in pred.iter_mut().enumerate() {
                    *p += cols.target[first + k + 1];
                }
                first + lag
            } else {
                first
            };
            // Levels of the CSV's target column (also for a model trained
            // on its differences, whose `target` is `diff(…)`).
            forecast_csv(
                &cols.times,
                first,
                &format!("{}_next", cols.target_name),
                &pred,
            )
        }
        (TaskKind::Classification { classes }, DataSource::Classify { config, .. }) => {
            let set = read_series_set(data, model.net.input_size)?;
            // As in training: each series z-normalised over its own length
            // first (`fit --per-series-norm`), then the fitted scaler.
            let scaled: Vec<Array2<f32>> = set
                .series
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if config.per_series_norm {
                        normalize_series(&mut s);
                    }
                    model.scaler_x.transform(s.view()).mapv(|v| v as f32)
                })
                .collect();
            let (x, lengths) = pad_series(&scaled, model.net.input_size);
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            let y = net.predict(&model.params, &Batch::new(x.view()).with_lengths(&lengths))?;
            class_csv(&set, classes, &y)
        }
        _ => fail!("the trained model's task and data source do not match"),
    }
}
