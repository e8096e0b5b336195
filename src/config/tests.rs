//! Unit tests of [`Config::load`]: precedence, defaults, and every validation error. The
//! environment layer is clap's (`env = "INBOX_EXEC_…"` on each flag), checked here by name:
//! setting process variables would race the other tests in this process.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{CommandFactory, Parser};
use tempfile::TempDir;

use super::*;
use crate::cli::Cli;

/// A temp directory standing in for HOME, with a config file in it when asked.
struct World {
    dir: TempDir,
}

impl World {
    fn new() -> World {
        World {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn home(&self) -> &Path {
        self.dir.path()
    }

    fn env(&self) -> HostEnv {
        HostEnv {
            home: Some(self.home().to_owned()),
            // An XDG directory with no config in it: no file is found by default.
            xdg_config_home: Some(self.home().join("xdg")),
            vars: BTreeMap::new(),
        }
    }

    /// Writes `etc/config.toml` with `mode` and returns its path.
    fn config(&self, text: &str, mode: u32) -> PathBuf {
        let dir = self.home().join("etc");
        fs::create_dir_all(&dir).expect("mkdir");
        let path = dir.join("config.toml");
        fs::write(&path, text).expect("write config");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    /// Loads with `args` (after the program name) and a config file holding `text`.
    fn load(&self, text: &str, args: &[&str]) -> Result<Config, ConfigError> {
        let path = self.config(text, 0o600);
        let mut argv = vec!["inbox-exec", "--config", path.to_str().expect("utf-8 path")];
        argv.extend_from_slice(args);
        self.load_argv(&argv)
    }

    fn load_argv(&self, argv: &[&str]) -> Result<Config, ConfigError> {
        let cli = Cli::try_parse_from(argv).expect("arguments parse");
        Config::load(&cli, &self.env())
    }
}

/// The error's message, which is what the operator reads.
fn message(result: Result<Config, ConfigError>) -> String {
    match result {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

#[track_caller]
fn assert_invalid(result: Result<Config, ConfigError>, origin_end: &str, words: &str) {
    match result {
        Err(ConfigError::Invalid { origin, message }) => {
            assert!(origin.ends_with(origin_end), "origin {origin:?}");
            assert!(message.contains(words), "message {message:?}");
        }
        other => panic!("expected Invalid at {origin_end}, got {other:?}"),
    }
}

#[test]
fn with_no_file_and_no_flags_the_defaults_follow_the_reference_layout() {
    let world = World::new();
    let config = world
        .load_argv(&["inbox-exec", "status"])
        .expect("defaults load");
    let delimit = world.home().join(".delimit");
    assert_eq!(config.file, None);
    assert_eq!(config.db, delimit.join("drafts.db"));
    assert_eq!(config.state_dir, delimit.join("inbox-exec"));
    assert_eq!(
        config.keys,
        BTreeMap::from([(1, delimit.join("secrets/inbox-executor-hmac.key"))])
    );
    assert_eq!(config.ttl, Duration::from_secs(24 * 3600));
    assert_eq!(config.batch, 10);
    assert_eq!(config.stuck_after, Duration::from_secs(600));
    assert_eq!(
        config.thermal,
        ThermalConfig {
            max_actions: 10,
            window: Duration::from_secs(900),
            cooldown: Duration::from_secs(300),
        }
    );
    assert_eq!(
        config.github,
        GithubConfig {
            gh: PathBuf::from("gh"),
            timeout: Duration::from_secs(30),
            env: vec!["GH_TOKEN".into(), "GH_HOST".into(), "GH_CONFIG_DIR".into()],
        }
    );
    assert_eq!(config.non_delegable, NON_DELEGABLE_KINDS.map(String::from));
    assert!(config.handlers.is_empty());
    assert_eq!(config.notify, None);
}

#[test]
fn the_user_config_file_is_found_under_xdg_config_home() {
    let world = World::new();
    let path = world.home().join("xdg/inbox-exec/config.toml");
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(&path, "[run]\nbatch = 7\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    let config = world.load_argv(&["inbox-exec", "status"]).expect("loads");
    assert_eq!(config.file.as_deref(), Some(path.as_path()));
    assert_eq!(config.batch, 7);
}

#[test]
fn file_values_override_the_defaults_and_relative_paths_follow_the_file() {
    let world = World::new();
    let config = world
        .load(
            r#"
db = "reg/drafts.db"
state_dir = "~/state"
ttl = "2h"
[keys]
1 = "k1"
2 = "/abs/k2"
[run]
batch = 20
stuck_after = "1h"
[thermal]
max_actions = 3
window = "1m"
cooldown = "2m"
[refuse]
extra_kinds = ["wire_money", "venture_kill"]
[github]
gh = "bin/gh"
timeout = "5s"
env = ["GH_TOKEN"]
[handlers.ledger_done]
command = ["/usr/local/bin/ledger-done", "--quiet"]
timeout = "7s"
env = ["LEDGER"]
[notify]
sendmail = "sbin/sendmail"
from = "a@example.org"
to = ["b@example.org"]
timeout = "3s"
"#,
            &["status"],
        )
        .expect("loads");
    let etc = world.home().join("etc");
    assert_eq!(config.db, etc.join("reg/drafts.db"));
    assert_eq!(config.state_dir, world.home().join("state"));
    assert_eq!(config.ttl, Duration::from_secs(7200));
    assert_eq!(
        config.keys,
        BTreeMap::from([(1, etc.join("k1")), (2, PathBuf::from("/abs/k2"))])
    );
    assert_eq!(config.batch, 20);
    assert_eq!(config.stuck_after, Duration::from_secs(3600));
    assert_eq!(config.thermal.max_actions, 3);
    assert_eq!(config.thermal.window, Duration::from_secs(60));
    assert_eq!(config.thermal.cooldown, Duration::from_secs(120));
    // Added to the built-in list, never duplicated, never removing one.
    assert_eq!(config.non_delegable.len(), NON_DELEGABLE_KINDS.len() + 1);
    assert!(config.is_non_delegable("wire_money"));
    assert!(config.is_non_delegable("venture_kill"));
    assert_eq!(config.github.gh, etc.join("bin/gh"));
    assert_eq!(config.github.timeout, Duration::from_secs(5));
    assert_eq!(config.github.env, vec!["GH_TOKEN".to_owned()]);
    assert_eq!(
        config.handlers["ledger_done"],
        HandlerConfig {
            command: vec!["/usr/local/bin/ledger-done".into(), "--quiet".into()],
            timeout: Duration::from_secs(7),
            env: vec!["LEDGER".into()],
        }
    );
    let notify = config.notify.expect("notify configured");
    assert_eq!(
        notify.transport,
        Transport::Sendmail(etc.join("sbin/sendmail"))
    );
    assert_eq!(notify.timeout, Duration::from_secs(3));
}

#[test]
fn a_bare_gh_name_stays_a_name_to_look_up_on_path() {
    let world = World::new();
    let config = world
        .load("[github]\ngh = \"gh2\"\n", &["status"])
        .expect("loads");
    assert_eq!(config.github.gh, PathBuf::from("gh2"));
}

#[test]
fn flags_override_the_file() {
    let world = World::new();
    let file = "db = \"/file/db\"\nstate_dir = \"/file/state\"\nttl = \"2h\"\n[keys]\n1 = \"/file/k1\"\n2 = \"/file/k2\"\n[run]\nbatch = 20\n";
    let config = world
        .load(
            file,
            &[
                "--db",
                "/flag/db",
                "--state-dir",
                "/flag/state",
                "--ttl",
                "90m",
                "--key",
                "/flag/k1",
                "run",
                "--batch",
                "5",
            ],
        )
        .expect("loads");
    assert_eq!(config.db, PathBuf::from("/flag/db"));
    assert_eq!(config.state_dir, PathBuf::from("/flag/state"));
    assert_eq!(config.ttl, Duration::from_secs(90 * 60));
    // --key replaces key_version 1 only.
    assert_eq!(
        config.keys,
        BTreeMap::from([
            (1, PathBuf::from("/flag/k1")),
            (2, PathBuf::from("/file/k2"))
        ])
    );
    assert_eq!(config.batch, 5);
}

#[test]
fn without_the_batch_flag_run_takes_the_files_batch() {
    let world = World::new();
    let config = world.load("[run]\nbatch = 20\n", &["run"]).expect("loads");
    assert_eq!(config.batch, 20);
}

#[test]
fn every_flag_also_reads_its_inbox_exec_variable() {
    let command = Cli::command();
    let run = command.find_subcommand("run").expect("run subcommand");
    let env_of = |cmd: &clap::Command, id: &str| {
        cmd.get_arguments()
            .find(|a| a.get_id() == id)
            .and_then(|a| a.get_env())
            .map(|v| v.to_string_lossy().into_owned())
    };
    for (id, var) in [
        ("config", "INBOX_EXEC_CONFIG"),
        ("db", "INBOX_EXEC_DB"),
        ("key", "INBOX_EXEC_KEY"),
        ("state_dir", "INBOX_EXEC_STATE_DIR"),
        ("ttl", "INBOX_EXEC_TTL"),
    ] {
        assert_eq!(env_of(&command, id).as_deref(), Some(var), "--{id}");
    }
    assert_eq!(
        env_of(run, "batch").as_deref(),
        Some("INBOX_EXEC_BATCH"),
        "--batch"
    );
}

#[test]
fn the_batch_flag_has_the_configs_bounds() {
    let parse = |n: &str| Cli::try_parse_from(["inbox-exec", "run", "--batch", n]);
    assert!(parse(&BATCH_RANGE.start().to_string()).is_ok());
    assert!(parse(&BATCH_RANGE.end().to_string()).is_ok());
    assert!(parse(&(BATCH_RANGE.start() - 1).to_string()).is_err());
    assert!(parse(&(BATCH_RANGE.end() + 1).to_string()).is_err());
}

#[test]
fn a_batch_out_of_range_in_the_file_is_refused_even_under_the_flag() {
    let world = World::new();
    for n in ["0", "1001"] {
        let file = format!("[run]\nbatch = {n}\n");
        assert_invalid(
            world.load(&file, &["run"]),
            "[run] batch",
            &format!("{n} is out of range 1..=1000"),
        );
        assert_invalid(
            world.load(&file, &["run", "--batch", "3"]),
            "[run] batch",
            "out of range",
        );
    }
}

#[test]
fn default_paths_need_home() {
    let cli = Cli::try_parse_from(["inbox-exec", "status"]).expect("parse");
    let no_home = HostEnv {
        home: None,
        xdg_config_home: None,
        vars: BTreeMap::new(),
    };
    assert!(matches!(
        Config::load(&cli, &no_home),
        Err(ConfigError::NoHome { flag: "--db", .. })
    ));
    let cli = Cli::try_parse_from(["inbox-exec", "--db", "/d", "--state-dir", "/s", "status"])
        .expect("parse");
    let err = message(Config::load(&cli, &no_home));
    assert!(err.contains("set HOME or pass --key"), "{err}");
}

#[test]
fn bad_durations_name_their_key() {
    let world = World::new();
    for (file, key) in [
        ("ttl = \"soon\"\n", "ttl"),
        ("[run]\nstuck_after = \"x\"\n", "[run] stuck_after"),
        ("[thermal]\nwindow = \"x\"\n", "[thermal] window"),
        ("[thermal]\ncooldown = \"x\"\n", "[thermal] cooldown"),
        ("[github]\ntimeout = \"x\"\n", "[github] timeout"),
        (
            "[handlers.k]\ncommand = [\"/bin/true\"]\ntimeout = \"x\"\n",
            "[handlers.k] timeout",
        ),
        (
            "[notify]\nsendmail = \"/s\"\nfrom = \"a@b\"\nto = [\"c@d\"]\ntimeout = \"x\"\n",
            "[notify] timeout",
        ),
    ] {
        assert_invalid(world.load(file, &["status"]), key, "is not a duration");
    }
    // A bad --ttl never reaches the configuration: it is a usage error, caught by clap.
    let err = Cli::try_parse_from(["inbox-exec", "--ttl", "x", "--db", "/d", "status"])
        .expect_err("a bad --ttl is a usage error");
    assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
    assert!(err.to_string().contains("is not a duration"), "{err}");
}

#[test]
fn key_versions_are_whole_numbers_from_one() {
    let world = World::new();
    for version in ["0", "x", "-1"] {
        assert_invalid(
            world.load(&format!("[keys]\n\"{version}\" = \"/k\"\n"), &["status"]),
            "[keys]",
            "is not a key version",
        );
    }
}

#[test]
fn an_empty_extra_kind_is_refused() {
    let world = World::new();
    assert_invalid(
        world.load("[refuse]\nextra_kinds = [\" \"]\n", &["status"]),
        "[refuse] extra_kinds",
        "an empty kind name",
    );
}

#[test]
fn handlers_are_refused_for_non_delegable_and_built_in_kinds() {
    let world = World::new();
    assert_invalid(
        world.load(
            "[handlers.venture_kill]\ncommand = [\"/bin/true\"]\n",
            &["status"],
        ),
        "[handlers.venture_kill]",
        "venture_kill is non-delegable",
    );
    assert_invalid(
        world.load(
            "[refuse]\nextra_kinds = [\"wire\"]\n[handlers.wire]\ncommand = [\"/bin/true\"]\n",
            &["status"],
        ),
        "[handlers.wire]",
        "wire is non-delegable",
    );
    assert_invalid(
        world.load(
            "[handlers.github_comment]\ncommand = [\"/bin/true\"]\n",
            &["status"],
        ),
        "[handlers.github_comment]",
        "github_comment is built in: configure it under [github]",
    );
}

#[test]
fn handler_commands_start_with_an_absolute_path() {
    let world = World::new();
    assert_invalid(
        world.load("[handlers.k]\ncommand = [\"true\"]\n", &["status"]),
        "[handlers.k]",
        "command must start with an absolute path, not \"true\"",
    );
    assert_invalid(
        world.load("[handlers.k]\ncommand = []\n", &["status"]),
        "[handlers.k]",
        "command is empty",
    );
}

#[test]
fn stuck_after_must_outlast_every_handler_timeout() {
    let world = World::new();
    assert_invalid(
        world.load("[run]\nstuck_after = \"30s\"\n", &["status"]),
        "[run] stuck_after",
        "is not longer than the longest handler timeout (30s)",
    );
    assert_invalid(
        world.load(
            "[handlers.k]\ncommand = [\"/bin/true\"]\ntimeout = \"20m\"\n",
            &["status"],
        ),
        "[run] stuck_after",
        "longest handler timeout (20m)",
    );
}

#[test]
fn notify_needs_one_transport_and_a_recipient() {
    let world = World::new();
    let both =
        "[notify]\nsmtp_url = \"smtp://h\"\nsendmail = \"/s\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n";
    assert_invalid(world.load(both, &["status"]), "[notify]", "not both");
    let neither = "[notify]\nfrom = \"a@b\"\nto = [\"c@d\"]\n";
    assert_invalid(
        world.load(neither, &["status"]),
        "[notify]",
        "set smtp_url or sendmail",
    );
    let nobody = "[notify]\nsendmail = \"/s\"\nfrom = \"a@b\"\nto = []\n";
    assert_invalid(
        world.load(nobody, &["status"]),
        "[notify]",
        "`to` names no recipient",
    );
}

#[test]
fn an_smtp_password_is_refused_in_a_file_others_can_read() {
    let world = World::new();
    let text = "[notify]\nsmtp_url = \"smtp://u:secret@h:25\"\nfrom = \"a@b\"\nto = [\"c@d\"]\n";
    let path = world.config(text, 0o644);
    let argv = [
        "inbox-exec",
        "--config",
        path.to_str().expect("utf-8"),
        "status",
    ];
    assert_invalid(
        world.load_argv(&argv),
        "[notify]",
        "smtp_url carries a password in a file others can read",
    );
    // The same file, private, is fine; so is a URL with a user and no password.
    assert!(world.load(text, &["status"]).is_ok());
    let path = world.config(&text.replace("u:secret@", "u@"), 0o644);
    let argv = [
        "inbox-exec",
        "--config",
        path.to_str().expect("utf-8"),
        "status",
    ];
    assert!(world.load_argv(&argv).is_ok());
}

#[test]
fn a_config_others_can_write_is_refused() {
    let world = World::new();
    for mode in [0o620, 0o602] {
        let path = world.config("", mode);
        let argv = [
            "inbox-exec",
            "--config",
            path.to_str().expect("utf-8"),
            "status",
        ];
        match world.load_argv(&argv) {
            Err(ConfigError::Writable { mode: found, .. }) => assert_eq!(found, mode),
            other => panic!("mode {mode:o}: expected Writable, got {other:?}"),
        }
    }
}

#[test]
fn unknown_keys_and_wrong_types_are_parse_errors() {
    let world = World::new();
    for text in [
        "dbb = \"/x\"\n",
        "[run]\nbatch = \"ten\"\n",
        "[thermal]\nmax = 1\n",
    ] {
        assert!(
            matches!(
                world.load(text, &["status"]),
                Err(ConfigError::Parse { .. })
            ),
            "{text}"
        );
    }
}

#[test]
fn a_missing_config_file_is_a_read_error() {
    let world = World::new();
    let missing = world.home().join("nope.toml");
    let argv = [
        "inbox-exec",
        "--config",
        missing.to_str().expect("utf-8"),
        "status",
    ];
    let err = message(world.load_argv(&argv));
    assert!(
        err.starts_with("config ") && err.ends_with("nope.toml does not exist"),
        "{err}"
    );
}

/// The TOML table a key of [`keys::KEYS`] is written in, and its name there.
fn written(key: &super::keys::Key) -> (String, String) {
    let table = key.table.replace("KIND", "ledger_done");
    let name = if key.name == "N" { "1" } else { key.name };
    (table, name.to_owned())
}

#[test]
fn every_documented_key_is_a_key_of_the_file() {
    // One file setting every key of the list: the file's shape refuses unknown keys.
    let mut text = String::new();
    let mut tables: Vec<String> = Vec::new();
    for key in super::keys::KEYS.iter().filter(|k| k.table.is_empty()) {
        text.push_str(&format!("{} = {}\n", key.name, key.example));
    }
    for key in super::keys::KEYS.iter().filter(|k| !k.table.is_empty()) {
        let (table, name) = written(key);
        if !tables.contains(&table) {
            text.push_str(&format!("{table}\n"));
            tables.push(table);
        }
        text.push_str(&format!("{name} = {}\n", key.example));
    }
    if let Err(e) = toml::from_str::<super::file::FileConfig>(&text) {
        panic!("a documented key is not in the file's shape: {e}\n{text}");
    }
}

#[test]
fn every_key_of_the_example_config_is_documented() {
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/config.example.toml"),
    )
    .expect("the example config");
    let mut table = String::new();
    let mut seen = 0;
    for line in example.lines() {
        // Optional settings are commented out with a `#` right before the key or table.
        if line.starts_with("# ") || line == "#" {
            continue;
        }
        let line = line.strip_prefix('#').unwrap_or(line);
        if line.starts_with('[') && line.ends_with(']') {
            table = line.to_owned();
            continue;
        }
        let Some((name, _)) = line.split_once(" = ") else {
            continue;
        };
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        seen += 1;
        assert!(
            super::keys::KEYS
                .iter()
                .map(written)
                .any(|(t, n)| t == table && n == name),
            "{table} {name} is in the example config but not in config::keys::KEYS"
        );
    }
    assert!(seen > 20, "only {seen} keys found in the example");
}
