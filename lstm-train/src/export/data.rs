//! The data a trained model was trained and is tested on ([`EvalData`]),
//! rebuilt from what the model records, and the sequences a calibration
//! pass runs.

use ndarray::{s, Array2};

use super::error::ExportError;
use crate::artifact::{DataSource, TrainMode};
use crate::data::{
    load_classification, load_forecast, ClassConfig, ClassDataset, ForecastData, LabelledSeries,
};

/// The data a trained model was trained and is tested on, rebuilt from its
/// [`DataSource`].
#[derive(Clone, Debug)]
pub enum EvalData {
    /// Forecasting.
    Forecast(Box<ForecastData>),
    /// Classification, with the raw (unscaled) test series for the core.
    Classify {
        /// The prepared dataset (scaled with the trainer's scaler).
        dataset: Box<ClassDataset>,
        /// The test file's series in original units, in test order.
        raw_test: Box<LabelledSeries>,
    },
}

impl EvalData {
    /// Rebuilds the data of `source` (the paths recorded at training time).
    pub fn load(source: &DataSource) -> Result<Self, ExportError> {
        match source {
            DataSource::Forecast { path, config } => {
                Ok(EvalData::Forecast(Box::new(load_forecast(path, config)?)))
            }
            DataSource::Classify {
                train,
                test,
                config,
            } => {
                let dataset = load_classification(train, test, config)?;
                let cfg = ClassConfig {
                    format: dataset.format,
                    ..config.clone()
                };
                // Raw, as a device receives them: normalised, pooled and
                // cut to the model's window on the way in (`pad_scaled`).
                let raw_test = LabelledSeries::read(test, &cfg)?;
                Ok(EvalData::Classify {
                    dataset: Box::new(dataset),
                    raw_test: Box::new(raw_test),
                })
            }
            DataSource::Imported { model } => {
                Err(ExportError::Unsupported(DataSource::no_data_message(model)))
            }
        }
    }

    /// The training inputs (fit and validation splits, scaled by the
    /// trainer) as the sequences a calibration pass runs, with where the head
    /// counts: `(sequences, head at every step)`.
    pub fn calibration_sequences(&self, mode: TrainMode) -> (Vec<Array2<f32>>, bool) {
        match (self, mode) {
            (EvalData::Forecast(d), TrainMode::Stateful { .. }) => (
                vec![d
                    .x_scaled
                    .slice(s![..d.n_train.saturating_sub(1), ..])
                    .to_owned()],
                true,
            ),
            (EvalData::Forecast(d), TrainMode::Windowed { .. }) => {
                let mut v: Vec<Array2<f32>> =
                    d.train.x.outer_iter().map(|w| w.to_owned()).collect();
                v.extend(d.val.x.outer_iter().map(|w| w.to_owned()));
                (v, false)
            }
            (EvalData::Classify { dataset, .. }, _) => {
                let mut v: Vec<Array2<f32>> = Vec::new();
                for part in [&dataset.train, &dataset.val] {
                    v.extend((0..part.len()).map(|i| part.series(i).to_owned()));
                }
                (v, false)
            }
        }
    }
}
