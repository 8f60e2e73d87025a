//! `setup`: checks for, and installs, what the firmware commands need.
//!
//! | what | checked with | installed with |
//! |---|---|---|
//! | thumb targets | `rustup target list --installed` | `rustup target add` |
//! | `qemu-system-arm` | `PATH` | `apt-get install -y qemu-system-arm` |
//! | `arm-none-eabi-size`, `-nm` | `PATH` | `apt-get install -y binutils-arm-none-eabi` |
//! | `gcc` (builds the QEMU plugin) | `PATH` | `apt-get install -y gcc` |
//! | `defmt-print` | `PATH` | `cargo install --locked defmt-print` |

use std::process::Command;

use crate::util::{self, err, Args, Result};

/// The targets lstm-core is built for and the firmware runs on.
pub const THUMB_TARGETS: [&str; 3] = [
    "thumbv6m-none-eabi",
    "thumbv7em-none-eabihf",
    "thumbv8m.main-none-eabihf",
];

/// `cargo xtask setup`.
pub fn cmd(args: Args) -> Result<()> {
    args.finish()?;
    ensure()
}

/// Installs whatever is missing; prints what it found.
pub fn ensure() -> Result<()> {
    // Rust targets (rust-toolchain.toml names them too; rustup may not have
    // installed them yet on a fresh machine).
    if util::have("rustup") {
        let installed = util::stdout_of(Command::new("rustup").current_dir(util::root()).args([
            "target",
            "list",
            "--installed",
        ]))?;
        let missing: Vec<&str> = THUMB_TARGETS
            .into_iter()
            .filter(|t| !installed.lines().any(|l| l.trim() == *t))
            .collect();
        if missing.is_empty() {
            println!("ok: thumb targets installed");
        } else {
            util::run(
                Command::new("rustup")
                    .current_dir(util::root())
                    .args(["target", "add"])
                    .args(&missing),
            )?;
        }
    } else {
        println!("note: no rustup; assuming the thumb targets are available");
    }

    // Debian packages.
    let wanted = [
        ("qemu-system-arm", "qemu-system-arm"),
        ("arm-none-eabi-size", "binutils-arm-none-eabi"),
        ("arm-none-eabi-nm", "binutils-arm-none-eabi"),
        ("gcc", "gcc"),
    ];
    let mut packages: Vec<&str> = Vec::new();
    for (program, package) in wanted {
        if util::have(program) {
            println!("ok: {program}");
        } else if !packages.contains(&package) {
            packages.push(package);
        }
    }
    if !packages.is_empty() {
        if !util::have("apt-get") {
            return Err(err(format!(
                "missing {}; install them (Debian package names) by hand",
                packages.join(", ")
            )));
        }
        let sudo = !is_root() && util::have("sudo");
        let apt = |args: &[&str]| {
            let mut cmd = if sudo {
                let mut c = Command::new("sudo");
                c.arg("apt-get");
                c
            } else {
                Command::new("apt-get")
            };
            cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
            cmd
        };
        util::run(&mut apt(&["update"]))?;
        let mut install = apt(&["install", "-y", "--no-install-recommends"]);
        install.args(&packages);
        util::run(&mut install)?;
    }

    // defmt-print (decodes the firmware's log).
    if util::have("defmt-print") {
        println!("ok: defmt-print");
    } else {
        util::run(util::cargo().args(["install", "--locked", "defmt-print"]))?;
    }
    Ok(())
}

fn is_root() -> bool {
    util::stdout_of(Command::new("id").arg("-u")).is_ok_and(|uid| uid.trim() == "0")
}
