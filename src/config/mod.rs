//! Flags, environment, config file and defaults, resolved once into one checked [`Config`].
//!
//! Precedence, for every setting: flags > `INBOX_EXEC_*` environment (both arrive through
//! clap, which reads the variable when the flag is absent) > the TOML file > the defaults
//! below. [`Config::load`] decides it in one place, one function per section of the file.
//! Clap types stop here; the rest of the program sees only `Config`.

mod file;
pub mod keys;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{BATCH_RANGE, Cli, Command};
use crate::draft::{GITHUB_COMMENT, NON_DELEGABLE_KINDS};
use crate::registry::postgres::connect::DEFAULT_SCHEMA;
use crate::registry::postgres::{PgSettings, PgUrl, is_postgres_url, valid_schema_name};
use file::{
    FileConfig, FileGithub, FileHandler, FileNotify, FilePostgres, FileRefuse, FileRun, FileThermal,
};

/// The directory under `$HOME` that holds the reference's files (DESIGN.md §7).
const HOME_DIR: &str = ".delimit";
/// The default registry, under [`HOME_DIR`].
const DEFAULT_DB: &str = "drafts.db";
/// The default state directory, under [`HOME_DIR`].
const DEFAULT_STATE_DIR: &str = "inbox-exec";
/// The default key file for key_version 1, under [`HOME_DIR`].
const DEFAULT_KEY: &str = "secrets/inbox-executor-hmac.key";
/// How long a signed draft stays valid.
const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// Approved drafts per cycle.
const DEFAULT_BATCH: u16 = 10;
/// A draft claimed longer ago than this is stuck.
const DEFAULT_STUCK_AFTER: Duration = Duration::from_secs(10 * 60);
/// The thermal cutout trips when its window holds more actions than this.
const DEFAULT_MAX_ACTIONS: u32 = 10;
/// The thermal window.
const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long a trip pauses execution.
const DEFAULT_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// The `gh` program, looked up on PATH.
const DEFAULT_GH: &str = "gh";
/// The variables passed to `gh` besides PATH and HOME.
const DEFAULT_GH_ENV: [&str; 3] = ["GH_TOKEN", "GH_HOST", "GH_CONFIG_DIR"];
/// How long a handler (`gh` or a configured command) may run.
const DEFAULT_HANDLER_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the mail server may take.
const DEFAULT_MAIL_TIMEOUT: Duration = Duration::from_secs(10);
/// Well inside the systemd unit's TimeoutStartSec (330 s) once the handlers' 300 s are spent,
/// and long enough for two slow sends.
const DEFAULT_MAIL_DEADLINE: Duration = Duration::from_secs(20);
/// `[notify] undelivered_after` when not set (and what `status --check` uses without mail).
pub const DEFAULT_UNDELIVERED_AFTER: Duration = Duration::from_secs(60 * 60);

/// Why the configuration could not be assembled. Each message names the file or the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The config file is missing, not a regular file, unreadable, or far too large. Its
    /// message holds the cause, so it is not linked as a source (which would print it twice).
    #[error("config {0}")]
    File(crate::fsutil::OpenError),
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

