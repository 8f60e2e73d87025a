//! `bench`: the host benchmarks of both crates (criterion).

use crate::util::{self, Args, Result};

/// `cargo xtask bench`: `cargo bench -p lstm-core`, then `-p lstm-train`.
pub fn cmd(args: Args) -> Result<()> {
    args.finish()?;
    for package in ["lstm-core", "lstm-train"] {
        util::run(
            util::cargo()
                .current_dir(util::root())
                .args(["bench", "-p", package]),
        )?;
    }
    Ok(())
}
