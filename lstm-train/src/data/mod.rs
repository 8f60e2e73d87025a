//! The data pipeline: CSV in, checked and cleaned, split, scaled, windowed.
//!
//! * [`table`]: reading a CSV (the `csv` crate) with line numbers; the rules
//!   for numbers (empty / `NA` = missing, `NaN` / `inf` = error).
//! * [`missing`]: the explicit [`MissingPolicy`].
//! * [`scaler`]: per-feature [`Scaler`]s fitted on the training split only.
//! * [`forecast`]: forecasting — chronological splits, sliding windows
//!   ([`ForecastData`]) and the stateful layout ([`StatefulData`]).
//! * [`classify`]: classification — wide and long formats, variable-length
//!   series, class names, padded batches ([`ClassDataset`]).
//! * [`baseline`]: RMSE / MAE, naive and seasonal naive forecasts,
//!   majority-class accuracy.
//! * [`error`]: the [`DataError`] enum.
//!
//! # Forecasting
//!
//! ```no_run
//! use lstm_train::data::{load_forecast, ForecastConfig, MissingPolicy};
//!
//! let cfg = ForecastConfig { window: 12, missing: MissingPolicy::Interpolate, ..Default::default() };
//! let data = load_forecast("airline.csv", &cfg)?;
//! // data.train.x: [N, 12, 1], data.train.y: [N, 1], scaled to [0, 1] on the fit split.
//! let naive = data.naive_baseline()?; // RMSE / MAE in original units on the test rows
//! # Ok::<(), lstm_train::data::DataError>(())
//! ```
//!
//! # Classification
//!
//! ```no_run
//! use lstm_train::data::{load_classification, ClassConfig};
//!
//! let ds = load_classification("train.csv", "test.csv", &ClassConfig::default())?;
//! // ds.train.x: [N, T_max, F] zero-padded, ds.train.lengths, ds.train.labels in 0..ds.classes.len()
//! let (_majority, acc) = ds.majority_baseline()?;
//! # Ok::<(), lstm_train::data::DataError>(())
//! ```

pub mod baseline;
pub mod classify;
pub mod error;
pub mod forecast;
pub mod missing;
pub mod nn;
pub mod outlier;
pub mod scaler;
pub mod table;
pub mod times;

pub use baseline::{
    accuracy, mae, majority_baseline, majority_class, naive_forecast, rmse,
    seasonal_naive_forecast, Metrics,
};
pub use classify::{
    load_classification, ClassConfig, ClassData, ClassDataset, ClassFormat, LabelledSeries,
    ValSplit,
};
pub use error::{DataError, Result};
pub use forecast::{
    load_forecast, ForecastColumns, ForecastConfig, ForecastData, Sequence, StatefulData,
    TimeColumn, Windows,
};
pub use missing::{fill_column, ColumnContext, MissingPolicy};
pub use scaler::{Scaler, ScalerKind};
pub use table::{parse_number, CellError, Table};
pub use times::Times;
