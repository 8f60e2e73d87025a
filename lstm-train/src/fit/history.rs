//! Per-epoch training history and its CSV form.

use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::io::{self, IoError};
use crate::net::CellKind;

/// One epoch's numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Mean training loss over the epoch's mini-batches (data loss plus the
    /// L1/L2 penalty, what the optimiser minimises; scaled units).
    pub loss: f64,
    /// Validation data loss (MSE on scaled targets or cross-entropy), `None`
    /// without a validation split.
    pub val_loss: Option<f64>,
    /// Validation metric: RMSE in original units (forecasting) or accuracy
    /// (classification); `None` without a validation split.
    pub val_metric: Option<f64>,
    /// Learning rate used during the epoch.
    pub lr: f64,
    /// Wall time of the epoch including validation, seconds.
    pub seconds: f64,
}

/// The records of all epochs run so far.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    /// Name of the validation metric (`val_rmse` or `val_accuracy`).
    pub metric_name: String,
    /// The recurrent cell trained (absent in older checkpoints: LSTM).
    #[serde(default)]
    pub cell: CellKind,
    /// One record per epoch, in order.
    pub epochs: Vec<EpochRecord>,
}

fn opt(v: Option<f64>) -> String {
    v.map(|x| format!("{x}")).unwrap_or_default()
}

impl History {
    /// An empty history of a `cell` network whose metric column is named
    /// `metric_name`.
    pub fn new(metric_name: &str, cell: CellKind) -> Self {
        History {
            metric_name: metric_name.to_string(),
            cell,
            epochs: Vec::new(),
        }
    }

    /// Number of epochs recorded.
    pub fn len(&self) -> usize {
        self.epochs.len()
    }

    /// `true` before the first epoch.
    pub fn is_empty(&self) -> bool {
        self.epochs.is_empty()
    }

    /// The CSV text: header `epoch,loss,val_loss,val_metric,lr,seconds,cell`
    /// (the metric is named in [`History::metric_name`]), one row per epoch,
    /// empty cells for missing validation values; `cell` is the recurrent
    /// cell (`lstm`, `gru`), so histories of both can be put side by side.
    pub fn to_csv(&self) -> String {
        let mut s = String::from("epoch,loss,val_loss,val_metric,lr,seconds,cell\n");
        for r in &self.epochs {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{:.4},{}",
                r.epoch,
                r.loss,
                opt(r.val_loss),
                opt(r.val_metric),
                r.lr,
                r.seconds,
                self.cell
            );
        }
        s
    }

    /// Writes [`History::to_csv`] to `path` atomically.
    ///
    /// Errors: [`IoError`] if the file cannot be written.
    pub fn write_csv(&self, path: &Path) -> Result<(), IoError> {
        io::write_atomic(path, self.to_csv().as_bytes())
    }
}
