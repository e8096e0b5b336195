//! Dispatch: the [`Handler`] interface, the one table from kind to handler ([`Handlers`]),
//! and what dispatching produced. Validation happens in [`Handlers::prepare`], before the
//! claim, so a draft a handler cannot run ends as a clean refusal instead of a claim with
//! nothing behind it.
//!
//! A new built-in kind is one file here implementing [`Handler`] plus one line in
//! [`Handlers::new`]. How a child process runs (no shell, cleared environment, timeout,
//! bounded output) is `child.rs`'s alone.

pub mod child;
mod command;
mod github;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::draft::{GITHUB_COMMENT, Verified};

pub use child::{ChildEnv, Finished, Invocation};

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

/// One kind's handler.
pub trait Handler: std::fmt::Debug {
    /// Validates a verified draft and builds its child process, running nothing. `Err` is
    /// the reason the draft cannot be dispatched.
    fn prepare(&self, draft: &Verified) -> Result<Invocation, String>;

    /// Checks the draft's target and payload only, with nothing of this host (no program
    /// lookup): what `draft new` and `approve` ask before a draft that could never run is
    /// stored or approved. `prepare` must refuse whatever this refuses.
    fn check_shape(&self, draft: &Verified) -> Result<(), String> {
        let _ = draft;
        Ok(())
    }

    /// What the finished child means: done (with a URL, maybe) or failed, and why.
    fn outcome(&self, finished: &Finished, timeout: Duration) -> Dispatched;

    /// Runs a prepared invocation: the side effect.
    fn dispatch(&self, invocation: &Invocation) -> Dispatched {
        match child::run(invocation) {
            Ok(finished) => self.outcome(&finished, invocation.timeout),
            Err(e) => Dispatched {
                ok: false,
                executed_url: None,
                reason: Some(e.to_string()),
            },
        }
    }
}

/// Why `run` would refuse a draft without running anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unrunnable {
    /// A kind on the non-delegable list.
    #[error("{0} is non-delegable: `run` refuses it whatever a handler says")]
    NonDelegable(String),
    /// No handler is configured here for the kind (the executor's host may differ).
    #[error("no handler for kind={0} in this configuration")]
    NoHandler(String),
    /// The handler refuses the target or payload.
    #[error("{0}")]
    Shape(String),
}

/// The handler table: kind → handler, built from the configuration and the allowlisted
/// environment. A kind not in it has no handler and is refused.
#[derive(Debug)]
pub struct Handlers {
    by_kind: BTreeMap<String, Box<dyn Handler>>,
}

/// A draft its handler accepted, ready to run after the claim.
#[derive(Debug)]
pub struct Prepared<'h> {
    handler: &'h dyn Handler,
    invocation: Invocation,
}

impl Prepared<'_> {
    /// Runs it: the side effect.
    pub fn dispatch(&self) -> Dispatched {
        self.handler.dispatch(&self.invocation)
    }
}

impl Handlers {
    /// The table for this configuration.
    pub fn new(config: &Config, env: ChildEnv) -> Handlers {
        let mut by_kind: BTreeMap<String, Box<dyn Handler>> = BTreeMap::new();
        // Configured command handlers; the configuration refuses one for a built-in kind.
        for (kind, handler) in &config.handlers {
            let handler = command::CommandHandler::new(handler, env.clone());
            by_kind.insert(kind.clone(), Box::new(handler));
        }
        // The built-in kinds, one line each.
        let github = github::Github::new(&config.github, env);
        by_kind.insert(GITHUB_COMMENT.to_owned(), Box::new(github));
        Handlers { by_kind }
    }

    /// Whether `run` could dispatch `draft` here, judged on its kind and shape alone: the
    /// same non-delegable list and handler validation the cycle applies.
    pub fn check(&self, config: &Config, draft: &Verified) -> Result<(), Unrunnable> {
        if config.is_non_delegable(&draft.kind) {
            return Err(Unrunnable::NonDelegable(draft.kind.clone()));
        }
        let Some(handler) = self.by_kind.get(&draft.kind) else {
            return Err(Unrunnable::NoHandler(draft.kind.clone()));
        };
        handler.check_shape(draft).map_err(Unrunnable::Shape)
    }

    /// Validates the draft against its kind's handler and builds the child process, without
    /// running anything. `Err` is the reason the draft cannot be dispatched.
    pub fn prepare(&self, draft: &Verified) -> Result<Prepared<'_>, String> {
        let Some(handler) = self.by_kind.get(&draft.kind) else {
            return Err(format!("no handler for kind={}", draft.kind));
        };
        Ok(Prepared {
            handler: handler.as_ref(),
            invocation: handler.prepare(draft)?,
        })
    }
}
