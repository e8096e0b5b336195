//! Tests of the registry interface: what any backend must do, whatever its SQL. Compiled
//! twice, as `tests` (SQLite) and `tests_on_postgres` (PostgreSQL).

use super::*;

/// What keeps a test's registry alive: its temp dir, and its PostgreSQL database.
struct Fixture {
    _dir: tempfile::TempDir,
    _pg: Option<postgres::scratch::Scratch>,
}

/// A fresh registry, with drafts `ids` inserted as pending at `created_at` 100, 101, … in
/// that order: SQLite in a temp dir, or (when this file is compiled as `tests_on_postgres`)
/// a fresh PostgreSQL database, falling back to SQLite after a visible skip without a server.
fn registry_with(ids: &[&str]) -> (Fixture, Box<dyn Registry>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = module_path!()
        .ends_with("on_postgres")
        .then(postgres::scratch::Scratch::new)
        .flatten();
    let settings = postgres::PgSettings {
        schema: postgres::connect::DEFAULT_SCHEMA.to_owned(),
        ..Default::default()
    };
    let db = match &pg {
        Some(pg) => std::path::PathBuf::from(pg.url()),
        None => dir.path().join("r.db"),
    };
    let mut reg = open(&db, &settings, OpenMode::Create).expect("open");
    for (n, id) in (100..).zip(ids) {
        let value = serde_json::json!({ "n": n });
        let signed = crate::draft::sign(id, "k", &value, &value, n, 1, b"key").expect("sign");
        write(&mut *reg, |w| w.insert_draft(&signed, "k", n, 1, None, n)).expect("insert");
    }
    (Fixture { _dir: dir, _pg: pg }, reg)
}

#[test]
fn a_transaction_dropped_without_commit_changes_nothing() {
    let (_dir, mut reg) = registry_with(&["a"]);
    let mut tx = reg.begin().expect("begin");
    let moved = tx
        .transition(
            "a",
            Status::Pending,
            Status::Approved,
            &MoveFields::default(),
            1,
        )
        .expect("transition");
    assert!(moved);
    drop(tx);
    assert_eq!(find(&mut *reg, "a").expect("find").status, "pending");
    let moved = write(&mut *reg, |w| {
        w.transition(
            "a",
            Status::Pending,
            Status::Approved,
            &MoveFields::default(),
            1,
        )
    })
    .expect("write");
    assert!(moved);
    assert_eq!(find(&mut *reg, "a").expect("find").status, "approved");
}

