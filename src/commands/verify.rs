//! `verify`: a verdict per draft, without side effects.

use std::ops::ControlFlow;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::draft::sign::signed_object;
use crate::draft::{KeyRing, VerifyError, verify};
use crate::exit::Outcome;
use crate::registry::{self, DraftRow, OpenMode, Status};
use crate::report::{Output, table};

/// One line of `verify`'s report.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The draft.
    pub draft_id: String,
    /// Whether it verified.
    pub ok: bool,
    /// `ok`, or why not.
    pub reason: String,
    /// The content hash as recomputed; `None` when it cannot be computed.
    pub content_hash: Option<String>,
}

/// Verifies drafts without side effects; exit 3 when any fails.
pub fn run(config: &Config, args: &VerifyArgs, now: i64) -> anyhow::Result<Output> {
    let mut reg = registry::open_named(&config.db, OpenMode::ReadOnly)?;
    let ring = KeyRing::new(config.keys.clone());
    let now = args.now.unwrap_or(now);
    let check = |row: DraftRow| -> anyhow::Result<Verdict> {
        let reason = match verify(&row.signed, &ring, now, config.ttl_seconds()) {
            Ok(_) => "ok".to_owned(),
            Err(VerifyError::Key(e)) => {
                return Err(anyhow::Error::new(e).context(format!("verifying draft {}", row.id)));
            }
            Err(e) => e.to_string(),
        };
        Ok(Verdict {
            ok: reason == "ok",
            reason,
            content_hash: signed_object(&row.signed).ok().map(|o| o.content_hash),
            draft_id: row.id,
        })
    };
    let mut verdicts = Vec::new();
    if !args.ids.is_empty() {
        // Every id is looked up before any is verified: a typo fails the command first.
        let rows = args
            .ids
            .iter()
            .map(|id| registry::find(&mut *reg, id).map_err(Into::into))
            .collect::<anyhow::Result<Vec<_>>>()?;
        for row in rows {
            verdicts.push(check(row)?);
        }
    } else {
        // One row at a time: only the verdicts are kept, never every draft's payload.
        let mut failure = None;
        let mut visit = |row: DraftRow| {
            if failure.is_some() {
                return ControlFlow::Break(());
            }
            match check(row) {
                Ok(verdict) => verdicts.push(verdict),
                Err(e) => failure = Some(e),
            }
            ControlFlow::Continue(())
        };
        if args.all {
            reg.for_each(None, &mut visit).context("listing drafts")?;
        } else {
            for status in [Status::Pending, Status::Approved] {
                reg.for_each(Some(status), &mut visit)?;
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    }
    let failed = verdicts.iter().filter(|v| !v.ok).count();
    let lines: Vec<Vec<String>> = verdicts
        .iter()
        .map(|v| {
            vec![
                if v.ok { "ok" } else { "FAILED" }.to_owned(),
                v.draft_id.clone(),
                if v.ok {
                    String::new()
                } else {
                    v.reason.clone()
                },
            ]
        })
        .collect();
    let mut text = table(&lines);
    text.push_str(&format!(
        "{} verified, {failed} failed\n",
        verdicts.len() - failed
    ));
    let outcome = if failed == 0 {
        Outcome::Done
    } else {
        Outcome::VerifyFailed
    };
    Ok(Output::done(text, &verdicts).with_outcome(outcome))
}
