//! Detects targets with the Armv7E-M DSP extension (`SMLALD`), for the
//! Q4.12 kernels in `src/num/dsp.rs`, and those of them with an FPU
//! (`thumbv7em-none-eabihf`), for its `f32` kernel.
//!
//! `cfg(target_feature = "dsp")` is unstable on Arm with the stable
//! toolchain (never set), so the target triple decides: every
//! `thumbv7em-*` core (Cortex-M4/M7) has the DSP extension. Other targets
//! (`thumbv6m`, `thumbv7m`, `thumbv8m.*`, whose DSP extension is optional,
//! and hosts) use the portable code.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(lstm_arm_dsp)");
    println!("cargo::rustc-check-cfg=cfg(lstm_arm_fpu)");
    println!("cargo::rustc-check-cfg=cfg(lstm_thumb1)");
    println!("cargo::rerun-if-changed=build.rs");
    let target = std::env::var("TARGET").unwrap_or_default();
    // Armv6-M (Cortex-M0/M0+/M1): the Thumb-1 Q4.12 kernel in `src/num/thumb1.rs`.
    if target.starts_with("thumbv6m-") {
        println!("cargo::rustc-cfg=lstm_thumb1");
    }
    if target.starts_with("thumbv7em-") {
        println!("cargo::rustc-cfg=lstm_arm_dsp");
        // The hard-float targets (Cortex-M4F/M7F) have the single-precision
        // FPU for the `f32` kernel (`VLDM`, `VMLA.F32`).
        if target.ends_with("eabihf") {
            println!("cargo::rustc-cfg=lstm_arm_fpu");
        }
    }
}
