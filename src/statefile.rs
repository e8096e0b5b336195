//! Small state files (thermal sidecar, last-run summary, idle mark, metrics): read without
//! following symlinks, written atomically (temp file, rename), mode 0600 unless another user
//! has to read them; fsynced before the rename when the file is state the next run relies on.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::fsutil::{self, Links, OpenError};

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
    /// The message says what is wrong; the caller names the file.
    Unusable(String),
}

/// Reads a state file, refusing symlinks (the state directory is ours alone, so a link there
/// is someone steering our reads) and anything but a regular file, without ever blocking on
/// a FIFO.
pub fn read(path: &Path) -> Contents {
    match fsutil::read_regular(path, Links::Refuse, MAX_STATE_FILE, "a state file") {
        Ok((bytes, _)) => Contents::Bytes(bytes),
        Err(OpenError::Missing(_)) => Contents::Missing,
        Err(OpenError::NotRegular { kind, .. }) => {
            Contents::Unusable(format!("it is a {kind}, not a regular file"))
        }
        Err(OpenError::Symlink(_)) => {
            Contents::Unusable("it is a symlink, which is refused in the state directory".into())
        }
        Err(OpenError::TooLarge { len, max, .. }) => Contents::Unusable(format!(
            "it is {len} bytes, too large to be ours (at most {max})"
        )),
        Err(OpenError::Io { error, .. }) => Contents::Unusable(format!("cannot read it ({error})")),
    }
}

