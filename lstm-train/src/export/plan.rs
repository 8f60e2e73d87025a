//! The plan of a model file ([`ExportPlan`]): everything the file will
//! hold, owned and in floating point, and its header and weight blob.
//!
//! Scalers map to [`Scaling`] exactly as the trainer applies them
//! ([`Scaler::affine`]): a constant feature (min-max range 0 or standard
//! deviation 0) has divisor 1 in both crates (`MinMax` with `max == min` is
//! divisor 1 in the core; a zero standard deviation is written as 1).

use lstm_core::file::{
    to_vec, Differencing, Header, Scaling, Task, TrainingMode, MAX_CLASSES, MAX_FEATURES,
    MAX_LAYERS,
};
use lstm_core::{LayerShape, NumberFormat};

use super::error::ExportError;
use crate::artifact::{TaskKind, TrainMode, TrainedModel};
use crate::data::{ForecastData, Scaler};
use crate::net::{CellKind, NetConfig, Params};

/// A per-feature affine map `x' = (x − offset) / divisor`, remembering which
/// scaler it came from so that the file shows the same kind when nothing was
/// folded into it.
#[derive(Clone, Debug, PartialEq)]
pub struct Affine {
    /// Where it came from.
    pub kind: AffineKind,
    /// Offsets per feature (min or mean).
    pub offset: Vec<f64>,
    /// Divisors per feature (> 0).
    pub divisor: Vec<f64>,
    /// Min-max only: the original (min, max) per feature, kept to write the
    /// file's `MinMax` variant when the divisors were not changed.
    minmax: Option<(Vec<f64>, Vec<f64>)>,
}

/// The kind of scaling an [`Affine`] is written as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AffineKind {
    /// No scaling ([`Scaling::Identity`]).
    Identity,
    /// [`Scaling::MinMax`].
    MinMax,
    /// [`Scaling::Standard`] (also used for any rescaled map).
    Standard,
}

impl Affine {
    /// The affine map of a trainer [`Scaler`] for `n` features (a zero range
    /// or deviation has divisor 1, as in [`Scaler::affine`]).
    pub fn from_scaler(scaler: &Scaler, n: usize) -> Result<Self, ExportError> {
        if let Some(k) = scaler.n_features() {
            if k != n {
                return Err(ExportError::Unsupported(format!(
                    "the scaler was fitted on {k} features but the model has {n}"
                )));
            }
        }
        let (offset, divisor): (Vec<f64>, Vec<f64>) = (0..n).map(|j| scaler.affine(j)).unzip();
        if offset.iter().chain(&divisor).any(|v| !v.is_finite()) {
            return Err(ExportError::Unsupported(
                "the scaler holds a non-finite value".into(),
            ));
        }
        let (kind, minmax) = match scaler {
            Scaler::None => (AffineKind::Identity, None),
            Scaler::MinMax { min, max } => (AffineKind::MinMax, Some((min.clone(), max.clone()))),
            Scaler::Standard { .. } => (AffineKind::Standard, None),
        };
        Ok(Affine {
            kind,
            offset,
            divisor,
            minmax,
        })
    }

    /// Number of features.
    pub fn len(&self) -> usize {
        self.offset.len()
    }

    /// Whether there are no features.
    pub fn is_empty(&self) -> bool {
        self.offset.is_empty()
    }

    /// Multiplies the divisor of feature `j` by `factor` (so the scaled value
    /// is divided by it); the map is then written as `Standard`.
    pub fn rescale(&mut self, j: usize, factor: f64) {
        if factor != 1.0 {
            self.divisor[j] *= factor;
            self.kind = AffineKind::Standard;
            self.minmax = None;
        }
    }

