//! The header: everything about a model except its weights, postcard-encoded.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::num::NumberFormat;
use crate::shape::LayerShape;

/// Most layers a file may describe (LSTM layers plus the head).
pub const MAX_LAYERS: usize = 8;
/// Most input or output features a scaling may describe.
pub const MAX_FEATURES: usize = 32;
/// Most classes a classification model may name.
pub const MAX_CLASSES: usize = 32;

/// How raw values were scaled for training, per feature. The device applies
/// [`Scaling::scale`] to its raw inputs and [`Scaling::unscale`] to the
/// model's outputs (regression).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Scaling {
    /// Values are used as they are.
    Identity,
    /// `(x − min) / (max − min)`, to \[0, 1\] on the training data (Keras/sklearn `MinMaxScaler`).
    /// A constant feature (`max == min`) maps to `x − min`.
    MinMax {
        /// Per-feature minimum on the training split.
        min: Vec<f32, MAX_FEATURES>,
        /// Per-feature maximum on the training split.
        max: Vec<f32, MAX_FEATURES>,
    },
    /// `(x − mean) / std` (sklearn `StandardScaler`).
    Standard {
        /// Per-feature mean on the training split.
        mean: Vec<f32, MAX_FEATURES>,
        /// Per-feature standard deviation on the training split (> 0).
        std: Vec<f32, MAX_FEATURES>,
    },
    /// Each whole series is first z-normalised per feature over its own
    /// length ([`normalize_series`], the UCR convention), then scaled by
    /// `(x − mean) / std` like [`Scaling::Standard`] (format version 5;
    /// inputs of a classifier only). [`Scaling::scale`] is only the second
    /// step: a device normalises the buffered series first
    /// ([`RawIo::normalize_series`](crate::RawIo::normalize_series)).
    SeriesStandard {
        /// Per-feature mean, on the training split after the per-series step.
        mean: Vec<f32, MAX_FEATURES>,
        /// Per-feature standard deviation (> 0), likewise.
        std: Vec<f32, MAX_FEATURES>,
    },
}

/// A series' standard deviation at or below this is treated as constant by
/// [`normalize_series`]: it is only centred.
pub const SERIES_STD_FLOOR: f32 = 1e-6;

/// Z-normalises a series in place, per feature over its own length: `series`
/// holds `series.len() / features` samples of `features` values each
/// (sample-major, as they arrive); each feature gets
/// `(x − m) / s` with `m` its mean over the series and `s` its population
/// standard deviation (divided by the length, not length − 1), or `x − m`
/// when `s ≤` [`SERIES_STD_FLOOR`]. Sums are in `f32`, in sample order.
/// Does nothing to an empty series.
///
/// Errors: [`Error::LengthMismatch`] if `features` is 0 or does not divide
/// `series.len()`.
pub fn normalize_series(series: &mut [f32], features: usize) -> Result<(), Error> {
    if features == 0 || !series.len().is_multiple_of(features) {
        return Err(Error::LengthMismatch {
            expected: features,
            found: series.len(),
        });
    }
    let n = series.len() / features;
    if n == 0 {
        return Ok(());
    }
    for j in 0..features {
        let column = || series.iter().skip(j).step_by(features);
        let mean = column().sum::<f32>() / n as f32;
        let var = column().map(|&x| (x - mean) * (x - mean)).sum::<f32>() / n as f32;
        let std = libm::sqrtf(var);
        let divisor = if std > SERIES_STD_FLOOR { std } else { 1.0 };
        for x in series.iter_mut().skip(j).step_by(features) {
            *x = (*x - mean) / divisor;
        }
    }
    Ok(())
}

impl Scaling {
    /// `(offset, divisor)` of feature `i`: scaled = (x − offset) / divisor.
    fn affine(&self, i: usize) -> (f32, f32) {
        match self {
            Scaling::Identity => (0.0, 1.0),
            Scaling::MinMax { min, max } => match (min.get(i), max.get(i)) {
                (Some(&lo), Some(&hi)) if hi > lo => (lo, hi - lo),
                (Some(&lo), Some(_)) => (lo, 1.0),
                _ => (0.0, 1.0),
            },
            Scaling::Standard { mean, std } | Scaling::SeriesStandard { mean, std } => {
                match (mean.get(i), std.get(i)) {
                    (Some(&m), Some(&s)) => (m, s),
                    _ => (0.0, 1.0),
                }
            }
        }
    }

    /// Scales raw feature `i` as in training.
    pub fn scale(&self, i: usize, x: f32) -> f32 {
        let (offset, divisor) = self.affine(i);
        (x - offset) / divisor
    }

    /// Maps a scaled value of feature `i` back to raw units.
    pub fn unscale(&self, i: usize, y: f32) -> f32 {
        let (offset, divisor) = self.affine(i);
        y * divisor + offset
    }

    /// Features described (0 for [`Scaling::Identity`], which applies to any number).
    pub fn len(&self) -> usize {
        match self {
            Scaling::Identity => 0,
            Scaling::MinMax { min, .. } => min.len(),
            Scaling::Standard { mean, .. } | Scaling::SeriesStandard { mean, .. } => mean.len(),
        }
    }

