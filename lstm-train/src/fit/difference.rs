//! First differencing of a forecasting series, for series with a trend
//! that an LSTM (bounded activations, min-max scaling fitted on the past)
//! cannot extrapolate.
//!
//! The model is trained on `d[t] = y[t] - y[t-1]` (inputs and target
//! differenced) and its one-step-ahead forecast in original units is
//! `ŷ[t] = y[t-1] + d̂[t]`, which uses only values before `t`, like the
//! naive baseline. A deployed model must do the same: feed differences and
//! add the last observed value to the output.
//!
//! Row `r` of the differenced data is row `r + 1` of the original; the
//! splits are chosen so that the differenced test rows are exactly the
//! original test rows (and the validation rows the original validation
//! rows), so metrics and baselines compare like for like.

use ndarray::{s, Array1};

use crate::artifact::{DataSource, TrainedModel};
use crate::data::{ForecastColumns, ForecastConfig, ForecastData};
use crate::evaluate::{ForecastPredictions, Predictions};

use super::{FitError, Result};

/// The differenced data of `d` (built with `cfg`'s window and scalers; the
/// fractions are recomputed so that the splits keep their rows).
///
/// Errors: [`FitError::Data`] (too few rows for the window),
/// [`FitError::InvalidConfig`] (a split would shift).
pub fn differenced(d: &ForecastData, cfg: &ForecastConfig) -> Result<ForecastData> {
    let n = d.n;
    if n < 3 {
        return Err(FitError::InvalidConfig(format!(
            "differencing needs at least 3 rows, the series has {n}"
        )));
    }
    let m = n - 1;
    let feats = &d.features_raw;
    let features = &feats.slice(s![1.., ..]) - &feats.slice(s![..n - 1, ..]);
    let target: Array1<f64> = &d.target_raw.slice(s![1..]) - &d.target_raw.slice(s![..n - 1]);
    let cols = ForecastColumns {
        file: format!("{} (differenced)", d.file),
        times: d.times[1..].to_vec(),
        lines: (0..m as u64).map(|r| r + 3).collect(),
        feature_names: d
            .feature_names
            .iter()
            .map(|f| format!("diff({f})"))
            .collect(),
        target_name: format!("diff({})", d.target_name),
        features,
        target,
        dropped: 0,
    };
    let n_test = n - d.n_train;
    let n_val = d.n_train - d.n_fit;
    let m_train = m - n_test;
    let cfg2 = ForecastConfig {
        test_fraction: n_test as f64 / m as f64,
        val_fraction: if m_train > 0 {
            n_val as f64 / m_train as f64
        } else {
            0.0
        },
        ..cfg.clone()
    };
    let out = ForecastData::new(cols, &cfg2)?;
    if out.n_train + 1 != d.n_train || out.n_fit + 1 != d.n_fit {
        return Err(FitError::InvalidConfig(format!(
            "differencing shifted the splits ({} fit / {} train rows instead of {} / {})",
            out.n_fit + 1,
            out.n_train + 1,
            d.n_fit,
            d.n_train
        )));
    }
    Ok(out)
}

/// The first differences of `d` that `model` was trained on: [`differenced`]
/// with the window and scalers recorded in the model's data source.
///
/// Errors: [`FitError::InvalidConfig`] for a classification model, and
/// those of [`differenced`].
pub fn differenced_for(model: &TrainedModel, d: &ForecastData) -> Result<ForecastData> {
    match &model.data {
        DataSource::Forecast { config, .. } => differenced(d, config),
        DataSource::Classify { .. } => Err(FitError::InvalidConfig(
            "a classification model is not trained on first differences".into(),
        )),
    }
}

/// Turns predictions of a model trained on [`differenced`] data into
/// predictions of the original series: row `r` becomes row `r + 1`,
/// `ŷ[t] = y[t-1] + d̂[t]`, and the truth is `y[t]`.
///
/// Errors: [`FitError::InvalidConfig`] for classification predictions or
/// rows outside `original`.
pub fn undifference(pred: &Predictions, original: &ForecastData) -> Result<Predictions> {
    let p = match pred {
        Predictions::Forecast(p) => p,
        Predictions::Classify(_) => {
            return Err(FitError::InvalidConfig(
                "class predictions cannot be un-differenced".into(),
            ))
        }
    };
    let y = &original.target_raw;
    if p.rows.iter().any(|&r| r + 1 >= original.n) {
        return Err(FitError::InvalidConfig(
            "the predictions do not belong to this series".into(),
        ));
    }
    Ok(Predictions::Forecast(ForecastPredictions {
        split: p.split,
        rows: p.rows.iter().map(|&r| r + 1).collect(),
        times: p
            .rows
            .iter()
            .map(|&r| original.times[r + 1].clone())
            .collect(),
        truth: p.rows.iter().map(|&r| y[r + 1]).collect(),
        pred: p
            .rows
            .iter()
            .zip(&p.pred)
            .map(|(&r, &v)| y[r] + v)
            .collect(),
    }))
}