    /// The file's [`Scaling`] for this map. `MinMax` is written as such when
    /// the core's `f32` divisor (`max − min`, or 1 when equal) matches the
    /// trainer's to 1e-6 relative; otherwise, and for `Standard`, as
    /// `Standard { mean: offset, std: divisor }` — the same affine map.
    pub fn to_scaling(&self) -> Result<Scaling, ExportError> {
        if self.len() > MAX_FEATURES {
            return Err(ExportError::Unsupported(format!(
                "{} features; a model file describes at most {MAX_FEATURES}",
                self.len()
            )));
        }
        let v = |xs: &[f64]| -> heapless::Vec<f32, MAX_FEATURES> {
            xs.iter().map(|&x| x as f32).collect()
        };
        match self.kind {
            AffineKind::Identity => Ok(Scaling::Identity),
            AffineKind::MinMax => {
                if let Some((min, max)) = &self.minmax {
                    let faithful =
                        min.iter()
                            .zip(max)
                            .zip(&self.divisor)
                            .all(|((&lo, &hi), &d)| {
                                let (lo, hi) = (lo as f32, hi as f32);
                                let core = if hi > lo { f64::from(hi - lo) } else { 1.0 };
                                lo.is_finite() && hi.is_finite() && ((core - d) / d).abs() <= 1e-6
                            });
                    if faithful {
                        return Ok(Scaling::MinMax {
                            min: v(min),
                            max: v(max),
                        });
                    }
                }
                Ok(Scaling::Standard {
                    mean: v(&self.offset),
                    std: v(&self.divisor),
                })
            }
            AffineKind::Standard => Ok(Scaling::Standard {
                mean: v(&self.offset),
                std: v(&self.divisor),
            }),
        }
    }
}

/// The weights of one recurrent layer in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrentTensors {
    /// The layer's cell.
    pub cell: CellKind,
    /// Inputs `IN`.
    pub input: usize,
    /// Units `H`.
    pub hidden: usize,
    /// `weight_ih`, `[G·H][IN]` row-major, in the cell's gate order (LSTM
    /// i, f, g, o; GRU r, z, n).
    pub w_ih: Vec<f32>,
    /// `weight_hh`, `[G·H][H]` row-major.
    pub w_hh: Vec<f32>,
    /// The bias in the file's layout, `[4H]` ([`crate::net::LayerParams::bias`]: LSTM
    /// `bias_ih + bias_hh`; GRU `[b_ir + b_hr, b_iz + b_hz, b_in, b_hn]`).
    pub bias: Vec<f32>,
}

/// The model file's name of a trainer cell.
pub fn core_cell(cell: CellKind) -> lstm_core::CellKind {
    match cell {
        CellKind::Lstm => lstm_core::CellKind::Lstm,
        CellKind::Gru => lstm_core::CellKind::Gru,
    }
}

/// Everything a model file will hold, before encoding (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportPlan {
    /// Number format of the file.
    pub format: NumberFormat,
    /// Recurrent layers, bottom first.
    pub recurrent: Vec<RecurrentTensors>,
    /// Head weights `[OUT][H]` row-major.
    pub dense_w: Vec<f32>,
    /// Head bias `[OUT]`.
    pub dense_b: Vec<f32>,
    /// Head outputs.
    pub outputs: usize,
    /// Input scaling.
    pub input: Affine,
    /// Output scaling (regression); `None` for classification.
    pub output: Option<Affine>,
    /// How the model was trained.
    pub mode: TrainingMode,
    /// Class names (classification) in output order; `None` for regression.
    pub classes: Option<Vec<String>>,
    /// Classification only: the logits in the file are the trainer's divided
    /// by this factor (folded into the head to avoid saturation; the argmax
    /// is unchanged). 1 when nothing was folded.
    pub logit_divisor: f64,
    /// Trained on differences: for each output, the input feature whose
    /// raw value the forecast difference is added to; `None` when not
    /// differenced.
    pub difference_targets: Option<Vec<u8>>,
    /// The lag of those differences: 1 ([`Differencing::First`]) or a
    /// season ([`Differencing::Seasonal`]).
    pub difference_lag: usize,
    /// The inputs of each series are z-normalised over the series before
    /// the input scaling (`fit --per-series-norm`): written as
    /// `Scaling::SeriesStandard` (format version 5).
    pub per_series_norm: bool,
    /// Input pooling of a classifier (`fit --pool`; 1: none).
    pub pool: u16,
}

/// The training mode as the file records it.
pub fn training_mode(mode: TrainMode) -> Result<TrainingMode, ExportError> {
    match mode {
        TrainMode::Stateful { .. } => Ok(TrainingMode::Stateful),
        TrainMode::Windowed { window } => Ok(TrainingMode::Windowed {
            window: u32::try_from(window)
                .ok()
                .filter(|&w| w > 0)
                .ok_or_else(|| ExportError::Unsupported(format!("window length {window}")))?,
        }),
    }
}