impl From<crate::fsutil::OpenError> for ConfigError {
    fn from(e: crate::fsutil::OpenError) -> ConfigError {
        ConfigError::File(e)
    }
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

/// A configured command handler for one kind (`[handlers.<kind>]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerConfig {
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
    /// Give up on the mail server after this long without an answer.
    pub timeout: Duration,
    /// The whole delivery phase of a run ends after this long; what is not sent by then
    /// stays in the outbox.
    pub deadline: Duration,
    /// `status --check` exits 7 when an alert has waited undelivered for longer than this.
    pub undelivered_after: Duration,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The config file read, if any.
    pub file: Option<PathBuf>,
    /// The registry.
    pub db: PathBuf,
    /// Whether `db` is the default path (no flag, variable or config key named it): only the
    /// default registry may be created on first use, so a mistyped path is an error.
    pub db_is_default: bool,
    /// Lock, thermal sidecar and summary live here.
    pub state_dir: PathBuf,
    /// How long a signed draft stays valid.
    pub ttl: Duration,
    /// key_version → key file.
    pub keys: BTreeMap<u32, PathBuf>,
    /// Approved drafts per `run` cycle: `--batch`, else `[run] batch`, else 10.
    pub batch: u16,
    /// A draft claimed longer ago than this is stuck: `run` alerts once, `status` reports it.
    pub stuck_after: Duration,
    /// `[run] metrics_file`: the Prometheus textfile each run rewrites, if any.
    pub metrics_file: Option<PathBuf>,
    /// The thermal cutout.
    pub thermal: ThermalConfig,
    /// Non-delegable kinds: the built-in list plus `[refuse] extra_kinds`.
    pub non_delegable: Vec<String>,
    /// The `github_comment` handler.
    pub github: GithubConfig,
    /// Command handlers by kind.
    pub handlers: BTreeMap<String, HandlerConfig>,
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

    /// `stuck_after` in whole seconds, as the registry's times are kept.
    pub fn stuck_after_s(&self) -> i64 {
        i64::try_from(self.stuck_after.as_secs()).unwrap_or(i64::MAX)
    }

    /// Whether `kind` is refused whatever a handler says.
    pub fn is_non_delegable(&self, kind: &str) -> bool {
        self.non_delegable.iter().any(|k| k == kind)
    }
}

/// Parses a duration such as `30s`, `15m`, `24h`.
pub fn parse_duration(text: &str, origin: &str) -> Result<Duration, ConfigError> {
    humantime::parse_duration(text.trim()).map_err(|e| ConfigError::Invalid {
        origin: origin.to_owned(),
        message: format!("{text:?} is not a duration ({e}); write e.g. 30s, 15m, 24h"),
    })
}

impl Config {
    /// Resolves the configuration from the command line (flags and, through clap, the
    /// environment), the config file and the defaults.
    pub fn load(cli: &Cli, env: &HostEnv) -> Result<Config, ConfigError> {
        let args = &cli.global;
        let file_path = args
            .config
            .clone()
            .or_else(|| file::default_config_file(env));
        let (file, others_can_read) = match &file_path {
            Some(path) => file::read_file(path)?,
            None => (FileConfig::default(), false),
        };
        let src = Source {
            origin: file_path
                .as_deref()
                .map_or_else(|| "defaults".to_owned(), |p| p.display().to_string()),
            base: file_path.as_deref().and_then(Path::parent),
            env,
        };

        let db_is_default = args.db.is_none() && file.db.is_none();
        let db = match (&args.db, file.db) {
            (Some(p), _) => p.clone(),
            // A URL is not a path relative to the config file.
            (None, Some(p)) if is_postgres_url(&p.to_string_lossy()) => p,
            (None, Some(p)) => src.resolve(p),
            (None, None) => src.home("registry", "--db")?.join(DEFAULT_DB),
        };
        let state_dir = match (&args.state_dir, file.state_dir) {
            (Some(p), _) => p.clone(),
            (None, Some(p)) => src.resolve(p),
            (None, None) => src
                .home("state directory", "--state-dir")?
                .join(DEFAULT_STATE_DIR),
        };
        let ttl = match (&args.ttl, &file.ttl) {
            (Some(t), _) => at_least_a_second(*t, "--ttl / INBOX_EXEC_TTL", defeats("ttl"))?,
            (None, Some(t)) => src.duration(Some(t.clone()), "ttl", DEFAULT_TTL)?,
            (None, None) => DEFAULT_TTL,
        };
        let keys = keys(&src, file.keys, args.key.as_ref())?;
        let batch_flag = match &cli.command {
            Command::Run(run) => run.batch,
            _ => None,
        };
        let metrics_file = file.run.metrics_file.clone().map(|p| src.resolve(p));
        let (batch, stuck_after) = run(&src, file.run, batch_flag)?;
        let thermal = thermal(&src, file.thermal)?;
        let non_delegable = refuse(&src, file.refuse)?;
        let github = github(&src, file.github)?;
        let handlers = handlers(&src, file.handlers, &non_delegable)?;
        check_stuck_after(&src, stuck_after, &github, &handlers)?;
        let notify = file
            .notify
            .map(|n| notify(&src, n, others_can_read))
            .transpose()?;
        let postgres = postgres(&src, file.postgres, &db)?;

        Ok(Config {
            file: file_path,
            db,
            db_is_default,
            state_dir,
            ttl,
            keys,
            batch,
            stuck_after,
            metrics_file,
            thermal,
            non_delegable,
            github,
            handlers,
            notify,
            postgres,
        })
    }
}

