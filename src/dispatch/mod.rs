//! Dispatch: the allowlist of handlers, kind → handler, and how a verified draft becomes one
//! child process. Validation happens in [`Handlers::prepare`], before the claim, so a draft a
//! handler cannot run ends as a clean refusal instead of a claim with nothing behind it.

pub mod child;
mod command;
mod github;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::draft::Verified;

pub use child::{Finished, Invocation};

/// The built-in kind.
pub const GITHUB_COMMENT: &str = "github_comment";

/// What dispatching one draft produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// Whether the action was done.
    pub ok: bool,
    /// The URL it produced, if any.
    pub executed_url: Option<String>,
    /// Why it failed.
    pub reason: Option<String>,
}

/// The handler table, built from the configuration and the allowlisted environment.
#[derive(Debug)]
pub struct Handlers {
    github: github::Github,
    commands: BTreeMap<String, command::CommandHandler>,
}

/// The environment a child starts from: PATH and HOME, plus the variables a handler's
/// allowlist names, taken from ours.
#[derive(Debug, Clone, Default)]
pub struct ChildEnv {
    vars: BTreeMap<OsString, OsString>,
}

impl ChildEnv {
    /// From this process's variables.
    pub fn new(vars: BTreeMap<OsString, OsString>) -> ChildEnv {
        ChildEnv { vars }
    }

    /// PATH, HOME and the allowlisted names that are set.
    pub fn allow(&self, names: &[String]) -> Vec<(OsString, OsString)> {
        let always = [OsString::from("PATH"), OsString::from("HOME")];
        let mut env: Vec<(OsString, OsString)> = Vec::new();
        for name in always
            .iter()
            .cloned()
            .chain(names.iter().map(OsString::from))
        {
            if env.iter().any(|(k, _)| *k == name) {
                continue;
            }
            if let Some(value) = self.vars.get(&name) {
                env.push((name, value.clone()));
            }
        }
        env
    }

    /// Resolves a program to an absolute path: a path must already be absolute, a bare name
    /// is looked up on our PATH. Relative PATH entries (an empty one means the working
    /// directory) are skipped, so nothing planted where a run happens to start is executed.
    pub fn resolve(&self, program: &Path) -> Result<PathBuf, String> {
        if program.is_absolute() {
            return Ok(program.to_owned());
        }
        if program.components().count() > 1 {
            return Err(format!(
                "{} is a relative path: configure an absolute one",
                program.display()
            ));
        }
        let path = self
            .vars
            .get(&OsString::from("PATH"))
            .cloned()
            .unwrap_or_default();
        std::env::split_paths(&path)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(program))
            .find(|candidate| is_executable(candidate))
            .ok_or_else(|| format!("{} not found on PATH", program.display()))
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

impl Handlers {
    /// The table for this configuration.
    pub fn new(config: &Config, env: ChildEnv) -> Handlers {
        let commands = config
            .handlers
            .iter()
            .map(|(kind, h)| (kind.clone(), command::CommandHandler::new(h, &env)))
            .collect();
        Handlers {
            github: github::Github::new(&config.github, env),
            commands,
        }
    }

    /// Validates the draft against its handler and builds the child process, without
    /// running anything. `Err` is the reason the draft cannot be dispatched.
    pub fn prepare(&self, draft: &Verified) -> Result<Invocation, String> {
        if draft.kind == GITHUB_COMMENT {
            return self.github.prepare(draft);
        }
        match self.commands.get(&draft.kind) {
            Some(handler) => handler.prepare(draft),
            None => Err(format!("no handler for kind={}", draft.kind)),
        }
    }

    /// Runs a prepared invocation: the side effect.
    pub fn dispatch(&self, kind: &str, inv: &Invocation) -> Dispatched {
        let finished = match child::run(inv) {
            Ok(f) => f,
            Err(e) => {
                return Dispatched {
                    ok: false,
                    executed_url: None,
                    reason: Some(format!("cannot start {}: {e}", inv.program.display())),
                };
            }
        };
        if kind == GITHUB_COMMENT {
            github::outcome(&finished, inv.timeout)
        } else {
            command::outcome(&finished, inv.timeout)
        }
    }
}

/// Shared failure wording: how it ended and the tail of stderr (≤ 300 characters).
fn failure_reason(what: &str, finished: &Finished, timeout: std::time::Duration) -> String {
    let stderr = child::tail(&finished.stderr, 300);
    let how = finished.describe(timeout);
    if stderr.is_empty() {
        format!("{what} failed: {how}")
    } else {
        format!("{what} failed: {how}: {stderr}")
    }
}
