//! Trainer for `lstm-core` models: batched BPTT + Adam on `ndarray`,
//! CSV data pipeline, quantized export and the `lstm-train` CLI.

pub mod data;
pub mod net;
pub mod reference;
