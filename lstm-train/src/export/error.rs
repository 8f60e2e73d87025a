//! The error type of export and of scoring an export.

use crate::artifact::ArtifactError;
use crate::data::DataError;
use crate::io::IoError;
use crate::net::NetError;

/// Everything that can go wrong while exporting or scoring an export.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// `lstm-core` refused the header or the file (the message is its typed error).
    #[error(transparent)]
    Core(#[from] lstm_core::Error),
    /// A file is not a model file `lstm-core` can read.
    #[error("reading the model file `{}`", path.display())]
    ModelFile {
        /// The file.
        path: std::path::PathBuf,
        /// `lstm-core`'s typed error.
        #[source]
        source: lstm_core::Error,
    },
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
    /// The test data cannot be run through the model the way it was
    /// trained (too few rows for its window or differencing lag, …).
    #[error("cannot evaluate: {0}")]
    Evaluation(String),
}