    /// Whether each series is z-normalised before the scaling
    /// ([`Scaling::SeriesStandard`]).
    pub fn per_series(&self) -> bool {
        matches!(self, Scaling::SeriesStandard { .. })
    }

    /// Whether this is [`Scaling::Identity`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn validate(&self, features: usize, what: &'static str) -> Result<(), Error> {
        let ok = match self {
            Scaling::Identity => true,
            Scaling::MinMax { min, max } => {
                min.len() == features
                    && max.len() == features
                    && min
                        .iter()
                        .zip(max.iter())
                        .all(|(lo, hi)| lo.is_finite() && hi.is_finite() && hi >= lo)
            }
            Scaling::Standard { mean, std } | Scaling::SeriesStandard { mean, std } => {
                mean.len() == features
                    && std.len() == features
                    && mean
                        .iter()
                        .zip(std.iter())
                        .all(|(m, s)| m.is_finite() && s.is_finite() && *s > 0.0)
            }
        };
        if ok {
            Ok(())
        } else {
            Err(Error::Malformed(what))
        }
    }
}

/// How the model was trained, and therefore how it must be streamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TrainingMode {
    /// Contiguous chunks with carried state: stream with [`Stream`](crate::Stream).
    Stateful,
    /// Windows of `window` samples from a zero state: stream with
    /// [`WindowedStream`](crate::WindowedStream) of that `W`.
    Windowed {
        /// Window length `W`.
        window: u32,
    },
}

/// A transform of the raw series applied before the input scaling and
/// undone after the output scaling (forecasting models of series with a
/// trend, which bounded activations cannot extrapolate).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Differencing {
    /// Raw samples go to the input scaling as they are.
    None,
    /// First differences: the model sees `scale(x[t] − x[t−1])`, feature by
    /// feature, so the first raw sample only primes the difference and gives
    /// no output; output `k`, unscaled, is a difference that is added to the
    /// last raw value of input feature `targets[k]` (the forecast
    /// `ŷ[t+1] = y[t] + d̂[t+1]`).
    First {
        /// For each output, the input feature holding the forecast series.
        targets: Vec<u8, MAX_FEATURES>,
    },
    /// Seasonal differences at lag `L`: the model sees
    /// `scale(x[t] − x[t−L])`, so the first `L` raw samples only prime the
    /// differences; output `k`, unscaled, is added to the raw value of input
    /// feature `targets[k]` one season before the forecast time (the
    /// forecast `ŷ[t+1] = y[t+1−L] + d̂[t+1]`). `L = 1` is [`Differencing::First`].
    Seasonal {
        /// The lag `L` (at least 1), e.g. 12 for monthly data with a yearly season.
        lag: u16,
        /// For each output, the input feature holding the forecast series.
        targets: Vec<u8, MAX_FEATURES>,
    },
}

impl Differencing {
    /// Raw samples needed before the first model input: 0, 1 or the lag.
    pub fn lag(&self) -> usize {
        match self {
            Differencing::None => 0,
            Differencing::First { .. } => 1,
            Differencing::Seasonal { lag, .. } => usize::from(*lag),
        }
    }

    /// The target feature of each output, if differenced.
    pub fn targets(&self) -> Option<&[u8]> {
        match self {
            Differencing::None => None,
            Differencing::First { targets } | Differencing::Seasonal { targets, .. } => {
                Some(targets)
            }
        }
    }
}

/// What the model's outputs mean.
// The class names live inline: there is no heap to box them on.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Task<'a> {
    /// Outputs are (scaled) values; [`Header::output_scaling`] maps them back.
    Regression,
    /// Outputs are logits, one per class, the class names in output order.
    Classification {
        /// Class names, borrowed from the file.
        #[serde(borrow)]
        classes: Vec<&'a str, MAX_CLASSES>,
    },
}

/// Everything in a model file but the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header<'a> {
    /// Number format of the weights (and of the computation).
    pub format: NumberFormat,
    /// Layers in order: one or more LSTM layers, then one Dense head.
    pub layers: Vec<LayerShape, MAX_LAYERS>,
    /// Scaling of each input feature.
    pub input_scaling: Scaling,
    /// Scaling of each output (regression); [`Scaling::Identity`] for classification.
    pub output_scaling: Scaling,
    /// How the model was trained (stateful, or windows of `W`).
    pub mode: TrainingMode,
    /// Regression or classification.
    #[serde(borrow)]
    pub task: Task<'a>,
    /// Differencing of the raw series around the scalings.
    pub differencing: Differencing,
    /// Input pooling: each model step is the mean of `pool` consecutive
    /// raw samples (after [`Header::normalize_series`], before the input
    /// scaling), a trailing partial group dropped; 1 is no pooling. A
    /// classifier trained with `fit --pool K` (format version 6);
    /// [`RawIo::input`](crate::RawIo::input) applies it. Not part of the
    /// postcard-encoded header: a version-6 file stores it as a `u16`
    /// varint right after it (see `FORMAT.md`), older versions mean 1.
    #[serde(skip, default = "no_pool")]
    pub pool: u16,
}

