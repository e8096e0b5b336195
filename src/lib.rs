//! inbox-exec: execute approved, HMAC-signed drafts at most once, one bounded cycle per run.
//!
//! The binary parses the command line and calls [`run`]; everything else lives in the modules
//! below, one concept each.

pub mod cli;
pub mod commands;
pub mod config;
pub mod dispatch;
pub mod draft;
pub mod executor;
pub mod exit;
pub mod fsutil;
pub mod lock;
pub mod logging;
pub mod man;
pub mod notify;
pub mod process;
pub mod reconcile;
pub mod registry;
pub mod report;
pub mod statefile;
pub mod status;
pub mod thermal;

use std::time::{SystemTime, UNIX_EPOCH};

use cli::{Cli, Command, DraftCommand};
use config::{Config, HostEnv};
use report::Output;

/// Runs one command. Completions and the man page need no configuration, so they work on a
/// bare machine; everything else resolves the configuration first.
pub fn run(cli: &Cli, env: &HostEnv) -> anyhow::Result<Output> {
    match &cli.command {
        Command::Completions(args) => return Ok(man::completions(args.shell)),
        Command::Man => return Ok(man::page()),
        _ => {}
    }
    let config = Config::load(&cli.global, env)?;
    let now = unix_now();
    match &cli.command {
        Command::Init => commands::init(&config),
        Command::Keygen(args) => commands::keygen(&config, args),
        Command::Draft(DraftCommand::New(args)) => commands::draft_new(&config, args, now),
        Command::Approve(a) => commands::approve(&config, &a.id, now),
        Command::Cancel(a) => commands::cancel(&config, &a.id, now),
        Command::Expire => commands::expire(&config, now),
        Command::Show(a) => commands::show(&config, &a.id, now),
        Command::Verify(args) => commands::verify_cmd(&config, args, now),
        Command::Run(args) => commands::run(&config, args, env),
        Command::Reconcile(args) => reconcile::reconcile(&config, args, now),
        Command::Status(args) => status::status(&config, args.check, now),
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
