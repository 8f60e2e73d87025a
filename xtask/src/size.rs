//! `size`: flash and RAM use of the firmware (`arm-none-eabi-size -A`), and
//! what lies in RAM: the `.data`/`.bss` symbols (state and buffers, never
//! weights) and the stack peaks the firmware measures itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::firmware::{self, Machine, Options};
use crate::util::{self, Args, Result};

/// Section sizes of an ELF, in bytes.
#[derive(Clone, Debug, Default)]
pub struct Sizes {
    /// `.vector_table` + `.text` + `.rodata` + `.data` (its load image).
    pub flash: u64,
    /// `.data` + `.bss` + `.uninit` (static RAM, without the stack).
    pub static_ram: u64,
    /// Every allocated section: name and size.
    pub sections: Vec<(String, u64)>,
}

/// Reads the section sizes of `elf`.
pub fn sizes(elf: &Path) -> Result<Sizes> {
    let out = util::stdout_of(Command::new("arm-none-eabi-size").arg("-A").arg(elf))?;
    let mut s = Sizes::default();
    for line in out.lines() {
        let mut w = line.split_whitespace();
        let (Some(name), Some(size)) = (w.next(), w.next().and_then(|n| n.parse::<u64>().ok()))
        else {
            continue;
        };
        match name {
            ".vector_table" | ".text" | ".rodata" => s.flash += size,
            ".data" => {
                s.flash += size;
                s.static_ram += size;
            }
            ".bss" | ".uninit" => s.static_ram += size,
            _ => continue,
        }
        s.sections.push((name.to_owned(), size));
    }
    Ok(s)
}

/// Symbols in `.data`/`.bss` (RAM) and the largest in `.rodata`, from `nm`.
pub fn symbols(elf: &Path) -> Result<(Vec<String>, Vec<String>)> {
    let out = util::stdout_of(
        Command::new("arm-none-eabi-nm")
            .args(["-S", "-C", "--size-sort", "-r"])
            .arg(elf),
    )?;
    let (mut ram, mut rodata) = (Vec::new(), Vec::new());
    for line in out.lines() {
        let mut w = line.splitn(4, ' ');
        let (Some(addr), Some(size), Some(kind), Some(name)) =
            (w.next(), w.next(), w.next(), w.next())
        else {
            continue;
        };
        let size = u64::from_str_radix(size, 16).unwrap_or(0);
        let entry = format!("{size:>7} B  {name}  @0x{addr}");
        match kind {
            "b" | "B" | "d" | "D" => ram.push(entry),
            "r" | "R" if rodata.len() < 8 => rodata.push(entry),
            _ => {}
        }
    }
    Ok((ram, rodata))
}

/// `cargo xtask size [--model <file>] [--machine m]`.
pub fn cmd(mut args: Args) -> Result<()> {
    let model = args
        .value("--model")?
        .map(PathBuf::from)
        .unwrap_or_else(firmware::demo_model);
    let machines = match args.value("--machine")? {
        Some(m) => vec![Machine::parse(&m)?],
        None => vec![Machine::Mps2An386, Machine::Microbit],
    };
    args.finish()?;
    for machine in machines {
        let opts = Options {
            machine,
            echo: false,
            ..Options::default()
        };
        let report = firmware::run_firmware(&model, &opts)?;
        print_sizes(&report)?;
    }
    Ok(())
}

/// Prints the sizes of a run's ELF and the stack peaks from its log.
pub fn print_sizes(report: &firmware::Report) -> Result<()> {
    let s = sizes(&report.elf)?;
    let model_len = std::fs::metadata(&report.model)?.len();
    println!(
        "\n{} on {} ({}): flash {} B (model file {} B), static RAM {} B",
        report.model.display(),
        report.machine.name(),
        report.elf.display(),
        s.flash,
        model_len,
        s.static_ram
    );
    for (name, size) in &s.sections {
        println!("  {name:<14} {size:>8} B");
    }
    let (ram, rodata) = symbols(&report.elf)?;
    println!("  RAM symbols (.data/.bss):");
    for e in &ram {
        println!("    {e}");
    }
    println!("  largest read-only symbols (flash):");
    for e in &rodata {
        println!("    {e}");
    }
    for line in report.log.lines().filter(|l| l.contains("stack peak")) {
        println!("  {}", line.trim_start_matches("INFO").trim());
    }
    Ok(())
}
