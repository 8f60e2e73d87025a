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

use lstm_core::file::{Header, Scaling, Task, TrainingMode};
use lstm_core::NumberFormat;
use ndarray::{s, Array1, Array2, Axis};

use crate::artifact::{ArtifactError, DataSource, TaskKind, TrainMode, TrainedModel};
use crate::core_runner::{
    base_row, check_finite, model_inputs, raw_outputs, Activations, CoreBytes, CoreRunner,
    NonFinite, RunStats,
};
use crate::data::classify::{keep_last, normalize_series, pool_series};
use crate::data::missing::{fill_column, ColumnContext};
use crate::data::{DataError, ForecastColumns, MissingPolicy, Scaler, Table, Times};
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
    /// What the inputs did, one line each (`predict` prints them on
    /// stderr): how many input values lay outside the range the model was
    /// trained on, how many saturated in a fixed-point file (inputs, cell
    /// state, outputs), how many missing cells were filled or dropped.
    pub summary: Vec<String>,
}

/// Options of [`predict_path_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PredictOptions {
    /// `lstm-core` activations for a model file (default: the firmware's);
    /// refused for a trained model.
    pub activations: Option<Activations>,
    /// Missing cells (empty or `NA`) in the CSV: refused (the default),
    /// dropped (the row, or the whole classification series), forward
    /// filled or interpolated, as `fit --missing` does.
    pub missing: MissingPolicy,
}

/// The column of forecasts in a forecasting prediction CSV, for a model
/// file and a trained model alike: the one-step-ahead forecast of the
/// value after the row's time.
pub const FORECAST_COLUMN: &str = "forecast_next";

/// Predictions of the model at `model` — a model file (by its magic bytes)
/// or a trained model — for the CSV at `data`. `activations` applies to
/// model files only (default: the firmware's). Missing cells are refused;
/// see [`predict_path_with`].
pub fn predict_path(
    model: &Path,
    data: &Path,
    activations: Option<Activations>,
) -> Result<PredictedCsv> {
    predict_path_with(
        model,
        data,
        &PredictOptions {
            activations,
            ..PredictOptions::default()
        },
    )
}

/// [`predict_path`] with every option.
pub fn predict_path_with(model: &Path, data: &Path, opts: &PredictOptions) -> Result<PredictedCsv> {
    let bytes = crate::io::read(model)?;
    if bytes.starts_with(&lstm_core::file::MAGIC) {
        predict_file_with(&bytes, data, opts)
    } else {
        if opts.activations.is_some() {
            return Err(PredictError::ActivationsForTrained(
                model.display().to_string(),
            ));
        }
        predict_trained_with(&TrainedModel::load(model)?, data, opts.missing)
    }
}

/// Counts of what the scaled inputs of a prediction did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct InputCounts {
    values: usize,
    outside: usize,
    saturated: usize,
}

/// Tolerance of the training-range check on min-max scaled values
/// (rounding of the scaling in `f32`).
const RANGE_TOLERANCE: f32 = 1e-5;

/// The representable range of a fixed-point format's activations (Q4.12
/// for 8-bit weights too), `None` for `f32`.
fn format_limits(format: NumberFormat) -> Option<(f32, f32)> {
    match format {
        NumberFormat::F32 => None,
        NumberFormat::Q4_12 | NumberFormat::Q4_12W8 => Some((-8.0, 32767.0 / 4096.0)),
        NumberFormat::Q16_16 => Some((-32768.0, 32768.0 - 1.0 / 65536.0)),
    }
}