impl ExportPlan {
    /// The plan of `model` in `format`, with the model's own weights and
    /// scalers (nothing folded yet).
    ///
    /// A model trained on first differences ([`TrainedModel::difference`])
    /// also needs [`ExportPlan::difference_targets`], which
    /// `export::export_model` finds in the data ([`difference_targets`]).
    ///
    /// Errors: those of [`ExportPlan::from_parts`].
    pub fn from_model(model: &TrainedModel, format: NumberFormat) -> Result<Self, ExportError> {
        let mut plan = Self::from_parts(
            &model.net,
            &model.params,
            &model.task,
            model.mode,
            &model.scaler_x,
            &model.scaler_y,
            format,
        )?;
        if let crate::artifact::DataSource::Classify { config, .. } = &model.data {
            plan.pool = u16::try_from(config.pool.max(1)).map_err(|_| {
                ExportError::Unsupported(format!(
                    "pooling of {} samples; a model file holds at most {}",
                    config.pool,
                    u16::MAX
                ))
            })?;
        }
        plan.per_series_norm = matches!(
            &model.data,
            crate::artifact::DataSource::Classify { config, .. } if config.per_series_norm
        );
        Ok(plan)
    }

    /// Like [`ExportPlan::from_model`], from the parts of a model.
    pub fn from_parts(
        net: &NetConfig,
        params: &Params<f32>,
        task: &TaskKind,
        mode: TrainMode,
        scaler_x: &Scaler,
        scaler_y: &Scaler,
        format: NumberFormat,
    ) -> Result<Self, ExportError> {
        params.check_config(net)?;
        if net.num_layers() + 1 > MAX_LAYERS {
            return Err(ExportError::Unsupported(format!(
                "{} recurrent layers; a model file holds at most {} (plus the head)",
                net.num_layers(),
                MAX_LAYERS - 1
            )));
        }
        let recurrent = params
            .layers
            .iter()
            .map(|l| RecurrentTensors {
                cell: l.cell(),
                input: l.input_size(),
                hidden: l.hidden_size(),
                w_ih: l.weight_ih.iter().copied().collect(),
                w_hh: l.weight_hh.iter().copied().collect(),
                bias: l.bias().iter().copied().collect(),
            })
            .collect();
        let input = Affine::from_scaler(scaler_x, net.input_size)?;
        let (output, classes) = match task {
            TaskKind::Regression { .. } => {
                (Some(Affine::from_scaler(scaler_y, net.output_size)?), None)
            }
            TaskKind::Classification { classes } => {
                if classes.len() != net.output_size {
                    return Err(ExportError::Unsupported(format!(
                        "{} class names for {} outputs",
                        classes.len(),
                        net.output_size
                    )));
                }
                if classes.len() > MAX_CLASSES {
                    return Err(ExportError::Unsupported(format!(
                        "{} classes; a model file names at most {MAX_CLASSES}",
                        classes.len()
                    )));
                }
                (None, Some(classes.clone()))
            }
        };
        Ok(ExportPlan {
            format,
            recurrent,
            dense_w: params.dense.weight.iter().copied().collect(),
            dense_b: params.dense.bias.iter().copied().collect(),
            outputs: net.output_size,
            input,
            output,
            mode: training_mode(mode)?,
            classes,
            logit_divisor: 1.0,
            difference_targets: None,
            difference_lag: 1,
            per_series_norm: false,
            pool: 1,
        })
    }

    /// The layer shapes, recurrent layers then the head.
    pub fn shapes(&self) -> Vec<LayerShape> {
        let mut v: Vec<LayerShape> = self
            .recurrent
            .iter()
            .map(|l| LayerShape::recurrent(core_cell(l.cell), l.input as u32, l.hidden as u32))
            .collect();
        v.push(LayerShape::Dense {
            input: self.recurrent.last().map_or(0, |l| l.hidden) as u32,
            output: self.outputs as u32,
        });
        v
    }

