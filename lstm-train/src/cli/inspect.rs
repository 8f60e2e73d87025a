//! `lstm-train inspect`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

/// Arguments of `inspect`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:
  lstm-train inspect model.lstm
  lstm-train inspect runs/airline/model.q4_12.lstm

A corrupt, truncated or foreign file prints lstm-core's typed error
(e.g. \"model file corrupt: CRC mismatch ...\") and exits with code 1.")]
pub struct InspectArgs {
    /// The model file.
    pub file: PathBuf,
}

/// Prints the description of the file.
pub fn run(args: InspectArgs) -> anyhow::Result<()> {
    let text = lstm_train::inspect::inspect_path(&args.file)
        .with_context(|| format!("inspecting `{}`", args.file.display()))?;
    println!("model file: {}", args.file.display());
    print!("{text}");
    Ok(())
}