#[test]
fn for_each_visits_oldest_first_and_stops_when_told() {
    let (_dir, mut reg) = registry_with(&["c", "a", "b"]);
    let mut seen = Vec::new();
    reg.for_each(Some(Status::Pending), &mut |row| {
        seen.push(row.id);
        ControlFlow::Continue(())
    })
    .expect("for_each");
    assert_eq!(seen, ["c", "a", "b"]);
    seen.clear();
    reg.for_each(None, &mut |row| {
        seen.push(row.id);
        if seen.len() == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .expect("for_each");
    assert_eq!(seen, ["c", "a"]);
    seen.clear();
    reg.for_each(Some(Status::Approved), &mut |row| {
        seen.push(row.id);
        ControlFlow::Continue(())
    })
    .expect("for_each");
    assert!(seen.is_empty());
}

#[test]
fn a_row_read_by_key_is_the_row_listed() {
    let (_dir, mut reg) = registry_with(&["a", "b"]);
    write(&mut *reg, |w| {
        w.transition(
            "b",
            Status::Pending,
            Status::Approved,
            &MoveFields::default(),
            1,
        )
    })
    .expect("approve");
    let keys = reg.batch_keys(Status::Approved, 10).expect("keys");
    assert_eq!(keys.len(), 1);
    let row = reg.get_row(&keys[0]).expect("read").expect("row");
    assert_eq!((row.id.as_str(), row.key.clone()), ("b", keys[0].clone()));
    let mut tx = reg.begin().expect("begin");
    let row = tx.get_row(&keys[0]).expect("read").expect("row");
    assert_eq!(row.status, "approved");
}

#[test]
fn a_move_someone_else_made_first_names_the_status_found() {
    let (_dir, mut reg) = registry_with(&["a"]);
    move_draft(
        &mut *reg,
        "a",
        Status::Pending,
        Status::Cancelled,
        &MoveFields::default(),
        "cancelled",
        1,
    )
    .expect("cancel");
    let err = move_draft(
        &mut *reg,
        "a",
        Status::Pending,
        Status::Approved,
        &MoveFields::default(),
        "approved",
        2,
    )
    .expect_err("already cancelled");
    assert_eq!(
        err.to_string(),
        "draft a is cancelled, not pending: only pending drafts can be approved"
    );
    let err = find(&mut *reg, "zz").expect_err("no such draft");
    assert!(
        matches!(&err, TransitionError::NotFound { id, .. } if id == "zz"),
        "{err:?}"
    );
}

#[test]
fn legal_moves_are_the_designs() {
    assert!(Status::Pending.may_become(Status::Approved));
    assert!(Status::Approved.may_become(Status::Executing));
    assert!(Status::Executing.may_become(Status::TerminalUnrecoverable));
    assert!(!Status::Executing.may_become(Status::Approved));
    assert!(!Status::Completed.may_become(Status::Approved));
    assert!(!Status::Approved.may_become(Status::Pending));
}

/// The thermal window's registry side: claims and dispatches count, a verification alone
/// (the reference writes `verify ok` before refusing a non-delegable kind) and a refusal
/// before the claim do not.
#[test]
fn actions_are_claims_and_dispatches_never_a_verification_alone() {
    let (_dir, mut reg) = registry_with(&["ours", "ref_ran", "ref_refused", "refused", "old"]);
    let claimer = Claimer {
        pid: 1,
        host: "h".into(),
        boot_id: None,
        process_start: None,
    };
    let (verify, execute) = (AttemptKind::Verify, AttemptKind::Execute);
    let (ok, failed, skipped) = (
        AttemptOutcome::Ok,
        AttemptOutcome::Failed,
        AttemptOutcome::Skipped,
    );
    let mut ids = std::collections::HashMap::new();
    write(&mut *reg, |w| {
        ids.insert(
            "ours",
            w.record_attempt("ours", verify, ok, Some("ok"), None, 1000)?,
        );
        w.record_claim("ours", &claimer, 1000)?;
        w.record_attempt("ours", execute, ok, None, Some("u"), 1002)?;
        w.record_attempt("ref_ran", verify, ok, Some("ok"), None, 1001)?;
        ids.insert(
            "ref_ran",
            w.record_attempt("ref_ran", execute, failed, Some("x"), None, 1001)?,
        );
        w.record_attempt("ref_refused", verify, ok, Some("ok"), None, 1001)?;
        w.record_attempt("refused", execute, skipped, Some("no handler"), None, 1001)?;
        w.record_attempt("old", execute, ok, None, None, 10)?;
        Ok(())
    })
    .expect("attempts");
    let mut actions = reg.actions_since(500).expect("actions");
    actions.sort_by_key(|a| (a.draft_id.clone(), a.attempt_id));
    let seen: Vec<(&str, i64, i64)> = actions
        .iter()
        .map(|a| (a.draft_id.as_str(), a.attempt_id, a.at))
        .collect();
    assert_eq!(
        seen,
        [
            ("ours", ids["ours"], 1000),
            ("ours", ids["ours"] + 1, 1002),
            ("ref_ran", ids["ref_ran"], 1001),
        ]
    );
}

#[test]
fn the_outbox_hands_out_due_alerts_oldest_first_and_records_each_try() {
    let (_dir, mut reg) = registry_with(&[]);
    let (first, second) = write(&mut *reg, |w| {
        Ok((
            w.enqueue_alert("one", "body one", Some("d1"), 100)?,
            w.enqueue_alert("two", "body two", None, 101)?,
        ))
    })
    .expect("enqueue");
    // A transaction rolled back takes its alert with it, as it takes the outcome.
    let mut tx = reg.begin().expect("begin");
    tx.enqueue_alert("never", "rolled back", None, 102)
        .expect("enqueue");
    drop(tx);

    let due = reg.alerts_due(101, 10).expect("due");
    let ids: Vec<i64> = due.iter().map(|a| a.id).collect();
    assert_eq!(ids, [first, second]);
    assert_eq!(due[0].subject, "one");
    assert_eq!(due[0].draft_id.as_deref(), Some("d1"));
    assert_eq!(due[0].tries, 0);
    assert_eq!(reg.alerts_due(101, 1).expect("due").len(), 1);

    write(&mut *reg, |w| {
        w.alert_delivered(first, 110)?;
        w.alert_failed(second, 1, "552 too large", 110, 170)
    })
    .expect("record");
    assert!(reg.alerts_due(169, 10).expect("due").is_empty());
    let retry = reg.alerts_due(170, 10).expect("due");
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].tries), (second, 1));
    assert_eq!(
        reg.alerts_waiting().expect("waiting"),
        AlertsWaiting {
            count: 1,
            oldest_created_at: Some(101),
            last_error: Some("552 too large".into()),
        }
    );
    // Delivered is final: a late failure report does not bring it back.
    write(&mut *reg, |w| w.alert_failed(first, 1, "late", 120, 180)).expect("record");
    assert!(
        reg.alerts_due(1000, 10)
            .expect("due")
            .iter()
            .all(|a| a.id != first)
    );
}

#[test]
fn an_empty_outbox_has_nothing_waiting() {
    let (_dir, mut reg) = registry_with(&[]);
    assert!(reg.alerts_due(i64::MAX, 10).expect("due").is_empty());
    assert_eq!(
        reg.alerts_waiting().expect("waiting"),
        AlertsWaiting {
            count: 0,
            oldest_created_at: None,
            last_error: None,
        }
    );
}
