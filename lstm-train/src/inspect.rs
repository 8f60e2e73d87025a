//! `lstm-train inspect`: a readable description of a model file.
//!
//! The file is checked exactly as a device checks it ([`ModelFile::parse`]:
//! magic, version, lengths, CRC, header) and its weights are then loaded by
//! `lstm-core`'s runtime-shaped model (format, alignment, finiteness). Any
//! failure is `lstm-core`'s typed [`Error`], e.g. `model file corrupt: CRC
//! mismatch (stored 0x…, computed 0x…)`.

use std::fmt::Write as _;
use std::path::Path;

use lstm_core::file::{Differencing, ModelFile, Scaling, Task, TrainingMode};
use lstm_core::{Error, LayerShape, NumberFormat};

use crate::core_runner::{Activations, CoreBytes, CoreRunner};
use crate::io::IoError;

/// Errors of [`inspect_path`].
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The file could not be read.
    #[error(transparent)]
    Io(#[from] IoError),
    /// `lstm-core` refused the file.
    #[error(transparent)]
    Core(#[from] Error),
}

/// Decodes the weights blob of a model of `layers` to `f32` (file order;
/// 8-bit weights times their row scales).
pub fn decode_weights(format: NumberFormat, layers: &[LayerShape], blob: &[u8]) -> Vec<f32> {
    match format {
        NumberFormat::Q4_12W8 => {
            let n: usize = layers.iter().filter_map(|l| l.parameter_count()).sum();
            let mut out = vec![0.0; n];
            // A parsed file's blob has the length its layers need.
            let written = lstm_core::w8::decode(layers, blob, &mut out).unwrap_or(0);
            out.truncate(written);
            out
        }
        NumberFormat::F32 => blob
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        NumberFormat::Q4_12 => blob
            .chunks_exact(2)
            .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 4096.0)
            .collect(),
        NumberFormat::Q16_16 => blob
            .chunks_exact(4)
            .map(|b| (f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])) / 65536.0) as f32)
            .collect(),
    }
}

fn scaling_lines(out: &mut String, name: &str, s: &Scaling, features: usize) {
    let kind = match s {
        Scaling::Identity => "identity (values used as they are)",
        Scaling::MinMax { .. } => "min-max, x' = (x - min) / (max - min)",
        Scaling::Standard { .. } => "standard, x' = (x - mean) / std",
        Scaling::SeriesStandard { .. } => {
            "per-series z-normalisation (each whole series, per feature, over its own length; \
             RawIo::normalize_series), then standard, x' = (x - mean) / std"
        }
    };
    let _ = writeln!(out, "{name}: {kind}");
    match s {
        Scaling::Identity => {}
        Scaling::MinMax { min, max } => {
            for j in 0..features {
                let note = if max[j] > min[j] {
                    ""
                } else {
                    "  (constant: divisor 1)"
                };
                let _ = writeln!(out, "  [{j}] min {}, max {}{note}", min[j], max[j]);
            }
        }
        Scaling::Standard { mean, std } | Scaling::SeriesStandard { mean, std } => {
            for j in 0..features {
                let _ = writeln!(out, "  [{j}] mean {}, std {}", mean[j], std[j]);
            }
        }
    }
}

