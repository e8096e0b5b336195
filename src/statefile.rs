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

/// Replaces `path` with `bytes` like [`write_atomic`] (the bytes fsynced before they take
/// the name), for a file rewritten every cycle (the thermal sidecar): the bytes go into a
/// spare file kept beside it (`.NAME.spare`), which is then swapped with it
/// (`renameat2(RENAME_EXCHANGE)`), so the old file becomes the next spare. No inode is made
/// or freed, and the fsync writes over blocks the file already has, where a new file's fsync
/// on ext4 without a journal also writes its directory: 0.19 against 0.35 ms for a 4 KiB
/// sidecar on the benchmark machine (BENCHMARKS.md).
///
/// A spare is used only when it is a regular file of ours, mode 0600, with no other name (so
/// a hard link or a symlink planted there is never written through); anything else at its
/// name is removed and a new file written instead, as [`write_atomic`] does, the old file
/// then kept as the spare.
///
/// What a crash can leave: the file at `path` is always whole, the old one or the new one,
/// as with [`write_atomic`], except in one case: the directory is not fsynced, so after a
/// power loss the previous save's swap may not be on disk, and if that loss comes while
/// this save writes into the spare, the name `path` may be left on the half-written file.
/// The previous save's file, whole, is then at the spare's name ([`spare_of`]), where a
/// reader of an unusable file looks next (the thermal sidecar's loader does). A reader that
/// holds the file open across a whole save may likewise see it rewritten under it.
///
/// The caller holds a lock that keeps other writers of `path` out (the run lock, for the
/// sidecar): two at once would write into one spare.
pub fn write_with_spare(path: &Path, bytes: &[u8]) -> io::Result<()> {
    // A path without a file name (`/`, `..`) has no spare beside it.
    file_name(path)?;
    let spare = spare_of(path);
    if let Some(mut file) = reusable(&spare) {
        let written = fill(&mut file, bytes);
        drop(file);
        return match written {
            Ok(()) if swap(&spare, path) => Ok(()),
            // Nothing to swap with (or a symlink): the spare takes the name, as a new file would.
            Ok(()) => fs::rename(&spare, path).inspect_err(|_| {
                let _ = fs::remove_file(&spare);
            }),
            // Never left half-written.
            Err(e) => {
                let _ = fs::remove_file(&spare);
                Err(e)
            }
        };
    }
    let (tmp, mut file) = temp_file(path, 0o600)?;
    if let Err(e) = fill(&mut file, bytes) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    if swap(&tmp, path) {
        // `tmp` names the old file now: the next spare.
        if fs::rename(&tmp, &spare).is_err() {
            let _ = fs::remove_file(&tmp);
        }
        return Ok(());
    }
    fs::rename(&tmp, path).inspect_err(|_| {
        let _ = fs::remove_file(&tmp);
    })
}

/// The name of the spare [`write_with_spare`] keeps beside `path`: `.NAME.spare`.
pub fn spare_of(path: &Path) -> PathBuf {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    parent(path).join(format!(".{name}.spare"))
}

/// The spare at `spare`, open for writing, if it is one [`write_with_spare`] may write
/// into: a regular file of ours, mode 0600, with no other name. Anything else there is
/// removed (a directory cannot be, and stays).
fn reusable(spare: &Path) -> Option<fs::File> {
    match fsutil::open_with(spare, Links::Refuse, OpenOptions::new().write(true)) {
        Ok((file, meta))
            if meta.nlink() == 1
                && meta.uid() == rustix::process::geteuid().as_raw()
                && meta.mode() & 0o777 == 0o600 =>
        {
            Some(file)
        }
        Err(e) if e.is_missing() => None,
        _ => {
            let _ = fs::remove_file(spare);
            None
        }
    }
}

/// Writes `bytes` over whatever `file` holds, cuts it to their length and fsyncs it.
fn fill(file: &mut fs::File, bytes: &[u8]) -> io::Result<()> {
    file.write_all(bytes)?;
    file.set_len(bytes.len() as u64)?;
    file.sync_all()
}

