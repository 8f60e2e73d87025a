//! Checkpoints: everything needed to continue a run exactly where it
//! stopped, written atomically as JSON after every epoch.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::artifact::TrainedModel;
use crate::io;
use crate::net::Params;
use crate::optim::Adam;

use super::callbacks::{EarlyStopping, ReduceLrOnPlateau};
use super::config::FitConfig;
use super::history::History;
use super::FitError;

/// File name of the last-epoch checkpoint inside [`FitConfig::out_dir`].
pub const CHECKPOINT_FILE: &str = "checkpoint.json";
/// File name of the best model so far (a [`TrainedModel`]) inside
/// [`FitConfig::out_dir`].
pub const BEST_FILE: &str = "best.json";
/// File name of the history CSV inside [`FitConfig::out_dir`].
pub const HISTORY_FILE: &str = "history.csv";

/// Version of the checkpoint layout.
pub const CHECKPOINT_VERSION: u32 = 1;

/// Why training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StopReason {
    /// All configured epochs were run.
    Completed,
    /// Early stopping triggered after this epoch (1-based).
    EarlyStopped {
        /// The last epoch run.
        epoch: usize,
    },
    /// The epoch callback asked to stop after this epoch (1-based).
    Interrupted {
        /// The last epoch run.
        epoch: usize,
    },
}

/// The best epoch so far by the monitored value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// 1-based epoch.
    pub epoch: usize,
    /// Monitored value.
    pub value: f64,
    /// Parameters after that epoch.
    pub params: Params<f32>,
}

/// A training run after some epoch: the model, the optimiser's moments and
/// step count, the callbacks' state, the best parameters and the history.
/// The random generator is not stored: each epoch's generator is derived
/// from `(seed, epoch)`, so nothing else is needed to continue bit for bit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// [`CHECKPOINT_VERSION`].
    pub version: u32,
    /// The run's options.
    pub config: FitConfig,
    /// The model with the parameters after `epoch`.
    pub model: TrainedModel,
    /// Adam state (moments, step count, current learning rate).
    pub adam: Adam<f32>,
    /// Number of epochs completed.
    pub epoch: usize,
    /// Mean training loss of the first epoch (the divergence reference).
    pub first_loss: Option<f64>,
    /// The best epoch so far.
    pub best: Option<Best>,
    /// Early-stopping state.
    pub early_stopping: Option<EarlyStopping>,
    /// Reduce-LR state.
    pub reduce_lr: Option<ReduceLrOnPlateau>,
    /// The epochs so far.
    pub history: History,
    /// Set when the run has ended (resuming it then only returns the result).
    pub stopped: Option<StopReason>,
}

impl Checkpoint {
    /// Writes the checkpoint as JSON, atomically.
    ///
    /// Errors: [`FitError::Json`] or [`FitError::Io`].
    pub fn save(&self, path: &Path) -> Result<(), FitError> {
        let json = serde_json::to_vec(self).map_err(|source| FitError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        io::write_atomic(path, &json)?;
        Ok(())
    }

    /// Reads a checkpoint written by [`Checkpoint::save`].
    ///
    /// Errors: [`FitError::Io`], [`FitError::Json`] (not a checkpoint),
    /// [`FitError::Checkpoint`] (other version).
    pub fn load(path: &Path) -> Result<Self, FitError> {
        let bytes = io::read(path)?;
        let c: Checkpoint = serde_json::from_slice(&bytes).map_err(|source| FitError::Json {
            path: path.to_path_buf(),
            source,
        })?;
        if c.version != CHECKPOINT_VERSION {
            return Err(FitError::Checkpoint {
                path: path.to_path_buf(),
                reason: format!(
                    "checkpoint version {} (this trainer reads {CHECKPOINT_VERSION})",
                    c.version
                ),
            });
        }
        Ok(c)
    }
}

/// The three output files of a run in `dir`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFiles {
    /// `dir/checkpoint.json`.
    pub checkpoint: PathBuf,
    /// `dir/best.json`.
    pub best: PathBuf,
    /// `dir/history.csv`.
    pub history: PathBuf,
}

impl RunFiles {
    /// The file paths inside `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        RunFiles {
            checkpoint: dir.join(CHECKPOINT_FILE),
            best: dir.join(BEST_FILE),
            history: dir.join(HISTORY_FILE),
        }
    }
}
