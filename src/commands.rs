//! The draft commands: init, keygen, draft new, approve, cancel, expire, show, verify.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::{Context as _, bail};
use serde::Serialize;
use serde_json::{Value, json};

use crate::cli::{DraftNewArgs, KeygenArgs, RunArgs, VerifyArgs};
use crate::config::{Config, HostEnv};
use crate::dispatch::{ChildEnv, Handlers};
use crate::draft::json::parse_json;
use crate::draft::sign::signed_object;
use crate::draft::{KeyRing, SqlValue, VerifyError, keys, sign, verify};
use crate::executor::{Cycle, CycleReport, RunOptions, RunStatus};
use crate::exit::Outcome;
use crate::notify::Notifier;
use crate::registry::{self, DraftRow, MoveFields, OpenMode, Registry, Status};
use crate::report::{Output, table};

/// A status move that could not happen, with what the operator can do about it.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    /// No such draft.
    #[error("no draft {id} in registry {db}: check the id with `inbox-exec verify --all`")]
    NotFound {
        /// The id asked for.
        id: String,
        /// The registry searched.
        db: String,
    },
    /// The draft is not in the status the move starts from.
    #[error("draft {id} is {status}, not {expected}: only {expected} drafts can be {action}")]
    WrongStatus {
        /// The draft.
        id: String,
        /// Its status now.
        status: String,
        /// The status the move needs.
        expected: Status,
        /// The move, as a past participle.
        action: &'static str,
    },
}

/// Opens the registry that must already exist.
pub fn open_existing(config: &Config) -> anyhow::Result<Box<dyn Registry>> {
    open_as(config, OpenMode::Existing)
}

fn open_as(config: &Config, mode: OpenMode) -> anyhow::Result<Box<dyn Registry>> {
    registry::open(&config.db, mode)
        .with_context(|| format!("opening registry {}", config.db.display()))
}

fn find(registry: &mut dyn Registry, id: &str) -> anyhow::Result<DraftRow> {
    registry
        .get(id)
        .with_context(|| format!("reading draft {id}"))?
        .ok_or_else(|| {
            TransitionError::NotFound {
                id: id.to_owned(),
                db: registry.location(),
            }
            .into()
        })
}

/// `init`: create or migrate the registry.
pub fn init(config: &Config) -> anyhow::Result<Output> {
    let registry = registry::open(&config.db, OpenMode::Create)
        .with_context(|| format!("creating registry {}", config.db.display()))?;
    let path = registry.location();
    Ok(Output::done(
        format!("registry ready: {path}\n"),
        json!({ "db": path }),
    ))
}

/// `keygen`: a new key for the configured path of a version.
pub fn keygen(config: &Config, args: &KeygenArgs) -> anyhow::Result<Output> {
    let ring = KeyRing::new(config.keys.clone());
    let (version, path) = match args.key_version {
        Some(v) => (
            v,
            ring.path(v).with_context(|| {
                format!("no key file is configured for key_version {v}: add it under [keys]")
            })?,
        ),
        None => ring.newest().context("no key is configured")?,
    };
    keys::keygen(path)?;
    let shown = path.display().to_string();
    Ok(Output::done(
        format!("created HMAC key {shown} (key_version {version}, mode 0600)\n"),
        json!({ "key": shown, "key_version": version }),
    ))
}

/// `draft new`: sign with the newest key and insert as pending.
pub fn draft_new(config: &Config, args: &DraftNewArgs, now: i64) -> anyhow::Result<Output> {
    let target = parse_json(&args.target).context("--target is not valid JSON")?;
    let payload = parse_json(&args.payload).context("--payload is not valid JSON")?;
    if args.kind.trim().is_empty() {
        bail!("--kind is empty: name the action kind, e.g. github_comment");
    }
    let ring = KeyRing::new(config.keys.clone());
    let (version, _) = ring.newest().context("no key is configured")?;
    let key = ring.key(version)?;
    let id = ulid::Ulid::generate().to_string();
    let issued_at = args.issued_at.unwrap_or(now);
    let signed = sign(&id, &args.kind, &target, &payload, issued_at, version, key)
        .context("the draft cannot be signed")?;
    let mut registry = registry::open(&config.db, OpenMode::Create)
        .with_context(|| format!("opening registry {}", config.db.display()))?;
    registry::write(&mut *registry, |w| {
        w.insert_draft(
            &signed,
            &args.kind,
            issued_at,
            version,
            args.led_ref.as_deref(),
            now,
        )
    })
    .with_context(|| format!("inserting draft {id}"))?;
    log::info!("inserted draft {id} ({}) as pending", args.kind);
    Ok(Output::done(format!("{id}\n"), json!({ "draft_id": id })))
}

