//! The run lock: a non-blocking exclusive advisory lock (`flock`) on a file in the state
//! directory. The kernel drops it when the process dies, however it dies, so a crashed run
//! never leaves a stale lock behind.

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
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e),
        }
    }
}