/// [`Header::pool`] of a file that does not pool.
pub const NO_POOL: u16 = 1;

fn no_pool() -> u16 {
    NO_POOL
}

impl Header<'_> {
    /// No layers, no scaling: not a model (it does not validate), only the
    /// value a header slot starts from before a file is decoded into it.
    pub(crate) const EMPTY: Self = Header {
        format: NumberFormat::F32,
        layers: Vec::new(),
        input_scaling: Scaling::Identity,
        output_scaling: Scaling::Identity,
        mode: TrainingMode::Stateful,
        task: Task::Regression,
        differencing: Differencing::None,
        pool: NO_POOL,
    };

    /// Inputs per step.
    pub fn input_size(&self) -> usize {
        self.layers.first().map_or(0, |l| l.input())
    }

    /// Outputs per step.
    pub fn output_size(&self) -> usize {
        self.layers.last().map_or(0, |l| l.output())
    }

    /// Total number of stored weights and biases. `None` on overflow.
    pub fn parameter_count(&self) -> Option<usize> {
        self.layers
            .iter()
            .try_fold(0usize, |n, l| n.checked_add(l.parameter_count()?))
    }

    /// Size of the weights blob in bytes. `None` on overflow.
    pub fn weights_len(&self) -> Option<usize> {
        if crate::w8::is_w8(self.format) {
            return crate::w8::blob_len(&self.layers);
        }
        self.parameter_count()?.checked_mul(self.format.size_of())
    }

    /// Checks that the header describes a model `lstm-core` can run:
    /// recurrent layers (LSTM or GRU, in any mix) then one Dense head, every
    /// size non-zero, each layer's input the previous layer's output,
    /// scalings of the right lengths with sane values, class names matching
    /// the head's outputs.
    pub fn validate(&self) -> Result<(), Error> {
        let (head, recurrent) = match self.layers.split_last() {
            Some((head, recurrent)) if !recurrent.is_empty() => (head, recurrent),
            _ => {
                return Err(Error::Malformed(
                    "a model needs at least one recurrent layer and a Dense head",
                ))
            }
        };
        if !recurrent.iter().all(|l| l.cell().is_some()) {
            return Err(Error::Malformed(
                "only recurrent layers (LSTM, GRU) may precede the head",
            ));
        }
        if !matches!(head, LayerShape::Dense { .. }) {
            return Err(Error::Malformed("the last layer must be Dense"));
        }
        if self
            .layers
            .iter()
            .any(|l| l.input() == 0 || l.output() == 0)
        {
            return Err(Error::Malformed("a layer has a zero size"));
        }
        if self
            .layers
            .windows(2)
            .any(|w| matches!(w, [a, b] if a.output() != b.input()))
        {
            return Err(Error::Malformed(
                "a layer's input size differs from the previous layer's output size",
            ));
        }
        if self.weights_len().is_none_or(|n| n > u32::MAX as usize) {
            return Err(Error::Malformed("weights too large"));
        }
        self.input_scaling.validate(
            self.input_size(),
            "input scaling does not match the input size",
        )?;
        match &self.task {
            Task::Regression => self.output_scaling.validate(
                self.output_size(),
                "output scaling does not match the output size",
            )?,
            Task::Classification { classes } => {
                if classes.len() != self.output_size() {
                    return Err(Error::Malformed(
                        "number of class names differs from the head's outputs",
                    ));
                }
                if !self.output_scaling.is_empty() {
                    return Err(Error::Malformed("a classifier's outputs are not scaled"));
                }
            }
        }
        if self.output_scaling.per_series() {
            return Err(Error::Malformed("outputs cannot be normalised per series"));
        }
        if self.input_scaling.per_series() && !matches!(self.task, Task::Classification { .. }) {
            return Err(Error::Malformed(
                "only a classifier's inputs can be normalised per series",
            ));
        }
        if let Differencing::Seasonal { lag: 0, .. } = self.differencing {
            return Err(Error::Malformed("differencing lag is zero"));
        }
        if let Some(targets) = self.differencing.targets() {
            if !matches!(self.task, Task::Regression) {
                return Err(Error::Malformed(
                    "only a regression model can be differenced",
                ));
            }
            if targets.len() != self.output_size() {
                return Err(Error::Malformed(
                    "differencing needs one target feature per output",
                ));
            }
            if targets.iter().any(|&t| usize::from(t) >= self.input_size()) {
                return Err(Error::Malformed(
                    "a differencing target is not an input feature",
                ));
            }
        }
        if let TrainingMode::Windowed { window: 0 } = self.mode {
            return Err(Error::Malformed("window length is zero"));
        }
        if self.pool == 0 {
            return Err(Error::Malformed("input pooling of zero samples"));
        }
        if self.pool > NO_POOL
            && !(matches!(self.task, Task::Classification { .. })
                && matches!(self.mode, TrainingMode::Windowed { .. })
                && matches!(self.differencing, Differencing::None))
        {
            return Err(Error::Malformed(
                "input pooling is for windowed classifiers without differencing",
            ));
        }
        Ok(())
    }
}
