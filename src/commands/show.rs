//! `show`: one draft's columns and its attempts.

use anyhow::Context as _;
use serde_json::{Value, json};

use crate::cli::IdArg;
use crate::config::Config;
use crate::draft::SqlValue;
use crate::registry::{self, OpenMode};
use crate::report::{Output, ago, table};

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

/// Shows a draft's columns and its attempts.
pub fn run(config: &Config, args: &IdArg, now: i64) -> anyhow::Result<Output> {
    let id = args.id.as_str();
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::ReadOnly)?;
    let row = registry::find(&mut *reg, id)?;
    let attempts = reg
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

    let when =
        |t: Option<i64>| t.map_or_else(|| "-".to_owned(), |t| format!("{t} ({})", ago(t, now)));
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
                    format!(
                        "  {}",
                        a.attempted_at
                            .map_or_else(|| "-".to_owned(), |t| ago(t, now))
                    ),
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