    /// The file header (borrows the class names).
    pub fn header(&self) -> Result<Header<'_>, ExportError> {
        let layers = heapless::Vec::from_slice(&self.shapes())
            .map_err(|_| ExportError::Unsupported("too many layers".into()))?;
        let task = match &self.classes {
            None => Task::Regression,
            Some(names) => Task::Classification {
                classes: names.iter().map(String::as_str).collect(),
            },
        };
        let output_scaling = match &self.output {
            Some(a) => a.to_scaling()?,
            None => Scaling::Identity,
        };
        let header = Header {
            format: self.format,
            layers,
            input_scaling: if self.per_series_norm {
                self.input.to_scaling()?; // the width check
                let v = |xs: &[f64]| xs.iter().map(|&x| x as f32).collect();
                Scaling::SeriesStandard {
                    mean: v(&self.input.offset),
                    std: v(&self.input.divisor),
                }
            } else {
                self.input.to_scaling()?
            },
            output_scaling,
            mode: self.mode,
            task,
            differencing: match &self.difference_targets {
                None => Differencing::None,
                Some(t) => {
                    let targets = heapless::Vec::from_slice(t).map_err(|()| {
                        ExportError::Unsupported(format!(
                            "{} differenced outputs; a model file describes at most {MAX_FEATURES}",
                            t.len()
                        ))
                    })?;
                    match self.difference_lag {
                        1 => Differencing::First { targets },
                        lag => Differencing::Seasonal {
                            lag: u16::try_from(lag).ok().filter(|&l| l > 0).ok_or_else(|| {
                                ExportError::Unsupported(format!(
                                    "a differencing lag of {lag}; a model file holds 1 to {}",
                                    u16::MAX
                                ))
                            })?,
                            targets,
                        },
                    }
                }
            },
            pool: self.pool,
        };
        header.validate()?;
        Ok(header)
    }

    /// All weights in file order (see `FORMAT.md`), as `f32`.
    pub fn weights(&self) -> Vec<f32> {
        let mut v = Vec::new();
        for l in &self.recurrent {
            v.extend_from_slice(&l.w_ih);
            v.extend_from_slice(&l.w_hh);
            v.extend_from_slice(&l.bias);
        }
        v.extend_from_slice(&self.dense_w);
        v.extend_from_slice(&self.dense_b);
        v
    }

    /// Named weight tensors in file order (for reports).
    pub fn tensors(&self) -> Vec<(String, &[f32])> {
        let mut v: Vec<(String, &[f32])> = Vec::new();
        for (k, l) in self.recurrent.iter().enumerate() {
            let c = l.cell;
            v.push((format!("{c}.weight_ih_l{k}"), &l.w_ih));
            v.push((format!("{c}.weight_hh_l{k}"), &l.w_hh));
            let bias = match c {
                CellKind::Lstm => format!("{c}.bias_l{k} (ih+hh)"),
                CellKind::Gru => format!("{c}.bias_l{k} (r, z: ih+hh; n: ih, hh)"),
            };
            v.push((bias, &l.bias));
        }
        v.push(("dense.weight".into(), &self.dense_w));
        v.push(("dense.bias".into(), &self.dense_b));
        v
    }

    /// Encodes the model file (values converted to the format by rounding to
    /// nearest and saturating, by `lstm-core`'s own writer).
    pub fn encode(&self) -> Result<Vec<u8>, ExportError> {
        Ok(to_vec(&self.header()?, &self.weights())?)
    }
}

/// The model file of `model` in `format`, with the weights as trained and
/// no calibration (what `export::export_model` writes for `f32`).
pub fn to_model_file(model: &TrainedModel, format: NumberFormat) -> Result<Vec<u8>, ExportError> {
    ExportPlan::from_model(model, format)?.encode()
}

/// The input feature holding the target of a forecasting model trained on
/// differences: the device adds its forecast difference to that feature's
/// raw value (the last one, or one season back).
///
/// Errors: [`ExportError::Unsupported`] if the target is not an input
/// feature (the device would not know its last value).
pub fn difference_targets(d: &ForecastData) -> Result<Vec<u8>, ExportError> {
    d.feature_names
        .iter()
        .position(|f| *f == d.target_name)
        .and_then(|i| u8::try_from(i).ok())
        .map(|i| vec![i])
        .ok_or_else(|| {
            ExportError::Unsupported(format!(
                "the model forecasts first differences of `{}`, which is not one of its input \
                 features ({}): a device could not add the forecast difference to its last \
                 value; train with the target among the features",
                d.target_name,
                d.feature_names.join(", ")
            ))
        })
}
