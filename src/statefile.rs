//! Small state files (thermal sidecar, last-run summary): read without following symlinks,
//! written atomically (temp file, rename), mode 0600; fsynced before the rename when the
//! file is state the next run relies on.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

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
    /// A file that cannot be ours: a symlink, a directory, unreadable, oversized.
    Unusable(String),
}

/// Reads a state file, refusing symlinks: the state directory is ours alone, so a link there
/// is someone steering our reads.
pub fn read(path: &Path) -> Contents {
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(NOFOLLOW)
        .open(path);
    let file = match file {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Contents::Missing,
        Err(e) => return Contents::Unusable(format!("cannot open it ({e}); a symlink is refused")),
    };
    match file.metadata() {
        Ok(m) if !m.is_file() => return Contents::Unusable("it is not a regular file".into()),
        Ok(m) if m.len() > MAX_STATE_FILE => {
            return Contents::Unusable(format!("it is {} bytes, too large to be ours", m.len()));
        }
        Ok(_) => {}
        Err(e) => return Contents::Unusable(e.to_string()),
    }
    let mut bytes = Vec::new();
    match file.take(MAX_STATE_FILE).read_to_end(&mut bytes) {
        Ok(_) => Contents::Bytes(bytes),
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
    write_via_temp(path, true, |file| file.write_all(bytes))
}

/// Replaces `path` with what `write` writes, like [`write_atomic`] but without the fsync:
/// concurrent readers still see the old file or the new one, never a torn one, but after a
/// power loss the file may be the previous one or, on a filesystem that does not order a
/// rename after the data it replaces (ext4 does, by default), empty. For a report that the next run rewrites
/// anyway, where an fsync per run would cost more than the report is worth.
///
/// `write` streams into the temporary file through a buffer, so a large report (a batch of a
/// thousand drafts) is never held in memory whole.
pub fn write_report(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    write_via_temp(path, false, |file| {
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()
    })
}

fn write_via_temp(
    path: &Path,
    sync: bool,
    write: impl FnOnce(&mut fs::File) -> io::Result<()>,
) -> io::Result<()> {
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
    let result = write(&mut file)
        .and_then(|()| if sync { file.sync_all() } else { Ok(()) })
        .and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
