//! Scoring the test split: the trainer's `f32` forward and an exported
//! file run by `lstm-core`, each in original units.

use std::path::Path;

use lstm_core::file::{Header, TrainingMode};
use ndarray::{s, Array2, Axis};

use super::data::EvalData;
use super::error::ExportError;
use super::metric::Metric;
use super::padding::pad_scaled;
use crate::artifact::{TrainMode, TrainedModel};
use crate::core_runner::{
    base_row, check_finite, model_inputs, raw_outputs, Activations, CoreBytes, CoreRunner, RunStats,
};
use crate::data::Metrics;
use crate::net::{argmax, Batch, HeadMode, Mode, NetConfig, Network};

/// Test predictions of the trainer's `f32` forward: scaled outputs, one row
/// per test sample (forecast rows or test series).
pub fn trainer_test_outputs(
    model: &TrainedModel,
    data: &EvalData,
) -> Result<Array2<f32>, ExportError> {
    match (data, model.mode) {
        (EvalData::Forecast(d), TrainMode::Windowed { .. }) => {
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            Ok(net.predict(&model.params, &Batch::new(d.test.x.view()))?)
        }
        (EvalData::Forecast(d), TrainMode::Stateful { .. }) => {
            let x = d.x_scaled.slice(s![..d.n - 1, ..]).insert_axis(Axis(0));
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::EveryStep,
                ..model.net.clone()
            })?;
            net.forward(&model.params, &Batch::new(x), Mode::Eval)?;
            let y = net.step_outputs()?;
            Ok(y.slice(s![0, d.n_train - 1..d.n - 1, ..]).to_owned())
        }
        (EvalData::Classify { dataset, .. }, _) => {
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            let t = &dataset.test;
            Ok(net.predict(
                &model.params,
                &Batch::new(t.x.view()).with_lengths(&t.lengths),
            )?)
        }
    }
}

/// Scores scaled outputs (from [`trainer_test_outputs`]) on the test split.
pub fn score_trainer(
    model: &TrainedModel,
    data: &EvalData,
    outputs: &Array2<f32>,
) -> Result<Metric, ExportError> {
    match data {
        EvalData::Forecast(d) => {
            let pred = model
                .scaler_y
                .inverse_transform_column(0, outputs.column(0).mapv(f64::from).view());
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred.to_vec(),
            )?))
        }
        EvalData::Classify { dataset, .. } => {
            let pred: Vec<usize> = outputs.outer_iter().map(argmax).collect();
            Ok(Metric::accuracy(&pred, &dataset.test.labels))
        }
    }
}

/// Test predictions of an exported file run by `lstm-core` ([`CoreRunner`])
/// from raw inputs passed through the file's own scaling and differencing
/// ([`model_inputs`]), in the mode the model was trained in; returns the
/// outputs in the file's units (scaled regression values or logits), one row
/// per test row, and what the state did.
pub fn core_test_outputs(
    runner: &CoreRunner<'_>,
    header: &Header<'_>,
    data: &EvalData,
) -> Result<(Array2<f32>, RunStats), ExportError> {
    let lag = header.differencing.lag();
    let features = match data {
        EvalData::Forecast(d) => Some(d.features_raw.ncols()),
        EvalData::Classify { raw_test, .. } => raw_test.series.first().map(|s| s.ncols()),
    };
    if matches!(data, EvalData::Forecast(_)) && header.output_size() != 1 {
        return Err(ExportError::Evaluation(format!(
            "the model file has {} outputs, but the trained model forecasts one target",
            header.output_size()
        )));
    }
    if let Some(f) = features.filter(|&f| f != header.input_size()) {
        return Err(ExportError::Evaluation(format!(
            "the model file takes {} input feature(s) per step, but the trained model's data has {f}",
            header.input_size()
        )));
    }
    match (data, header.mode) {
        (EvalData::Forecast(d), TrainingMode::Windowed { window }) => {
            let w = window as usize;
            // Row r of `x` is the input of raw row r + lag.
            let x = model_inputs(header, d.features_raw.view())?;
            let rows = &d.test.rows;
            // Every test row must have a full window before anything is
            // sized by the header's `w`: then `w` ≤ the data's rows, and the
            // windows take at most rows × data rows × features values.
            let mut ends = Vec::with_capacity(rows.len());
            for &t in rows {
                // The forecast of row t sees raw rows up to t - 1, whose
                // model inputs are rows ..t - lag of `x`.
                let end = t.checked_sub(lag).ok_or_else(|| {
                    ExportError::Evaluation(format!(
                        "test row {t} comes before the differencing lag of {lag} samples has passed \
                         (the test split needs more than {lag} rows of history)"
                    ))
                })?;
                if end < w {
                    let why = if lag > 0 {
                        format!(
                            "the differencing lag of {lag} samples leaves only {end} \
                             model inputs before it"
                        )
                    } else {
                        format!("only {end} rows precede it")
                    };
                    return Err(ExportError::Evaluation(format!(
                        "test row {t} has no full window of {w} inputs before it: {why}"
                    )));
                }
                ends.push(end);
            }
            if let Some(&end) = ends.iter().find(|&&end| end > x.nrows()) {
                return Err(ExportError::Evaluation(format!(
                    "a test row needs {end} model inputs before it, but the data gives {}",
                    x.nrows()
                )));
            }
            // The windows are read in place from `x`.
            Ok(runner.run_windows_ending(x.view(), w, &ends)?)
        }
        (EvalData::Forecast(d), TrainingMode::Stateful) => {
            let x = model_inputs(header, d.features_raw.slice(s![..d.n - 1, ..]))?;
            let (y, stats) = runner.run_sequence_stats(x.view())?;
            let first = (d.n_train - 1).checked_sub(lag).ok_or_else(|| {
                ExportError::Evaluation("no training rows before the test split".into())
            })?;
            Ok((y.slice(s![first.., ..]).to_owned(), stats))
        }
        (EvalData::Classify { raw_test, .. }, _) => {
            let (x, lengths) = pad_scaled(header, &raw_test.series)?;
            Ok(runner.run_windows(x.view(), Some(&lengths))?)
        }
    }
}

