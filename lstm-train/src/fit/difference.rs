//! Differencing of a forecasting series at lag `L`, for series with a trend
//! (or a growing season) that an LSTM (bounded activations, min-max scaling
//! fitted on the past) cannot extrapolate: first differences (`L = 1`) or
//! seasonal ones (`L` = the season, e.g. 12 for monthly data).
//!
//! The model is trained on `d[t] = y[t] - y[t-L]` (inputs and target
//! differenced) and its one-step-ahead forecast in original units is
//! `ŷ[t] = y[t-L] + d̂[t]`, which uses only values before `t`, like the
//! naive and seasonal-naive baselines. A deployed model must do the same:
//! feed differences and add the value `L` rows back to the output.
//!
//! Row `r` of the differenced data is row `r + L` of the original; the
//! splits are chosen so that the differenced test rows are exactly the
//! original test rows (and the validation rows the original validation
//! rows), so metrics and baselines compare like for like.

use ndarray::{s, Array1};

use crate::artifact::{DataSource, TrainedModel};
use crate::data::{ForecastColumns, ForecastConfig, ForecastData};
use crate::evaluate::{ForecastPredictions, Predictions};

use super::{FitError, Result};

/// The differences at lag `lag` of `d` (built with `cfg`'s window and
/// scalers; the fractions are recomputed so that the splits keep their rows).
///
/// Errors: [`FitError::Data`] (too few rows for the window),
/// [`FitError::InvalidConfig`] (a lag of 0, too few rows, or a split would
/// shift: the training split must be longer than the lag).
pub fn differenced(d: &ForecastData, cfg: &ForecastConfig, lag: usize) -> Result<ForecastData> {
    let n = d.n;
    if lag == 0 {
        return Err(FitError::InvalidConfig(
            "the differencing lag must be at least 1".into(),
        ));
    }
    if n < lag + 2 {
        return Err(FitError::InvalidConfig(format!(
            "differencing at lag {lag} needs at least {} rows, the series has {n}",
            lag + 2
        )));
    }
    let m = n - lag;
    let feats = &d.features_raw;
    let features = &feats.slice(s![lag.., ..]) - &feats.slice(s![..m, ..]);
    let target: Array1<f64> = &d.target_raw.slice(s![lag..]) - &d.target_raw.slice(s![..m]);
    let name = |f: &str| {
        if lag == 1 {
            format!("diff({f})")
        } else {
            format!("diff{lag}({f})")
        }
    };
    let cols = ForecastColumns {
        file: format!("{} (differenced)", d.file),
        times: d.times.slice(lag..),
        lines: (0..m as u64).map(|r| r + lag as u64 + 2).collect(),
        feature_names: d.feature_names.iter().map(|f| name(f)).collect(),
        target_name: name(&d.target_name),
        features,
        target,
        dropped: 0,
    };
    let n_test = n - d.n_train;
    let n_val = d.n_train - d.n_fit;
    if d.n_fit <= lag {
        return Err(FitError::InvalidConfig(format!(
            "differencing at lag {lag} needs more than {lag} rows before the validation and \
             test splits, there are {}",
            d.n_fit
        )));
    }
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
    if out.n_train + lag != d.n_train || out.n_fit + lag != d.n_fit {
        return Err(FitError::InvalidConfig(format!(
            "differencing shifted the splits ({} fit / {} train rows instead of {} / {})",
            out.n_fit + lag,
            out.n_train + lag,
            d.n_fit,
            d.n_train
        )));
    }
    Ok(out)
}

/// The differences of `d` that `model` was trained on: [`differenced`]
/// with the window, scalers and lag recorded in the model.
///
/// Errors: [`FitError::InvalidConfig`] for a classification model, and
/// those of [`differenced`].
pub fn differenced_for(model: &TrainedModel, d: &ForecastData) -> Result<ForecastData> {
    match &model.data {
        DataSource::Forecast { config, .. } => differenced(d, config, model.difference_lag),
        DataSource::Classify { .. } => Err(FitError::InvalidConfig(
            "a classification model is not trained on first differences".into(),
        )),
        DataSource::Imported { model } => {
            Err(FitError::InvalidConfig(DataSource::no_data_message(model)))
        }
    }
}

/// Turns predictions of a model trained on [`differenced`] data at lag `lag`
/// into predictions of the original series: row `r` becomes row `r + lag`,
/// `ŷ[t] = y[t-lag] + d̂[t]`, and the truth is `y[t]`.
///
/// Errors: [`FitError::InvalidConfig`] for classification predictions or
/// rows outside `original`.
pub fn undifference(
    pred: &Predictions,
    original: &ForecastData,
    lag: usize,
) -> Result<Predictions> {
    let p = match pred {
        Predictions::Forecast(p) => p,
        Predictions::Classify(_) => {
            return Err(FitError::InvalidConfig(
                "class predictions cannot be un-differenced".into(),
            ))
        }
    };
    let y = &original.target_raw;
    if p.rows.iter().any(|&r| r + lag >= original.n) {
        return Err(FitError::InvalidConfig(
            "the predictions do not belong to this series".into(),
        ));
    }
    Ok(Predictions::Forecast(ForecastPredictions {
        split: p.split,
        rows: p.rows.iter().map(|&r| r + lag).collect(),
        times: p
            .rows
            .iter()
            .map(|&r| original.times[r + lag].to_owned())
            .collect(),
        truth: p.rows.iter().map(|&r| y[r + lag]).collect(),
        pred: p
            .rows
            .iter()
            .zip(&p.pred)
            .map(|(&r, &v)| y[r] + v)
            .collect(),
    }))
}