/// `approve`: pending → approved, only after a fresh verify.
pub fn approve(config: &Config, id: &str, now: i64) -> anyhow::Result<Output> {
    let mut registry = open_existing(config)?;
    let row = find(&mut *registry, id)?;
    require_status(&row, Status::Pending, "approved")?;
    let ring = KeyRing::new(config.keys.clone());
    match verify(&row.signed, &ring, now, config.ttl_seconds()) {
        Ok(_) => {}
        Err(VerifyError::Key(e)) => return Err(e.into()),
        Err(reason) => bail!("draft {id} does not verify ({reason}); it stays pending"),
    }
    move_draft(
        &mut *registry,
        &row,
        Status::Pending,
        Status::Approved,
        "approved",
        now,
    )
}

/// `cancel`: pending → cancelled.
pub fn cancel(config: &Config, id: &str, now: i64) -> anyhow::Result<Output> {
    let mut registry = open_existing(config)?;
    let row = find(&mut *registry, id)?;
    require_status(&row, Status::Pending, "cancelled")?;
    move_draft(
        &mut *registry,
        &row,
        Status::Pending,
        Status::Cancelled,
        "cancelled",
        now,
    )
}

fn require_status(row: &DraftRow, expected: Status, action: &'static str) -> anyhow::Result<()> {
    if row.status == expected.as_str() {
        Ok(())
    } else {
        Err(TransitionError::WrongStatus {
            id: row.id.clone(),
            status: row.status.clone(),
            expected,
            action,
        }
        .into())
    }
}

fn move_draft(
    registry: &mut dyn Registry,
    row: &DraftRow,
    from: Status,
    to: Status,
    action: &'static str,
    now: i64,
) -> anyhow::Result<Output> {
    let moved = registry::write(registry, |w| {
        w.transition(&row.id, from, to, &MoveFields::default(), now)
    })
    .with_context(|| format!("updating draft {}", row.id))?;
    if !moved {
        // Someone else moved it between our read and our write.
        let status = find(registry, &row.id)?.status;
        return Err(TransitionError::WrongStatus {
            id: row.id.clone(),
            status,
            expected: from,
            action,
        }
        .into());
    }
    Ok(Output::done(
        format!("{} {to}\n", row.id),
        json!({ "draft_id": row.id, "status": to.as_str() }),
    ))
}

/// `expire`: pending drafts issued longer than the TTL ago become expired.
pub fn expire(config: &Config, now: i64) -> anyhow::Result<Output> {
    let mut registry = open_existing(config)?;
    let ttl = i64::try_from(config.ttl_seconds()).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(ttl);
    let count = registry::write(&mut *registry, |w| w.expire_pending(cutoff, now))
        .context("expiring pending drafts")?;
    Ok(Output::done(
        format!("expired {count} pending draft(s)\n"),
        json!({ "expired": count }),
    ))
}

/// A stored value as JSON, for `show`.
fn plain(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(r) => json!(r),
        SqlValue::Text(s) => json!(s),
        other => json!(other.to_string()),
    }
}