/// Where file values come from: the file's name for messages, its directory for relative
/// paths, and the host's home directory.
struct Source<'a> {
    origin: String,
    base: Option<&'a Path>,
    env: &'a HostEnv,
}

impl Source<'_> {
    /// `~/` expands to the home directory; other relative paths are relative to the config
    /// file.
    fn resolve(&self, path: PathBuf) -> PathBuf {
        if let (Ok(rest), Some(home)) = (path.strip_prefix("~"), &self.env.home) {
            return home.join(rest);
        }
        match self.base {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }
    }

    /// `~/.delimit`, the home of every default path; `what` and `flag` name the setting that
    /// needs it when HOME is unset.
    fn home(&self, what: &'static str, flag: &'static str) -> Result<PathBuf, ConfigError> {
        self.env
            .home
            .as_ref()
            .map(|h| h.join(HOME_DIR))
            .ok_or(ConfigError::NoHome { what, flag })
    }

    /// A value of `key` that makes no sense.
    fn invalid(&self, key: &str, message: String) -> ConfigError {
        ConfigError::Invalid {
            origin: format!("{}: {key}", self.origin),
            message,
        }
    }

    /// An optional duration at `key`, or `default`. Durations are counted in whole seconds,
    /// so anything shorter is zero, and zero defeats every one of them: refused.
    fn duration(
        &self,
        text: Option<String>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        match text {
            Some(t) => {
                let origin = format!("{}: {key}", self.origin);
                at_least_a_second(parse_duration(&t, &origin)?, &origin, defeats(key))
            }
            None => Ok(default),
        }
    }
}

/// What a zero value of each duration key would break.
fn defeats(key: &str) -> &'static str {
    match key {
        "ttl" => "refuses every draft as expired",
        "[thermal] cooldown" => "turns the thermal cutout into alerts only (a trip pauses nothing)",
        "[thermal] window" => "makes the thermal window empty, so the cutout never trips",
        "[run] stuck_after" => "reports every draft in flight as stuck",
        "[notify] timeout" => "gives up on every alert before it is sent",
        "[notify] deadline" => "leaves no time to deliver any alert",
        "[notify] undelivered_after" => "raises the undeliverable-alerts alarm at once",
        _ if key.ends_with("timeout") => {
            "claims each draft and kills its handler at once, burning the draft"
        }
        _ => "defeats the setting",
    }
}

/// Refuses a duration shorter than a second, saying what it would break.
fn at_least_a_second(value: Duration, origin: &str, why: &str) -> Result<Duration, ConfigError> {
    if value < Duration::from_secs(1) {
        return Err(ConfigError::Invalid {
            origin: origin.to_owned(),
            message: format!(
                "{} is shorter than a second, which {why}: use at least 1s",
                humantime::format_duration(value)
            ),
        });
    }
    Ok(value)
}

