//! The held-out input stream a device replays to reproduce the test
//! predictions.

use lstm_core::file::{Header, TrainingMode};
use ndarray::s;

use super::data::EvalData;
use super::error::ExportError;

/// The held-out input sequence a device streams to reproduce the test
/// predictions: raw (unscaled) feature rows, `IN` values per step, in time
/// order, starting where the device must start in the model's mode
/// (windowed: `W` rows before the first test row, so that the window is
/// full at the first test prediction, and one more for a differenced
/// model; stateful: the series' first row).
/// The prediction after the last row of the returned sequence is for the
/// last test row. Forecasting only: a classifier's test set is a set of
/// separate series, not one stream.
pub fn heldout_inputs(header: &Header<'_>, data: &EvalData) -> Result<Vec<f32>, ExportError> {
    let EvalData::Forecast(d) = data else {
        return Err(ExportError::Unsupported(
            "held-out input streams are written for forecasting models only".into(),
        ));
    };
    let first_test = d.test.rows.first().copied().ok_or_else(|| {
        ExportError::Unsupported("the test split is empty: no held-out inputs".into())
    })?;
    let start = match header.mode {
        TrainingMode::Windowed { window } => first_test
            .checked_sub(window as usize + header.differencing.lag())
            .ok_or_else(|| {
                ExportError::Unsupported("the window reaches before the start of the series".into())
            })?,
        TrainingMode::Stateful => 0,
    };
    let rows = d.features_raw.slice(s![start..d.n - 1, ..]);
    Ok(rows.iter().map(|&v| v as f32).collect())
}
