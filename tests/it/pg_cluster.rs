//! What only a shared PostgreSQL registry can promise: a live claimer told from a dead one
//! on any host, a stuck-draft alert once for all executors, and a run that survives losing
//! its database session.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Backend, World};
use crate::stage::Stage;

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A PostgreSQL stage, or `None` after a visible skip.
fn stage(handler_tail: &str, extra: &str) -> Option<Stage> {
    let w = World::ready_on(Backend::Postgres);
    if !w.on_postgres() {
        return None;
    }
    Some(Stage::build(w, handler_tail, extra))
}

#[test]
fn a_claimer_on_another_host_is_seen_alive_while_its_session_holds_the_draft() {
    let Some(s) = stage("sleep 30", "") else {
        return;
    };
    let id = s.ledger(1).remove(0);
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = run.cmd.spawn().expect("spawn run");
    wait_for("the dispatch", || s.started() > 0);
    // As another host records it: no process lookup can tell from here.
    s.w.sql(&format!(
        "UPDATE claims SET host = 'other-host.example', pid = 1 WHERE draft_id = '{id}'"
    ));
    let reconcile = |s: &Stage| {
        s.w.cmd(&["reconcile", "--json"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .ok()
            .json()
    };
    let list = reconcile(&s);
    assert_eq!(list[0]["draft_id"], id.as_str());
    assert_eq!(list[0]["claimer"], "running", "{list}");
    assert_eq!(list[0]["claimed_by"], "1@other-host.example");
    s.w.cmd(&["reconcile", "resolve", &id, "--as", "failed", "--note", "x"])
        .env("INBOX_EXEC_CONFIG", &s.config)
        .fails_with(&["still running"]);

    // The executor dies: its connection goes, and with it the lock.
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    wait_for("the server to notice", || {
        reconcile(&s)[0]["claimer"] == "dead"
    });
    // Dead, but claimed a moment ago: a claimer that lost its connection may still have a
    // handler running, so settling waits for stuck_after unless the human says --force.
    let settle = |force: bool| {
        let mut args = vec![
            "reconcile",
            "resolve",
            id.as_str(),
            "--as",
            "failed",
            "--note",
            "checked",
        ];
        if force {
            args.push("--force");
        }
        s.w.cmd(&args).env("INBOX_EXEC_CONFIG", &s.config)
    };
    settle(false).fails_with(&["less than stuck_after"]);
    settle(true).ok();
    assert_eq!(s.w.status(&id), "completed_with_error");
}

#[test]
fn a_stuck_draft_is_alerted_once_for_all_executors() {
    let Some(s) = stage("", "") else { return };
    let id = s.ledger(1).remove(0);
    let old = inbox_exec::unix_now() - 3600;
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {old} WHERE draft_id = '{id}'"
    ));
    let children: Vec<_> = (0..6)
        .map(|e| {
            let mut run = s
                .run(&[])
                .env("INBOX_EXEC_STATE_DIR", s.w.path(&format!("host-{e}")));
            run.cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            run.cmd.spawn().expect("spawn run")
        })
        .collect();
    let alerts: usize = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stderr)
                .matches(&format!("draft {id} stuck in executing"))
                .count()
        })
        .sum();
    assert_eq!(alerts, 1, "one alert for six executors");
}

#[test]
fn a_run_whose_database_session_is_killed_mid_dispatch_records_the_outcome_on_a_new_one() {
    let Some(s) = stage("sleep 0.5", "") else {
        return;
    };
    let ids = s.ledger(2);
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("spawn run");
    wait_for("the first dispatch", || s.started() > 0);
    let killed = s.w.query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'inbox-exec'",
    );
    assert_eq!(killed, "1", "the run's session was found and killed");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("connecting again"), "{stderr}");
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
        assert_eq!(s.dispatched(id), 1, "{id}");
        assert_eq!(s.attempts(id), "verify:ok,execute:ok", "{id}");
    }
}
