//! Trainer for `lstm-core` models: batched BPTT + Adam on `ndarray` for
//! stacked LSTM or GRU layers ([`net`]), CSV data pipeline, quantized
//! export ([`export`], [`quantize`]), evaluation and prediction
//! ([`evaluate`], [`predict`]), whole training runs ([`run`]), models
//! trained in Keras or PyTorch ([`import`]) and the `lstm-train` CLI.

pub mod artifact;
pub mod core_runner;
pub mod cv;
pub mod data;
pub mod evaluate;
pub mod export;
pub mod fit;
pub mod import;
pub mod inspect;
pub mod io;
pub mod net;
pub mod optim;
pub mod plot;
pub mod predict;
pub mod quantize;
pub mod reference;
pub mod run;
pub mod run_dir;
