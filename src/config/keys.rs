//! Every key of the configuration file with its default and meaning: the one list the man
//! page's CONFIGURATION section is rendered from, checked against the file's shape by a test.

/// One key of the configuration file.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The table, `""` for the top level (`[handlers.KIND]` for a command handler's table).
    pub table: &'static str,
    /// The key.
    pub name: &'static str,
    /// A value it may take, as written in TOML (what the shape test writes).
    pub example: &'static str,
    /// Its default, in words.
    pub default: &'static str,
    /// What it does.
    pub doc: &'static str,
}

/// Every key, in the order of `contrib/config.example.toml`.
pub const KEYS: &[Key] = &[
    Key {
        table: "",
        name: "db",
        example: "\"/var/lib/inbox-exec/drafts.db\"",
        default: "~/.delimit/drafts.db",
        doc: "The SQLite draft registry (WAL). Local disk only. Or a postgres:// URL (no password in it) for executors on several hosts: see [postgres].",
    },
    Key {
        table: "",
        name: "state_dir",
        example: "\"/var/lib/inbox-exec\"",
        default: "~/.delimit/inbox-exec/",
        doc: "The run lock and the state files: the thermal record, the last-run summary, the idle mark.",
    },
    Key {
        table: "",
        name: "ttl",
        example: "\"24h\"",
        default: "24h",
        doc: "How long a signed draft stays valid after it was issued.",
    },
    Key {
        table: "[keys]",
        name: "N",
        example: "\"/var/lib/inbox-exec/hmac.key\"",
        default: "1 = ~/.delimit/secrets/inbox-executor-hmac.key",
        doc: "key_version N = its HMAC key file (raw bytes, mode 0600, owned by the user running inbox-exec). Drafts are signed with the highest version; every listed version verifies.",
    },
    Key {
        table: "[run]",
        name: "batch",
        example: "10",
        default: "10",
        doc: "At most this many approved drafts per cycle (1 to 1000); `run --batch` overrides it.",
    },
    Key {
        table: "[run]",
        name: "stuck_after",
        example: "\"10m\"",
        default: "10m",
        doc: "A draft claimed longer ago than this is stuck: `run` alerts once, `status` reports it. Longer than every handler timeout.",
    },
    Key {
        table: "[run]",
        name: "metrics_file",
        example: "\"/var/lib/prometheus/node-exporter/inbox_exec.prom\"",
        default: "none",
        doc: "A Prometheus textfile rewritten atomically (mode 0644) by every run that takes the lock.",
    },
    Key {
        table: "[thermal]",
        name: "max_actions",
        example: "10",
        default: "10",
        doc: "The thermal cutout trips when its window holds more actions than this.",
    },
    Key {
        table: "[thermal]",
        name: "window",
        example: "\"15m\"",
        default: "15m",
        doc: "The thermal window.",
    },
    Key {
        table: "[thermal]",
        name: "cooldown",
        example: "\"5m\"",
        default: "5m",
        doc: "How long a trip pauses execution.",
    },
    Key {
        table: "[refuse]",
        name: "extra_kinds",
        example: "[\"deploy_prod\"]",
        default: "[]",
        doc: "Kinds refused whatever a handler says, added to the built-in non-delegable list.",
    },
    Key {
        table: "[github]",
        name: "gh",
        example: "\"gh\"",
        default: "gh",
        doc: "The gh program of the built-in github_comment handler: an absolute path, or a name looked up on PATH.",
    },
    Key {
        table: "[github]",
        name: "timeout",
        example: "\"30s\"",
        default: "30s",
        doc: "Kill gh (and everything it started) after this long.",
    },
    Key {
        table: "[github]",
        name: "env",
        example: "[\"GH_TOKEN\"]",
        default: "[\"GH_TOKEN\", \"GH_HOST\", \"GH_CONFIG_DIR\"]",
        doc: "Environment variables passed to gh besides PATH and HOME.",
    },
    Key {
        table: "[handlers.KIND]",
        name: "command",
        example: "[\"/usr/local/bin/ledger-done\", \"--quiet\"]",
        default: "required",
        doc: "The handler of a delegable kind: program (an absolute path) and arguments; the draft arrives as JSON on stdin.",
    },
    Key {
        table: "[handlers.KIND]",
        name: "timeout",
        example: "\"30s\"",
        default: "30s",
        doc: "Kill it (and everything it started) after this long.",
    },
    Key {
        table: "[handlers.KIND]",
        name: "env",
        example: "[]",
        default: "[]",
        doc: "Environment variables passed to it besides PATH and HOME.",
    },
    Key {
        table: "[notify]",
        name: "smtp_url",
        example: "\"smtp://127.0.0.1:25\"",
        default: "none",
        doc: "Alert mail through SMTP: smtp://host:port, smtps://… for TLS, smtp://…?tls=required for STARTTLS. Without [notify], alerts are logged as warnings.",
    },
    Key {
        table: "[notify]",
        name: "sendmail",
        example: "\"/usr/sbin/sendmail\"",
        default: "none",
        doc: "A local sendmail program, instead of smtp_url.",
    },
    Key {
        table: "[notify]",
        name: "from",
        example: "\"inbox-exec@example.org\"",
        default: "required",
        doc: "Sender address.",
    },
    Key {
        table: "[notify]",
        name: "to",
        example: "[\"ops@example.org\"]",
        default: "required",
        doc: "Recipients; at least one.",
    },
    Key {
        table: "[notify]",
        name: "username",
        example: "\"inbox-exec\"",
        default: "none",
        doc: "Login name for SMTP authentication.",
    },
    Key {
        table: "[notify]",
        name: "password_file",
        example: "\"/var/lib/inbox-exec/smtp.pass\"",
        default: "none",
        doc: "File holding the SMTP password (mode 0600); or set INBOX_EXEC_SMTP_PASSWORD.",
    },
    Key {
        table: "[notify]",
        name: "timeout",
        example: "\"10s\"",
        default: "10s",
        doc: "Give up on the mail server after this long without an answer.",
    },
    Key {
        table: "[notify]",
        name: "deadline",
        example: "\"20s\"",
        default: "20s",
        doc: "The whole delivery phase of a run ends after this long; what is not sent stays in the outbox for later runs.",
    },
    Key {
        table: "[notify]",
        name: "undelivered_after",
        example: "\"1h\"",
        default: "1h",
        doc: "`status --check` exits 7 (and `--plugin` warns) when an alert has waited undelivered longer than this.",
    },
    Key {
        table: "[postgres]",
        name: "schema",
        example: "\"inbox_exec\"",
        default: "inbox_exec",
        doc: "With a postgres:// registry: the schema holding its tables, created by `inbox-exec init`.",
    },
    Key {
        table: "[postgres]",
        name: "password_file",
        example: "\"/etc/inbox-exec/pg-password\"",
        default: "PGPASSFILE, else ~/.pgpass",
        doc: "File holding the PostgreSQL password alone (mode 0600, else refused); without it, libpq's password file is read.",
    },
    Key {
        table: "[postgres]",
        name: "ca_file",
        example: "\"/etc/inbox-exec/db-ca.pem\"",
        default: "none",
        doc: "The CA certificate(s), PEM, the server's certificate must chain to (sslmode=require, verify-ca, verify-full).",
    },
];