/// Scores core outputs (from [`core_test_outputs`]) in original units.
pub fn score_core(
    header: &Header<'_>,
    data: &EvalData,
    outputs: &Array2<f32>,
) -> Result<Metric, ExportError> {
    match data {
        EvalData::Forecast(d) => {
            let base: Vec<usize> = d.test.rows.iter().map(|&t| base_row(header, t)).collect();
            let base_raw = d.features_raw.select(Axis(0), &base);
            let pred = raw_outputs(header, outputs.view(), base_raw.view())?;
            check_finite(pred.iter().copied(), "forecasts")
                .map_err(|e| ExportError::Evaluation(e.to_string()))?;
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred.column(0).to_vec(),
            )?))
        }
        EvalData::Classify { dataset, .. } => {
            check_finite(outputs.iter().copied(), "class scores")
                .map_err(|e| ExportError::Evaluation(e.to_string()))?;
            let pred: Vec<usize> = outputs.outer_iter().map(argmax).collect();
            Ok(Metric::accuracy(&pred, &dataset.test.labels))
        }
    }
}

/// The trainer's own (`f32`) test metric of `model` on `data` (original
/// units); `model_data` is the differenced data of a model trained on first
/// differences, whose forecasts are added to the last observed value.
pub fn trainer_metric(
    model: &TrainedModel,
    data: &EvalData,
    model_data: Option<&EvalData>,
) -> Result<Metric, ExportError> {
    match (data, model_data) {
        (EvalData::Forecast(d), Some(dd @ EvalData::Forecast(diff))) => {
            let y = trainer_test_outputs(model, dd)?;
            let steps = model
                .scaler_y
                .inverse_transform_column(0, y.column(0).mapv(f64::from).view());
            // Differenced row r is original row r + 1: the forecast of
            // original row t = r + 1 adds to the value at row r.
            let pred: Vec<f64> = steps
                .iter()
                .enumerate()
                .map(|(i, v)| d.target_raw[diff.n_train + i] + v)
                .collect();
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred,
            )?))
        }
        _ => score_trainer(model, data, &trainer_test_outputs(model, data)?),
    }
}

/// The test metric of a trained model and of a model file exported from it,
/// as [`score_file`] measures them.
#[derive(Clone, Debug, PartialEq)]
pub struct FileScore {
    /// The trainer's `f32` forward.
    pub trainer: Metric,
    /// The model file run by `lstm-core`.
    pub core: Metric,
    /// The activations `lstm-core` ran with.
    pub activations: Activations,
}

/// Scores the test split recorded in `model` twice: with the trainer's
/// `f32` forward, and with the model file at `path` run by `lstm-core` with
/// `activations` (`None`: [`Activations::firmware_default`] for the file's
/// format).
///
/// Errors: [`ExportError::Data`] (rebuilding the data), [`ExportError::Io`]
/// (reading the file), [`ExportError::ModelFile`] (not a model file),
/// [`ExportError::Core`], [`ExportError::Net`].
pub fn score_file(
    model: &TrainedModel,
    path: &Path,
    activations: Option<Activations>,
) -> Result<FileScore, ExportError> {
    let data = EvalData::load(&model.data)?;
    // A model trained on differences is run by the trainer on the
    // differenced series and scored in original units, as the file is.
    let model_data = match (&data, model.difference) {
        (EvalData::Forecast(d), true) => Some(EvalData::Forecast(Box::new(
            super::differenced_data(model, d)?,
        ))),
        _ => None,
    };
    let trainer = trainer_metric(model, &data, model_data.as_ref())?;
    let bytes = CoreBytes::read(path)?;
    let file = bytes.parse().map_err(|source| ExportError::ModelFile {
        path: path.to_path_buf(),
        source,
    })?;
    let activations =
        activations.unwrap_or_else(|| Activations::firmware_default(file.header.format));
    let runner = CoreRunner::new(&file, activations)?;
    let (y, _) = core_test_outputs(&runner, &file.header, &data)?;
    let core = score_core(&file.header, &data, &y)?;
    Ok(FileScore {
        trainer,
        core,
        activations,
    })
}
