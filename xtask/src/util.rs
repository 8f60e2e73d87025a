//! Small helpers shared by the subcommands: paths, running commands, errors.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

/// Errors are boxed: xtask only reports them.
pub type Result<T, E = Box<dyn std::error::Error>> = std::result::Result<T, E>;

/// Builds an error from a message.
pub fn err(msg: impl Into<String>) -> Box<dyn std::error::Error> {
    msg.into().into()
}

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// `firmware-example/` (a separate Cargo workspace).
pub fn firmware_dir() -> PathBuf {
    root().join("firmware-example")
}

/// The main workspace's target dir, as cargo resolves it (`CARGO_TARGET_DIR`,
/// `build.target-dir`, or `target/` in the checkout): asked of
/// `cargo metadata` once, never assumed.
pub fn target_dir() -> Result<PathBuf> {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    if let Some(dir) = DIR.get() {
        return Ok(dir.clone());
    }
    let json = stdout_of(cargo().current_dir(root()).args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--offline",
    ]))?;
    let meta: serde_json::Value = serde_json::from_str(&json)?;
    let dir = meta["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .ok_or_else(|| err("cargo metadata printed no target_directory"))?;
    Ok(DIR.get_or_init(|| dir).clone())
}

/// Builds `package`'s binary `bin` in release and returns the path cargo
/// wrote it to (read from cargo's JSON messages, so `CARGO_TARGET_DIR` and
/// `build.target-dir` are honoured).
pub fn build_release_bin(package: &str, bin: &str) -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.current_dir(root()).args([
        "build",
        "--release",
        "--quiet",
        "-p",
        package,
        "--bin",
        bin,
        "--message-format",
        "json-render-diagnostics",
    ]);
    cmd.stderr(Stdio::inherit());
    let out = stdout_of(&mut cmd)?;
    executable_in(&out, bin).ok_or_else(|| {
        err(format!(
            "cargo built {package} but named no executable `{bin}`: {}",
            show(&cmd)
        ))
    })
}

/// The path of executable `bin` in cargo's `--message-format json` output.
fn executable_in(messages: &str, bin: &str) -> Option<PathBuf> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == bin)
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
}

/// The firmware's own target dir (a separate workspace with its own
/// targets): `firmware-example/target`, or `$CARGO_TARGET_DIR/firmware-example`
/// when the caller sent build output elsewhere, so nothing is written into
/// the checkout then.
pub fn firmware_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let dir = if dir.is_relative() {
                root().join(dir)
            } else {
                dir
            };
            dir.join("firmware-example")
        }
        _ => firmware_dir().join("target"),
    }
}

/// Scratch space of xtask inside the firmware's target dir.
pub fn scratch_dir() -> Result<PathBuf> {
    let dir = firmware_target_dir().join("xtask");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// `shared/` beside the checkout (reference vectors, MCU bench plugin), or
/// `$LSTM_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    match std::env::var_os("LSTM_SHARED_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => root().join("..").join("shared"),
    }
}

/// `cargo` as invoked by the user (`$CARGO` under `cargo xtask`).
pub fn cargo() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// A printable form of a command line.
pub fn show(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s += &format!("{}={} ", k.to_string_lossy(), v.to_string_lossy());
        }
    }
    s += &cmd.get_program().to_string_lossy();
    for a in cmd.get_args() {
        s.push(' ');
        s += &a.to_string_lossy();
    }
    s
}

/// Runs a command with inherited stdio; an error if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", show(cmd));
    let status = cmd
        .status()
        .map_err(|e| err(format!("cannot run {}: {e}", show(cmd))))?;
    if status.success() {
        Ok(())
    } else {
        Err(err(format!("command failed ({status}): {}", show(cmd))))
    }
}

/// Runs a command, capturing stdout and stderr (whatever its exit status).
pub fn capture(cmd: &mut Command) -> Result<Output> {
    cmd.stdin(Stdio::null())
        .output()
        .map_err(|e| err(format!("cannot run {}: {e}", show(cmd))))
}

/// Runs a command and returns its stdout; an error (with stderr) if it fails.
pub fn stdout_of(cmd: &mut Command) -> Result<String> {
    let out = capture(cmd)?;
    if !out.status.success() {
        return Err(err(format!(
            "command failed ({}): {}\n{}",
            out.status,
            show(cmd),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Whether `program` is on `PATH`.
pub fn have(program: impl AsRef<OsStr>) -> bool {
    let program = program.as_ref();
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// The host's target triple (from `rustc -vV`).
pub fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = stdout_of(Command::new(rustc).arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| err("rustc -vV printed no host triple"))
}

/// Minimal argument parsing: `--flag value` pairs and bare `--switch`es.
#[derive(Debug)]
pub struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Wraps the arguments after the subcommand.
    pub fn new(args: impl IntoIterator<Item = String>) -> Self {
        Args {
            rest: args.into_iter().collect(),
        }
    }

    /// Removes `--name value` and returns the value.
    pub fn value(&mut self, name: &str) -> Result<Option<String>> {
        let Some(i) = self.rest.iter().position(|a| a == name) else {
            return Ok(None);
        };
        if i + 1 >= self.rest.len() {
            return Err(err(format!("{name} needs a value")));
        }
        let v = self.rest.remove(i + 1);
        self.rest.remove(i);
        Ok(Some(v))
    }

    /// Removes `--name` and says whether it was there.
    pub fn switch(&mut self, name: &str) -> bool {
        match self.rest.iter().position(|a| a == name) {
            Some(i) => {
                self.rest.remove(i);
                true
            }
            None => false,
        }
    }

    /// An error if any argument was not consumed.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(err(format!(
                "unexpected arguments: {}",
                self.rest.join(" ")
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_executable_in_cargo_messages() {
        let msgs = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"lstm_train"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"lstm-train"},"executable":"/elsewhere/release/lstm-train"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(
            executable_in(msgs, "lstm-train"),
            Some(PathBuf::from("/elsewhere/release/lstm-train"))
        );
        assert_eq!(executable_in(msgs, "other"), None);
    }
}
