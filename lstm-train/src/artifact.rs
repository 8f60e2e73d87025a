//! [`TrainedModel`]: what `fit` produces and `eval`, `predict`, `export`
//! consume: the network, its parameters, and everything needed to feed it
//! the same data again (scalers, task, training mode, data source).
//! Saved as JSON (checkpoints use the same type).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::{ClassConfig, ForecastConfig, Scaler};
use crate::io::{self, IoError};
use crate::net::{NetConfig, Params};

/// Regression (forecasting) or classification.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum TaskKind {
    /// One-step-ahead forecast of `target`.
    Regression {
        /// Name of the target column.
        target: String,
    },
    /// Sequence classification; outputs are logits in `classes` order.
    Classification {
        /// Class names, in output order.
        classes: Vec<String>,
    },
}

/// How the model was trained, and so how it must be run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainMode {
    /// Windows of `window` samples from a zero state (the Keras default).
    Windowed {
        /// Window length `W`.
        window: usize,
    },
    /// Contiguous chunks of `chunk` steps with carried state and truncated
    /// BPTT (Keras `stateful=True`).
    Stateful {
        /// Truncated-BPTT chunk length.
        chunk: usize,
    },
}

/// Where the data came from, with the options that shaped it, so that
/// `eval` and `export` rebuild exactly the same splits and scaling.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum DataSource {
    /// A forecasting CSV.
    Forecast {
        /// The CSV file.
        path: PathBuf,
        /// Columns, window, splits, scaling, missing-value policy.
        config: ForecastConfig,
    },
    /// A classification train/test pair.
    Classify {
        /// Training CSV.
        train: PathBuf,
        /// Test CSV.
        test: PathBuf,
        /// Format, splits, scaling, missing-value policy.
        config: ClassConfig,
    },
    /// No data: a model imported from a framework's file (`lstm-train
    /// import` without `--data` / `--train --test`). Nothing can be rebuilt
    /// from it: exporting it again works without data only.
    Imported {
        /// The framework's file it was imported from.
        model: PathBuf,
    },
}

impl DataSource {
    /// The message for a use of data that an imported model does not
    /// record.
    pub fn no_data_message(model: &Path) -> String {
        format!(
            "the model imported from `{}` records no data (give --data or --train/--test to `lstm-train import`)",
            model.display()
        )
    }
}

/// A trained network with everything needed to use it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedModel {
    /// Shapes and options.
    pub net: NetConfig,
    /// The parameters (f32, PyTorch layout).
    pub params: Params<f32>,
    /// What the outputs mean.
    pub task: TaskKind,
    /// Windowed or stateful.
    pub mode: TrainMode,
    /// Input scaler, fitted on the training split.
    pub scaler_x: Scaler,
    /// Target scaler (regression), fitted on the training split; `Scaler::None` for classification.
    pub scaler_y: Scaler,
    /// The data it was trained on.
    pub data: DataSource,
    /// Trained on differences (`fit --difference [L]`, lag in
    /// [`TrainedModel::difference_lag`]): the model is fed the differences
    /// `x[t] - x[t-L]` of the raw features (scaled
    /// by `scaler_x`) and predicts the next difference of the target
    /// (unscaled by `scaler_y`); a forecast in original units adds it to
    /// the target value `L` rows before the forecast row (the last observed
    /// value for `L = 1`). `false` in models saved before the field existed.
    #[serde(default)]
    pub difference: bool,
    /// The lag of that differencing: 1 (first differences, and in models
    /// saved before the field existed) or a season `L`: the model sees
    /// `x[t] − x[t−L]` and a forecast adds to the value `L` rows before it.
    #[serde(default = "crate::fit::first_lag")]
    pub difference_lag: usize,
    /// The season `m` given to `fit --season` (forecasting): `eval` scores
    /// the seasonal-naive baseline at it unless told otherwise. `None` when
    /// none was given, and in models saved before the field existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub season: Option<usize>,
}

/// Errors reading or writing a [`TrainedModel`].
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file is not a trained model.
    #[error("`{path}` is not a trained model (JSON): {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl TrainedModel {
    /// Writes the model as JSON, atomically.
    pub fn save(&self, path: &Path) -> Result<(), ArtifactError> {
        let json = serde_json::to_vec(self).map_err(|source| ArtifactError::Json {
            path: path.into(),
            source,
        })?;
        io::write_atomic(path, &json)?;
        Ok(())
    }

    /// Reads a model written by [`TrainedModel::save`].
    pub fn load(path: &Path) -> Result<Self, ArtifactError> {
        let bytes = io::read(path)?;
        serde_json::from_slice(&bytes).map_err(|source| ArtifactError::Json {
            path: path.into(),
            source,
        })
    }
}
