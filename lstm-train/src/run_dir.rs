//! One process at a time per run folder, and no temporary file left behind.
//!
//! * [`RunDirLock`]: an exclusive OS advisory lock (`flock`) on
//!   `.lstm-train.lock` in the folder, held for a whole `fit`. The lock file
//!   holds the holder's pid and command, so that a second process is told who
//!   uses the folder ([`LockError::InUse`]). The kernel releases the lock when
//!   the process dies, even by `SIGKILL`, so a dead process never holds it;
//!   the file itself stays (removing it would let two processes lock two
//!   different files of the same name).
//! * [`sweep_temporaries`]: removes the temporary files of
//!   [`crate::io::write_atomic`] (`.<name>.<pid>.tmp`) that a killed process
//!   left: those of dead processes, or, under the exclusive lock, all but
//!   this process's own.
//! * [`crate::io::write_atomic`] itself, outside a folder this process holds,
//!   takes a shared lock on the folder's lock file if there is one (so that
//!   it refuses to write into a folder a `fit` is using) and sweeps the dead
//!   processes' temporaries first.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// File name of the lock file inside a run folder.
pub const LOCK_FILE: &str = ".lstm-train.lock";

/// Errors of taking a folder's lock.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another process holds the folder.
    #[error(
        "`{}` is in use by {holder}; wait for it or choose another {advice}",
        dir.display()
    )]
    InUse {
        /// The folder.
        dir: PathBuf,
        /// What to choose instead (`--out-dir`, `output folder`).
        advice: &'static str,
        /// Who holds it, as the lock file says (`lstm-train process 1234 (fit)`).
        holder: Holder,
    },
    /// The folder or its lock file could not be created or locked.
    #[error("locking `{}`", path.display())]
    Io {
        /// The lock file (or the folder).
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The process that holds a folder, as recorded in its lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    /// Its pid, if the lock file names one.
    pub pid: Option<u32>,
    /// What it runs (`fit`, `export`, …), if recorded.
    pub command: Option<String>,
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "lstm-train process {pid}")?,
            None => write!(f, "another lstm-train process")?,
        }
        if let Some(c) = &self.command {
            write!(f, " ({c})")?;
        }
        Ok(())
    }
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut words = text.split_whitespace();
        let pid = words.next().and_then(|w| w.parse().ok());
        let command = pid.and(words.next()).map(str::to_owned);
        Holder { pid, command }
    }

    fn read(file: &mut File) -> Holder {
        let mut text = String::new();
        let _ = file.seek(SeekFrom::Start(0));
        let _ = file.read_to_string(&mut text);
        Holder::parse(&text)
    }
}

/// Folders this process holds exclusively (canonical path → holders), so
/// that its own atomic writes into them do not try to lock them again
/// (an `flock` conflicts with another open file of the same process).
fn held() -> &'static Mutex<HashMap<PathBuf, usize>> {
    static HELD: OnceLock<Mutex<HashMap<PathBuf, usize>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

fn canonical(dir: &Path) -> PathBuf {
    fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Whether this process holds `dir` with a [`RunDirLock`].
pub fn held_by_this_process(dir: &Path) -> bool {
    let key = canonical(dir);
    held()
        .lock()
        .map(|m| m.get(&key).is_some_and(|&n| n > 0))
        .unwrap_or(false)
}

/// An exclusive lock on a run folder, released when dropped (or when the
/// process dies).
#[derive(Debug)]
pub struct RunDirLock {
    _file: File,
    dir: PathBuf,
    key: PathBuf,
}

impl RunDirLock {
    /// Creates `dir` if needed, locks it for `command` (`fit`, …) and sweeps
    /// the temporary files other processes left in it.
    ///
    /// Errors: [`LockError::InUse`] naming the holder if another process
    /// holds the folder, [`LockError::Io`] if it cannot be locked.
    pub fn acquire(dir: &Path, command: &str) -> Result<RunDirLock, LockError> {
        fs::create_dir_all(dir).map_err(|source| LockError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join(LOCK_FILE);
        let io_err = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LockError::InUse {
                    dir: dir.to_path_buf(),
                    advice: "--out-dir",
                    holder: Holder::read(&mut file),
                })
            }
            Err(TryLockError::Error(e)) => return Err(io_err(e)),
        }
        let record = format!("{} {command}\n", std::process::id());
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(record.as_bytes()))
            .map_err(io_err)?;
        let key = canonical(dir);
        if let Ok(mut m) = held().lock() {
            *m.entry(key.clone()).or_insert(0) += 1;
        }
        sweep_temporaries(dir, true);
        Ok(RunDirLock {
            _file: file,
            dir: dir.to_path_buf(),
            key,
        })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for RunDirLock {
    fn drop(&mut self) {
        if let Ok(mut m) = held().lock() {
            if let Some(n) = m.get_mut(&self.key) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    m.remove(&self.key);
                }
            }
        }
        // Closing the file releases the lock.
    }
}

