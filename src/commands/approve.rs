//! `approve`: pending → approved, only after a fresh verify and the check `run` will make.

use anyhow::bail;
use serde_json::json;

use crate::cli::ApproveArgs;
use crate::config::Config;
use crate::draft::{KeyRing, VerifyError, verify};
use crate::registry::{self, MoveFields, OpenMode, Status};
use crate::report::Output;

/// Approves a pending draft that verifies now and that `run` would not refuse on its kind or
/// shape; `--subject` is recorded as its approval_subject.
pub fn run(config: &Config, args: &ApproveArgs, now: i64) -> anyhow::Result<Output> {
    let id = args.id.as_str();
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    let row = registry::find(&mut *reg, id)?;
    row.require(Status::Pending, "approved")?;
    let ring = KeyRing::new(config.keys.clone());
    let verified = match verify(&row.signed, &ring, now, config.ttl_seconds()) {
        Ok(verified) => verified,
        Err(VerifyError::Key(e)) => return Err(e.into()),
        Err(reason) => bail!("draft {id} does not verify ({reason}); it stays pending"),
    };
    if let Err(e) = super::check_runnable(config, &verified, args.allow_unrunnable, "approved") {
        bail!("draft {id} stays pending: {e:#}");
    }
    let to = Status::Approved;
    let fields = MoveFields {
        approval_subject: args.subject.as_deref(),
        ..MoveFields::default()
    };
    registry::move_draft(
        &mut *reg,
        &row.id,
        Status::Pending,
        to,
        &fields,
        "approved",
        now,
    )?;
    Ok(Output::done(
        format!("{} {to}\n", row.id),
        json!({ "draft_id": row.id, "status": to.as_str() }),
    ))
}