/// `[keys]`, then `--key` for version 1, then the default key file.
fn keys(
    src: &Source<'_>,
    file: BTreeMap<String, PathBuf>,
    flag: Option<&PathBuf>,
) -> Result<BTreeMap<u32, PathBuf>, ConfigError> {
    let mut keys = BTreeMap::new();
    for (version, path) in file {
        let v: u32 = version.parse().ok().filter(|v| *v >= 1).ok_or_else(|| {
            src.invalid(
                "[keys]",
                format!("{version:?} is not a key version (a whole number from 1)"),
            )
        })?;
        keys.insert(v, src.resolve(path));
    }
    if let Some(key) = flag {
        keys.insert(1, key.clone());
    }
    if keys.is_empty() {
        keys.insert(1, src.home("key", "--key")?.join(DEFAULT_KEY));
    }
    Ok(keys)
}

/// `[run]`: the batch size (`--batch` / `INBOX_EXEC_BATCH` first) and `stuck_after`.
fn run(
    src: &Source<'_>,
    file: FileRun,
    batch_flag: Option<u16>,
) -> Result<(u16, Duration), ConfigError> {
    // The file's value is checked even when the flag wins: a wrong file is wrong. The flag's
    // range is checked by clap, with the same bounds.
    if let Some(n) = file.batch.filter(|n| !BATCH_RANGE.contains(n)) {
        return Err(src.invalid(
            "[run] batch",
            format!(
                "{n} is out of range {}..={}",
                BATCH_RANGE.start(),
                BATCH_RANGE.end()
            ),
        ));
    }
    let batch = batch_flag.or(file.batch).unwrap_or(DEFAULT_BATCH);
    let stuck_after = src.duration(file.stuck_after, "[run] stuck_after", DEFAULT_STUCK_AFTER)?;
    Ok((batch, stuck_after))
}

/// `[thermal]`.
fn thermal(src: &Source<'_>, file: FileThermal) -> Result<ThermalConfig, ConfigError> {
    Ok(ThermalConfig {
        max_actions: file.max_actions.unwrap_or(DEFAULT_MAX_ACTIONS),
        window: src.duration(file.window, "[thermal] window", DEFAULT_WINDOW)?,
        cooldown: src.duration(file.cooldown, "[thermal] cooldown", DEFAULT_COOLDOWN)?,
    })
}