/// A shared lock on a folder's existing lock file, for one write outside a
/// held folder: `None` if the folder has no lock file (no run ever used it)
/// or this process holds it.
pub(crate) fn lock_shared_for_write(dir: &Path) -> Result<Option<File>, LockError> {
    if held_by_this_process(dir) {
        return Ok(None);
    }
    let path = dir.join(LOCK_FILE);
    let mut file = match OpenOptions::new().read(true).open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(LockError::Io { path, source }),
    };
    match file.try_lock_shared() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Err(LockError::InUse {
            dir: dir.to_path_buf(),
            advice: "output folder",
            holder: Holder::read(&mut file),
        }),
        Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
    }
}

/// The pid of a temporary file of [`crate::io::write_atomic`]
/// (`.<name>.<pid>.tmp`), or `None` if `file_name` is not one.
pub fn temporary_pid(file_name: &str) -> Option<u32> {
    let rest = file_name.strip_prefix('.')?.strip_suffix(".tmp")?;
    let (name, pid) = rest.rsplit_once('.')?;
    if name.is_empty() || pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` is alive (Linux: `/proc/<pid>` exists; elsewhere
/// every process is taken to be alive, so only a folder's exclusive holder
/// sweeps).
fn alive(pid: u32) -> bool {
    if cfg!(target_os = "linux") {
        Path::new("/proc").join(pid.to_string()).exists()
    } else {
        true
    }
}

/// Removes the temporary files of [`crate::io::write_atomic`] in `dir` left
/// by other processes: all of them if `exclusive` (the caller holds the
/// folder's lock, so no other process writes there), else those whose
/// process is dead. Returns the files removed; failures are ignored.
pub fn sweep_temporaries(dir: &Path, exclusive: bool) -> Vec<PathBuf> {
    let me = std::process::id();
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        let Some(pid) = temporary_pid(&name.to_string_lossy()) else {
            continue;
        };
        let keep = pid == me || (!exclusive && alive(pid));
        if keep {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file()) && fs::remove_file(entry.path()).is_ok() {
            removed.push(entry.path());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_temporary_names() {
        assert_eq!(temporary_pid(".checkpoint.json.1234.tmp"), Some(1234));
        assert_eq!(temporary_pid(".m.lstm.7.tmp"), Some(7));
        assert_eq!(temporary_pid("checkpoint.json.1234.tmp"), None);
        assert_eq!(temporary_pid(".x.tmp"), None);
        assert_eq!(temporary_pid("..12.tmp"), None);
        assert_eq!(temporary_pid(".a.12b.tmp"), None);
        assert_eq!(temporary_pid(LOCK_FILE), None);
    }

    #[test]
    fn holder_message_names_the_pid() {
        let h = Holder::parse("1234 fit\n");
        assert_eq!(h.to_string(), "lstm-train process 1234 (fit)");
        assert_eq!(Holder::parse("").to_string(), "another lstm-train process");
    }

    #[test]
    fn sweeps_dead_and_keeps_own_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let me = std::process::id();
        let own = dir.path().join(format!(".a.json.{me}.tmp"));
        // Pid 0 is never a user process: /proc/0 does not exist.
        let dead = dir.path().join(".b.json.0.tmp");
        let other = dir.path().join("keep.tmp");
        for p in [&own, &dead, &other] {
            fs::write(p, b"x").unwrap();
        }
        let removed = sweep_temporaries(dir.path(), false);
        if cfg!(target_os = "linux") {
            assert_eq!(removed, vec![dead.clone()]);
        }
        assert!(own.exists() && other.exists());
    }

    #[test]
    fn a_second_lock_is_refused_with_the_holder_then_released() {
        let dir = tempfile::tempdir().unwrap();
        let first = RunDirLock::acquire(dir.path(), "fit").unwrap();
        let err = RunDirLock::acquire(dir.path(), "fit").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("lstm-train process {} (fit)", std::process::id())),
            "{msg}"
        );
        // Writes of this process into its own folder go through.
        crate::io::write_atomic(&dir.path().join("f.txt"), b"ok").unwrap();
        drop(first);
        assert!(!held_by_this_process(dir.path()));
        let _again = RunDirLock::acquire(dir.path(), "fit").unwrap();
    }
}