impl InputCounts {
    /// Counts scaled inputs: outside `[0, 1]` when `minmax` (the range the
    /// min-max scaler was fitted on), beyond `limits` (saturated on the
    /// way into a fixed-point model).
    fn of<'a>(
        values: impl IntoIterator<Item = &'a f32>,
        minmax: bool,
        limits: Option<(f32, f32)>,
    ) -> Self {
        let mut c = InputCounts::default();
        for &v in values {
            c.values += 1;
            if minmax && !(-RANGE_TOLERANCE..=1.0 + RANGE_TOLERANCE).contains(&v) {
                c.outside += 1;
            }
            if limits.is_some_and(|(lo, hi)| v < lo || v > hi) {
                c.saturated += 1;
            }
        }
        c
    }

    /// The summary line (`range`: how the training range is known).
    fn line(&self, minmax: bool, format: Option<NumberFormat>, stats: Option<&RunStats>) -> String {
        let mut line = format!("inputs: {} values", self.values);
        if minmax {
            line.push_str(&format!(
                ", {} outside the range the model was trained on (min-max scaled outside [0, 1]{})",
                self.outside,
                if self.outside > 0 {
                    "; forecasts there are extrapolations"
                } else {
                    ""
                }
            ));
        } else {
            line.push_str(", training range not recorded (standard or no scaling): not checked");
        }
        if let Some(f) = format.filter(|&f| f != NumberFormat::F32) {
            let (lo, hi) = format_limits(f).unwrap_or((0.0, 0.0));
            line.push_str(&format!(
                "; {f}: {} scaled inputs saturated at [{lo}, {hi:.4}]",
                self.saturated
            ));
            if let Some(s) = stats {
                line.push_str(&format!(
                    ", {} cell-state values and {} outputs at the format's limit",
                    s.saturated_c, s.saturated_outputs
                ));
            }
        }
        line
    }
}

/// Whether a model file's input scaling is min-max (its training range is
/// then `[0, 1]` after scaling).
fn file_minmax(h: &Header<'_>) -> bool {
    matches!(h.input_scaling, Scaling::MinMax { .. })
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
            summary: Vec::new(),
        })
    }
}

/// Raw forecasting inputs: time labels and values `[rows][features]`.
struct Series {
    times: Times,
    values: Array2<f64>,
}

/// Reads a forecasting CSV for a model file: `features` value columns,
/// optionally preceded by a time column; missing cells by `missing` (the
/// count of filled or dropped rows goes to `notes`).
fn read_series_for_file(
    path: &Path,
    features: usize,
    missing: MissingPolicy,
    notes: &mut Vec<String>,
) -> Result<Series> {
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
    let mut cells: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(n); features];
    for r in 0..n {
        for (j, col) in cells.iter_mut().enumerate() {
            col.push(table.number(r, first_value + j)?);
        }
    }
    let mut keep: Vec<usize> = (0..n).collect();
    if missing == MissingPolicy::Drop {
        keep.retain(|&r| cells.iter().all(|c| c[r].is_some()));
    }
    let gaps = cells.iter().flatten().filter(|v| v.is_none()).count();
    let lines: Vec<u64> = keep.iter().map(|&r| table.line(r)).collect();
    let mut values = Array2::zeros((keep.len(), features));
    for (j, col) in cells.iter().enumerate() {
        let kept: Vec<Option<f64>> = keep.iter().map(|&r| col[r]).collect();
        let filled = fill_column(
            &kept,
            missing,
            ColumnContext {
                file: &table.file,
                column: &table.header[first_value + j],
                lines: &lines,
            },
        )?;
        for (r, v) in filled.into_iter().enumerate() {
            values[[r, j]] = v;
        }
    }
    if gaps > 0 {
        notes.push(match missing {
            MissingPolicy::Drop => format!(
                "missing: {} of {n} rows dropped (--missing drop)",
                n - keep.len()
            ),
            other => format!("missing: {gaps} cells filled (--missing {other})"),
        });
    }
    let times = keep
        .iter()
        .map(|&r| {
            if first_value == 1 {
                table.text(r, 0).to_string()
            } else {
                r.to_string()
            }
        })
        .collect();
    Ok(Series { times, values })
}

