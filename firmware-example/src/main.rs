//! LSTM inference on a Cortex-M under QEMU, checked against the host.
//!
//! Device build (the default target, see `.cargo/config.toml`): loads the
//! embedded model file with `lstm-core`, streams the held-out inputs through
//! `step()` one sample at a time, logs every prediction with `defmt` and
//! compares it bit for bit with the host's output; exits QEMU with status 0
//! only if the model loaded and every output matched.
//!
//! Host build (`--target` = the host triple): computes those expected
//! outputs with the same code (see [`host`]).
//!
//! The model, its shapes and the data are chosen at build time (`build.rs`).

#![cfg_attr(target_os = "none", no_std, no_main)]

mod model;

#[cfg(target_os = "none")]
mod device;
#[cfg(all(target_os = "none", feature = "selftest"))]
mod selftest;

#[cfg(not(target_os = "none"))]
mod host;

#[cfg(not(target_os = "none"))]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    host::main()
}
