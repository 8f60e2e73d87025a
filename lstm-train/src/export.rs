//! Export of a [`TrainedModel`] to an `lstm-core` model file
//! (`lstm-core/FORMAT.md`), with post-training quantization.
//!
//! * [`ExportPlan`] is everything the file will hold, owned and in floating
//!   point: the layer shapes, the weights in file order (PyTorch's
//!   `bias_ih + bias_hh` folded into one bias), the input and output scaling
//!   as per-feature affine maps, the training mode and the task. It is built
//!   from a trained model ([`ExportPlan::from_model`]), may be adjusted by the
//!   quantizer ([`crate::quantize::fold_scales`]), and is encoded with
//!   `lstm_core::file::to_vec`, so the trainer cannot write what the core
//!   cannot read.
//! * [`export_model`] is the whole `lstm-train export`: rebuild the training
//!   data, calibrate, fold scale factors where exact, report clipping, encode,
//!   and score the test split before (trainer, `f32`) and after (the exported
//!   bytes run by `lstm-core`'s [`DynModel`](lstm_core::dynamic::DynModel)).
//!
//! Scalers map to [`Scaling`] exactly as the trainer applies them
//! ([`Scaler::affine`]): a constant feature (min-max range 0 or standard
//! deviation 0) has divisor 1 in both crates (`MinMax` with `max == min` is
//! divisor 1 in the core; a zero standard deviation is written as 1).

use std::path::{Path, PathBuf};

use lstm_core::file::{
    to_vec, Differencing, Header, Scaling, Task, TrainingMode, MAX_CLASSES, MAX_FEATURES,
    MAX_LAYERS,
};
use lstm_core::{LayerShape, NumberFormat};
use ndarray::{s, Array2, Array3, Axis};

use crate::artifact::{ArtifactError, DataSource, TaskKind, TrainMode, TrainedModel};
use crate::core_runner::{
    base_row, model_inputs, raw_outputs, Activations, CoreBytes, CoreRunner, RunStats,
};
use crate::data::{
    load_classification, load_forecast, ClassConfig, ClassDataset, DataError, ForecastData,
    LabelledSeries, Metrics, Scaler,
};
use crate::io::IoError;
use crate::net::{Batch, HeadMode, Mode, NetConfig, NetError, Network, Params};
use crate::quantize::{self, Calibration, QuantReport};

