//! The run locks: non-blocking exclusive advisory locks (`flock`) on a file in the state
//! directory and on the registry file itself. The kernel drops them when the process dies,
//! however it dies, so a crashed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::fsutil::{self, Links, OpenError};

/// The lock's file name inside the state directory.
pub const LOCK_FILE: &str = "inbox-exec.lock";

/// A held run lock; released on drop or process death.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock without waiting: `None` when another process holds it. The lock file
    /// must be a regular file (a FIFO or a directory there is refused, never waited on).
    pub fn try_acquire(path: &Path) -> Result<Option<RunLock>, OpenError> {
        let (file, _) = fsutil::open_with(
            path,
            Links::Refuse,
            OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600),
        )?;
        RunLock::try_lock(file).map_err(|source| OpenError::Io {
            path: path.to_owned(),
            error: source,
        })
    }

    /// Takes the lock on an existing file, opened read-only and never written: the registry,
    /// so that runs from two state directories on one registry never overlap (each name of a
    /// hard-linked file is the same inode, so the same lock). Opened through fsutil, so a
    /// FIFO or device at the path is refused, never opened or waited on. `flock` locks are
    /// separate from the POSIX locks SQLite takes on the same file, but closing any
    /// descriptor of the file drops all of this process's POSIX locks on it: the caller must
    /// keep this lock until SQLite's connection is closed.
    pub fn try_acquire_existing(path: &Path) -> Result<Option<RunLock>, OpenError> {
        let (file, _) = fsutil::open_regular(path, Links::Follow)?;
        RunLock::try_lock(file).map_err(|source| OpenError::Io {
            path: path.to_owned(),
            error: source,
        })
    }

    fn try_lock(file: File) -> io::Result<Option<RunLock>> {
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
