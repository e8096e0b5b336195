//! `copy`: a registry moved between SQLite and PostgreSQL keeps every draft, every attempt
//! and every signature.

use serde_json::Value;

use crate::harness::{Backend, World};
use crate::pgdb::PgDb;
use crate::stage::{Stage, TARGET};

/// `verify --all --json` verdicts by draft id, and each draft's `show --json` minus nothing.
fn snapshot(s: &Stage, db: &std::ffi::OsStr) -> (Vec<Value>, Vec<Value>) {
    let mut verdicts =
        s.w.cmd(&["verify", "--all", "--json"])
            .env("INBOX_EXEC_DB", db)
            .output()
            .json()
            .as_array()
            .expect("verdicts")
            .clone();
    verdicts.sort_by_key(|v| v["draft_id"].as_str().map(str::to_owned));
    let shows = verdicts
        .iter()
        .map(|v| {
            let id = v["draft_id"].as_str().expect("id");
            s.w.cmd(&["show", id, "--json"])
                .env("INBOX_EXEC_DB", db)
                .ok()
                .json()
        })
        .collect();
    (verdicts, shows)
}

#[test]
fn a_registry_copied_to_postgres_and_back_keeps_every_draft_attempt_and_signature() {
    let Some(pg) = PgDb::or_skip() else { return };
    let s = Stage::build(World::ready_on(Backend::Sqlite), "", "");
    // Every kind of history: pending, cancelled, run to completion, refused, tampered.
    s.w.draft(
        "github_comment",
        TARGET,
        r#"{"body":"naïve — ünïcode \u00e9"}"#,
    );
    let cancelled = s.w.draft(
        "ledger_done",
        "{}",
        r#"{"n":1.50,"big":12345678901234567890}"#,
    );
    s.w.cmd(&["cancel", &cancelled]).ok();
    s.ledger(3);
    s.w.approved("force_push_shared", "{}", "{}");
    let tampered = s.w.approved("ledger_done", "{}", r#"{"n":9}"#);
    s.run(&[]).ok();
    s.w.draft("ledger_done", r#"{"z":1,"a":[1,2]}"#, "{}");
    let forged = s.w.draft("ledger_done", "{}", r#"{"n":7}"#);
    s.w.sql(&format!(
        r#"UPDATE drafts SET payload_json = '{{"n": 8}}' WHERE draft_id = '{forged}'"#
    ));
    let sqlite = s.w.db.clone().into_os_string();
    let before = snapshot(&s, &sqlite);
    assert_eq!(before.0.len(), 9);
    assert!(
        before.0.iter().filter(|v| v["ok"] == true).count() >= 5,
        "{:?}",
        before.0
    );
    assert_eq!(s.w.status(&tampered), "completed");

    let url = pg.url();
    let out =
        s.w.cmd(&[
            "copy",
            "--from",
            &s.w.db.to_string_lossy(),
            "--to",
            &url,
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(out["drafts"], 9, "{out}");
    assert!(out["attempts"].as_u64().expect("attempts") >= 8, "{out}");
    let on_pg = snapshot(&s, url.as_ref());
    assert_eq!(
        on_pg, before,
        "the same drafts, attempts and verdicts on PostgreSQL"
    );

    // Never over a registry that already holds drafts, unless asked; then only what it lacks.
    s.w.cmd(&["copy", "--from", &s.w.db.to_string_lossy(), "--to", &url])
        .fails_with(&["already holds 9 draft(s)", "nothing was copied", "--force"]);
    let again =
        s.w.cmd(&[
            "copy",
            "--from",
            &s.w.db.to_string_lossy(),
            "--to",
            &url,
            "--force",
            "--json",
        ])
        .ok()
        .json();
    assert_eq!(again["drafts"], 0, "{again}");
    assert_eq!(again["already_there"], 9, "{again}");
    assert_eq!(snapshot(&s, url.as_ref()), before);

    // And back to a new SQLite file.
    let back = s.w.path("back.db");
    s.w.cmd(&["copy", "--from", &url, "--to", &back.to_string_lossy()])
        .ok();
    assert_eq!(snapshot(&s, back.as_os_str()), before);
    // The copy runs: what was approved and untouched is executed from PostgreSQL.
    let queued = s.w.approved("ledger_done", "{}", r#"{"n":42}"#);
    s.w.cmd(&[
        "copy",
        "--from",
        &s.w.db.to_string_lossy(),
        "--to",
        &url,
        "--force",
    ])
    .ok();
    let doc = s.run(&[]).env("INBOX_EXEC_DB", &url).ok().json();
    assert_eq!(doc["results"][0]["draft_id"], queued.as_str(), "{doc}");
    assert_eq!(doc["results"][0]["outcome"], "executed", "{doc}");
}

#[test]
fn a_row_postgres_cannot_store_unchanged_stops_the_copy_before_anything_is_written() {
    let Some(pg) = PgDb::or_skip() else { return };
    let w = World::ready_on(Backend::Sqlite);
    w.draft("ledger_done", "{}", "{}");
    let odd = w.draft("ledger_done", "{}", "{}");
    w.sql(&format!(
        "UPDATE drafts SET issued_at = 'yesterday' WHERE draft_id = '{odd}'"
    ));
    w.cmd(&["copy", "--from", &w.db.to_string_lossy(), "--to", &pg.url()])
        .fails_with(&[&odd, "issued_at", "\"yesterday\"", "nothing was copied"]);
    let mut client = pg.client();
    let drafts: i64 = client
        .query_one("SELECT count(*) FROM drafts", &[])
        .expect("count")
        .get(0);
    assert_eq!(drafts, 0);
}