/// Everything that can go wrong while exporting or scoring an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `lstm-core` refused the header or the file (the message is its typed error).
    #[error(transparent)]
    Core(#[from] lstm_core::Error),
    /// Reading or writing a file failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The trained model could not be read.
    #[error(transparent)]
    Artifact(#[from] ArtifactError),
    /// Rebuilding the training or test data failed.
    #[error("rebuilding the data recorded in the trained model")]
    Data(#[from] DataError),
    /// The trainer's network refused the parameters or inputs.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The model cannot be described by the file format (too many features,
    /// classes or layers, inconsistent scalers, …).
    #[error("cannot export: {0}")]
    Unsupported(String),
}

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

/// The weights of one LSTM layer in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct LstmTensors {
    /// Inputs `IN`.
    pub input: usize,
    /// Units `H`.
    pub hidden: usize,
    /// `weight_ih`, `[4H][IN]` row-major, gates i, f, g, o.
    pub w_ih: Vec<f32>,
    /// `weight_hh`, `[4H][H]` row-major.
    pub w_hh: Vec<f32>,
    /// `bias_ih + bias_hh`, `[4H]`.
    pub bias: Vec<f32>,
}

/// Everything a model file will hold, before encoding (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct ExportPlan {
    /// Number format of the file.
    pub format: NumberFormat,
    /// LSTM layers, bottom first.
    pub lstm: Vec<LstmTensors>,
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
    /// [`export_model`] finds in the data ([`difference_targets`]).
    ///
    /// Errors: those of [`ExportPlan::from_parts`].
    pub fn from_model(model: &TrainedModel, format: NumberFormat) -> Result<Self, ExportError> {
        Self::from_parts(
            &model.net,
            &model.params,
            &model.task,
            model.mode,
            &model.scaler_x,
            &model.scaler_y,
            format,
        )
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
                "{} LSTM layers; a model file holds at most {} (plus the head)",
                net.num_layers(),
                MAX_LAYERS - 1
            )));
        }
        let lstm = params
            .layers
            .iter()
            .map(|l| LstmTensors {
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
            lstm,
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
        })
    }

    /// The layer shapes, LSTM layers then the head.
    pub fn shapes(&self) -> Vec<LayerShape> {
        let mut v: Vec<LayerShape> = self
            .lstm
            .iter()
            .map(|l| LayerShape::Lstm {
                input: l.input as u32,
                hidden: l.hidden as u32,
            })
            .collect();
        v.push(LayerShape::Dense {
            input: self.lstm.last().map_or(0, |l| l.hidden) as u32,
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
            input_scaling: self.input.to_scaling()?,
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
        };
        header.validate()?;
        Ok(header)
    }

    /// All weights in file order (see `FORMAT.md`), as `f32`.
    pub fn weights(&self) -> Vec<f32> {
        let mut v = Vec::new();
        for l in &self.lstm {
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
        for (k, l) in self.lstm.iter().enumerate() {
            v.push((format!("lstm.weight_ih_l{k}"), &l.w_ih));
            v.push((format!("lstm.weight_hh_l{k}"), &l.w_hh));
            v.push((format!("lstm.bias_l{k} (ih+hh)"), &l.bias));
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
/// no calibration (what [`export_model`] writes for `f32`).
pub fn to_model_file(model: &TrainedModel, format: NumberFormat) -> Result<Vec<u8>, ExportError> {
    ExportPlan::from_model(model, format)?.encode()
}

/// A test metric: RMSE/MAE in original units, or accuracy.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Metric {
    /// Forecasting.
    Regression(Metrics),
    /// Classification.
    Classification {
        /// Fraction correct.
        accuracy: f64,
        /// Number correct.
        correct: usize,
        /// Number of test series.
        n: usize,
    },
}

impl Metric {
    /// Accuracy from predicted and true class ids.
    pub fn accuracy(pred: &[usize], truth: &[usize]) -> Self {
        let correct = pred.iter().zip(truth).filter(|(a, b)| a == b).count();
        Metric::Classification {
            accuracy: correct as f64 / truth.len().max(1) as f64,
            correct,
            n: truth.len(),
        }
    }

    /// Whether `after` is within the 16-bit bar of `self`: RMSE at most 1%
    /// higher, or accuracy at most 0.5 points lower.
    pub fn within_bar(&self, after: &Metric) -> bool {
        match (self, after) {
            (Metric::Regression(b), Metric::Regression(a)) => a.rmse <= b.rmse * 1.01 + 1e-12,
            (
                Metric::Classification { accuracy: b, .. },
                Metric::Classification { accuracy: a, .. },
            ) => *a >= *b - 0.005 - 1e-12,
            _ => false,
        }
    }

    /// The change from `self` to `after` in words (`+0.12% RMSE`, `-0.50 points`).
    pub fn change(&self, after: &Metric) -> String {
        match (self, after) {
            (Metric::Regression(b), Metric::Regression(a)) => {
                format!(
                    "{:+.3}% RMSE",
                    100.0 * (a.rmse - b.rmse) / b.rmse.max(1e-300)
                )
            }
            (
                Metric::Classification { accuracy: b, .. },
                Metric::Classification { accuracy: a, .. },
            ) => format!("{:+.2} accuracy points", 100.0 * (a - b)),
            _ => "not comparable".into(),
        }
    }
}

impl std::fmt::Display for Metric {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Metric::Regression(m) => {
                write!(f, "RMSE {:.4}, MAE {:.4} (n = {})", m.rmse, m.mae, m.n)
            }
            Metric::Classification {
                accuracy,
                correct,
                n,
            } => write!(f, "accuracy {:.4} ({correct}/{n})", accuracy),
        }
    }
}

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
                let raw_test = LabelledSeries::read(test, &cfg)?;
                Ok(EvalData::Classify {
                    dataset: Box::new(dataset),
                    raw_test: Box::new(raw_test),
                })
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

fn argmax(row: ndarray::ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    for (k, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = k;
        }
    }
    best
}

