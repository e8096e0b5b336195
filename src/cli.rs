//! The command line, as clap derive types. No I/O here: `config` turns these into settings.

use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::RangedI64ValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// The bounds of `--batch` and of the config's `[run] batch`.
pub const BATCH_RANGE: RangeInclusive<u16> = 1..=1000;

/// `--batch`'s parser: a number within [`BATCH_RANGE`].
fn batch_parser() -> RangedI64ValueParser<u16> {
    clap::value_parser!(u16).range(i64::from(*BATCH_RANGE.start())..=i64::from(*BATCH_RANGE.end()))
}

/// `--ttl` and `--older-than`'s parser: a bad duration is a usage error (exit 2) that says what
/// one looks like, like any other bad value.
fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{text:?} is not a duration ({e}); write e.g. 30s, 15m, 24h"))
}

/// Execute approved, HMAC-signed drafts at most once.
///
/// An agent or a script proposes actions as signed drafts; a human approves them; `inbox-exec
/// run`, started every 30 s by a systemd timer, re-verifies each approved draft, claims it
/// durably, acts through an allowlisted handler, records the outcome and exits. Nothing is
/// ever retried automatically: drafts stuck in `executing` after a crash are settled by a
/// human with `inbox-exec reconcile`.
#[derive(Debug, Parser)]
#[command(
    name = "inbox-exec",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// Options every command takes, before or after the subcommand.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command. Each command's `--help` lists them apart from its own,
/// under their own heading.
#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// Configuration file (TOML). Default: $XDG_CONFIG_HOME/inbox-exec/config.toml, then
    /// /etc/inbox-exec/config.toml, when present.
    #[arg(long, global = true, env = "INBOX_EXEC_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The draft registry: a SQLite file, or a postgres:// URL (no password in it).
    /// Default: ~/.delimit/drafts.db.
    #[arg(long, global = true, env = "INBOX_EXEC_DB", value_name = "DB")]
    pub db: Option<PathBuf>,
    /// The HMAC key file for key_version 1. Default: ~/.delimit/secrets/inbox-executor-hmac.key.
    #[arg(long, global = true, env = "INBOX_EXEC_KEY", value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// Directory for the run lock and the state files (thermal record, last-run summary, idle
    /// mark). Default: ~/.delimit/inbox-exec/.
    #[arg(long, global = true, env = "INBOX_EXEC_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// How long a signed draft stays valid, e.g. `24h`, `90m`. Default: 24h.
    #[arg(long, global = true, env = "INBOX_EXEC_TTL", value_name = "DURATION", value_parser = duration)]
    pub ttl: Option<Duration>,
    /// Print one JSON document instead of human-readable text.
    #[arg(long, global = true)]
    pub json: bool,
    /// More log output on stderr (-v info, -vv debug).
    #[arg(short, long, global = true, action = ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Execute up to --batch approved drafts, oldest first, then exit.
    ///
    /// One bounded cycle: take the run lock (skip if held), load the thermal window, and for
    /// each approved draft re-verify, refuse non-delegable kinds, claim it durably, dispatch
    /// it through its handler and record the outcome. Exit 0 whenever the cycle ran.
    Run(RunArgs),
    /// Create the registry (and migrate an existing one).
    Init,
    /// Create a new random HMAC key, mode 0600. Never overwrites.
    Keygen(KeygenArgs),
    /// Sign and insert drafts.
    #[command(subcommand)]
    Draft(DraftCommand),
    /// Approve a pending draft after verifying it afresh.
    ///
    /// Like `draft new`, it refuses a draft `run` would refuse without running it (a
    /// non-delegable kind, a target or payload its handler rejects), unless
    /// --allow-unrunnable.
    Approve(ApproveArgs),
    /// Cancel a pending draft.
    Cancel(IdArg),
    /// Mark pending drafts older than the TTL as expired.
    Expire,
    /// Show a draft and its attempts.
    Show(IdArg),
    /// Verify drafts without side effects (exit 3 when any fails).
    ///
    /// With no ids, verifies every pending and approved draft; --all covers every draft
    /// whatever its status.
    Verify(VerifyArgs),
    /// List drafts stuck in `executing`, or settle one (`reconcile resolve`).
    ///
    /// A draft stays in `executing` when a run died between claiming it and recording its
    /// outcome. Whether its side effect happened is for a human to find out (look at the
    /// target); `reconcile resolve` records the decision. Nothing is ever re-executed.
    Reconcile(ReconcileArgs),
    /// Counts by status, stuck drafts, the thermal cutout and the last run.
    ///
    /// With --check, exit non-zero when something needs a human (for monitoring): 4 the last
    /// run failed, is missing or is older than stuck_after; 5 drafts are stuck in executing;
    /// 6 the thermal cutout is paused; 7 an alert has waited undelivered longer than [notify]
    /// undelivered_after. The first that applies, in that order, sets the code. With --plugin,
    /// one monitoring-plugins line and 0/1/2/3 instead.
    Status(StatusArgs),
    /// Copy a registry's drafts and attempts to another registry (SQLite file or
    /// postgres:// URL), byte for byte, so every signature still verifies.
    ///
    /// One transaction on the target: all or nothing. A target that already holds drafts
    /// is refused unless --force, which adds the drafts it lacks and leaves those it has as
    /// they are. Stop the executors of both registries first.
    Copy(CopyArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the man page (roff).
    #[command(hide = true)]
    Man,
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// At most this many approved drafts per cycle, 1 to 1000. Default: 10.
    #[arg(long, env = "INBOX_EXEC_BATCH", value_name = "N", value_parser = batch_parser())]
    pub batch: Option<u16>,
    /// Report what would happen; change nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Create the key configured for this version. Default: the newest configured version.
    #[arg(long, value_name = "N")]
    pub key_version: Option<u32>,
}