/// Swaps `from` with the regular file at `path`; false, and nothing moved, when there is
/// none there or the filesystem cannot swap.
fn swap(from: &Path, path: &Path) -> bool {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    fs::symlink_metadata(path).is_ok_and(|meta| meta.is_file())
        && renameat_with(CWD, from, CWD, path, RenameFlags::EXCHANGE).is_ok()
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
    let (tmp, mut file) = temp_file(path, mode)?;
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

/// The directory `path` is in.
fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

fn file_name(path: &Path) -> io::Result<&std::ffi::OsStr> {
    path.file_name()
        .ok_or_else(|| io::Error::other("no file name"))
}

/// A new file beside `path`, under a random name of its own.
fn temp_file(path: &Path, mode: u32) -> io::Result<(PathBuf, fs::File)> {
    let name = file_name(path)?;
    let mut suffix = [0u8; 6];
    getrandom::fill(&mut suffix).map_err(|e| io::Error::other(e.to_string()))?;
    let tmp: PathBuf = parent(path).join(format!(
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
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    Ok((tmp, file))
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
    if swap(tmp, path) {
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
    fs::File::open(parent(path))?.sync_all()
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

    fn read(path: &Path) -> String {
        fs::read_to_string(path).expect("read")
    }

    #[test]
    fn a_file_written_with_a_spare_swaps_with_it_and_the_old_file_is_the_next_spare() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.json");
        let spare = dir.path().join(".t.json.spare");
        write_with_spare(&path, b"the first, and longest, of them").expect("write");
        assert_eq!(names(dir.path()), ["t.json"], "nothing to swap with yet");
        write_with_spare(&path, b"second").expect("write");
        assert_eq!(names(dir.path()), [".t.json.spare", "t.json"]);
        assert_eq!(read(&path), "second");
        assert_eq!(read(&spare), "the first, and longest, of them");
        let spare_inode = fs::metadata(&spare).expect("spare").ino();

        write_with_spare(&path, b"3rd").expect("write");

        assert_eq!(read(&path), "3rd", "the spare, cut to the new length");
        assert_eq!(fs::metadata(&path).expect("file").ino(), spare_inode);
        assert_eq!(read(&spare), "second");
        assert_eq!(fs::metadata(&spare).expect("spare").mode() & 0o777, 0o600);
        assert_eq!(names(dir.path()), [".t.json.spare", "t.json"]);
    }

    #[test]
    fn a_spare_that_is_a_symlink_or_has_another_name_is_never_written_through() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.json");
        let spare = dir.path().join(".t.json.spare");
        let theirs = dir.path().join("theirs");
        fs::write(&theirs, "theirs").expect("theirs");
        write_with_spare(&path, b"one").expect("write");

        std::os::unix::fs::symlink(&theirs, &spare).expect("symlink");
        write_with_spare(&path, b"two").expect("write");
        assert_eq!(read(&theirs), "theirs");
        assert_eq!(read(&path), "two");

        fs::remove_file(&spare).expect("remove");
        fs::hard_link(&theirs, &spare).expect("hard link");
        write_with_spare(&path, b"three").expect("write");
        assert_eq!(read(&theirs), "theirs");
        assert_eq!(read(&path), "three");
        let kept = fs::symlink_metadata(&spare).expect("spare");
        assert!(
            kept.is_file() && kept.nlink() == 1,
            "the old file is the spare now"
        );
        assert_eq!(read(&spare), "two");

        // Nor is a spare others may read: the file would take its mode.
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&spare, fs::Permissions::from_mode(0o644)).expect("chmod");
        write_with_spare(&path, b"four").expect("write");
        assert_eq!(fs::metadata(&path).expect("file").mode() & 0o777, 0o600);
        assert_eq!(read(&path), "four");
    }

    #[test]
    fn with_nothing_to_swap_with_the_spare_takes_the_name() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.json");
        write_with_spare(&path, b"one").expect("write");
        write_with_spare(&path, b"two").expect("write");
        fs::remove_file(&path).expect("remove");
        write_with_spare(&path, b"three").expect("write");
        assert_eq!(read(&path), "three");
        assert_eq!(names(dir.path()), ["t.json"]);
    }

    #[test]
    fn a_directory_at_the_spare_name_does_not_stop_the_write() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("t.json");
        fs::create_dir(dir.path().join(".t.json.spare")).expect("dir");
        write_with_spare(&path, b"one").expect("write");
        write_with_spare(&path, b"two").expect("write");
        assert_eq!(read(&path), "two");
        assert_eq!(
            names(dir.path()),
            [".t.json.spare", "t.json"],
            "no temporary file left"
        );
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
