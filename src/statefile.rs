//! Small state files (thermal sidecar, last-run summary): read without following symlinks,
//! written atomically (temp file, fsync, rename), mode 0600.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::fsutil::{self, Links, OpenError};

/// `O_NOFOLLOW`, for `OpenOptionsExt::custom_flags`.
pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits().cast_signed();

/// A state file larger than this is not ours; refusing it bounds what a corrupt file costs.
const MAX_STATE_FILE: u64 = 4 * 1024 * 1024;

/// What reading a state file found.
#[derive(Debug)]
pub enum Contents {
    /// No file.
    Missing,
    /// The file's bytes.
    Bytes(Vec<u8>),
    /// A file that cannot be ours: a symlink, a FIFO, a directory, unreadable, oversized.
    /// The message names the file and what is wrong with it.
    Unusable(String),
}

/// Reads a state file, refusing symlinks (the state directory is ours alone, so a link there
/// is someone steering our reads) and anything but a regular file, without ever blocking on
/// a FIFO.
pub fn read(path: &Path) -> Contents {
    match fsutil::read_regular(path, Links::Refuse, MAX_STATE_FILE, "a state file") {
        Ok((bytes, _)) => Contents::Bytes(bytes),
        Err(OpenError::Missing(_)) => Contents::Missing,
        Err(e) => Contents::Unusable(e.to_string()),
    }
}

/// Creates the state directory (mode 0700) when missing.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

/// Replaces `path` with `bytes` atomically: readers see the old file or the new one, never a
/// torn one, and after a crash the new one is there only if it is whole.
///
/// The directory is not fsynced: after a power loss the rename may be lost and the previous
/// file found instead, which both state files tolerate (the thermal window is rebuilt when
/// the sidecar is behind the attempts table; the summary is rewritten by the next run).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::other("no file name"))?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let tmp: PathBuf = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    ));
    // create_new refuses an existing file or symlink at the temp name.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    let result = file
        .write_all(bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
