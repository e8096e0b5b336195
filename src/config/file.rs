//! The TOML config file: its shape (unknown keys are errors), where it is looked for, and
//! reading it only after checking, on the open file, who may change it.

use std::collections::BTreeMap;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ConfigError, HostEnv};
use crate::fsutil::{self, Links};

/// The user's config file, under `$XDG_CONFIG_HOME` (or `~/.config`).
const USER_CONFIG: &str = "inbox-exec/config.toml";
/// The system-wide config file, read when the user has none.
const SYSTEM_CONFIG: &str = "/etc/inbox-exec/config.toml";

/// The whole file, as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) db: Option<PathBuf>,
    pub(super) state_dir: Option<PathBuf>,
    pub(super) ttl: Option<String>,
    #[serde(default)]
    pub(super) keys: BTreeMap<String, PathBuf>,
    #[serde(default)]
    pub(super) run: FileRun,
    #[serde(default)]
    pub(super) thermal: FileThermal,
    #[serde(default)]
    pub(super) refuse: FileRefuse,
    #[serde(default)]
    pub(super) github: FileGithub,
    #[serde(default)]
    pub(super) handlers: BTreeMap<String, FileHandler>,
    pub(super) notify: Option<FileNotify>,
    #[serde(default)]
    pub(super) postgres: FilePostgres,
}

/// `[postgres]`: the PostgreSQL registry's settings.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FilePostgres {
    pub(super) schema: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) ca_file: Option<PathBuf>,
}

/// `[run]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRun {
    pub(super) batch: Option<u16>,
    pub(super) stuck_after: Option<String>,
    pub(super) metrics_file: Option<PathBuf>,
}

/// `[thermal]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileThermal {
    pub(super) max_actions: Option<u32>,
    pub(super) window: Option<String>,
    pub(super) cooldown: Option<String>,
}

/// `[refuse]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileRefuse {
    #[serde(default)]
    pub(super) extra_kinds: Vec<String>,
}

/// `[github]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileGithub {
    pub(super) gh: Option<PathBuf>,
    pub(super) timeout: Option<String>,
    pub(super) env: Option<Vec<String>>,
}

/// `[handlers.<kind>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileHandler {
    pub(super) command: Vec<String>,
    pub(super) timeout: Option<String>,
    #[serde(default)]
    pub(super) env: Vec<String>,
}

/// `[notify]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileNotify {
    pub(super) smtp_url: Option<String>,
    pub(super) sendmail: Option<PathBuf>,
    pub(super) from: String,
    pub(super) to: Vec<String>,
    pub(super) username: Option<String>,
    pub(super) password_file: Option<PathBuf>,
    pub(super) timeout: Option<String>,
    pub(super) deadline: Option<String>,
    pub(super) undelivered_after: Option<String>,
}

/// The first config file present: `$XDG_CONFIG_HOME/inbox-exec/config.toml` (or
/// `~/.config/…`), then `/etc/inbox-exec/config.toml`.
pub(super) fn default_config_file(env: &HostEnv) -> Option<PathBuf> {
    let xdg = env
        .xdg_config_home
        .clone()
        .filter(|p| p.is_absolute())
        .or_else(|| env.home.as_ref().map(|h| h.join(".config")));
    let candidates = xdg
        .map(|d| d.join(USER_CONFIG))
        .into_iter()
        .chain([PathBuf::from(SYSTEM_CONFIG)]);
    candidates.into_iter().find(|p| p.exists())
}

/// A config file larger than this is not one a person wrote; refusing it bounds the parse.
const MAX_CONFIG: u64 = 1024 * 1024;

/// Reads the config file after checking, on the open file, who can change it: whoever can
/// write it chooses our handlers. Returns the parsed file and whether others can read it.
pub(super) fn read_file(path: &Path) -> Result<(FileConfig, bool), ConfigError> {
    // Through fsutil: a FIFO at the config path would block every command for ever.
    let (bytes, meta) = fsutil::read_regular(path, Links::Follow, MAX_CONFIG, "a config file")?;
    let mode = meta.permissions().mode() & 0o7777;
    if mode & 0o022 != 0 {
        return Err(ConfigError::Writable {
            path: path.to_owned(),
            mode,
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(ConfigError::Owner {
            path: path.to_owned(),
            owner: meta.uid(),
        });
    }
    let text = String::from_utf8(bytes).map_err(|_| ConfigError::Parse {
        path: path.to_owned(),
        message: "it is not UTF-8 text".into(),
    })?;
    let parsed = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    Ok((parsed, mode & 0o044 != 0))
}