/// `[refuse]`: the built-in non-delegable kinds plus `extra_kinds`; never fewer.
fn refuse(src: &Source<'_>, file: FileRefuse) -> Result<Vec<String>, ConfigError> {
    let mut kinds: Vec<String> = NON_DELEGABLE_KINDS
        .iter()
        .map(|k| (*k).to_owned())
        .collect();
    for kind in file.extra_kinds {
        if kind.trim().is_empty() {
            return Err(src.invalid("[refuse] extra_kinds", "an empty kind name".into()));
        }
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    Ok(kinds)
}

/// `[github]`.
fn github(src: &Source<'_>, file: FileGithub) -> Result<GithubConfig, ConfigError> {
    Ok(GithubConfig {
        // A bare name is looked up on PATH; anything with a slash is a path, relative to
        // the config file like every other path in it.
        gh: match file.gh {
            Some(gh) if gh.components().count() > 1 => src.resolve(gh),
            Some(gh) => gh,
            None => PathBuf::from(DEFAULT_GH),
        },
        timeout: src.duration(file.timeout, "[github] timeout", DEFAULT_HANDLER_TIMEOUT)?,
        env: file
            .env
            .unwrap_or_else(|| DEFAULT_GH_ENV.map(String::from).to_vec()),
    })
}

/// `[handlers.<kind>]`: never for a non-delegable or a built-in kind; the command an absolute
/// path.
fn handlers(
    src: &Source<'_>,
    file: BTreeMap<String, FileHandler>,
    non_delegable: &[String],
) -> Result<BTreeMap<String, HandlerConfig>, ConfigError> {
    let mut handlers = BTreeMap::new();
    for (kind, h) in file {
        let section = format!("[handlers.{kind}]");
        let invalid = |message: String| src.invalid(&section, message);
        if non_delegable.contains(&kind) {
            return Err(invalid(format!(
                "{kind} is non-delegable: no handler may be configured for it"
            )));
        }
        if kind == GITHUB_COMMENT {
            return Err(invalid(format!(
                "{GITHUB_COMMENT} is built in: configure it under [github]"
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
        let timeout = src.duration(
            h.timeout,
            &format!("[handlers.{kind}] timeout"),
            DEFAULT_HANDLER_TIMEOUT,
        )?;
        handlers.insert(
            kind,
            HandlerConfig {
                command: h.command,
                timeout,
                env: h.env,
            },
        );
    }
    Ok(handlers)
}

/// `stuck_after` must outlast every handler's timeout: a draft still being dispatched is not
/// stuck.
fn check_stuck_after(
    src: &Source<'_>,
    stuck_after: Duration,
    github: &GithubConfig,
    handlers: &BTreeMap<String, HandlerConfig>,
) -> Result<(), ConfigError> {
    let longest = handlers
        .values()
        .map(|h| h.timeout)
        .chain([github.timeout])
        .max()
        .unwrap_or_default();
    if stuck_after <= longest {
        return Err(src.invalid(
            "[run] stuck_after",
            format!(
                "{} is not longer than the longest handler timeout ({}): a draft still being dispatched would be reported stuck",
                humantime::format_duration(stuck_after),
                humantime::format_duration(longest)
            ),
        ));
    }
    Ok(())
}

/// `[postgres]`, with libpq's password file (`PGPASSFILE`, else `~/.pgpass`) and role
/// (`PGUSER`, else `USER`) from the environment. A `postgres://` registry URL is checked
/// now, so every later message can quote it (redacted).
fn postgres(src: &Source<'_>, file: FilePostgres, db: &Path) -> Result<PgSettings, ConfigError> {
    let var = |name: &str| {
        src.env
            .vars
            .get(std::ffi::OsStr::new(name))
            .filter(|v| !v.is_empty())
            .cloned()
    };
    let settings = PgSettings {
        schema: file.schema.unwrap_or_else(|| DEFAULT_SCHEMA.to_owned()),
        password_file: file.password_file.map(|p| src.resolve(p)),
        ca_file: file.ca_file.map(|p| src.resolve(p)),
        pgpass: var("PGPASSFILE")
            .map(PathBuf::from)
            .or_else(|| src.env.home.as_ref().map(|h| h.join(".pgpass"))),
        default_user: var("PGUSER")
            .or_else(|| var("USER"))
            .map(|u| u.to_string_lossy().into_owned()),
    };
    if !valid_schema_name(&settings.schema) {
        return Err(src.invalid(
            "[postgres] schema",
            format!(
                "{:?} is not a plain schema name: use lower-case letters, digits and _",
                settings.schema
            ),
        ));
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

/// `[notify]`: exactly one transport, at least one recipient, no password where others can
/// read it.
fn notify(
    src: &Source<'_>,
    n: FileNotify,
    others_can_read: bool,
) -> Result<NotifyConfig, ConfigError> {
    let invalid = |message: &str| src.invalid("[notify]", message.to_owned());
    let transport = match (n.smtp_url, n.sendmail) {
        (Some(url), None) if others_can_read && url_has_password(&url) => {
            return Err(invalid(
                "smtp_url carries a password in a file others can read: move it to password_file (mode 0600) or INBOX_EXEC_SMTP_PASSWORD, or chmod 600 the config",
            ));
        }
        (Some(url), None) => Transport::Smtp {
            url,
            username: n.username,
            password_file: n.password_file.map(|p| src.resolve(p)),
        },
        (None, Some(path)) => Transport::Sendmail(src.resolve(path)),
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
        timeout: src.duration(n.timeout, "[notify] timeout", DEFAULT_MAIL_TIMEOUT)?,
        deadline: src.duration(n.deadline, "[notify] deadline", DEFAULT_MAIL_DEADLINE)?,
        undelivered_after: src.duration(
            n.undelivered_after,
            "[notify] undelivered_after",
            DEFAULT_UNDELIVERED_AFTER,
        )?,
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
