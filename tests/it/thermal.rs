//! The thermal cutout as a bound no one but the executor can loosen: one budget per registry
//! (however many state directories run on it), a window no registry writer can lower, no
//! pause a clock jump can stretch past the cooldown, and the reference's rows counted for
//! what they record.

use std::fs;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::outcome_of;
use crate::stage::{Stage as Setup, thermal_config};

/// Ten years, the clock jump of issue 8.
const DECADE: i64 = 10 * 365 * 24 * 3600;

/// Drafts whose side effect ran (or may have: a claim is an action).
fn actions(s: &Setup) -> usize {
    let dispatches = s.dispatches();
    let dispatched = dispatches.by_id.values().sum::<usize>() + dispatches.unattributed;
    let claimed: usize =
        s.w.query("SELECT count(*) FROM drafts WHERE status IN ('executing', 'completed', 'completed_with_error')")
            .parse()
            .expect("count");
    assert_eq!(dispatched, claimed, "every claim reached its handler once");
    dispatched
}

fn run_in(s: &Setup, state: &Path) -> crate::harness::Run {
    s.run(&[]).env("INBOX_EXEC_STATE_DIR", state)
}

fn spawn_in(s: &Setup, state: &Path) -> Child {
    let mut run = run_in(s, state);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    run.cmd.spawn().expect("spawn run")
}

/// Passes before the registry lock too (a sidecar behind the table was rebuilt from it):
/// kept so the shared budget cannot regress for runs that do not overlap.
#[test]
fn two_state_dirs_on_one_registry_share_one_budget_run_one_after_the_other() {
    let s = Setup::new(&thermal_config(5));
    s.ledger(20);
    let (a, b) = (s.w.path("state-a"), s.w.path("state-b"));
    for _ in 0..3 {
        for state in [&a, &b] {
            run_in(&s, state).ok();
        }
    }
    let ran = actions(&s);
    // Everything here happens within seconds: one window, before the first cooldown ends.
    assert!(ran <= 6, "{ran} actions in one window with max_actions = 5");
    assert_eq!(ran, 6, "the budget is spent, not refused early");
    for state in [&a, &b] {
        assert_eq!(run_in(&s, state).ok().json()["status"], "paused");
    }
}

#[test]
fn two_state_dirs_on_one_registry_never_run_at_once() {
    let s = Setup::with_handler("sleep 0.1", &thermal_config(5));
    s.ledger(24);
    let (a, b) = (s.w.path("state-a"), s.w.path("state-b"));
    let mut skipped = 0;
    let mut raced = 0;
    for _ in 0..4 {
        let children = [spawn_in(&s, &a), spawn_in(&s, &b)];
        for child in children {
            let out = child.wait_with_output().expect("wait");
            assert!(out.status.success(), "{out:?}");
            let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
            if doc["status"] == "skipped" {
                skipped += 1;
            }
            raced += doc["results"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|r| r["outcome"] == "lost_race")
                .count();
        }
    }
    let ran = actions(&s);
    assert!(ran <= 6, "{ran} actions in one window with max_actions = 5");
    assert_eq!(raced, 0, "two runs raced for the same drafts");
    println!("{skipped} runs skipped");
}

/// The window is on disk before each handler starts, not only at the end of the cycle: a run
/// killed mid-dispatch still leaves its claim in the claims log, where no registry writer can
/// erase it.
/// A cooldown past the year 9999 is a pause for good, and its alert says so: the date it
/// ends cannot be written in RFC 3339, which once made the run panic at the trip, after the
/// first dispatch and before its outcome was committed, at every run after.
#[test]
fn a_cooldown_past_the_year_9999_pauses_without_failing_the_run() {
    let s = Setup::new("[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"9000years\"\n");
    let ids = s.ledger(3);

    let doc = s.run(&[]).ok().json();

    assert_eq!(s.w.status(&ids[0]), "completed", "{doc}");
    assert_eq!(s.w.status(&ids[2]), "approved", "{doc}");
    let status = s.cmd(&["status"]).ok();
    assert!(
        status.stdout.contains("after the year 9999"),
        "{}",
        status.stdout
    );
}

#[test]
fn each_claim_is_in_the_thermal_record_before_its_handler_starts() {
    // Long enough for any machine to look: the run is killed while its handler runs.
    let s = Setup::with_handler("sleep 10", &thermal_config(5));
    let ids = s.ledger(1);
    let state = s.w.path("state");
    let mut child = spawn_in(&s, &state);
    s.wait_started(1);
    let log = fs::read_to_string(state.join("thermal-claims.jsonl"));
    // `status` counts it too, before the cycle saves the sidecar.
    let status = s
        .cmd(&["status", "--json"])
        .env("INBOX_EXEC_STATE_DIR", &state)
        .ok()
        .json();
    child.kill().expect("kill the run");
    child.wait().expect("reap the run");
    let log = log.expect("the claims log is written before the dispatch");
    assert!(log.contains(&ids[0]), "the claim is not in the log: {log}");
    assert_eq!(status["thermal"]["recent_actions"], 1, "{status}");
}

