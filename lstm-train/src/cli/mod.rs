//! Argument parsing (clap derive) and dispatch. Errors are `anyhow` here, at
//! the edge, with context; the library's errors are typed (`thiserror`).
//! A failing command prints `error: …` and one `  caused by: …` line per
//! cause, and exits with code 1; clap's own usage errors exit with code 2.

mod cv;
mod eval;
mod export;
mod fit;
mod import;
mod inspect;
mod predict;

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use lstm_core::NumberFormat;
use lstm_train::core_runner::Activations;
use lstm_train::net::CellKind;

/// Train LSTM or GRU models on CSV time series on a laptop, export them for
/// `lstm-core` (no_std, fixed point) and check what the device will compute.
#[derive(Debug, Parser)]
#[command(name = "lstm-train", version, propagate_version = true)]
#[command(after_help = "Examples:
  lstm-train fit --data airline.csv --window 12 --out-dir runs/airline
  lstm-train fit --data airline.csv --window 12 --cell gru --out-dir runs/airline-gru
  lstm-train export --model runs/airline/trained.json --format q4.12 --out airline.lstm
  lstm-train import model.keras --format q4.12 --out model.lstm
  lstm-train inspect airline.lstm
  lstm-train predict --model airline.lstm --data airline.csv --out preds.csv")]
pub struct Cli {
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model on a CSV (forecasting) or a train/test pair (classification).
    Fit(fit::FitArgs),
    /// Evaluate a trained model (or an exported model file) on its test split, with baselines.
    Eval(eval::EvalArgs),
    /// Predict from a CSV with a trained model or a model file.
    Predict(predict::PredictArgs),
    /// Export a trained model to an lstm-core model file (f32, Q4.12, Q16.16).
    Export(export::ExportArgs),
    /// Describe a model file (header, shapes, scaling, CRC).
    Inspect(inspect::InspectArgs),
    /// Rolling-origin cross-validation of a forecasting configuration.
    Cv(cv::CvArgs),
    /// Turn a model trained in Keras (.keras, .h5) or PyTorch (.safetensors, .onnx) into a model file.
    Import(import::ImportArgs),
}

/// Number format names on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    /// IEEE-754 single precision.
    #[value(name = "f32")]
    F32,
    /// 16-bit Q4.12 fixed point (range ±8).
    #[value(name = "q4.12", alias = "q4_12", alias = "q412")]
    Q4_12,
    /// 32-bit Q16.16 fixed point (range ±32768).
    #[value(name = "q16.16", alias = "q16_16", alias = "q1616")]
    Q16_16,
    /// 8-bit weights (a power-of-two scale per row) with Q4.12 activations
    /// and state: half the weight bytes of q4.12.
    #[value(name = "q4.12-w8", alias = "w8a16")]
    Q4_12W8,
}

impl From<FormatArg> for NumberFormat {
    fn from(f: FormatArg) -> Self {
        match f {
            FormatArg::F32 => NumberFormat::F32,
            FormatArg::Q4_12 => NumberFormat::Q4_12,
            FormatArg::Q16_16 => NumberFormat::Q16_16,
            FormatArg::Q4_12W8 => NumberFormat::Q4_12W8,
        }
    }
}

/// Recurrent cells on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CellArg {
    /// Long short-term memory (PyTorch nn.LSTM; gates i, f, g, o; state h and c).
    Lstm,
    /// Gated recurrent unit (PyTorch nn.GRU; gates r, z, n; state h; 3/4 of the LSTM's weights).
    Gru,
}

impl From<CellArg> for CellKind {
    fn from(c: CellArg) -> Self {
        match c {
            CellArg::Lstm => CellKind::Lstm,
            CellArg::Gru => CellKind::Gru,
        }
    }
}

/// Activation implementations of `lstm-core` on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ActivationArg {
    /// libm sigmoid / tanh.
    Exact,
    /// Tables (fixed point) / micromath (f32), as the firmware uses.
    Fast,
}

impl From<ActivationArg> for Activations {
    fn from(a: ActivationArg) -> Self {
        match a {
            ActivationArg::Exact => Activations::Exact,
            ActivationArg::Fast => Activations::Fast,
        }
    }
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Fit(a) => fit::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Export(a) => export::run(a),
        Command::Inspect(a) => inspect::run(a),
        Command::Cv(a) => cv::run(a),
        Command::Import(a) => import::run(a),
    }
}

/// Ends the process quietly, like other command-line tools, when stdout is
/// closed early (`lstm-train inspect m.lstm | head -3`): Rust's `println!`
/// panics on a broken pipe; this exits with 141 (128 + SIGPIPE) instead of
/// printing a panic. Every other panic goes to the default hook.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info)
    }));
}

/// Parses the arguments (clap exits with code 2 on a usage error), runs the
/// command, and prints an error chain on failure (exit code 1).
pub fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut said = e.to_string();
            eprintln!("error: {said}");
            for cause in e.chain().skip(1) {
                // Some messages already end with their cause's text
                // (`writing `x`: <cause>`): say each thing once.
                let text = cause.to_string();
                if !said.contains(&text) {
                    eprintln!("  caused by: {text}");
                    said.push('\n');
                    said.push_str(&text);
                }
            }
            ExitCode::FAILURE
        }
    }
}
