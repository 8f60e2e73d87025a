//! Writing files so that a crash or a bad input never leaves a partial file:
//! write a temporary file beside the target, flush it to disk, then rename.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::run_dir::{self, LockError};

/// An I/O failure, naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{action} `{path}`: {source}")]
pub struct IoError {
    /// What was being done (`writing`, `reading`, …).
    pub action: &'static str,
    /// The file.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: std::io::Error,
}

impl IoError {
    /// Wraps `source` with the action and path.
    pub fn new(action: &'static str, path: &Path, source: std::io::Error) -> Self {
        IoError {
            action,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Writes `bytes` to `path` atomically: a temporary file in the same folder
/// (`.<name>.<pid>.tmp`), `fsync`, then `rename` over the target. On any
/// error the temporary file is removed and `path` is untouched.
///
/// Unless this process holds the folder ([`crate::run_dir::RunDirLock`]),
/// the write first takes a shared lock on the folder's lock file, if it has
/// one, and fails with a [`LockError`] as the source (kind
/// `ResourceBusy`) naming the process that holds it; it also removes the
/// temporary files that dead processes left in the folder.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&dir).map_err(|e| IoError::new("creating folder for", path, e))?;
    let _shared = run_dir::lock_shared_for_write(&dir).map_err(|e| {
        let kind = match &e {
            LockError::InUse { .. } => std::io::ErrorKind::ResourceBusy,
            LockError::Io { source, .. } => source.kind(),
        };
        IoError::new("writing", path, std::io::Error::new(kind, e))
    })?;
    if !run_dir::held_by_this_process(&dir) {
        run_dir::sweep_temporaries(&dir, false);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(IoError::new("writing", path, e));
    }
    Ok(())
}

/// Reads a whole file, naming it in the error.
pub fn read(path: &Path) -> Result<Vec<u8>, IoError> {
    fs::read(path).map_err(|e| IoError::new("reading", path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary() {
        let dir = std::env::temp_dir().join(format!("lstm-io-{}", std::process::id()));
        let path = dir.join("out.txt");
        write_atomic(&path, b"first").unwrap();
        write_atomic(&path, b"second").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"second");
        let leftovers: Vec<_> = fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_write_keeps_the_old_file() {
        let dir = std::env::temp_dir().join(format!("lstm-io-fail-{}", std::process::id()));
        let path = dir.join("keep.txt");
        write_atomic(&path, b"old").unwrap();
        // Renaming a file over a non-empty directory fails.
        let blocker = dir.join("blocker");
        fs::create_dir_all(blocker.join("x")).unwrap();
        assert!(write_atomic(&blocker, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old");
        fs::remove_dir_all(&dir).unwrap();
    }
}