/// Fills the missing cells of one classification series (`[T][C]`
/// options, `lines` its CSV lines for messages) by `missing`; `None` when
/// `Drop` drops it.
fn fill_series(
    cells: &[Vec<Option<f64>>],
    channels: &[String],
    missing: MissingPolicy,
    file: &str,
    lines: &[u64],
) -> Result<Option<Array2<f64>>> {
    let t = cells.len();
    if missing == MissingPolicy::Drop && cells.iter().flatten().any(Option::is_none) {
        return Ok(None);
    }
    let mut arr = Array2::zeros((t, channels.len()));
    for (j, name) in channels.iter().enumerate() {
        let col: Vec<Option<f64>> = cells.iter().map(|row| row[j]).collect();
        let filled = fill_column(
            &col,
            missing,
            ColumnContext {
                file,
                column: name,
                lines,
            },
        )?;
        for (i, v) in filled.into_iter().enumerate() {
            arr[[i, j]] = v;
        }
    }
    Ok(Some(arr))
}

/// Labelled (or unlabelled) series from a classification CSV.
struct SeriesSet {
    ids: Vec<String>,
    labels: Option<Vec<String>>,
    series: Vec<Array2<f64>>,
}

/// Reads a classification CSV, wide (`[label,]v0,...`, trailing empty cells
/// end a shorter series) or long (`series_id,[label,]t,f0,...`), with an
/// optional label column; checks the number of channels. Missing cells
/// inside a series are handled by `missing` (dropped series and filled
/// cells are counted in `notes`).
fn read_series_set(
    path: &Path,
    channels: usize,
    missing: MissingPolicy,
    notes: &mut Vec<String>,
) -> Result<SeriesSet> {
    let table = Table::from_path(path)?;
    let label = table.find_column("label");
    let (id_col, t_col) = (table.find_column("series_id"), table.find_column("t"));
    let mut out = SeriesSet {
        ids: Vec::new(),
        labels: label.map(|_| Vec::new()),
        series: Vec::new(),
    };
    let (mut dropped, mut filled) = (0usize, 0usize);
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
        let names: Vec<String> = feats.iter().map(|&c| table.header[c].clone()).collect();
        let mut seen = std::collections::HashSet::new();
        let mut r = 0;
        while r < table.len() {
            let id = table.text(r, id_col).to_string();
            let start = r;
            while r < table.len() && table.text(r, id_col) == id {
                r += 1;
            }
            check!(
                seen.insert(id.clone()),
                "{}: line {}: the rows of series `{id}` are not contiguous",
                table.file,
                table.line(r - 1)
            );
            let mut cells = Vec::with_capacity(r - start);
            for row in start..r {
                cells.push(
                    feats
                        .iter()
                        .map(|&c| table.number(row, c))
                        .collect::<std::result::Result<Vec<_>, _>>()?,
                );
            }
            let gaps = cells.iter().flatten().filter(|v| v.is_none()).count();
            let lines: Vec<u64> = (start..r).map(|row| table.line(row)).collect();
            let Some(arr) = fill_series(&cells, &names, missing, &table.file, &lines)? else {
                dropped += 1;
                continue;
            };
            filled += gaps;
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
            let mut v = values
                .iter()
                .map(|&c| table.number(r, c))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            // Trailing empty cells end a shorter series.
            while v.last().is_some_and(Option::is_none) {
                v.pop();
            }
            if v.is_empty() {
                return Err(table.missing_error(r, values[0]).into());
            }
            let gap = v.iter().position(Option::is_none);
            if let (Some(k), MissingPolicy::Error) = (gap, missing) {
                fail!(
                    "{}: line {}: a value after a missing cell in column `{}` (only trailing cells may be empty; \
                     --missing drop, ffill or interpolate accepts gaps)",
                    table.file,
                    table.line(r),
                    table.header[values[k]]
                );
            }
            let gaps = v.iter().filter(|x| x.is_none()).count();
            let cells: Vec<Vec<Option<f64>>> = v.into_iter().map(|x| vec![x]).collect();
            let lines = vec![table.line(r); cells.len()];
            let name = [table.header[values[0]].clone()];
            let Some(arr) = fill_series(&cells, &name, missing, &table.file, &lines)? else {
                dropped += 1;
                continue;
            };
            filled += gaps;
            if let (Some(l), Some(labels)) = (label, out.labels.as_mut()) {
                labels.push(table.text(r, l).to_string());
            }
            out.ids.push(r.to_string());
            out.series.push(arr);
        }
    }
    if dropped > 0 {
        notes.push(format!(
            "missing: {dropped} series with missing cells dropped (--missing drop)"
        ));
    }
    if filled > 0 {
        notes.push(format!(
            "missing: {filled} cells filled (--missing {missing})"
        ));
    }
    check!(
        !out.series.is_empty(),
        "{}: no series left to predict{}",
        table.file,
        if dropped > 0 {
            " after dropping those with missing cells"
        } else {
            ""
        }
    );
    Ok(out)
}

