//! `copy`: move a registry between backends (SQLite ↔ PostgreSQL), drafts and attempts,
//! with the signed columns byte for byte so every signature still verifies.

use std::ops::ControlFlow;

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::CopyArgs;
use crate::config::Config;
use crate::registry::{self, DraftRow, OpenMode};
use crate::report::Output;

/// Copies every draft of `--from`, with its attempts, into `--to` in one transaction.
pub fn run(config: &Config, args: &CopyArgs) -> anyhow::Result<Output> {
    let (from, to) = (registry::shown(&args.from), registry::shown(&args.to));
    let mut source = registry::open_named(&args.from, &config.postgres, OpenMode::ReadOnly)?;
    let mut target = registry::init(&args.to, &config.postgres)?;
    if source.location() == target.location() {
        bail!("--from and --to are the same registry ({from})");
    }
    let already: i64 = target
        .counts()
        .with_context(|| format!("reading {to}"))?
        .iter()
        .map(|(_, n)| n)
        .sum();
    if already > 0 && !args.force {
        bail!(
            "registry {to} already holds {already} draft(s): nothing was copied; pass --force to add the drafts it lacks (those it has are left as they are)"
        );
    }
    let mut rows: Vec<DraftRow> = Vec::new();
    source
        .for_each(None, &mut |row| {
            rows.push(row);
            ControlFlow::Continue(())
        })
        .with_context(|| format!("reading the drafts of {from}"))?;
    let mut attempts = Vec::with_capacity(rows.len());
    for row in &rows {
        attempts.push(
            source
                .attempts(&row.id)
                .with_context(|| format!("reading the attempts of draft {}", row.id))?,
        );
    }
    let (mut copied, mut kept, mut attempt_count) = (0usize, 0usize, 0usize);
    registry::write(&mut *target, |tx| {
        for (row, attempts) in rows.iter().zip(&attempts) {
            if !tx.copy_draft(row)? {
                kept += 1;
                continue;
            }
            copied += 1;
            for a in attempts {
                tx.copy_attempt(&row.id, a)?;
                attempt_count += 1;
            }
        }
        Ok(())
    })
    .with_context(|| format!("copying into {to} (nothing was copied)"))?;
    let mut text =
        format!("copied {copied} draft(s) and {attempt_count} attempt(s) from {from} to {to}\n");
    if kept > 0 {
        text.push_str(&format!(
            "{kept} draft(s) were already in {to} and were left as they are\n"
        ));
    }
    Ok(Output::done(
        text,
        json!({ "from": from, "to": to, "drafts": copied, "attempts": attempt_count, "already_there": kept }),
    ))
}