/// Describes a parsed file of `len` bytes (see [`inspect_bytes`]).
pub fn describe(file: &ModelFile<'_>, len: usize) -> String {
    let h = &file.header;
    let mut out = String::new();
    let _ = writeln!(out, "format version: {}", file.version);
    if h.format == NumberFormat::Q4_12W8 {
        let _ = writeln!(
            out,
            "number format: {} (8-bit weights, a power-of-two scale 2^-e per row; \
             Q4.12 biases, activations and state)",
            h.format
        );
    } else {
        let _ = writeln!(
            out,
            "number format: {} ({} bytes per value)",
            h.format,
            h.format.size_of()
        );
    }
    // The Dense head is a layer of the file but not a recurrent layer:
    // `fit --layers 1` is one recurrent layer and the head.
    let recurrent = h
        .layers
        .iter()
        .filter(|l| !matches!(l, LayerShape::Dense { .. }))
        .count();
    let heads = h.layers.len() - recurrent;
    let _ = writeln!(
        out,
        "layers: {recurrent} recurrent + {heads} Dense head ({} in the file)",
        h.layers.len()
    );
    let weights = decode_weights(h.format, &h.layers, file.weights);
    let mut at = 0;
    for (k, l) in h.layers.iter().enumerate() {
        let n = l.parameter_count().unwrap_or(0);
        let part = weights.get(at..at + n).unwrap_or(&[]);
        at += n;
        let max = part.iter().fold(0f32, |m, v| m.max(v.abs()));
        let shape = match l {
            LayerShape::Lstm { input, hidden } => {
                format!("LSTM  input {input}, hidden {hidden}")
            }
            LayerShape::Dense { input, output } => {
                format!("Dense input {input}, output {output}")
            }
            LayerShape::Gru { input, hidden } => {
                format!("GRU   input {input}, hidden {hidden}")
            }
        };
        let _ = writeln!(out, "  {k}: {shape}: {n} parameters, max |w| {max:.6}");
    }
    let params = h.parameter_count().unwrap_or(0);
    let _ = writeln!(
        out,
        "parameters: {params} ({} bytes of weights)",
        file.weights.len()
    );
    let _ = writeln!(out, "inputs per step: {}", h.input_size());
    let _ = writeln!(out, "outputs per step: {}", h.output_size());
    scaling_lines(&mut out, "input scaling", &h.input_scaling, h.input_size());
    scaling_lines(
        &mut out,
        "output scaling",
        &h.output_scaling,
        h.output_size(),
    );
    match h.mode {
        TrainingMode::Stateful => {
            let _ = writeln!(
                out,
                "training mode: stateful (carry the state from step to step)"
            );
        }
        TrainingMode::Windowed { window } => {
            let _ = writeln!(
                out,
                "training mode: windowed, W = {window} (each prediction from the last {window} samples, zero state)"
            );
        }
    }
    if h.pool > lstm_core::file::NO_POOL {
        let _ = writeln!(
            out,
            "input pooling: each model step is the mean of {} raw samples (RawIo pools them as they arrive)",
            h.pool
        );
    }
    match &h.differencing {
        Differencing::None => {
            let _ = writeln!(out, "differencing: none");
        }
        Differencing::First { targets } => {
            let t: Vec<String> = targets.iter().map(|t| format!("input {t}")).collect();
            let _ = writeln!(
                out,
                "differencing: first differences (inputs x[t] - x[t-1]; output k adds to the last raw value of {})",
                t.join(", ")
            );
        }
        Differencing::Seasonal { lag, targets } => {
            let t: Vec<String> = targets.iter().map(|t| format!("input {t}")).collect();
            let _ = writeln!(
                out,
                "differencing: seasonal, lag {lag} (inputs x[t] - x[t-{lag}]; output k adds to the raw value of {} one season before the forecast time)",
                t.join(", ")
            );
        }
    }
    match &h.task {
        Task::Regression => {
            let _ = writeln!(out, "task: regression");
        }
        Task::Classification { classes } => {
            let _ = writeln!(
                out,
                "task: classification, {} classes: {}",
                classes.len(),
                classes.join(", ")
            );
        }
    }
    let _ = writeln!(out, "size: {len} bytes");
    let _ = writeln!(out, "CRC-32: {:#010x} (valid)", file.crc);
    out
}

/// Parses `bytes` as a device does, loads the weights with `lstm-core`'s
/// runtime-shaped model, and describes the file: format version, number
/// format, layers and shapes, parameter count, scalings per feature,
/// training mode, task and class names, size and CRC.
pub fn inspect_bytes(bytes: &[u8]) -> Result<String, Error> {
    let aligned = CoreBytes::new(bytes);
    let file = aligned.parse()?;
    // Loading checks the format, alignment and that every f32 weight is finite.
    CoreRunner::new(&file, Activations::firmware_default(file.header.format))?;
    Ok(describe(&file, bytes.len()))
}

/// Reads and describes the model file at `path` ([`inspect_bytes`]).
pub fn inspect_path(path: &Path) -> Result<String, InspectError> {
    let bytes = crate::io::read(path)?;
    Ok(inspect_bytes(&bytes)?)
}
