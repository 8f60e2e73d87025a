//! Zero-padding series of different lengths into one batch.

use lstm_core::file::{Header, TrainingMode};
use ndarray::{s, Array2, Array3};

use super::error::ExportError;
use crate::core_runner::model_inputs;

/// Passes raw series through the file's normalisation, pooling and
/// scaling ([`model_inputs`]), keeps at most the last `W` model steps of
/// each (a windowed classifier's window: what a device streaming the
/// series through a window of `W` sees), and zero-pads them into
/// `[N][T_max][F]`, returning the lengths.
///
/// Errors: [`ExportError::Core`] if a series is not the model's input width.
pub fn pad_scaled(
    header: &Header<'_>,
    series: &[Array2<f64>],
) -> Result<(Array3<f32>, Vec<usize>), ExportError> {
    let window = match header.mode {
        TrainingMode::Windowed { window } => window as usize,
        TrainingMode::Stateful => usize::MAX,
    };
    let inputs = series
        .iter()
        .map(|s| {
            let x = model_inputs(header, s.view())?;
            let n = x.nrows();
            Ok(if n > window {
                x.slice(s![n - window.., ..]).to_owned()
            } else {
                x
            })
        })
        .collect::<Result<Vec<_>, lstm_core::Error>>()?;
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
