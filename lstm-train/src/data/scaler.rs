//! Per-feature scaling, fitted on the training split only.
//!
//! Both scalers are affine per feature, `x' = (x - offset) / scale`, which is
//! what a device needs to reproduce them ([`Scaler::affine`]):
//!
//! * `MinMax` maps the training range of each feature to `[0, 1]`
//!   (like scikit-learn's / Keras tutorials' `MinMaxScaler` with the default
//!   range): offset = min, scale = max − min. Values outside the training range
//!   map outside `[0, 1]`; nothing is clipped.
//! * `Standard` subtracts the training mean and divides by the training
//!   standard deviation (population, ddof = 0, as scikit-learn's `StandardScaler`).
//!
//! A constant feature (max = min, or a standard deviation of 0) gets scale 1,
//! as in scikit-learn, so it maps to 0 and never to NaN.

use std::fmt;
use std::str::FromStr;

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use num_traits::Float;
use serde::{Deserialize, Serialize};

use super::error::{DataError, Result};

/// Which scaler to fit (the choice, before fitting).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScalerKind {
    /// No scaling (identity).
    None,
    /// Min-max to `[0, 1]` on the training range (the default).
    #[default]
    MinMax,
    /// Zero mean, unit standard deviation on the training data.
    Standard,
}

impl fmt::Display for ScalerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::MinMax => "minmax",
            Self::Standard => "standard",
        })
    }
}

impl FromStr for ScalerKind {
    type Err = DataError;

    /// Parses `none`, `minmax` (or `min-max`) or `standard` (case-insensitive).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "none" => Ok(Self::None),
            "minmax" | "min-max" | "min_max" => Ok(Self::MinMax),
            "standard" | "std" | "zscore" => Ok(Self::Standard),
            other => Err(DataError::InvalidConfig(format!(
                "unknown scaler `{other}` (expected none, minmax or standard)"
            ))),
        }
    }
}

/// A fitted per-feature scaler. Serialisable with serde, so it can be saved
/// with a model and applied again at prediction time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scaler {
    /// Identity, for any number of features.
    None,
    /// `x' = (x - min) / (max - min)` per feature (range 0 is treated as 1).
    MinMax {
        /// Training minimum of each feature.
        min: Vec<f64>,
        /// Training maximum of each feature.
        max: Vec<f64>,
    },
    /// `x' = (x - mean) / std` per feature (std 0 is treated as 1).
    Standard {
        /// Training mean of each feature.
        mean: Vec<f64>,
        /// Training population standard deviation of each feature, as computed
        /// (0 for a constant feature; [`Scaler::affine`] then uses 1).
        std: Vec<f64>,
    },
}