/// Why the state directory cannot be used. Each message names the directory and the fix.
#[derive(Debug, thiserror::Error)]
pub enum StateDirError {
    /// Something that is not a directory is at its path.
    #[error(
        "state directory {path} is a {kind}, not a directory: point --state-dir at a directory"
    )]
    NotADirectory {
        /// The path.
        path: PathBuf,
        /// What is there.
        kind: &'static str,
    },
    /// Someone else owns it: they could remove the lock or the thermal record.
    #[error(
        "state directory {path} is owned by uid {owner}: it must belong to the user running inbox-exec (uid {me}) or to root (chown it)"
    )]
    Owner {
        /// The directory.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// Group or others may write it: they could remove the lock or the thermal record.
    #[error(
        "state directory {path} is writable by group or others (mode {mode:04o}): run `chmod go-w {path}`"
    )]
    Writable {
        /// The directory.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// It could not be created or examined.
    #[error("state directory {path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Creates the state directory (mode 0700) when missing, and refuses one that others could
/// tamper with: the lock, the thermal record and the run summary live there. A symlink to a
/// directory is fine (systemd's `DynamicUser` makes one); what it points to is checked.
pub fn ensure_dir(dir: &Path) -> Result<(), StateDirError> {
    let io_err = |source| StateDirError::Io {
        path: dir.to_owned(),
        source,
    };
    let meta = match fs::metadata(dir) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            // A dangling symlink is "not found" too; creating would fail on the link itself.
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io_err)?;
            fs::metadata(dir).map_err(io_err)?
        }
        Err(e) => return Err(io_err(e)),
    };
    if !meta.is_dir() {
        return Err(StateDirError::NotADirectory {
            path: dir.to_owned(),
            kind: fsutil::kind_of(&meta),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(StateDirError::Owner {
            path: dir.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(StateDirError::Writable {
            path: dir.to_owned(),
            mode,
        });
    }
    Ok(())
}

/// Replaces `path` with `bytes` atomically: readers see the old file or the new one, never a
/// torn one, and after a crash the new one is there only if it is whole.
///
/// The directory is not fsynced: after a power loss the rename may be lost and the previous
/// file found instead, which both state files tolerate (the registry's record of claims is
/// merged into the thermal window at every load; the summary is rewritten by the next run).
/// What is recorded nowhere else goes through [`write_durable`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, 0o600, Finish::Fsync, |file| file.write_all(bytes))
}

/// Replaces `path` with what `write` writes, like [`write_atomic`] without the fsync:
/// concurrent readers see the old file or the new one, never a torn one, but after a power
/// loss the file may be the previous one or empty (see `swap_in`). For a report that the
/// next run rewrites anyway, where making it durable every run would cost more than the
/// report is worth.
///
/// `write` streams into the temporary file through a buffer, so a large report (a batch of a
/// thousand drafts) is never held in memory whole.
pub fn write_report(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    replace(path, 0o600, Finish::Swap, |file| {
        let mut out = io::BufWriter::new(file);
        write(&mut out)?;
        out.flush()
    })
}

/// Replaces `path`, mode 0644 (as far as the umask allows), with `bytes`, for a file another
/// service collects as another user (node_exporter's textfile directory). Renamed over the
/// old file without an fsync, which on ext4 still puts the new bytes on disk before the new
/// name (`auto_da_alloc`): after a power loss the collector finds the old file or the new
/// one, never an empty one, which would drop every series and with them the alerts on them.
pub fn write_collected(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace(path, 0o644, Finish::Rename, |file| file.write_all(bytes))
}

/// How [`replace`] puts the finished temporary file in place.
#[derive(Clone, Copy)]
enum Finish {
    /// fsync, then rename: the new file is whole after a crash.
    Fsync,
    /// rename over the old file, unsynced.
    Rename,
    /// [`swap_in`]: exchange and unlink, unsynced.
    Swap,
}

fn replace(
    path: &Path,
    mode: u32,
    finish: Finish,
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
    // create_new refuses an existing file or symlink at the temp name. The name starts with
    // a dot and does not end as the file's does, so a collector that reads `*.prom` never
    // reads a half-written file.
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    let result = write(&mut file).and_then(|()| match finish {
        Finish::Fsync => {
            file.sync_all()?;
            fs::rename(&tmp, path)
        }
        Finish::Rename => fs::rename(&tmp, path),
        Finish::Swap => swap_in(&tmp, path),
    });
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Puts the unsynced file `tmp` in the place of the regular file at `path` by swapping the
/// two names, then removes the old file. A rename over an existing file would make ext4 start
/// writing the new file's blocks there and then (`auto_da_alloc`, its guard for programs that
/// replace files without an fsync): about 0.15 ms, in an idle run of about 2 ms. What that
/// guard buys, the new bytes on disk before the new name, a report does not need: after a
/// power loss it may be found empty, until the next run writes it again. Anything but a
/// regular file there (nothing, a symlink), or a filesystem that cannot swap, gets the plain
/// rename, which replaces it.
fn swap_in(tmp: &Path, path: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    if fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
        && renameat_with(CWD, tmp, CWD, path, RenameFlags::EXCHANGE).is_ok()
    {
        // `tmp` names the old file now. Left behind, it is only a stray temporary file.
        if let Err(e) = fs::remove_file(tmp) {
            log::warn!("cannot remove the replaced {} ({e})", tmp.display());
        }
        return Ok(());
    }
    fs::rename(tmp, path)
}

/// [`write_atomic`], then fsync the directory, so the new file survives a power loss once
/// this returns: for a file that holds something recorded nowhere else.
pub fn write_durable(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic(path, bytes)?;
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .expect("dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn report(path: &Path, text: &str) {
        write_report(path, |out| out.write_all(text.as_bytes())).expect("write");
    }

    #[test]
    fn a_report_replaces_a_file_a_symlink_or_nothing_and_leaves_no_other_file() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.json");
        report(&path, "one");
        report(&path, "two");
        assert_eq!(fs::read_to_string(&path).expect("read"), "two");
        assert_eq!(names(dir.path()), ["r.json"]);

        // A symlink at the name is replaced, and what it points at is left alone.
        let target = dir.path().join("target");
        fs::write(&target, "theirs").expect("target");
        fs::remove_file(&path).expect("remove");
        std::os::unix::fs::symlink(&target, &path).expect("symlink");
        report(&path, "three");
        assert!(fs::symlink_metadata(&path).expect("meta").is_file());
        assert_eq!(fs::read_to_string(&path).expect("read"), "three");
        assert_eq!(fs::read_to_string(&target).expect("read"), "theirs");
        assert_eq!(names(dir.path()), ["r.json", "target"]);
    }

    #[test]
    fn a_report_never_replaces_a_directory() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("r.json");
        fs::create_dir(&path).expect("dir");
        assert!(write_report(&path, |out| out.write_all(b"x")).is_err());
        assert!(path.is_dir());
        assert_eq!(names(dir.path()), ["r.json"]);
    }
}