/// `draft …`.
#[derive(Debug, Subcommand)]
pub enum DraftCommand {
    /// Sign a new draft with the newest key and insert it as pending; prints its id.
    ///
    /// A draft `run` would refuse without running it (a non-delegable kind, a target or
    /// payload its handler rejects) is refused here, unless --allow-unrunnable; a kind with
    /// no handler in this configuration only warns (the executor may be configured apart).
    New(DraftNewArgs),
}

/// `draft new`.
#[derive(Debug, Args)]
pub struct DraftNewArgs {
    /// The action kind, e.g. github_comment.
    #[arg(long)]
    pub kind: String,
    /// Where the action lands, as JSON, e.g. '{"repo":"owner/name","issue":1}'.
    #[arg(long, value_name = "JSON")]
    pub target: String,
    /// What the action does, as JSON, e.g. '{"body":"Thanks!"}'.
    #[arg(long, value_name = "JSON")]
    pub payload: String,
    /// Signing time in Unix seconds. Default: now.
    #[arg(long, value_name = "UNIX")]
    pub issued_at: Option<i64>,
    /// A ledger reference to store with the draft.
    #[arg(long, value_name = "REF")]
    pub led_ref: Option<String>,
    /// Insert it even when `run` would refuse it: a non-delegable kind, or a target or
    /// payload its handler rejects (e.g. for another executor's configuration).
    #[arg(long)]
    pub allow_unrunnable: bool,
}

/// `approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// The draft id.
    pub id: String,
    /// Who or what approved it (a person, a review), recorded as the draft's
    /// approval_subject, as the reference does.
    #[arg(long, value_name = "TEXT")]
    pub subject: Option<String>,
    /// Approve it even when `run` would refuse it (see `draft new --allow-unrunnable`).
    #[arg(long)]
    pub allow_unrunnable: bool,
}

/// `copy`.
#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The registry to read: a SQLite file or a postgres:// URL.
    #[arg(long, value_name = "DB")]
    pub from: PathBuf,
    /// The registry to write (created if missing): a SQLite file or a postgres:// URL.
    #[arg(long, value_name = "DB")]
    pub to: PathBuf,
    /// Copy into a target that already holds drafts (drafts it has are left alone).
    #[arg(long)]
    pub force: bool,
}

/// A command that takes one draft id.
#[derive(Debug, Args)]
pub struct IdArg {
    /// The draft id.
    pub id: String,
}

/// `verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Draft ids. Default: every pending and approved draft.
    pub ids: Vec<String>,
    /// Every draft, whatever its status.
    #[arg(long, conflicts_with = "ids")]
    pub all: bool,
    /// Verify as of this Unix time instead of now.
    #[arg(long, value_name = "UNIX")]
    pub now: Option<i64>,
}

/// `reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Settle a draft instead of listing.
    #[command(subcommand)]
    pub action: Option<ReconcileAction>,
    /// Only drafts claimed longer ago than this, e.g. `10m`.
    #[arg(long, value_name = "DURATION", value_parser = duration)]
    pub older_than: Option<Duration>,
}

/// `reconcile …`.
#[derive(Debug, Subcommand)]
pub enum ReconcileAction {
    /// Record a human decision about a draft stuck in `executing`. Never runs a handler.
    Resolve(ResolveArgs),
}

/// `reconcile resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// The draft id.
    pub id: String,
    /// What happened: the action was done (`completed`), was not done (`failed`), or must
    /// never be done and needs attention elsewhere (`terminal`).
    #[arg(long = "as", value_enum, value_name = "OUTCOME")]
    pub resolution: Resolution,
    /// The URL the action produced (with --as completed).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Why: what you checked and found. Required with --as failed and --as terminal.
    #[arg(long, value_name = "TEXT", required_if_eq_any([("resolution", "failed"), ("resolution", "terminal")]))]
    pub note: Option<String>,
    /// Settle it even though it was claimed less than `stuck_after` ago or its claimer may
    /// still be acting (a live process, another host, or the reference executor, which leaves
    /// no claim record). Only after checking that no executor is still dispatching it.
    #[arg(long)]
    pub force: bool,
}

/// How a human settles a stuck draft.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Resolution {
    /// The side effect happened: executing → completed.
    Completed,
    /// It did not: executing → completed_with_error.
    Failed,
    /// Never to be done: executing → terminal_unrecoverable.
    Terminal,
}

/// `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Exit non-zero when something needs a human (see the command's help).
    #[arg(long)]
    pub check: bool,
    /// Print one monitoring-plugins status line (`INBOX-EXEC OK|WARNING|CRITICAL|UNKNOWN -
    /// text | perfdata`) and exit 0, 1, 2 or 3, for Nagios, Icinga, Naemon or Sensu.
    ///
    /// CRITICAL: the last run failed, is missing or is older than stuck_after, or drafts are
    /// stuck in executing. WARNING: the thermal cutout is paused, or an alert has waited
    /// undelivered longer than [notify] undelivered_after. UNKNOWN: the status cannot be read.
    #[arg(long, conflicts_with_all = ["check", "json"])]
    pub plugin: bool,
}

/// `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Shells with completion scripts.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Shell {
    /// GNU Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
    /// Elvish.
    Elvish,
    /// PowerShell.
    Powershell,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }
}
