//! [`FitConfig`]: every option of a training run, with per-task defaults.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::FitError;
use crate::net::CellKind;

/// How sequences are presented to the network during training.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FitMode {
    /// Sliding windows of the data's window length `W`, each from the zero
    /// state (the Keras default). The head runs at the last step. Windows
    /// (or classification series) are shuffled every epoch when
    /// [`FitConfig::shuffle`] is set.
    Windowed,
    /// Forecasting only: the fit split is cut into `streams` contiguous
    /// parallel streams (one batch row each), fed in chunks of `chunk` steps
    /// with the state carried from chunk to chunk (truncated BPTT, Keras
    /// `stateful=True`) and reset at the start of each epoch. The head runs
    /// at every step and the loss is the MSE over all steps of a chunk.
    /// Nothing is shuffled (the order is the state's history).
    Stateful {
        /// Truncated-BPTT chunk length (at least 1).
        chunk: usize,
        /// Number of parallel contiguous streams (at least 1).
        streams: usize,
    },
}

/// Which quantity the callbacks (early stopping, reduce-LR, best model)
/// watch. Lower is better for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum Monitor {
    /// The validation loss; falls back to the training loss when the
    /// validation split is empty (the default).
    #[default]
    ValLoss,
    /// The training loss (e.g. for cross-validation folds, where the
    /// validation block must not steer training).
    TrainLoss,
}

/// Early stopping (Keras `EarlyStopping`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyStoppingConfig {
    /// Number of epochs without an improvement larger than `min_delta`
    /// after which training stops.
    pub patience: usize,
    /// Minimum decrease of the monitored value that counts as improvement.
    pub min_delta: f64,
    /// At the end of training (stopped early or not), put back the
    /// parameters of the best epoch.
    pub restore_best: bool,
}

impl Default for EarlyStoppingConfig {
    fn default() -> Self {
        EarlyStoppingConfig {
            patience: 20,
            min_delta: 0.0,
            restore_best: true,
        }
    }
}

/// Reduce the learning rate when the monitored value stops improving
/// (Keras `ReduceLROnPlateau`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReduceLrConfig {
    /// Multiplier applied to the learning rate, in `(0, 1)`.
    pub factor: f64,
    /// Number of epochs without improvement before the rate is reduced.
    pub patience: usize,
    /// Lower bound of the learning rate.
    pub min_lr: f64,
    /// Minimum decrease of the monitored value that counts as improvement.
    pub min_delta: f64,
}

impl Default for ReduceLrConfig {
    fn default() -> Self {
        ReduceLrConfig {
            factor: 0.5,
            patience: 8,
            min_lr: 1e-5,
            min_delta: 0.0,
        }
    }
}

/// Every option of a training run.
///
/// Start from [`FitConfig::forecasting`] or [`FitConfig::classification`]
/// and change fields with struct update syntax. Everything except
/// [`FitConfig::epochs`], [`FitConfig::quiet`] and [`FitConfig::out_dir`]
/// determines the result, and must be unchanged to
/// [`resume`](super::resume) a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitConfig {
    /// The recurrent cell of the layers (absent in older files: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// Hidden size of each stacked recurrent layer, bottom first.
    pub hidden_sizes: Vec<usize>,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Windows (or series) per mini-batch in [`FitMode::Windowed`].
    pub batch_size: usize,
    /// Initial Adam learning rate.
    pub lr: f64,
    /// Adam `beta1`.
    pub beta1: f64,
    /// Adam `beta2`.
    pub beta2: f64,
    /// Clip the gradients to this global L2 norm (`None`: no clipping).
    pub clip_norm: Option<f64>,
    /// L1 penalty on the weights (not the biases).
    pub l1: f64,
    /// L2 penalty on the weights (not the biases).
    pub l2: f64,
    /// Inverted-dropout rate between stacked layers and before the head.
    pub dropout: f32,
    /// Keras-style bias initialisation (forget gate 1, others 0); LSTM only
    /// (a GRU has no forget gate and ignores it).
    pub unit_forget_bias: bool,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Shuffle the training windows / series every epoch (windowed mode).
    pub shuffle: bool,
    /// Windowed or stateful training.
    pub mode: FitMode,
    /// What the callbacks watch.
    pub monitor: Monitor,
    /// Early stopping (`None`: train all epochs).
    pub early_stopping: Option<EarlyStoppingConfig>,
    /// Reduce-LR-on-plateau (`None`: constant rate).
    pub reduce_lr: Option<ReduceLrConfig>,
    /// Training stops with [`FitError::Diverged`] when an epoch's loss
    /// exceeds this multiple of the first epoch's loss (non-finite losses
    /// always stop it).
    pub explode_factor: f64,
    /// No progress bar and no per-epoch lines on stderr.
    pub quiet: bool,
    /// Folder for `checkpoint.json`, `best.json` and `history.csv`
    /// (`None`: nothing is written).
    pub out_dir: Option<PathBuf>,
    /// The forecasting data given to the fit are first differences of the
    /// series ([`crate::fit::differenced`]); recorded in the model (and its
    /// checkpoints) as [`crate::artifact::TrainedModel::difference`].
    #[serde(default)]
    pub difference: bool,
    /// The lag of that differencing: 1 for first differences
    /// `x[t] − x[t−1]`, the season (e.g. 12) for seasonal ones
    /// `x[t] − x[t−12]`; recorded as
    /// [`crate::artifact::TrainedModel::difference_lag`].
    #[serde(default = "crate::fit::first_lag")]
    pub difference_lag: usize,
}