/// Test predictions of the trainer's `f32` forward: scaled outputs, one row
/// per test sample (forecast rows or test series).
pub fn trainer_test_outputs(
    model: &TrainedModel,
    data: &EvalData,
) -> Result<Array2<f32>, ExportError> {
    match (data, model.mode) {
        (EvalData::Forecast(d), TrainMode::Windowed { .. }) => {
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            Ok(net.predict(&model.params, &Batch::new(d.test.x.view()))?)
        }
        (EvalData::Forecast(d), TrainMode::Stateful { .. }) => {
            let x = d.x_scaled.slice(s![..d.n - 1, ..]).insert_axis(Axis(0));
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::EveryStep,
                ..model.net.clone()
            })?;
            net.forward(&model.params, &Batch::new(x), Mode::Eval)?;
            let y = net.step_outputs()?;
            Ok(y.slice(s![0, d.n_train - 1..d.n - 1, ..]).to_owned())
        }
        (EvalData::Classify { dataset, .. }, _) => {
            let mut net = Network::<f32>::new(NetConfig {
                head: HeadMode::LastStep,
                ..model.net.clone()
            })?;
            let t = &dataset.test;
            Ok(net.predict(
                &model.params,
                &Batch::new(t.x.view()).with_lengths(&t.lengths),
            )?)
        }
    }
}

/// Scores scaled outputs (from [`trainer_test_outputs`]) on the test split.
pub fn score_trainer(
    model: &TrainedModel,
    data: &EvalData,
    outputs: &Array2<f32>,
) -> Result<Metric, ExportError> {
    match data {
        EvalData::Forecast(d) => {
            let pred = model
                .scaler_y
                .inverse_transform_column(0, outputs.column(0).mapv(f64::from).view());
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred.to_vec(),
            )?))
        }
        EvalData::Classify { dataset, .. } => {
            let pred: Vec<usize> = outputs.outer_iter().map(argmax).collect();
            Ok(Metric::accuracy(&pred, &dataset.test.labels))
        }
    }
}

/// Test predictions of an exported file run by `lstm-core` ([`CoreRunner`])
/// from raw inputs passed through the file's own scaling and differencing
/// ([`model_inputs`]), in the mode the model was trained in; returns the
/// outputs in the file's units (scaled regression values or logits), one row
/// per test row, and what the state did.
pub fn core_test_outputs(
    runner: &CoreRunner<'_>,
    header: &Header<'_>,
    data: &EvalData,
) -> Result<(Array2<f32>, RunStats), ExportError> {
    let lag = header.differencing.lag();
    match (data, header.mode) {
        (EvalData::Forecast(d), TrainingMode::Windowed { window }) => {
            let w = window as usize;
            // Row r of `x` is the input of raw row r + lag.
            let x = model_inputs(header, d.features_raw.view())?;
            let rows = &d.test.rows;
            let mut windows = Array3::<f32>::zeros((rows.len(), w, x.ncols()));
            for (i, &t) in rows.iter().enumerate() {
                // The forecast of row t sees raw rows up to t - 1.
                let end = t.checked_sub(lag).filter(|&e| e >= w).ok_or_else(|| {
                    ExportError::Unsupported(format!(
                        "test row {t} has no full window of {w} inputs before it"
                    ))
                })?;
                windows
                    .slice_mut(s![i, .., ..])
                    .assign(&x.slice(s![end - w..end, ..]));
            }
            Ok(runner.run_windows(windows.view(), None)?)
        }
        (EvalData::Forecast(d), TrainingMode::Stateful) => {
            let x = model_inputs(header, d.features_raw.slice(s![..d.n - 1, ..]))?;
            let (y, stats) = runner.run_sequence_stats(x.view())?;
            let first = (d.n_train - 1).checked_sub(lag).ok_or_else(|| {
                ExportError::Unsupported("no training rows before the test split".into())
            })?;
            Ok((y.slice(s![first.., ..]).to_owned(), stats))
        }
        (EvalData::Classify { raw_test, .. }, _) => {
            let (x, lengths) = pad_scaled(header, &raw_test.series)?;
            Ok(runner.run_windows(x.view(), Some(&lengths))?)
        }
    }
}

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

