//! Trainer for `lstm-core` models: batched BPTT + Adam on `ndarray`,
//! CSV data pipeline, quantized export and the `lstm-train` CLI.

pub mod artifact;
pub mod data;
pub mod io;
pub mod net;
pub mod optim;
pub mod reference;
pub mod core_runner;
pub mod export;
pub mod inspect;
pub mod quantize;
pub mod cv;
pub mod evaluate;
pub mod fit;
pub mod plot;
