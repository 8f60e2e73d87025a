//! Metrics and reference baselines, in original units.
//!
//! The forecasting baselines follow the shared datasets' README: one-step-ahead
//! forecasts where the prediction for step `t` uses true values before `t` only.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};

/// Error metrics of a forecast against the truth.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Root mean squared error.
    pub rmse: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Number of scored steps.
    pub n: usize,
}

impl Metrics {
    /// RMSE and MAE of `pred` against `truth`.
    ///
    /// Errors: [`DataError::Baseline`] if the lengths differ or are zero.
    pub fn of(truth: &[f64], pred: &[f64]) -> Result<Self> {
        Ok(Self {
            rmse: rmse(truth, pred)?,
            mae: mae(truth, pred)?,
            n: truth.len(),
        })
    }
}

fn check_pair(truth: &[f64], pred: &[f64]) -> Result<()> {
    if truth.len() != pred.len() {
        return Err(DataError::Baseline(format!(
            "{} true values but {} predictions",
            truth.len(),
            pred.len()
        )));
    }
    if truth.is_empty() {
        return Err(DataError::Baseline("no values to score".to_string()));
    }
    Ok(())
}

/// Root mean squared error `sqrt(mean((truth - pred)^2))`.
///
/// Errors: [`DataError::Baseline`] if the lengths differ or are zero.
pub fn rmse(truth: &[f64], pred: &[f64]) -> Result<f64> {
    check_pair(truth, pred)?;
    let sse: f64 = truth.iter().zip(pred).map(|(a, b)| (a - b) * (a - b)).sum();
    Ok((sse / truth.len() as f64).sqrt())
}

/// Mean absolute error `mean(|truth - pred|)`.
///
/// Errors: [`DataError::Baseline`] if the lengths differ or are zero.
pub fn mae(truth: &[f64], pred: &[f64]) -> Result<f64> {
    check_pair(truth, pred)?;
    let sae: f64 = truth.iter().zip(pred).map(|(a, b)| (a - b).abs()).sum();
    Ok(sae / truth.len() as f64)
}

/// Naive one-step forecast `ŷ[t] = y[t-1]` for every `t` in `steps`.
///
/// Errors: [`DataError::Baseline`] if `steps` is empty, starts at 0 or ends past the series.
pub fn naive_forecast(series: &[f64], steps: Range<usize>) -> Result<Vec<f64>> {
    seasonal_naive_forecast(series, 1, steps)
}

/// Seasonal naive one-step forecast `ŷ[t] = y[t-m]` for every `t` in `steps`.
///
/// Errors: [`DataError::Baseline`] if `m` is 0, `steps` is empty, starts
/// before `m` or ends past the series.
pub fn seasonal_naive_forecast(series: &[f64], m: usize, steps: Range<usize>) -> Result<Vec<f64>> {
    if m == 0 {
        return Err(DataError::Baseline(
            "seasonal period must be at least 1".to_string(),
        ));
    }
    if steps.is_empty() || steps.end > series.len() {
        return Err(DataError::Baseline(format!(
            "steps {steps:?} are empty or outside a series of {} values",
            series.len()
        )));
    }
    if steps.start < m {
        return Err(DataError::Baseline(format!(
            "period {m} needs {m} values before the first forecast step {}",
            steps.start
        )));
    }
    Ok(steps.map(|t| series[t - m]).collect())
}

/// The most frequent label in `labels` (ties go to the smallest class id).
///
/// Errors: [`DataError::Baseline`] if `labels` is empty.
pub fn majority_class(labels: &[usize]) -> Result<usize> {
    let k = labels
        .iter()
        .max()
        .ok_or_else(|| DataError::Baseline("no labels".to_string()))?;
    let mut counts = vec![0usize; k + 1];
    for &l in labels {
        counts[l] += 1;
    }
    let best = counts.iter().copied().max().unwrap_or(0);
    Ok(counts.iter().position(|&c| c == best).unwrap_or(0))
}

/// Fraction of `pred` equal to `truth`.
///
/// Errors: [`DataError::Baseline`] if the lengths differ or are zero.
pub fn accuracy(truth: &[usize], pred: &[usize]) -> Result<f64> {
    if truth.len() != pred.len() || truth.is_empty() {
        return Err(DataError::Baseline(format!(
            "cannot score {} predictions against {} labels",
            pred.len(),
            truth.len()
        )));
    }
    let ok = truth.iter().zip(pred).filter(|(a, b)| a == b).count();
    Ok(ok as f64 / truth.len() as f64)
}

/// Majority-class baseline: the most frequent training label predicted for
/// every test series. Returns `(class id, test accuracy)`.
///
/// Errors: [`DataError::Baseline`] if either list is empty.
pub fn majority_baseline(train_labels: &[usize], test_labels: &[usize]) -> Result<(usize, f64)> {
    let c = majority_class(train_labels)?;
    let acc = accuracy(test_labels, &vec![c; test_labels.len()])?;
    Ok((c, acc))
}
