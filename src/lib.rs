//! inbox-exec: execute approved, HMAC-signed drafts at most once, one bounded cycle per run.
//!
//! The binary parses the command line and calls [`run`]; everything else lives in the modules
//! below, one concept each.

pub mod alerts;
pub mod cli;
pub mod clock;
pub mod commands;
pub mod config;
pub mod cycle_report;
pub mod dispatch;
pub mod draft;
pub mod executor;
pub mod exit;
pub mod fsutil;
pub mod idle;
pub mod journal;
pub mod lock;
pub mod logging;
pub mod man;
pub mod metrics;
pub mod notify;
pub mod outbox;
pub mod process;
pub mod registry;
pub mod report;
pub mod sink;
pub mod statefile;
pub mod stop;
pub mod stuck;
pub mod summary;
pub mod thermal;

use cli::{Cli, Command, DraftCommand};
use config::{Config, HostEnv};
use report::Output;
use sink::Sink;

/// Runs one command. `status --plugin` answers UNKNOWN rather than failing: a monitor must
/// get its one line whatever went wrong. Most commands return what the edge prints; those
/// whose report grows with the registry (`verify`) write it to `sink` as they go and return
/// [`Output::written`].
pub fn run(cli: &Cli, env: &HostEnv, sink: &mut Sink<'_>) -> anyhow::Result<Output> {
    match (&cli.command, run_command(cli, env, sink)) {
        (Command::Status(args), Err(e)) if args.plugin => Ok(commands::status::unknown(&e)),
        (_, result) => result,
    }
}

/// Completions and the man page need no configuration, so they work on a bare machine;
/// everything else resolves the configuration first.
fn run_command(cli: &Cli, env: &HostEnv, sink: &mut Sink<'_>) -> anyhow::Result<Output> {
    match &cli.command {
        Command::Completions(args) => return Ok(man::completions(args.shell)),
        Command::Man => return Ok(man::page()),
        _ => {}
    }
    let config = Config::load(cli, env)?;
    let now = clock::unix_now();
    match &cli.command {
        Command::Init => commands::init::run(&config),
        Command::Keygen(args) => commands::keygen::run(&config, args),
        Command::Draft(DraftCommand::New(args)) => commands::draft_new::run(&config, args, now),
        Command::Approve(args) => commands::approve::run(&config, args, now),
        Command::Cancel(args) => commands::cancel::run(&config, args, now),
        Command::Expire => commands::expire::run(&config, now),
        Command::Show(args) => commands::show::run(&config, args, now),
        Command::Verify(args) => {
            commands::verify::run(&config, args, now, sink).map(Output::written)
        }
        Command::Run(args) => commands::run::run(&config, args, env, cli.global.json),
        Command::Reconcile(args) => commands::reconcile::run(&config, args, now),
        Command::Status(args) => commands::status::run(&config, args, now),
        Command::Copy(args) => commands::copy::run(&config, args),
        Command::Completions(_) | Command::Man => unreachable!("handled above"),
    }
}

/// The host environment this process was started with: read here, once.
pub fn host_env() -> HostEnv {
    let path = |name| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(Into::into)
    };
    HostEnv {
        home: path("HOME"),
        xdg_config_home: path("XDG_CONFIG_HOME"),
        vars: std::env::vars_os().collect(),
    }
}

/// Which standard streams are the systemd journal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStreams {
    /// stdout is the journal.
    pub stdout: bool,
    /// stderr is the journal.
    pub stderr: bool,
}

/// Which of stdout and stderr are the journal: systemd sets `JOURNAL_STREAM` to the journal
/// stream's `device:inode`, and a stream is the journal only while its descriptor is still
/// that socket (a process whose output was redirected inherits the variable, not the stream).
pub fn journal_streams() -> JournalStreams {
    let Some((dev, ino)) = std::env::var("JOURNAL_STREAM").ok().and_then(|v| {
        let (dev, ino) = v.split_once(':')?;
        Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?))
    }) else {
        return JournalStreams::default();
    };
    let is_journal = |fd: std::os::fd::BorrowedFd<'_>| {
        rustix::fs::fstat(fd).is_ok_and(|st| st.st_dev == dev && st.st_ino == ino)
    };
    use std::os::fd::AsFd as _;
    JournalStreams {
        stdout: is_journal(std::io::stdout().as_fd()),
        stderr: is_journal(std::io::stderr().as_fd()),
    }
}

/// The wall clock, for the integration tests that sign drafts "now" (see [`clock`]).
pub use clock::unix_now;