/// What the claims log is for: a run killed mid-dispatch, a registry writer that then erases
/// every trace of that claim, and the next run still counts it.
#[test]
fn a_claim_killed_mid_dispatch_still_counts_after_a_registry_writer_erases_it() {
    let s = Setup::with_handler("[ \"$EXTRA\" != slow ] || sleep 30", &thermal_config(1));
    s.ledger(1);
    let state = s.w.path("state");
    let mut run = run_in(&s, &state).env("EXTRA", "slow");
    run.cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = run.cmd.spawn().expect("spawn run");
    s.wait_started(1);
    child.kill().expect("kill the run");
    child.wait().expect("reap the run");
    erase_history(&s, "delete");
    let later = s.ledger(2);
    let next = run_in(&s, &state).ok();
    assert!(
        !next.stderr.contains("do not parse"),
        "a whole log reads without a word:\n{}",
        next.stderr
    );
    // max_actions = 1: the killed claim and the next one fill the window (the claim that
    // trips still runs); without the killed claim both would have run.
    assert_eq!(s.w.status(&later[0]), "completed");
    assert_eq!(
        s.w.status(&later[1]),
        "approved",
        "deferred: the erased claim still counts"
    );
    assert!(
        !state.join("thermal-claims.jsonl").exists(),
        "the sidecar took the log in"
    );
    let sidecar = fs::read_to_string(state.join("thermal.json")).expect("sidecar");
    assert_eq!(sidecar.matches("draft_id").count(), 2, "{sidecar}");
}

/// Forges what a registry writer can: every recorded action moved a day back (or erased),
/// plus one newer attempt so the sidecar looks behind the table.
fn erase_history(s: &Setup, how: &str) {
    let any = s.w.query("SELECT draft_id FROM drafts LIMIT 1");
    let forged: i64 =
        s.w.query("SELECT coalesce(max(attempt_id), 0) + 1000 FROM attempts")
            .parse()
            .expect("id");
    let tamper = match how {
        "back-date" => {
            "UPDATE attempts SET attempted_at = attempted_at - 86400;
                        UPDATE claims SET claimed_at = claimed_at - 86400;"
        }
        "delete" => "DELETE FROM attempts; DELETE FROM claims;",
        other => panic!("{other}"),
    };
    s.w.sql(&format!(
        "{tamper}
         INSERT INTO attempts (attempt_id, draft_id, kind, outcome, attempted_at)
         VALUES ({forged}, '{any}', 'reconcile', 'ok', 0);"
    ));
}

#[test]
fn a_registry_writer_cannot_raise_the_budget_by_back_dating_or_deleting_attempts() {
    for how in ["back-date", "delete"] {
        let s = Setup::new(&thermal_config(3));
        for _ in 0..5 {
            s.ledger(3);
            s.run(&[]).ok();
            erase_history(&s, how);
        }
        let ran = actions(&s);
        assert!(
            ran <= 4,
            "{how}: {ran} actions in one window with max_actions = 3 (SECURITY.md: at most 4)"
        );
        assert_eq!(s.run(&[]).ok().json()["status"], "paused", "{how}");
    }
}

/// Moves every time in the registry and in the sidecar `by` seconds: what runs made while
/// the clock was that far ahead leave behind once the clock is set right.
fn shift_time(s: &Setup, by: i64) {
    s.w.sql(&format!(
        "UPDATE attempts SET attempted_at = attempted_at + {by};
         UPDATE claims SET claimed_at = claimed_at + {by};
         UPDATE drafts SET updated_at = updated_at + {by},
                           completed_at = completed_at + {by}
          WHERE status <> 'approved';"
    ));
    let path = s.state_file("thermal.json");
    let mut sidecar: Value =
        serde_json::from_slice(&fs::read(&path).expect("sidecar")).expect("sidecar JSON");
    shift_times(&mut sidecar, by);
    fs::write(&path, serde_json::to_vec(&sidecar).expect("JSON")).expect("write sidecar");
}

