//! `cargo xtask <command>`: the project's automation, in plain Rust.
//!
//! | command | what it does |
//! |---|---|
//! | `demo` | trains an LSTM or GRU (`--cell`) on a bundled series (`--dataset sunspots|airline`), exports Q4.12, runs the firmware under QEMU, prints host vs device |
//! | `setup` | installs what the others need (thumb targets, QEMU, binutils, defmt-print) |
//! | `make-model` | writes a model file + held-out inputs from a `shared/reference/` case |
//! | `firmware` | builds the firmware for a model, runs it under QEMU, checks it against the host |
//! | `golden` | runs the demo model and compares the log with the checked-in one (`--bless` updates it) |
//! | `insn` | instructions per step and per MAC under QEMU (TCG plugin, SysTick cross-check) |
//! | `size` | flash and RAM use of the firmware |
//! | `ci` | fmt, clippy, tests, docs, thumb builds, firmware runs, golden |
//! | `bench` | `cargo bench` of lstm-core and lstm-train |

mod bench;
mod ci;
mod demo;
mod firmware;
mod golden;
mod insn;
mod model;
mod setup;
mod size;
mod util;

use std::process::ExitCode;

use util::{Args, Result};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--dataset sunspots|airline] [--cell lstm|gru]
                                 train on a bundled series (sunspots; airline: on differences at lag 12),
                                 export Q4.12, run the firmware under QEMU, print host vs device,
                                 the metric and baselines, instructions per step, sizes
  setup                          install thumb targets, qemu-system-arm, binutils-arm-none-eabi, defmt-print
  make-model --from-reference <case.json> [--format f32|q4.12|q16.16] [--mode stateful|windowed:W] --out <file>
                                 write a model file (and <file>.inputs) from a shared/reference case
  firmware [--model <file>] [--inputs <file>] [--machine mps2-an386|microbit] [--activation fast|exact]
                                 build the firmware for a model, run it under QEMU, compare with the host
  golden [--bless]               run the demo model, compare the log with firmware-example/golden/
  insn [--reference <case.json> | --model <file> | --shapes lstm:1:32,gru:1:32,..]
       [--formats f32,q4.12,q16.16] [--machine m] [--activation fast|exact] [--no-systick]
                                 instructions per step and per MAC (QEMU TCG plugin + SysTick);
                                 --shapes measures synthetic one-layer models CELL:IN:H + Dense(1)
  size [--model <file>] [--machine m]
                                 flash and RAM use (arm-none-eabi-size), what is in .data/.bss
  ci                             everything CI checks
  bench                          cargo bench -p lstm-core and -p lstm-train
";

fn dispatch(command: &str, args: Args) -> Result<()> {
    match command {
        "demo" => demo::cmd(args),
        "setup" => setup::cmd(args),
        "make-model" => model::cmd(args),
        "firmware" => firmware::cmd(args),
        "golden" => golden::cmd(args),
        "insn" => insn::cmd(args),
        "size" => size::cmd(args),
        "ci" => ci::cmd(args),
        "bench" => bench::cmd(args),
        "help" | "--help" | "-h" => {
            print!("{USAGE}");
            Ok(())
        }
        other => Err(util::err(format!("unknown command `{other}`\n\n{USAGE}"))),
    }
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1);
    let Some(command) = argv.next() else {
        eprint!("{USAGE}");
        return ExitCode::FAILURE;
    };
    match dispatch(&command, Args::new(argv)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {command}: error: {e}");
            ExitCode::FAILURE
        }
    }
}
