//! Models trained elsewhere: readers that turn a Keras or PyTorch file into
//! the trainer's own network ([`ImportedNet`]: a [`NetConfig`] and
//! [`Params`] in PyTorch's layout and gate order), so that an imported model
//! goes through the same export, quantizer and report as one trained by
//! `fit`.

pub mod build;
pub mod keras;

use std::path::{Path, PathBuf};

pub mod onnx;
pub mod safetensors;

use crate::io::IoError;
use crate::net::{NetConfig, Params};

/// What the head does after its affine map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeadActivation {
    /// No activation: regression outputs, or logits.
    Linear,
    /// Softmax over the outputs (a classification head).
    Softmax,
    /// Sigmoid on a single output (a binary classification head).
    Sigmoid,
}

/// A recurrent network read from a framework's file, in the trainer's
/// layout: `net.cell` for every layer, `net.hidden_sizes` bottom first,
/// `net.head` [`crate::net::HeadMode::LastStep`] unless the last recurrent
/// layer returns sequences, `net.dropout` 0 (dropout is the identity at
/// inference), `net.unit_forget_bias` false. `params` are PyTorch's
/// `weight_ih_l{k}` / `weight_hh_l{k}` / `bias_ih_l{k}` / `bias_hh_l{k}`
/// (zeros where the framework had no bias) and the head's `weight` /
/// `bias`.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedNet {
    /// Shapes and cell.
    pub net: NetConfig,
    /// The parameters, converted to PyTorch's layout and gate order.
    pub params: Params<f32>,
    /// The head's activation.
    pub head_activation: HeadActivation,
    /// The sequence length the file records for its input, if it records
    /// one (Keras `batch_shape`, an ONNX input's fixed dimension).
    pub seq_len: Option<usize>,
}

/// Errors reading a framework's model file. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The file's name does not say which framework wrote it.
    #[error("`{path}`: unknown model file type (expected .keras, .h5, .safetensors or .onnx)")]
    UnknownType {
        /// The file.
        path: PathBuf,
    },
    /// The file is damaged or is not what its name says: truncated, a bad
    /// zip / HDF5 / safetensors / protobuf structure, a missing tensor, a
    /// tensor of the wrong size or type.
    #[error("`{path}` is not a readable {format} file: {reason}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The format it was read as (`Keras 3 (.keras)`, `HDF5 (.h5)`, …).
        format: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The file is valid but holds something this importer does not map
    /// exactly onto `lstm-core`: the layer or node, and the attribute.
    #[error("`{path}`: {item} is not supported: {reason}")]
    Unsupported {
        /// The file.
        path: PathBuf,
        /// The layer or node (`layer 'bidirectional' (Bidirectional)`, `node 'LSTM_3'`).
        item: String,
        /// The attribute or reason (`activation='relu' (only 'tanh')`).
        reason: String,
    },
}

/// What a reader cannot learn from the file itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadOptions {
    /// The head's activation, for a `.safetensors` `state_dict` (which
    /// holds tensors only); Keras and ONNX files record their own.
    pub head_activation: HeadActivation,
}

impl Default for ReadOptions {
    /// A linear head.
    fn default() -> Self {
        ReadOptions {
            head_activation: HeadActivation::Linear,
        }
    }
}

/// The framework file types [`read_model`] reads, by extension.
pub const EXTENSIONS: [&str; 4] = ["keras", "h5", "safetensors", "onnx"];

/// Reads a model file by its extension: `.keras` ([`keras::read_keras`]),
/// `.h5` / `.hdf5` ([`keras::read_h5`]), `.safetensors`
/// ([`safetensors::read_safetensors`]), `.onnx` ([`onnx::read_onnx`]).
///
/// Errors: [`ImportError::UnknownType`] for another extension, and those of
/// the reader.
pub fn read_model(path: &Path, opts: &ReadOptions) -> Result<ImportedNet, ImportError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match ext.as_deref() {
        Some("keras") => keras::read_keras(path),
        Some("h5") | Some("hdf5") => keras::read_h5(path),
        Some("safetensors") => safetensors::read_safetensors(path, opts.head_activation),
        Some("onnx") => onnx::read_onnx(path),
        _ => Err(ImportError::UnknownType { path: path.into() }),
    }
}

impl ImportError {
    /// [`ImportError::Corrupt`] for `path` read as `format`.
    pub(crate) fn corrupt(path: &Path, format: &'static str, reason: impl Into<String>) -> Self {
        ImportError::Corrupt {
            path: path.to_path_buf(),
            format,
            reason: reason.into(),
        }
    }

    /// [`ImportError::Unsupported`] for `item` (a layer or node) of `path`.
    pub(crate) fn unsupported(
        path: &Path,
        item: impl Into<String>,
        reason: impl Into<String>,
    ) -> Self {
        ImportError::Unsupported {
            path: path.to_path_buf(),
            item: item.into(),
            reason: reason.into(),
        }
    }
}
