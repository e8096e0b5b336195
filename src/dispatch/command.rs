//! Configured command handlers: `[handlers.<kind>] command = ["/abs/path", …]`, the draft as
//! JSON on stdin, exit 0 = done, the last stdout line (optional) = the executed URL.

use std::time::Duration;

use serde_json::json;

use super::child::{self, ChildEnv, Finished, Invocation};
use super::{Dispatched, Handler};
use crate::config::HandlerConfig;
use crate::draft::Verified;

/// The handler configured for one kind.
#[derive(Debug)]
pub(super) struct CommandHandler {
    config: HandlerConfig,
    env: ChildEnv,
}

impl CommandHandler {
    pub(super) fn new(config: &HandlerConfig, env: ChildEnv) -> CommandHandler {
        CommandHandler {
            config: config.clone(),
            env,
        }
    }
}

impl Handler for CommandHandler {
    fn prepare(&self, draft: &Verified) -> Result<Invocation, String> {
        let (program, args) = self
            .config
            .command
            .split_first()
            .ok_or("handler command is empty")?;
        let stdin = json!({
            "draft_id": draft.draft_id,
            "draft_kind": draft.kind,
            "target": draft.target,
            "payload": draft.payload,
            "issued_at": draft.issued_at,
        });
        Ok(Invocation {
            program: program.into(),
            args: args.iter().map(Into::into).collect(),
            env: self.env.allow(&self.config.env),
            stdin: serde_json::to_vec(&stdin).map_err(|e| e.to_string())?,
            timeout: self.config.timeout,
        })
    }

    fn outcome(&self, finished: &Finished, timeout: Duration) -> Dispatched {
        if finished.success() {
            Dispatched {
                ok: true,
                executed_url: child::last_line(&finished.stdout).map(str::to_owned),
                reason: None,
            }
        } else {
            Dispatched {
                ok: false,
                executed_url: None,
                reason: Some(finished.failure_reason("handler", timeout)),
            }
        }
    }
}
