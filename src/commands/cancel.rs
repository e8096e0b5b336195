//! `cancel`: pending → cancelled.

use serde_json::json;

use crate::cli::IdArg;
use crate::config::Config;
use crate::registry::{self, MoveFields, OpenMode, Status};
use crate::report::Output;

/// Cancels a pending draft.
pub fn run(config: &Config, args: &IdArg, now: i64) -> anyhow::Result<Output> {
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    let row = registry::find(&mut *reg, &args.id)?;
    row.require(Status::Pending, "cancelled")?;
    let to = Status::Cancelled;
    registry::move_draft(
        &mut *reg,
        &row.id,
        Status::Pending,
        to,
        &MoveFields::default(),
        "cancelled",
        now,
    )?;
    Ok(Output::done(
        format!("{} {to}\n", row.id),
        json!({ "draft_id": row.id, "status": to.as_str() }),
    ))
}