impl Scaler {
    /// Fits a scaler of kind `kind` on `data` (`[rows, features]`), which
    /// should be the training split only.
    ///
    /// Errors: [`DataError::InvalidConfig`] if `data` has no rows (and `kind`
    /// is not `None`) or holds a non-finite value.
    pub fn fit(kind: ScalerKind, data: ArrayView2<'_, f64>) -> Result<Self> {
        if kind == ScalerKind::None {
            return Ok(Self::None);
        }
        if data.nrows() == 0 {
            return Err(DataError::InvalidConfig(
                "cannot fit a scaler on zero training rows".to_string(),
            ));
        }
        if data.iter().any(|v| !v.is_finite()) {
            return Err(DataError::InvalidConfig(
                "cannot fit a scaler on non-finite values".to_string(),
            ));
        }
        let cols = data.axis_iter(Axis(1));
        Ok(match kind {
            ScalerKind::None => Self::None,
            ScalerKind::MinMax => {
                let (min, max) = cols
                    .map(|c| {
                        c.iter()
                            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
                                (lo.min(v), hi.max(v))
                            })
                    })
                    .unzip();
                Self::MinMax { min, max }
            }
            ScalerKind::Standard => {
                let n = data.nrows() as f64;
                let (mean, std) = cols
                    .map(|c| {
                        let mean = c.sum() / n;
                        let constant = c.iter().all(|&v| v == c[0]);
                        let var = c.iter().map(|&v| (v - mean) * (v - mean)).sum::<f64>() / n;
                        if constant {
                            (c[0], 0.0)
                        } else {
                            (mean, var.sqrt())
                        }
                    })
                    .unzip();
                Self::Standard { mean, std }
            }
        })
    }

    /// The kind of this scaler.
    pub fn kind(&self) -> ScalerKind {
        match self {
            Self::None => ScalerKind::None,
            Self::MinMax { .. } => ScalerKind::MinMax,
            Self::Standard { .. } => ScalerKind::Standard,
        }
    }

    /// Number of features the scaler was fitted on (`None` for the identity,
    /// which accepts any number).
    pub fn n_features(&self) -> Option<usize> {
        match self {
            Self::None => None,
            Self::MinMax { min, .. } => Some(min.len()),
            Self::Standard { mean, .. } => Some(mean.len()),
        }
    }

    /// `(offset, scale)` of feature `j`: `x' = (x - offset) / scale`, with
    /// `scale > 0` always (a zero range or deviation becomes 1).
    ///
    /// # Panics
    /// If `j` is not below [`Scaler::n_features`].
    pub fn affine(&self, j: usize) -> (f64, f64) {
        let nonzero = |s: f64| if s > 0.0 && s.is_finite() { s } else { 1.0 };
        match self {
            Self::None => (0.0, 1.0),
            Self::MinMax { min, max } => (min[j], nonzero(max[j] - min[j])),
            Self::Standard { mean, std } => (mean[j], nonzero(std[j])),
        }
    }

    /// Scales one value of feature `j`.
    ///
    /// # Panics
    /// If `j` is not below [`Scaler::n_features`].
    pub fn transform_value(&self, j: usize, x: f64) -> f64 {
        let (o, s) = self.affine(j);
        (x - o) / s
    }

    /// Undoes [`Scaler::transform_value`] for feature `j`.
    ///
    /// # Panics
    /// If `j` is not below [`Scaler::n_features`].
    pub fn inverse_value(&self, j: usize, x: f64) -> f64 {
        let (o, s) = self.affine(j);
        x * s + o
    }

    /// Scales `x` (`[rows, features]`), in `f32` or `f64`.
    ///
    /// # Panics
    /// If the number of columns differs from [`Scaler::n_features`].
    pub fn transform<A: Float>(&self, x: ArrayView2<'_, A>) -> Array2<A> {
        self.map2(x, Self::transform_value)
    }

    /// Undoes [`Scaler::transform`].
    ///
    /// # Panics
    /// If the number of columns differs from [`Scaler::n_features`].
    pub fn inverse_transform<A: Float>(&self, x: ArrayView2<'_, A>) -> Array2<A> {
        self.map2(x, Self::inverse_value)
    }

    /// Scales one column `x` of feature `j` (e.g. the target).
    ///
    /// # Panics
    /// If `j` is not below [`Scaler::n_features`].
    pub fn transform_column<A: Float>(&self, j: usize, x: ArrayView1<'_, A>) -> Array1<A> {
        x.mapv(|v| from_f64(self.transform_value(j, to_f64(v))))
    }

    /// Undoes [`Scaler::transform_column`], e.g. to bring predictions of the
    /// target back to original units.
    ///
    /// # Panics
    /// If `j` is not below [`Scaler::n_features`].
    pub fn inverse_transform_column<A: Float>(&self, j: usize, x: ArrayView1<'_, A>) -> Array1<A> {
        x.mapv(|v| from_f64(self.inverse_value(j, to_f64(v))))
    }

    fn map2<A: Float>(&self, x: ArrayView2<'_, A>, f: fn(&Self, usize, f64) -> f64) -> Array2<A> {
        if let Some(n) = self.n_features() {
            assert_eq!(
                x.ncols(),
                n,
                "scaler fitted on {n} features applied to {} columns",
                x.ncols()
            );
        }
        let mut out = x.to_owned();
        for (j, mut col) in out.axis_iter_mut(Axis(1)).enumerate() {
            col.mapv_inplace(|v| from_f64(f(self, j, to_f64(v))));
        }
        out
    }
}

fn to_f64<A: Float>(v: A) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

fn from_f64<A: Float>(v: f64) -> A {
    A::from(v).unwrap_or_else(A::nan)
}