impl Default for FitConfig {
    fn default() -> Self {
        Self::forecasting()
    }
}

impl FitConfig {
    /// Defaults for one-step-ahead forecasting: one layer of 32 units,
    /// batch 16, learning rate 0.005, clipping at norm 1, up to 300 epochs
    /// with early stopping (patience 40) and reduce-LR (patience 15).
    pub fn forecasting() -> Self {
        FitConfig {
            cell: CellKind::Lstm,
            hidden_sizes: vec![32],
            epochs: 300,
            batch_size: 16,
            lr: 5e-3,
            beta1: 0.9,
            beta2: 0.999,
            clip_norm: Some(1.0),
            l1: 0.0,
            l2: 0.0,
            dropout: 0.0,
            unit_forget_bias: true,
            seed: 42,
            shuffle: true,
            mode: FitMode::Windowed,
            monitor: Monitor::ValLoss,
            early_stopping: Some(EarlyStoppingConfig {
                patience: 40,
                min_delta: 0.0,
                restore_best: true,
            }),
            reduce_lr: Some(ReduceLrConfig {
                factor: 0.5,
                patience: 15,
                min_lr: 1e-5,
                min_delta: 0.0,
            }),
            explode_factor: 1e6,
            quiet: false,
            out_dir: None,
            difference: false,
            difference_lag: 1,
        }
    }

    /// Defaults for sequence classification: one layer of 32 units, batch
    /// 16, learning rate 0.005, clipping at norm 1, up to 200 epochs with
    /// early stopping (patience 30) and reduce-LR (patience 10).
    pub fn classification() -> Self {
        FitConfig {
            epochs: 200,
            early_stopping: Some(EarlyStoppingConfig {
                patience: 30,
                min_delta: 0.0,
                restore_best: true,
            }),
            reduce_lr: Some(ReduceLrConfig {
                factor: 0.5,
                patience: 10,
                min_lr: 1e-5,
                min_delta: 0.0,
            }),
            ..Self::forecasting()
        }
    }

    /// Checks the options.
    ///
    /// Errors: [`FitError::InvalidConfig`] naming the first bad option.
    pub fn validate(&self) -> Result<(), FitError> {
        let bad = |m: String| Err(FitError::InvalidConfig(m));
        if self.hidden_sizes.is_empty() || self.hidden_sizes.contains(&0) {
            return bad(format!(
                "hidden sizes {:?}: need at least one layer, all sizes > 0",
                self.hidden_sizes
            ));
        }
        if self.batch_size == 0 {
            return bad("batch size must be at least 1".into());
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("learning rate {} must be finite and > 0", self.lr));
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} = {b} is outside [0, 1)"));
            }
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return bad(format!("clip norm {c} must be finite and > 0"));
            }
        }
        for (name, v) in [("l1", self.l1), ("l2", self.l2)] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v} must be finite and >= 0"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout {} is outside [0, 1)", self.dropout));
        }
        if let FitMode::Stateful { chunk, streams } = self.mode {
            if chunk == 0 || streams == 0 {
                return bad(format!(
                    "stateful chunk ({chunk}) and streams ({streams}) must be at least 1"
                ));
            }
        }
        if let Some(r) = &self.reduce_lr {
            if !(r.factor > 0.0 && r.factor < 1.0) {
                return bad(format!("reduce-LR factor {} is outside (0, 1)", r.factor));
            }
            if !(r.min_lr >= 0.0 && r.min_delta >= 0.0) {
                return bad("reduce-LR min_lr and min_delta must be >= 0".into());
            }
        }
        if let Some(e) = &self.early_stopping {
            if e.min_delta.is_nan() || e.min_delta < 0.0 {
                return bad("early-stopping min_delta must be >= 0".into());
            }
        }
        if self.explode_factor.is_nan() || self.explode_factor <= 1.0 {
            return bad(format!(
                "explode factor {} must be > 1",
                self.explode_factor
            ));
        }
        Ok(())
    }

    /// The options that determine the result: `self` with `epochs`,
    /// `quiet` and `out_dir` blanked, for comparing a resumed run's
    /// configuration with its checkpoint's.
    pub(crate) fn result_relevant(&self) -> FitConfig {
        FitConfig {
            epochs: 0,
            quiet: true,
            out_dir: None,
            ..self.clone()
        }
    }
}