/// `show`: the draft's columns and its attempts.
pub fn show(config: &Config, id: &str, now: i64) -> anyhow::Result<Output> {
    let mut registry = open_as(config, OpenMode::ReadOnly)?;
    let row = find(&mut *registry, id)?;
    let attempts = registry
        .attempts(&row.id)
        .with_context(|| format!("reading attempts of {id}"))?;
    let s = &row.signed;
    let parsed = |v: &SqlValue, column: &str| match v.parse_json_column(column) {
        Ok(value) => (value, None),
        Err(e) => (plain(v), Some(e)),
    };
    let (target, target_error) = parsed(&s.target_json, "target_json");
    let (payload, payload_error) = parsed(&s.payload_json, "payload_json");
    let mut doc = json!({
        "draft_id": row.id,
        "draft_kind": plain(&s.draft_kind),
        "target": target,
        "payload": payload,
        "issued_at": plain(&s.issued_at),
        "key_version": plain(&s.key_version),
        "schema_version": plain(&s.schema_version),
        "content_hash": plain(&s.content_hash),
        "signature": plain(&s.signature),
        "status": row.status,
        "led_ref": row.led_ref,
        "approval_subject": row.approval_subject,
        "executed_url": row.executed_url,
        "last_error": row.last_error,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "completed_at": row.completed_at,
        "attempts": attempts,
    });
    for (name, error) in [
        ("target_error", target_error),
        ("payload_error", payload_error),
    ] {
        if let Some(e) = error {
            doc[name] = json!(e);
        }
    }

    let when = |t: Option<i64>| {
        t.map_or_else(
            || "-".to_owned(),
            |t| format!("{t} ({})", crate::report::ago(t, now)),
        )
    };
    let mut lines = vec![
        vec!["draft".into(), row.id.clone()],
        vec!["kind".into(), row.kind()],
        vec!["status".into(), row.status.clone()],
        vec!["target".into(), doc["target"].to_string()],
        vec!["payload".into(), truncate(&doc["payload"].to_string(), 200)],
        vec!["issued".into(), when(s.issued_at.as_integral())],
        vec!["created".into(), when(row.created_at)],
        vec!["updated".into(), when(row.updated_at)],
    ];
    let optional = [
        ("completed", row.completed_at.map(|t| when(Some(t)))),
        ("executed", row.executed_url.clone()),
        ("last error", row.last_error.clone()),
        ("led ref", row.led_ref.clone()),
    ];
    for (label, value) in optional {
        if let Some(value) = value {
            lines.push(vec![label.into(), value]);
        }
    }
    let mut text = table(&lines);
    if attempts.is_empty() {
        text.push_str("no attempts\n");
    } else {
        text.push_str("attempts:\n");
        let rows: Vec<Vec<String>> = attempts
            .iter()
            .map(|a| {
                vec![
                    format!("  {}", crate::report::ago(a.attempted_at, now)),
                    a.kind.clone(),
                    a.outcome.clone(),
                    a.reason
                        .clone()
                        .or_else(|| a.executed_url.clone())
                        .unwrap_or_default(),
                ]
            })
            .collect();
        text.push_str(&table(&rows));
    }
    Ok(Output::done(text, doc))
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

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

/// `verify`: verdicts without side effects.
pub fn verify_cmd(config: &Config, args: &VerifyArgs, now: i64) -> anyhow::Result<Output> {
    let mut registry = open_as(config, OpenMode::ReadOnly)?;
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
            .map(|id| find(&mut *registry, id))
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
            registry
                .for_each(None, &mut visit)
                .context("listing drafts")?;
        } else {
            for status in [Status::Pending, Status::Approved] {
                registry.for_each(Some(status), &mut visit)?;
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

/// `run`: one cycle. Alerts queued during it are sent at the end, whatever happened.
pub fn run(config: &Config, args: &RunArgs, env: &HostEnv) -> anyhow::Result<Output> {
    let handlers = Handlers::new(config, ChildEnv::new(env.vars.clone()));
    let password = env
        .vars
        .get(std::ffi::OsStr::new("INBOX_EXEC_SMTP_PASSWORD"))
        .map(|v| v.to_string_lossy().into_owned());
    let mut notifier = Notifier::new(config.notify.clone(), password);
    let clock = crate::unix_now;
    let options = RunOptions {
        batch: usize::from(args.batch.unwrap_or(config.batch)),
        dry_run: args.dry_run,
    };
    // A stop request (systemd's SIGTERM, Ctrl-C) lets the draft in hand finish and be
    // recorded: killing the process there would leave it in `executing` for a human.
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGHUP,
    ] {
        // A second signal means "now": exit at once (the draft in hand stays executing).
        signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&stop))
            .and_then(|_| signal_hook::flag::register(signal, Arc::clone(&stop)))
            .context("installing the signal handlers")?;
    }
    let result = Cycle {
        config,
        handlers: &handlers,
        notifier: &mut notifier,
        clock: &clock,
        claimer: crate::process::this_process(),
        stop: &stop,
    }
    .run(options);
    notifier.flush();
    let report = result?;
    let output = Output::done(run_text(&report, clock()), &report);
    Ok(match report.summary_error {
        Some(e) => output.failed(e),
        None => output,
    })
}

fn run_text(report: &CycleReport, now: i64) -> String {
    let dry = if report.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let mut text = match report.status {
        RunStatus::Skipped => return "skipped: another run holds the lock\n".to_owned(),
        RunStatus::Failed => String::from("failed\n"),
        RunStatus::Idle => format!("idle: no approved drafts{dry}\n"),
        RunStatus::Paused => String::new(),
        RunStatus::Ran => format!("ran: {} draft(s){dry}\n", report.processed),
    };
    let rows: Vec<Vec<String>> = report
        .results
        .iter()
        .map(|r| {
            vec![
                format!("  {}", r.outcome.as_str()),
                r.draft_id.clone(),
                r.kind.clone(),
                r.reason
                    .clone()
                    .or_else(|| r.executed_url.clone())
                    .unwrap_or_default(),
            ]
        })
        .collect();
    text.push_str(&table(&rows));
    if let Some(until) = report.paused_until {
        text.push_str(&format!(
            "paused: thermal cutout in force until {until} ({})\n",
            crate::report::ago(until, now)
        ));
    }
    text
}