/// Says how many series are longer than the classifier's window (its
/// longest training series, in model steps of `pool` samples): those are
/// classified from their last `window` steps, as a device streaming them
/// through that window does.
fn cut_note(set: &SeriesSet, pool: usize, window: usize) -> Option<String> {
    let pool = pool.max(1);
    let cut = set
        .series
        .iter()
        .filter(|s| s.nrows() / pool > window)
        .count();
    let unit = if pool > 1 {
        format!(" (of {pool} samples each)")
    } else {
        String::new()
    };
    (cut > 0).then(|| {
        format!(
            "note: {cut} of {} series are longer than the model's window of {window} steps{unit} (its longest \
             training series): each is classified from its last {window} steps, as on the device",
            set.series.len()
        )
    })
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
    predict_file_with(
        bytes,
        data,
        &PredictOptions {
            activations,
            ..PredictOptions::default()
        },
    )
}

/// [`predict_with_file`] with every option.
pub fn predict_file_with(bytes: &[u8], data: &Path, opts: &PredictOptions) -> Result<PredictedCsv> {
    let aligned = CoreBytes::new(bytes);
    let file = aligned.parse().map_err(PredictError::ModelFile)?;
    let h = &file.header;
    let act = opts
        .activations
        .unwrap_or_else(|| Activations::firmware_default(h.format));
    let runner = CoreRunner::new(&file, act).map_err(PredictError::ModelFile)?;
    let mut notes = Vec::new();
    let minmax = file_minmax(h);
    let limits = format_limits(h.format);
    match &h.task {
        Task::Regression => {
            let series = read_series_for_file(data, h.input_size(), opts.missing, &mut notes)?;
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
            let counts = InputCounts::of(x.iter(), minmax, limits);
            let (y, stats, first) = match h.mode {
                TrainingMode::Windowed { window } => {
                    let w = window as usize;
                    // One forecast per window, read in place from `x`.
                    let ends: Vec<usize> = (w..=x.nrows()).collect();
                    let (y, stats) = runner.run_windows_ending(x.view(), w, &ends)?;
                    (y, stats, w - 1 + lag)
                }
                TrainingMode::Stateful => {
                    let (y, stats) = runner.run_sequence_stats(x.view())?;
                    (y, stats, lag)
                }
            };
            notes.push(counts.line(minmax, Some(h.format), Some(&stats)));
            // Forecast k came after raw row first + k: it is the forecast
            // of row first + k + 1 and adds to that row's base row.
            let base = base_row(h, first + 1);
            let base_raw = series.values.slice(s![base..base + y.nrows(), ..]);
            let pred = raw_outputs(h, y.view(), base_raw)?;
            check_finite(pred.iter().copied(), "forecasts")?;
            let mut out = forecast_csv(
                &series.times,
                first,
                FORECAST_COLUMN,
                &pred.column(0).to_vec(),
            )?;
            out.summary = notes;
            Ok(out)
        }
        Task::Classification { classes } => {
            let set = read_series_set(data, h.input_size(), opts.missing, &mut notes)?;
            if let TrainingMode::Windowed { window } = h.mode {
                // `pad_scaled` keeps the last `window` model steps.
                notes.extend(cut_note(&set, usize::from(h.pool), window as usize));
            }
            let (x, lengths) = pad_scaled(h, &set.series)?;
            let counts = InputCounts::of(
                x.outer_iter()
                    .zip(&lengths)
                    .flat_map(|(s, &l)| s.slice_move(s![..l, ..]).into_iter()),
                minmax,
                limits,
            );
            let (y, stats) = runner.run_windows(x.view(), Some(&lengths))?;
            notes.push(counts.line(minmax, Some(h.format), Some(&stats)));
            check_finite(y.iter().copied(), "class scores")?;
            let names: Vec<String> = classes.iter().map(|c| c.to_string()).collect();
            let mut out = class_csv(&set, &names, &y)?;
            out.summary = notes;
            Ok(out)
        }
    }
}