/// Scores core outputs (from [`core_test_outputs`]) in original units.
pub fn score_core(
    header: &Header<'_>,
    data: &EvalData,
    outputs: &Array2<f32>,
) -> Result<Metric, ExportError> {
    match data {
        EvalData::Forecast(d) => {
            let base: Vec<usize> = d.test.rows.iter().map(|&t| base_row(header, t)).collect();
            let base_raw = d.features_raw.select(Axis(0), &base);
            let pred = raw_outputs(header, outputs.view(), base_raw.view())?;
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred.column(0).to_vec(),
            )?))
        }
        EvalData::Classify { dataset, .. } => {
            let pred: Vec<usize> = outputs.outer_iter().map(argmax).collect();
            Ok(Metric::accuracy(&pred, &dataset.test.labels))
        }
    }
}

/// Options of [`export_model`].
#[derive(Clone, Debug, PartialEq)]
pub struct ExportOptions {
    /// Number format of the file.
    pub format: NumberFormat,
    /// Fold per-tensor power-of-two scale factors into the scalers and the
    /// first / last weight matrices where this is exact (fixed point only).
    pub rescale: bool,
    /// Rebuild the data recorded in the model to calibrate and to score the
    /// test split before and after. Without it, only the weights are checked.
    pub use_data: bool,
    /// Activations the core scores the export with (`None`: what the
    /// firmware uses, [`Activations::firmware_default`]).
    pub activations: Option<Activations>,
}

impl ExportOptions {
    /// Defaults for `format`: rescale, use the data, firmware activations.
    pub fn new(format: NumberFormat) -> Self {
        ExportOptions {
            format,
            rescale: true,
            use_data: true,
            activations: None,
        }
    }
}

