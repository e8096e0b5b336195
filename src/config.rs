//! Flags, environment, config file and defaults, resolved once into one checked [`Config`].
//!
//! Precedence: flags > `INBOX_EXEC_*` environment (both arrive through clap) > the TOML file
//! > defaults. Clap types stop here; the rest of the program sees only `Config`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::io::Read as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::cli::GlobalArgs;
use crate::draft::NON_DELEGABLE_KINDS;
use crate::registry::postgres::connect::DEFAULT_SCHEMA;
use crate::registry::postgres::{PgSettings, PgUrl, is_postgres_url, valid_schema_name};

/// Why the configuration could not be assembled. Each message names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// Group or others may write the config: whoever can would choose our handlers.
    #[error(
        "config {path} is writable by group or others (mode {mode:04o}): run `chmod go-w {path}`"
    )]
    Writable {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Someone other than us or root owns the config: they could rewrite it.
    #[error(
        "config {path} is owned by uid {owner}: it must belong to the user running inbox-exec or to root (chown it)"
    )]
    Owner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// Not valid TOML, an unknown key, or a wrong type.
    #[error("config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What the parser said.
        message: String,
    },
    /// A value that parses but makes no sense.
    #[error("{origin}: {message}")]
    Invalid {
        /// The file, or the flag or variable.
        origin: String,
        /// What is wrong and what to do.
        message: String,
    },
    /// A default path needs a home directory.
    #[error("HOME is not set, so the default {what} path is unknown: set HOME or pass {flag}")]
    NoHome {
        /// Which path.
        what: &'static str,
        /// The flag that sets it.
        flag: &'static str,
    },
}

/// What the process knows of its environment, gathered once at the edge.
#[derive(Debug, Clone, Default)]
pub struct HostEnv {
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// Every variable, for the handlers' allowlists and the SMTP password.
    pub vars: BTreeMap<OsString, OsString>,
}

/// The thermal cutout's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThermalConfig {
    /// Trip when the window holds more than this many actions.
    pub max_actions: u32,
    /// The window.
    pub window: Duration,
    /// How long a trip pauses execution.
    pub cooldown: Duration,
}

/// The built-in `github_comment` handler's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubConfig {
    /// The `gh` program: a path, or a name looked up on PATH.
    pub gh: PathBuf,
    /// Kill `gh` after this long.
    pub timeout: Duration,
    /// Environment variables passed to `gh` besides PATH and HOME.
    pub env: Vec<String>,
}

/// A configured command handler for one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandHandler {
    /// Program (absolute path) and arguments.
    pub command: Vec<String>,
    /// Kill it after this long.
    pub timeout: Duration,
    /// Environment variables passed besides PATH and HOME.
    pub env: Vec<String>,
}

/// Where alerts go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transport {
    /// An SMTP server URL (`smtp://`, `smtps://`, `?tls=required`).
    Smtp {
        /// The URL.
        url: String,
        /// Login name.
        username: Option<String>,
        /// File holding the password.
        password_file: Option<PathBuf>,
    },
    /// A local sendmail program.
    Sendmail(PathBuf),
}

/// Alert e-mail settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// How to send.
    pub transport: Transport,
    /// Sender address.
    pub from: String,
    /// Recipients.
    pub to: Vec<String>,
    /// Give up on the mail server after this long.
    pub timeout: Duration,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The registry.
    pub db: PathBuf,
    /// Lock, thermal sidecar and summary live here.
    pub state_dir: PathBuf,
    /// How long a signed draft stays valid.
    pub ttl: Duration,
    /// key_version → key file.
    pub keys: BTreeMap<u32, PathBuf>,
    /// Default batch size for `run`.
    pub batch: u16,
    /// A draft claimed longer ago than this is stuck: `run` alerts once, `status` reports it.
    pub stuck_after: Duration,
    /// The thermal cutout.
    pub thermal: ThermalConfig,
    /// Non-delegable kinds: the built-in list plus `[refuse] extra_kinds`.
    pub non_delegable: Vec<String>,
    /// The `github_comment` handler.
    pub github: GithubConfig,
    /// Command handlers by kind.
    pub handlers: BTreeMap<String, CommandHandler>,
    /// Alerts; `None` logs them as warnings.
    pub notify: Option<NotifyConfig>,
    /// The PostgreSQL registry's settings, used when `db` is a `postgres://` URL.
    pub postgres: PgSettings,
}

