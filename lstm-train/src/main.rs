//! The `lstm-train` command line: `fit`, `eval`, `predict`, `export`,
//! `inspect`, `cv`, `import`. Run `lstm-train --help` or `lstm-train <command> --help`.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