/// Predictions of a trained model (the trainer's `f32` forward) for the CSV
/// at `data` (see the module docs).
pub fn predict_with_trained(model: &TrainedModel, data: &Path) -> Result<PredictedCsv> {
    predict_trained_with(model, data, MissingPolicy::Error)
}

/// [`predict_with_trained`] with missing cells handled by `missing`.
pub fn predict_trained_with(
    model: &TrainedModel,
    data: &Path,
    missing: MissingPolicy,
) -> Result<PredictedCsv> {
    let minmax = matches!(model.scaler_x, Scaler::MinMax { .. });
    let mut notes = Vec::new();
    match (&model.task, &model.data) {
        (TaskKind::Regression { .. }, DataSource::Forecast { config, .. }) => {
            let cfg = crate::data::ForecastConfig {
                missing,
                ..config.clone()
            };
            let cols = ForecastColumns::read(data, &cfg)?;
            if cols.dropped > 0 {
                notes.push(format!(
                    "missing: {} rows dropped (--missing drop)",
                    cols.dropped
                ));
            } else if missing != MissingPolicy::Error {
                // Filled cells of the columns the model reads.
                let table = Table::from_path(data)?;
                let used: Vec<usize> = cols
                    .feature_names
                    .iter()
                    .chain(std::iter::once(&cols.target_name))
                    .filter_map(|c| table.find_column(c))
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect();
                let filled = (0..table.len())
                    .flat_map(|r| used.iter().map(move |&c| (r, c)))
                    .filter(|&(r, c)| crate::data::table::is_missing(table.text(r, c)))
                    .count();
                if filled > 0 {
                    notes.push(format!(
                        "missing: {filled} cells filled (--missing {missing})"
                    ));
                }
            }
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
            notes.push(InputCounts::of(x.iter(), minmax, None).line(minmax, None, None));
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
            // The same column name as a model file's forecasts.
            let mut out = forecast_csv(&cols.times, first, FORECAST_COLUMN, &pred)?;
            out.summary = notes;
            Ok(out)
        }
        (TaskKind::Classification { classes }, DataSource::Classify { config, .. }) => {
            let set = read_series_set(data, model.net.input_size, missing, &mut notes)?;
            let window = match model.mode {
                TrainMode::Windowed { window } => window,
                TrainMode::Stateful { .. } => usize::MAX,
            };
            notes.extend(cut_note(&set, config.pool, window));
            // As in training: each series z-normalised over its own length
            // first (`fit --per-series-norm`), pooled (`fit --pool`), cut to
            // its last `window` steps, then the fitted scaler.
            let scaled: Vec<Array2<f32>> = set
                .series
                .iter()
                .map(|s| {
                    let mut s = s.clone();
                    if config.per_series_norm {
                        normalize_series(&mut s);
                    }
                    let mut s = [pool_series(&s, config.pool)];
                    keep_last(&mut s, window);
                    let [s] = s;
                    model.scaler_x.transform(s.view()).mapv(|v| v as f32)
                })
                .collect();
            notes.push(
                InputCounts::of(scaled.iter().flatten(), minmax, None).line(minmax, None, None),
            );
            let (x, lengths) = pad_series(&scaled, model.net.input_size);
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            let y = net.predict(&model.params, &Batch::new(x.view()).with_lengths(&lengths))?;
            let mut out = class_csv(&set, classes, &y)?;
            out.summary = notes;
            Ok(out)
        }
        _ => fail!("the trained model's task and data source do not match"),
    }
}
