//! `expire`: pending drafts past their TTL become expired.

use anyhow::Context as _;
use serde_json::json;

use crate::config::Config;
use crate::registry::{self, OpenMode};
use crate::report::Output;

/// Moves pending drafts issued longer than the TTL ago to expired.
pub fn run(config: &Config, now: i64) -> anyhow::Result<Output> {
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::Existing)?;
    let ttl = i64::try_from(config.ttl_seconds()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(ttl);
    let count = registry::write(&mut *reg, |w| w.expire_pending(cutoff, now))
        .context("expiring pending drafts")?;
    Ok(Output::done(
        format!("expired {count} pending draft(s)\n"),
        json!({ "expired": count }),
    ))
}
