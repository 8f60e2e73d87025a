//! The held-out input stream a device replays to reproduce the test
//! predictions.

use std::path::{Path, PathBuf};

use lstm_core::file::{Header, TrainingMode};
use ndarray::s;

use super::data::EvalData;
use super::error::ExportError;
use crate::artifact::TrainedModel;
use crate::core_runner::CoreBytes;
use crate::io::IoError;

/// Errors of [`write_heldout`]: each names the step that failed.
#[derive(Debug, thiserror::Error)]
pub enum HeldoutError {
    /// The data recorded in the trained model could not be rebuilt.
    #[error("rebuilding the data for the held-out inputs")]
    Data(#[source] ExportError),
    /// The exported bytes are not a model file.
    #[error("parsing the exported file")]
    Parse(#[source] lstm_core::Error),
    /// The inputs could not be collected (e.g. a classifier).
    #[error("collecting the held-out inputs")]
    Collect(#[source] ExportError),
    /// The file could not be written.
    #[error("writing the held-out inputs `{}`", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: IoError,
    },
}

/// Writes the held-out inputs ([`heldout_inputs`]) of `model`, exported as
/// the model file `exported`, to `path` atomically as raw little-endian
/// `f32`, and returns how many steps it holds.
///
/// Errors: [`HeldoutError`].
pub fn write_heldout(
    model: &TrainedModel,
    exported: &[u8],
    path: &Path,
) -> Result<usize, HeldoutError> {
    let data = EvalData::load(&model.data).map_err(HeldoutError::Data)?;
    let bytes = CoreBytes::new(exported);
    let file = bytes.parse().map_err(HeldoutError::Parse)?;
    let inputs = heldout_inputs(&file.header, &data).map_err(HeldoutError::Collect)?;
    let raw: Vec<u8> = inputs.iter().flat_map(|v| v.to_le_bytes()).collect();
    crate::io::write_atomic(path, &raw).map_err(|source| HeldoutError::Write {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(inputs.len() / file.header.input_size().max(1))
}

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