/// Adds `by` to every number in `v` that is a plausible Unix time (ids and counts are far
/// smaller), whatever the sidecar's layout.
fn shift_times(v: &mut Value, by: i64) {
    match v {
        Value::Number(n) => {
            if let Some(t) = n.as_i64().filter(|t| *t > 1_000_000_000) {
                *v = Value::from(t + by);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| shift_times(i, by)),
        Value::Object(map) => map.values_mut().for_each(|i| shift_times(i, by)),
        _ => {}
    }
}

const SHORT_COOLDOWN: &str = "[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"2s\"\n";

fn assert_pause_within_cooldown(doc: &Value) {
    let now = inbox_exec::unix_now();
    if let Some(until) = doc["paused_until"].as_i64() {
        assert!(
            until <= now + 2,
            "paused until {until}, {}s from now: longer than the 2s cooldown",
            until - now
        );
    }
}

#[test]
fn a_pause_left_by_a_clock_ten_years_ahead_lasts_no_longer_than_the_cooldown() {
    let s = Setup::new(SHORT_COOLDOWN);
    s.ledger(2);
    let doc = s.run(&[]).ok().json();
    assert!(doc["paused_until"].is_i64(), "two actions trip: {doc}");
    shift_time(&s, DECADE);
    let next = s.ledger(1).remove(0);
    let out = s.run(&[]).ok();
    assert_pause_within_cooldown(&out.json());
    assert!(
        out.stderr.contains("[ALERT] inbox-exec") && out.stderr.contains("future"),
        "the clamp is alerted:\n{}",
        out.stderr
    );
    std::thread::sleep(Duration::from_millis(2500));
    let out = s.run(&[]).ok();
    assert_eq!(outcome_of(&out.json(), &next)["outcome"], "executed");
    assert!(
        !out.stderr.contains("future"),
        "the clamp is alerted once:\n{}",
        out.stderr
    );
}

#[test]
fn a_lost_sidecar_does_not_replay_future_dated_rows_into_a_long_pause() {
    let s = Setup::new(SHORT_COOLDOWN);
    s.ledger(2);
    s.run(&[]).ok();
    shift_time(&s, DECADE);
    fs::remove_file(s.state_file("thermal.json")).expect("rm sidecar");
    let next = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    assert_pause_within_cooldown(&doc);
    std::thread::sleep(Duration::from_millis(2500));
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &next)["outcome"], "executed", "{doc}");
}

#[test]
fn a_successful_verify_attempt_says_ok_as_the_reference_writes_it() {
    let s = Setup::new("");
    let id = s.ledger(1).remove(0);
    s.run(&[]).ok();
    assert_eq!(
        s.w.query(&format!(
            "SELECT coalesce(reason, 'NULL') FROM attempts
              WHERE draft_id = '{id}' AND kind = 'verify' AND outcome = 'ok'"
        )),
        "ok"
    );
}

#[test]
fn the_window_counts_what_the_reference_executed_not_what_it_verified() {
    let s = Setup::new(&thermal_config(3));
    let now = inbox_exec::unix_now() - 60;
    // What the reference's _execute_one leaves: a `verify ok` attempt (reason 'ok') for every
    // draft it looked at, then for a non-delegable kind a refusal with no further attempt,
    // and for a dispatched draft an `execute` attempt, ok or failed.
    let mut sql = String::new();
    for i in 0..8 {
        let refused = i >= 3;
        let kind = if refused {
            "venture_kill"
        } else {
            "ledger_done"
        };
        let id = s.w.approved(kind, "{}", &format!(r#"{{"ref":{i}}}"#));
        sql.push_str(&format!(
            "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
             VALUES ('{id}', 'verify', 'ok', 'ok', NULL, {now});"
        ));
        if refused {
            sql.push_str(&format!(
                "UPDATE drafts SET status = 'terminal_unrecoverable',
                        last_error = 'kind is on the non-delegable refusal list',
                        completed_at = {now}, updated_at = {now}
                  WHERE draft_id = '{id}';"
            ));
        } else {
            let (outcome, status, reason) = if i == 2 {
                (
                    "failed",
                    "completed_with_error",
                    "'gh issue comment failed: boom'",
                )
            } else {
                ("ok", "completed", "NULL")
            };
            sql.push_str(&format!(
                "INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
                 VALUES ('{id}', 'execute', '{outcome}', {reason}, NULL, {now});
                 UPDATE drafts SET status = '{status}', last_error = {reason},
                        completed_at = {now}, updated_at = {now}
                  WHERE draft_id = '{id}';"
            ));
        }
    }
    s.w.sql(&sql);
    let ours = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    // Three executed by the reference: ours is the fourth, runs, and trips the cutout. Eight
    // (the refusals counted) would have paused before it.
    assert_eq!(outcome_of(&doc, &ours)["outcome"], "executed", "{doc}");
    assert!(doc["paused_until"].is_i64(), "3 + 1 > 3 must trip: {doc}");
}
