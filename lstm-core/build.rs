//! Detects targets with the Armv7E-M DSP extension (`SMLALD`), for the
//! Q4.12 kernels in `src/num/dsp.rs`.
//!
//! `cfg(target_feature = "dsp")` is unstable on Arm with the stable
//! toolchain (never set), so the target triple decides: every
//! `thumbv7em-*` core (Cortex-M4/M7) has the DSP extension. Other targets
//! (`thumbv6m`, `thumbv7m`, `thumbv8m.*`, whose DSP extension is optional,
//! and hosts) use the portable code.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lstm_arm_dsp)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("thumbv7em-") {
        println!("cargo::rustc-cfg=lstm_arm_dsp");
    }
}
