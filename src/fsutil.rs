//! Opening files whose type nobody promised: every file inbox-exec reads may turn out to be a
//! FIFO (whose open blocks until a writer comes, for ever), a socket, a device or a directory.
//! Files are opened with `O_NONBLOCK` and `O_NOCTTY`, looked at before (so a device is never
//! even opened) and checked again on the open descriptor (so a swap in between is caught), and
//! anything but a regular file is refused with a message naming the file and what it is.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::OFlags;

/// Why a file could not be opened as a regular file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Nothing is there.
    #[error("{0} does not exist")]
    Missing(PathBuf),
    /// Something that is not a regular file is there.
    #[error("{path} is a {kind}, not a regular file")]
    NotRegular {
        /// The path.
        path: PathBuf,
        /// What it is, in words.
        kind: &'static str,
    },
    /// A symbolic link where links are refused (the state directory is ours alone, so a link
    /// there is someone steering our reads).
    #[error("{0} is a symbolic link, which is refused here")]
    Symlink(PathBuf),
    /// The file is larger than anything of its kind can be.
    #[error("{path} is {len} bytes, too large to be {what} (at most {max} bytes)")]
    TooLarge {
        /// The path.
        path: PathBuf,
        /// Its size.
        len: u64,
        /// What it should have been.
        what: &'static str,
        /// The limit.
        max: u64,
    },
    /// Any other failure to open or read it. The cause is part of the message and not a
    /// `source`, so a chain that wraps this error prints it once.
    #[error("{path}: {error}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        error: io::Error,
    },
}

impl OpenError {
    /// Whether nothing was there.
    pub fn is_missing(&self) -> bool {
        matches!(self, OpenError::Missing(_))
    }
}

/// Whether a symbolic link at the path itself is followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// Follow it: the registry, the config and the key may be links an operator made.
    Follow,
    /// Refuse it: files in the state directory.
    Refuse,
}

/// What a file type is called in messages.
pub fn kind_of(meta: &Metadata) -> &'static str {
    let t = meta.file_type();
    if t.is_file() {
        "regular file"
    } else if t.is_dir() {
        "directory"
    } else if t.is_fifo() {
        "FIFO (named pipe)"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else if t.is_symlink() {
        "symbolic link"
    } else {
        "file of unknown type"
    }
}

fn look(path: &Path, links: Links) -> io::Result<Metadata> {
    match links {
        Links::Follow => fs::metadata(path),
        Links::Refuse => fs::symlink_metadata(path),
    }
}

/// Checks, without opening anything, that `path` is a regular file if it exists: `Ok(None)`
/// when there is nothing, `Ok(Some(metadata))` for a regular file.
pub fn check_regular(path: &Path, links: Links) -> Result<Option<Metadata>, OpenError> {
    match look(path, links) {
        Ok(meta) if meta.file_type().is_symlink() => Err(OpenError::Symlink(path.to_owned())),
        Ok(meta) if !meta.is_file() => Err(OpenError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(&meta),
        }),
        Ok(meta) => Ok(Some(meta)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(OpenError::Io {
            path: path.to_owned(),
            error: source,
        }),
    }
}

/// The flags every open here carries: never block on a FIFO, never become a controlling
/// terminal, and never follow a link where links are refused.
fn flags(links: Links) -> i32 {
    let mut flags = OFlags::NONBLOCK | OFlags::NOCTTY;
    if links == Links::Refuse {
        flags |= OFlags::NOFOLLOW;
    }
    flags.bits().cast_signed()
}

/// Opens `path` as a regular file with `options` (which say read, write, create…).
pub fn open_with(
    path: &Path,
    links: Links,
    options: &mut OpenOptions,
) -> Result<(File, Metadata), OpenError> {
    // Looking first means a device or FIFO is never opened at all; the check on the open
    // descriptor below catches whatever was swapped in between.
    check_regular(path, links)?;
    let file = match options.custom_flags(flags(links)).open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(OpenError::Missing(path.to_owned()));
        }
        Err(source) => {
            // ELOOP under O_NOFOLLOW, EISDIR, ENXIO (a socket): say what is there, if anything.
            check_regular(path, links)?;
            return Err(OpenError::Io {
                path: path.to_owned(),
                error: source,
            });
        }
    };
    let meta = file.metadata().map_err(|source| OpenError::Io {
        path: path.to_owned(),
        error: source,
    })?;
    if !meta.is_file() {
        return Err(OpenError::NotRegular {
            path: path.to_owned(),
            kind: kind_of(&meta),
        });
    }
    Ok((file, meta))
}

/// Opens an existing regular file for reading.
pub fn open_regular(path: &Path, links: Links) -> Result<(File, Metadata), OpenError> {
    open_with(path, links, OpenOptions::new().read(true))
}

/// Reads a whole regular file of at most `max` bytes.
pub fn read_regular(
    path: &Path,
    links: Links,
    max: u64,
    what: &'static str,
) -> Result<(Vec<u8>, Metadata), OpenError> {
    let (file, meta) = open_regular(path, links)?;
    let too_large = |len| OpenError::TooLarge {
        path: path.to_owned(),
        len,
        what,
        max,
    };
    if meta.len() > max {
        return Err(too_large(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    // One byte past the limit tells a file that grew since the fstat from one that did not.
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| OpenError::Io {
            path: path.to_owned(),
            error: source,
        })?;
    if bytes.len() as u64 > max {
        return Err(too_large(bytes.len() as u64));
    }
    Ok((bytes, meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_is_refused_without_blocking_and_named() {
        let dir = tempfile::tempdir().expect("dir");
        let fifo = dir.path().join("p");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .expect("mkfifo");
        let err = open_regular(&fifo, Links::Follow).expect_err("a FIFO");
        assert!(err.to_string().contains("FIFO"), "{err}");
        let err = open_regular(dir.path(), Links::Follow).expect_err("a directory");
        assert!(err.to_string().contains("directory"), "{err}");
        let missing = open_regular(&dir.path().join("none"), Links::Follow).expect_err("none");
        assert!(missing.is_missing());
    }

    #[test]
    fn a_link_is_followed_or_refused_as_asked() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("f");
        fs::write(&file, b"abc").expect("write");
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let (bytes, _) = read_regular(&link, Links::Follow, 10, "a test file").expect("follow");
        assert_eq!(bytes, b"abc");
        assert!(matches!(
            read_regular(&link, Links::Refuse, 10, "a test file"),
            Err(OpenError::Symlink(_))
        ));
        assert!(matches!(
            read_regular(&file, Links::Follow, 2, "a test file"),
            Err(OpenError::TooLarge { len: 3, .. })
        ));
    }
}
