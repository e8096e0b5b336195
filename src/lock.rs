//! The run lock: a non-blocking exclusive advisory lock (`flock`) on a file in the state
//! directory. The kernel drops it when the process dies, however it dies, so a crashed run
//! never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
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
        match file.try_lock() {
            Ok(()) => Ok(Some(RunLock { _file: file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(source)) => Err(OpenError::Io {
                path: path.to_owned(),
                source,
            }),
        }
    }
}
