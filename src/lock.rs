//! The run locks: non-blocking exclusive advisory locks (`flock`) on a file in the state
//! directory and on the registry file itself. The kernel drops them when the process dies,
//! however it dies, so a crashed run never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// The lock's file name inside the state directory.
pub const LOCK_FILE: &str = "inbox-exec.lock";

/// A held run lock; released on drop or process death.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock without waiting: `None` when another process holds it.
    pub fn try_acquire(path: &Path) -> io::Result<Option<RunLock>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .custom_flags(crate::statefile::NOFOLLOW)
            .open(path)?;
        RunLock::try_lock(file)
    }

    /// Takes the lock on an existing file, opened read-only and never written: the registry,
    /// so that runs from two state directories on one registry never overlap (each name of a
    /// hard-linked file is the same inode, so the same lock). `O_NONBLOCK` keeps a FIFO at the
    /// path from hanging the open. `flock` locks are separate from the POSIX locks SQLite
    /// takes on the same file, but closing any descriptor of the file drops all of this
    /// process's POSIX locks on it: the caller must keep this lock until SQLite's connection
    /// is closed.
    pub fn try_acquire_existing(path: &Path) -> io::Result<Option<RunLock>> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits().cast_signed())
            .open(path)?;
        RunLock::try_lock(file)
    }

    fn try_lock(file: File) -> io::Result<Option<RunLock>> {
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
