//! HMAC keys: loading with ownership and permission checks, versions, and `keygen`.
//!
//! Key bytes never leave this module except as a borrowed slice handed to the MAC; `Debug`
//! is redacted so a key cannot end up in a log line by accident.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::fsutil::{self, Links, OpenError};

/// Bytes in a key made by `keygen`, as the reference makes them.
pub const KEY_LEN: usize = 32;

/// A key file larger than this is not an HMAC key; refusing it keeps a misconfigured path
/// (a log, a disk image) from being read into memory.
const MAX_KEY_FILE: u64 = 64 * 1024;

/// Why a key could not be loaded or created. Each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No key is configured for a version a draft names.
    #[error("no key is configured for key_version {0}: add it under [keys] in the config")]
    NotConfigured(u32),
    /// The key file does not exist.
    #[error(
        "HMAC key {0} does not exist: create it with `inbox-exec keygen` or point --key at the key (the executor never creates one)"
    )]
    Missing(PathBuf),
    /// The key file could not be read.
    #[error("cannot read HMAC key {path}")]
    Unreadable {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The path is not a regular file.
    #[error(
        "HMAC key {path} is a {kind}, not a regular file: point --key (or [keys] in the config) at the key file, or create one with `inbox-exec keygen`"
    )]
    NotAFile {
        /// The key path.
        path: PathBuf,
        /// What is there instead.
        kind: &'static str,
    },
    /// Group or others may read or write the key.
    #[error(
        "HMAC key {path} is accessible by group or others (mode {mode:04o}): run `chmod 600 {path}`"
    )]
    LoosePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Another user owns the key.
    #[error(
        "HMAC key {path} is owned by uid {owner}, not by the user running inbox-exec (uid {me}): chown it or run as its owner"
    )]
    WrongOwner {
        /// The key file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// The file is empty or too large to be a key.
    #[error(
        "HMAC key {path} holds {len} bytes, which is not a usable key (keygen writes {KEY_LEN})"
    )]
    BadLength {
        /// The key file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// `keygen` found a file (or link) already at the path.
    #[error(
        "{0} already exists: keygen never overwrites a key (remove it first if you mean to replace it)"
    )]
    Exists(PathBuf),
    /// `keygen` could not create the key.
    #[error("cannot create HMAC key {path}")]
    Create {
        /// The key file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
}

/// Raw key bytes. Not `Display`, and `Debug` shows nothing of them.
pub struct Key(Vec<u8>);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key(<{} bytes redacted>)", self.0.len())
    }
}

/// The configured key versions and their files, each read at most once, and only when needed.
#[derive(Debug, Default)]
pub struct KeyRing {
    paths: BTreeMap<u32, PathBuf>,
    loaded: BTreeMap<u32, OnceCell<Key>>,
}

impl KeyRing {
    /// A ring over `paths` (version → key file). Nothing is read yet.
    pub fn new(paths: BTreeMap<u32, PathBuf>) -> Self {
        let loaded = paths.keys().map(|v| (*v, OnceCell::new())).collect();
        KeyRing { paths, loaded }
    }

    /// Whether a key is configured for `version`.
    pub fn knows(&self, version: u32) -> bool {
        self.paths.contains_key(&version)
    }

    /// The newest configured version and its file: what signing uses.
    pub fn newest(&self) -> Option<(u32, &Path)> {
        self.paths
            .iter()
            .next_back()
            .map(|(v, p)| (*v, p.as_path()))
    }

    /// The key file configured for `version`.
    pub fn path(&self, version: u32) -> Option<&Path> {
        self.paths.get(&version).map(PathBuf::as_path)
    }

    /// The key bytes for `version`, loading and checking the file on first use.
    pub fn key(&self, version: u32) -> Result<&[u8], KeyError> {
        let (Some(path), Some(cell)) = (self.paths.get(&version), self.loaded.get(&version)) else {
            return Err(KeyError::NotConfigured(version));
        };
        if let Some(key) = cell.get() {
            return Ok(&key.0);
        }
        let key = load_key(path)?;
        Ok(&cell.get_or_init(|| key).0)
    }
}

/// Reads a key file after checking, on the open file itself, that it is a regular file of a
/// sane size, owned by us and closed to group and others.
pub fn load_key(path: &Path) -> Result<Key, KeyError> {
    let unreadable = |source: io::Error| KeyError::Unreadable {
        path: path.to_owned(),
        source,
    };
    // O_NONBLOCK and a type check before reading: a FIFO at the key path must not hang a run.
    let (file, meta) = match fsutil::open_regular(path, Links::Follow) {
        Ok(opened) => opened,
        Err(OpenError::Missing(_)) => return Err(KeyError::Missing(path.to_owned())),
        Err(OpenError::NotRegular { kind, .. }) => {
            return Err(KeyError::NotAFile {
                path: path.to_owned(),
                kind,
            });
        }
        Err(OpenError::Io { error, .. }) => return Err(unreadable(error)),
        Err(other) => return Err(unreadable(io::Error::other(other.to_string()))),
    };
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyError::LoosePermissions {
            path: path.to_owned(),
            mode,
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me {
        return Err(KeyError::WrongOwner {
            path: path.to_owned(),
            owner: meta.uid(),
            me,
        });
    }
    if meta.len() == 0 || meta.len() > MAX_KEY_FILE {
        return Err(KeyError::BadLength {
            path: path.to_owned(),
            len: meta.len(),
        });
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(MAX_KEY_FILE)
        .read_to_end(&mut bytes)
        .map_err(unreadable)?;
    Ok(Key(bytes))
}

/// Creates a new random key at `path`, mode 0600, never replacing anything already there
/// (a symlink included: `O_EXCL` refuses to follow one).
pub fn keygen(path: &Path) -> Result<(), KeyError> {
    let create = |source: io::Error| KeyError::Create {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(parent)
            .map_err(create)?;
    }
    let mut key = [0u8; KEY_LEN];
    getrandom::fill(&mut key).map_err(|e| create(io::Error::other(e.to_string())))?;
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(KeyError::Exists(path.to_owned()));
        }
        Err(e) => return Err(create(e)),
    };
    let written = file.write_all(&key).and_then(|()| file.sync_all());
    if let Err(e) = written {
        // Never leave a short key behind for a later run to trust.
        let _ = fs::remove_file(path);
        return Err(create(e));
    }
    Ok(())
}