/// What [`export_model`] produced and measured.
#[derive(Clone, Debug)]
pub struct ExportReport {
    /// The model file's bytes.
    pub bytes: Vec<u8>,
    /// The plan that was encoded (after any folding).
    pub plan: ExportPlan,
    /// Calibration statistics (trainer's scaled units, before folding), if
    /// the data was used.
    pub calibration: Option<Calibration>,
    /// Quantization report: folded scale factors, clipped weights,
    /// saturating states and pre-activations.
    pub quant: QuantReport,
    /// Activations the core used for the "after" metric.
    pub activations: Activations,
    /// Test metric of the trainer's `f32` forward.
    pub before: Option<Metric>,
    /// Test metric of the exported file run by `lstm-core`.
    pub after: Option<Metric>,
    /// What the core's state did on the test data.
    pub core_stats: Option<RunStats>,
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

/// The first differences of `d` the model was trained on.
fn differenced_data(model: &TrainedModel, d: &ForecastData) -> Result<ForecastData, ExportError> {
    crate::fit::differenced_for(model, d)
        .map_err(|e| ExportError::Unsupported(format!("differencing the data: {e}")))
}

/// The trainer's own (`f32`) test metric of `model` on `data` (original
/// units); `model_data` is the differenced data of a model trained on first
/// differences, whose forecasts are added to the last observed value.
pub fn trainer_metric(
    model: &TrainedModel,
    data: &EvalData,
    model_data: Option<&EvalData>,
) -> Result<Metric, ExportError> {
    match (data, model_data) {
        (EvalData::Forecast(d), Some(dd @ EvalData::Forecast(diff))) => {
            let y = trainer_test_outputs(model, dd)?;
            let steps = model
                .scaler_y
                .inverse_transform_column(0, y.column(0).mapv(f64::from).view());
            // Differenced row r is original row r + 1: the forecast of
            // original row t = r + 1 adds to the value at row r.
            let pred: Vec<f64> = steps
                .iter()
                .enumerate()
                .map(|(i, v)| d.target_raw[diff.n_train + i] + v)
                .collect();
            Ok(Metric::Regression(Metrics::of(
                &d.test.y_raw.to_vec(),
                &pred,
            )?))
        }
        _ => score_trainer(model, data, &trainer_test_outputs(model, data)?),
    }
}

/// The whole `export`: plan, calibrate on the training data, fold scale
/// factors, analyse clipping, encode, and score before / after.
pub fn export_model(
    model: &TrainedModel,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let mut plan = ExportPlan::from_model(model, opts.format)?;
    // A differenced model needs the data to know its target feature.
    let data = if opts.use_data || model.difference {
        Some(EvalData::load(&model.data)?)
    } else {
        None
    };
    // What the network itself was trained on (first differences, or not).
    let model_data = match (&data, model.difference) {
        (Some(EvalData::Forecast(d)), true) => {
            plan.difference_targets = Some(difference_targets(d)?);
            plan.difference_lag = model.difference_lag;
            Some(EvalData::Forecast(Box::new(differenced_data(model, d)?)))
        }
        (Some(_), true) => {
            return Err(ExportError::Unsupported(
                "only a forecasting model can be trained on first differences".into(),
            ))
        }
        _ => None,
    };
    let calibration = match model_data.as_ref().or(data.as_ref()) {
        Some(d) => {
            let (seqs, every_step) = d.calibration_sequences(model.mode);
            Some(quantize::calibrate(
                &model.params,
                seqs.iter().map(|s| s.view()),
                every_step,
            ))
        }
        None => None,
    };
    let adjustments = if opts.rescale && opts.format != NumberFormat::F32 {
        quantize::fold_scales(&mut plan, calibration.as_ref())
    } else {
        Vec::new()
    };
    let quant = quantize::analyze(&plan, calibration.as_ref(), adjustments);
    let bytes = plan.encode()?;
    let activations = opts
        .activations
        .unwrap_or_else(|| Activations::firmware_default(opts.format));
    let (before, after, core_stats) = match &data {
        Some(d) if opts.use_data => {
            let before = trainer_metric(model, d, model_data.as_ref())?;
            let aligned = CoreBytes::new(&bytes);
            let file = aligned.parse()?;
            let runner = CoreRunner::new(&file, activations)?;
            let (y, stats) = core_test_outputs(&runner, &file.header, d)?;
            let after = score_core(&file.header, d, &y)?;
            (Some(before), Some(after), Some(stats))
        }
        _ => (None, None, None),
    };
    Ok(ExportReport {
        bytes,
        plan,
        calibration,
        quant,
        activations,
        before,
        after,
        core_stats,
    })
}

/// Loads a trained model and exports it to `out` (written atomically);
/// returns the report.
pub fn export_to_path(
    model_path: &Path,
    out: &Path,
    opts: &ExportOptions,
) -> Result<ExportReport, ExportError> {
    let model = TrainedModel::load(model_path)?;
    let report = export_model(&model, opts)?;
    crate::io::write_atomic(out, &report.bytes)?;
    Ok(report)
}

/// The default output path beside a trained model: `model.<format>.lstm`.
pub fn default_out_path(model_path: &Path, format: NumberFormat) -> PathBuf {
    let stem = match format {
        NumberFormat::F32 => "model.f32.lstm",
        NumberFormat::Q4_12 => "model.q4_12.lstm",
        NumberFormat::Q16_16 => "model.q16_16.lstm",
    };
    model_path.with_file_name(stem)
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