impl Config {
    /// The TTL in whole seconds.
    pub fn ttl_seconds(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// Whether `kind` is refused whatever a handler says.
    pub fn is_non_delegable(&self, kind: &str) -> bool {
        self.non_delegable.iter().any(|k| k == kind)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    db: Option<PathBuf>,
    state_dir: Option<PathBuf>,
    ttl: Option<String>,
    #[serde(default)]
    keys: BTreeMap<String, PathBuf>,
    #[serde(default)]
    run: FileRun,
    #[serde(default)]
    thermal: FileThermal,
    #[serde(default)]
    refuse: FileRefuse,
    #[serde(default)]
    github: FileGithub,
    #[serde(default)]
    handlers: BTreeMap<String, FileHandler>,
    notify: Option<FileNotify>,
    #[serde(default)]
    postgres: FilePostgres,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePostgres {
    schema: Option<String>,
    password_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRun {
    batch: Option<u16>,
    stuck_after: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileThermal {
    max_actions: Option<u32>,
    window: Option<String>,
    cooldown: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileRefuse {
    #[serde(default)]
    extra_kinds: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGithub {
    gh: Option<PathBuf>,
    timeout: Option<String>,
    env: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileHandler {
    command: Vec<String>,
    timeout: Option<String>,
    #[serde(default)]
    env: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileNotify {
    smtp_url: Option<String>,
    sendmail: Option<PathBuf>,
    from: String,
    to: Vec<String>,
    username: Option<String>,
    password_file: Option<PathBuf>,
    timeout: Option<String>,
}

/// Defaults, as in the reference's layout and DESIGN.md §7.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
const DEFAULT_BATCH: u16 = 10;
const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAIL_TIMEOUT: Duration = Duration::from_secs(10);
const GITHUB_KIND: &str = "github_comment";

/// Parses a duration such as `30s`, `15m`, `24h`.
pub fn parse_duration(text: &str, origin: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|e| ConfigError::Invalid {
        origin: origin.to_owned(),
        message: format!("{text:?} is not a duration ({e}); write e.g. 30s, 15m, 24h"),
    })
}

impl Config {
    /// Resolves the configuration from the flags, the config file and the defaults.
    pub fn load(args: &GlobalArgs, env: &HostEnv) -> Result<Config, ConfigError> {
        let file_path = match &args.config {
            Some(path) => Some(path.clone()),
            None => default_config_file(env),
        };
        let (file, others_can_read) = match &file_path {
            Some(path) => read_file(path)?,
            None => (FileConfig::default(), false),
        };
        let origin = file_path
            .as_deref()
            .map_or_else(|| "defaults".to_owned(), |p| p.display().to_string());
        let base = file_path.as_deref().and_then(Path::parent);
        let resolve = |p: PathBuf| resolve_path(p, base, env);

        let home = |what, flag| {
            env.home
                .clone()
                .ok_or(ConfigError::NoHome { what, flag })
                .map(|h| h.join(".delimit"))
        };
        let db = match (&args.db, file.db) {
            (Some(p), _) => p.clone(),
            // A URL is not a path relative to the config file.
            (None, Some(p)) if is_postgres_url(&p.to_string_lossy()) => p,
            (None, Some(p)) => resolve(p),
            (None, None) => home("registry", "--db")?.join("drafts.db"),
        };
        let state_dir = match (&args.state_dir, file.state_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => resolve(p),
            (None, None) => home("state directory", "--state-dir")?.join("inbox-exec"),
        };
        let ttl = match (&args.ttl, &file.ttl) {
            (Some(t), _) => parse_duration(t, "--ttl / INBOX_EXEC_TTL")?,
            (None, Some(t)) => parse_duration(t, &format!("{origin}: ttl"))?,
            (None, None) => DEFAULT_TTL,
        };

        let mut keys = BTreeMap::new();
        for (version, path) in file.keys {
            let v: u32 =
                version
                    .parse()
                    .ok()
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| ConfigError::Invalid {
                        origin: format!("{origin}: [keys]"),
                        message: format!(
                            "{version:?} is not a key version (a whole number from 1)"
                        ),
                    })?;
            keys.insert(v, resolve(path));
        }
        if let Some(key) = &args.key {
            keys.insert(1, key.clone());
        }
        if keys.is_empty() {
            let path = home("key", "--key")?.join("secrets/inbox-executor-hmac.key");
            keys.insert(1, path);
        }

        let batch = file.run.batch.unwrap_or(DEFAULT_BATCH);
        if !(1..=1000).contains(&batch) {
            return Err(ConfigError::Invalid {
                origin: format!("{origin}: [run] batch"),
                message: format!("{batch} is out of range 1..=1000"),
            });
        }

        let stuck_after = optional_duration(file.run.stuck_after, &origin, "[run] stuck_after")?
            .unwrap_or(Duration::from_secs(10 * 60));

        let thermal = ThermalConfig {
            max_actions: file.thermal.max_actions.unwrap_or(10),
            window: optional_duration(file.thermal.window, &origin, "[thermal] window")?
                .unwrap_or(Duration::from_secs(15 * 60)),
            cooldown: optional_duration(file.thermal.cooldown, &origin, "[thermal] cooldown")?
                .unwrap_or(Duration::from_secs(5 * 60)),
        };

        let mut non_delegable: Vec<String> = NON_DELEGABLE_KINDS
            .iter()
            .map(|k| (*k).to_owned())
            .collect();
        for kind in file.refuse.extra_kinds {
            if kind.trim().is_empty() {
                return Err(ConfigError::Invalid {
                    origin: format!("{origin}: [refuse] extra_kinds"),
                    message: "an empty kind name".into(),
                });
            }
            if !non_delegable.contains(&kind) {
                non_delegable.push(kind);
            }
        }

        let github = GithubConfig {
            // A bare name is looked up on PATH; anything with a slash is a path, relative to
            // the config file like every other path in it.
            gh: match file.github.gh {
                Some(gh) if gh.components().count() > 1 => resolve(gh),
                Some(gh) => gh,
                None => PathBuf::from("gh"),
            },
            timeout: optional_duration(file.github.timeout, &origin, "[github] timeout")?
                .unwrap_or(DEFAULT_HANDLER_TIMEOUT),
            env: file.github.env.unwrap_or_else(|| {
                ["GH_TOKEN", "GH_HOST", "GH_CONFIG_DIR"]
                    .map(String::from)
                    .to_vec()
            }),
        };

        let mut handlers = BTreeMap::new();
        for (kind, h) in file.handlers {
            let section = format!("{origin}: [handlers.{kind}]");
            let invalid = |message: String| ConfigError::Invalid {
                origin: section.clone(),
                message,
            };
            if non_delegable.contains(&kind) {
                return Err(invalid(format!(
                    "{kind} is non-delegable: no handler may be configured for it"
                )));
            }
            if kind == GITHUB_KIND {
                return Err(invalid(format!(
                    "{GITHUB_KIND} is built in: configure it under [github]"
                )));
            }
            match h.command.first() {
                Some(program) if Path::new(program).is_absolute() => {}
                Some(program) => {
                    return Err(invalid(format!(
                        "command must start with an absolute path, not {program:?}"
                    )));
                }
                None => return Err(invalid("command is empty".into())),
            }
            let timeout =
                optional_duration(h.timeout, &origin, &format!("[handlers.{kind}] timeout"))?
                    .unwrap_or(DEFAULT_HANDLER_TIMEOUT);
            handlers.insert(
                kind,
                CommandHandler {
                    command: h.command,
                    timeout,
                    env: h.env,
                },
            );
        }

        let longest = handlers
            .values()
            .map(|h: &CommandHandler| h.timeout)
            .chain([github.timeout])
            .max()
            .unwrap_or_default();
        if stuck_after <= longest {
            return Err(ConfigError::Invalid {
                origin: format!("{origin}: [run] stuck_after"),
                message: format!(
                    "{} is not longer than the longest handler timeout ({}): a draft still being dispatched would be reported stuck",
                    humantime::format_duration(stuck_after),
                    humantime::format_duration(longest)
                ),
            });
        }

        let notify = file
            .notify
            .map(|n| notify_config(n, &origin, others_can_read, &resolve))
            .transpose()?;

        let postgres = postgres_settings(file.postgres, &db, &origin, env, &resolve)?;

        Ok(Config {
            file: file_path,
            db,
            state_dir,
            ttl,
            keys,
            batch,
            stuck_after,
            thermal,
            non_delegable,
            github,
            handlers,
            notify,
            postgres,
        })
    }
}

/// The `[postgres]` section, with libpq's password file and login name from the
/// environment; checks a `postgres://` registry URL now, so every later message can quote it.
fn postgres_settings(
    file: FilePostgres,
    db: &Path,
    origin: &str,
    env: &HostEnv,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<PgSettings, ConfigError> {
    let var = |name: &str| {
        env.vars
            .get(std::ffi::OsStr::new(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let settings = PgSettings {
        schema: file.schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
        password_file: file.password_file.map(resolve),
        ca_file: file.ca_file.map(resolve),
        pgpass: var("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass"))),
        default_user: var("PGUSER")
            .or_else(|| var("USER"))
            .map(|u| u.to_string_lossy().into_owned()),
    };
    if !valid_schema_name(&settings.schema) {
        return Err(ConfigError::Invalid {
            origin: format!("{origin}: [postgres] schema"),
            message: format!(
                "{:?} is not a plain schema name: use lower-case letters, digits and _",
                settings.schema
            ),
        });
    }
    let text = db.to_string_lossy();
    if is_postgres_url(&text) {
        PgUrl::parse(&text).map_err(|e| ConfigError::Invalid {
            origin: "the registry URL (db, --db or INBOX_EXEC_DB)".into(),
            message: e.to_string(),
        })?;
    }
    Ok(settings)
}

fn notify_config(
    n: FileNotify,
    origin: &str,
    others_can_read: bool,
    resolve: &impl Fn(PathBuf) -> PathBuf,
) -> Result<NotifyConfig, ConfigError> {
    let invalid = |message: &str| ConfigError::Invalid {
        origin: format!("{origin}: [notify]"),
        message: message.to_owned(),
    };
    let transport = match (n.smtp_url, n.sendmail) {
        (Some(url), None) if others_can_read && url_has_password(&url) => {
            return Err(invalid(
                "smtp_url carries a password in a file others can read: move it to password_file (mode 0600) or INBOX_EXEC_SMTP_PASSWORD, or chmod 600 the config",
            ));
        }
        (Some(url), None) => Transport::Smtp {
            url,
            username: n.username,
            password_file: n.password_file.map(resolve),
        },
        (None, Some(path)) => Transport::Sendmail(resolve(path)),
        (Some(_), Some(_)) => return Err(invalid("set smtp_url or sendmail, not both")),
        (None, None) => return Err(invalid("set smtp_url or sendmail")),
    };
    if n.to.is_empty() {
        return Err(invalid("`to` names no recipient"));
    }
    Ok(NotifyConfig {
        transport,
        from: n.from,
        to: n.to,
        timeout: optional_duration(n.timeout, origin, "[notify] timeout")?
            .unwrap_or(DEFAULT_MAIL_TIMEOUT),
    })
}

/// Whether a URL's authority holds `user:password@`.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    authority
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn optional_duration(
    text: Option<String>,
    origin: &str,
    key: &str,
) -> Result<Option<Duration>, ConfigError> {
    text.map(|t| parse_duration(&t, &format!("{origin}: {key}")))
        .transpose()
}

fn default_config_file(env: &HostEnv) -> Option<PathBuf> {
    let xdg = env
        .xdg_config_home
        .clone()
        .filter(|p| p.is_absolute())
        .or_else(|| env.home.as_ref().map(|h| h.join(".config")));
    let candidates = xdg
        .map(|d| d.join("inbox-exec/config.toml"))
        .into_iter()
        .chain([PathBuf::from("/etc/inbox-exec/config.toml")]);
    candidates.into_iter().find(|p| p.exists())
}

/// Reads the config file after checking, on the open file, who can change it: whoever can
/// write it chooses our handlers. Returns the parsed file and whether others can read it.
fn read_file(path: &Path) -> Result<(FileConfig, bool), ConfigError> {
    let read_err = |source| ConfigError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = fs::File::open(path).map_err(read_err)?;
    let meta = file.metadata().map_err(read_err)?;
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
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(read_err)?;
    let parsed = toml::from_str(&text).map_err(|e| ConfigError::Parse {
        path: path.to_owned(),
        message: e.to_string().trim_end().to_owned(),
    })?;
    Ok((parsed, mode & 0o044 != 0))
}

/// `~/` expands to the home directory; other relative paths are relative to the config file.
fn resolve_path(path: PathBuf, base: Option<&Path>, env: &HostEnv) -> PathBuf {
    if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), &env.home) {
        return home.join(rest);
    }
    match base {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    }
}
