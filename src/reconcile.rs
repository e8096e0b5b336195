//! `reconcile`: the drafts a crash left in `executing`, and a human's decision about each.
//! Nothing here ever runs a handler: at most once means a human decides.

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::json;

use crate::cli::{ReconcileAction, ReconcileArgs, Resolution, ResolveArgs};
use crate::commands::{TransitionError, open_existing};
use crate::config::{Config, parse_duration};
use crate::process::{Liveness, liveness, this_process};
use crate::registry::{self, AttemptKind, AttemptOutcome, Executing, MoveFields, Status};
use crate::report::{Output, ago, table};

/// One stuck draft, as listed.
#[derive(Debug, Serialize)]
pub struct StuckDraft {
    /// The draft.
    pub draft_id: String,
    /// Its kind.
    pub kind: String,
    /// Its target, on one line.
    pub target: String,
    /// When it was claimed (Unix seconds).
    pub claimed_at: i64,
    /// Seconds since then.
    pub age_s: i64,
    /// How many attempts it has.
    pub attempts: i64,
    /// The last attempt's kind and outcome.
    pub last_attempt: Option<String>,
    /// `running`, `dead` or `unknown`: whether the claiming process is alive.
    pub claimer: &'static str,
    /// The claiming process, `pid@host`, when recorded.
    pub claimed_by: Option<String>,
}

/// Lists executing drafts, with whether their claimer still runs.
pub fn stuck(rows: Vec<Executing>, now: i64) -> Vec<StuckDraft> {
    let me = this_process();
    rows.into_iter()
        .map(|row| {
            let alive = liveness(row.claimer.as_ref(), &me);
            StuckDraft {
                draft_id: row.id,
                kind: row.kind,
                target: one_line(&row.target, 60),
                claimed_at: row.claimed_at,
                age_s: now.saturating_sub(row.claimed_at),
                attempts: row.attempts,
                last_attempt: row.last_attempt,
                claimer: alive.word(),
                claimed_by: row.claimer.map(|c| format!("{}@{}", c.pid, c.host)),
            }
        })
        .collect()
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}

/// `reconcile [--older-than D]` and `reconcile resolve`.
pub fn reconcile(config: &Config, args: &ReconcileArgs, now: i64) -> anyhow::Result<Output> {
    if let Some(ReconcileAction::Resolve(resolve_args)) = &args.action {
        return resolve(config, resolve_args, now);
    }
    let older = match &args.older_than {
        Some(text) => {
            i64::try_from(parse_duration(text, "--older-than")?.as_secs()).unwrap_or(i64::MAX)
        }
        None => 0,
    };
    let mut registry = open_existing(config)?;
    let rows = registry
        .executing(now.saturating_sub(older))
        .context("listing drafts in executing")?;
    let list = stuck(rows, now);
    let text = if list.is_empty() {
        "no drafts stuck in executing\n".to_owned()
    } else {
        let mut rows = vec![
            [
                "DRAFT", "KIND", "CLAIMED", "ATTEMPTS", "LAST", "CLAIMER", "TARGET",
            ]
            .map(String::from)
            .to_vec(),
        ];
        rows.extend(list.iter().map(|d| {
            vec![
                d.draft_id.clone(),
                d.kind.clone(),
                ago(d.claimed_at, now),
                d.attempts.to_string(),
                d.last_attempt.clone().unwrap_or_else(|| "-".into()),
                match &d.claimed_by {
                    Some(by) => format!("{} ({by})", d.claimer),
                    None => d.claimer.to_owned(),
                },
                d.target.clone(),
            ]
        }));
        let mut text = table(&rows);
        text.push_str(
            "\nA running claimer may still be acting: wait for it. For the others, check the target, then\n  inbox-exec reconcile resolve ID --as completed [--url URL] | --as failed --note TEXT | --as terminal --note TEXT\n",
        );
        text
    };
    Ok(Output::done(text, &list))
}

fn resolve(config: &Config, args: &ResolveArgs, now: i64) -> anyhow::Result<Output> {
    let id = args.id.as_str();
    let (to, note) = match args.resolution {
        Resolution::Completed => (Status::Completed, args.note.clone()),
        Resolution::Failed | Resolution::Terminal => {
            let Some(note) = args.note.clone().filter(|n| !n.trim().is_empty()) else {
                bail!(
                    "--note is required with --as failed or --as terminal: say what you checked and found"
                );
            };
            let to = if args.resolution == Resolution::Failed {
                Status::CompletedWithError
            } else {
                Status::TerminalUnrecoverable
            };
            (to, Some(note))
        }
    };
    if args.url.is_some() && to != Status::Completed {
        bail!("--url goes with --as completed only");
    }
    let mut registry = open_existing(config)?;
    let row = registry
        .get(id)
        .with_context(|| format!("reading draft {id}"))?
        .ok_or_else(|| TransitionError::NotFound {
            id: id.to_owned(),
            db: registry.location(),
        })?;
    if row.status != Status::Executing.as_str() {
        return Err(TransitionError::WrongStatus {
            id: id.to_owned(),
            status: row.status,
            expected: Status::Executing,
            action: "reconciled",
        }
        .into());
    }
    let claim = registry
        .executing(i64::MAX)?
        .into_iter()
        .find(|e| e.id == id);
    if let Some(claim) = &claim
        && liveness(claim.claimer.as_ref(), &this_process()) == Liveness::Running
    {
        let by = claim.claimer.as_ref().map_or(0, |c| c.pid);
        bail!(
            "draft {id} was claimed by process {by}, which is still running: its handler may still be acting; wait for it to finish (or stop it) before settling the draft"
        );
    }
    let reason = note.unwrap_or_else(|| "settled as completed by a human".into());
    let fields = MoveFields {
        executed_url: args.url.as_deref(),
        last_error: (to != Status::Completed).then_some(reason.as_str()),
        completed: true,
    };
    let moved = registry::write(&mut *registry, |w| {
        let moved = w.transition(id, Status::Executing, to, &fields, now)?;
        if moved {
            let outcome = if to == Status::Completed {
                AttemptOutcome::Ok
            } else {
                AttemptOutcome::Failed
            };
            w.record_attempt(
                id,
                AttemptKind::Reconcile,
                outcome,
                Some(&reason),
                args.url.as_deref(),
                now,
            )?;
        }
        Ok(moved)
    })
    .with_context(|| format!("settling draft {id}"))?;
    if !moved {
        bail!(
            "draft {id} left executing while you were settling it: look again with `inbox-exec show {id}`"
        );
    }
    Ok(Output::done(
        format!("{id} {to}\n"),
        json!({ "draft_id": id, "status": to.as_str() }),
    ))
}
