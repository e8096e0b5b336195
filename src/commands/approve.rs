//! `approve`: pending → approved, only after a fresh verify.

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::IdArg;
use crate::config::Config;
use crate::draft::{KeyRing, VerifyError, verify};
use crate::registry::{self, OpenMode, Status};
use crate::report::Output;

/// Approves a pending draft that verifies now.
pub fn run(config: &Config, args: &IdArg, now: i64) -> anyhow::Result<Output> {
    let id = args.id.as_str();
    let mut reg = registry::open(&config.db, OpenMode::Existing)
        .with_context(|| format!("opening registry {}", config.db.display()))?;
    let row = registry::find(&mut *reg, id)?;
    row.require(Status::Pending, "approved")?;
    let ring = KeyRing::new(config.keys.clone());
    match verify(&row.signed, &ring, now, config.ttl_seconds()) {
        Ok(_) => {}
        Err(VerifyError::Key(e)) => return Err(e.into()),
        Err(reason) => bail!("draft {id} does not verify ({reason}); it stays pending"),
    }
    let to = Status::Approved;
    registry::move_draft(&mut *reg, &row.id, Status::Pending, to, "approved", now)?;
    Ok(Output::done(
        format!("{} {to}\n", row.id),
        json!({ "draft_id": row.id, "status": to.as_str() }),
    ))
}
