//! Zero-padding series of different lengths into one batch.

use lstm_core::file::Header;
use ndarray::{s, Array2, Array3};

use super::error::ExportError;
use crate::core_runner::model_inputs;

/// Passes raw series through the file's scaling ([`model_inputs`]) and
/// zero-pads them into `[N][T_max][F]`, returning the lengths.
///
/// Errors: [`ExportError::Core`] if a series is not the model's input width.
pub fn pad_scaled(
    header: &Header<'_>,
    series: &[Array2<f64>],
) -> Result<(Array3<f32>, Vec<usize>), ExportError> {
    let inputs = series
        .iter()
        .map(|s| model_inputs(header, s.view()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(pad_series(&inputs, header.input_size()))
}

/// Zero-pads series of `features` columns into `[N][T_max][F]`, returning
/// the lengths.
pub fn pad_series(series: &[Array2<f32>], features: usize) -> (Array3<f32>, Vec<usize>) {
    let t_max = series.iter().map(|s| s.nrows()).max().unwrap_or(0);
    let mut x = Array3::<f32>::zeros((series.len(), t_max, features));
    for (i, s) in series.iter().enumerate() {
        x.slice_mut(s![i, ..s.nrows(), ..]).assign(s);
    }
    (x, series.iter().map(|s| s.nrows()).collect())
}
