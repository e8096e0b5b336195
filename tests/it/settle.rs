//! `reconcile resolve` settles a draft a human has checked. It refuses, without `--force`,
//! a draft claimed less than `stuck_after` ago or whose claimer may still be acting: one
//! alive on this host, or one it cannot see (another host, or the reference executor, which
//! leaves no claim record).

use std::fs;

use crate::files::now;
use crate::harness::{Run, World};

fn host() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

fn boot() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("boot id")
        .trim()
        .to_owned()
}

/// An approved draft moved to `executing` at `claimed_at`, as a claimer would leave it.
fn executing(w: &World, claimed_at: i64) -> String {
    let id = w.approved("ledger_done", r#"{"led":"LED-1"}"#, r#"{"n":1}"#);
    w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {claimed_at} WHERE draft_id = '{id}';
         INSERT INTO attempts (draft_id, kind, outcome, attempted_at) VALUES ('{id}', 'verify', 'ok', {claimed_at});"
    ));
    id
}

fn claim(w: &World, id: &str, claimed_at: i64, pid: u32, host: &str, start: i64) {
    w.sql(&format!(
        "INSERT INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
             VALUES ('{id}', {claimed_at}, {pid}, '{host}', '{boot}', {start})",
        boot = boot()
    ));
}

fn resolve(w: &World, id: &str, force: bool) -> Run {
    let mut args = vec![
        "reconcile",
        "resolve",
        id,
        "--as",
        "failed",
        "--note",
        "checked by hand",
    ];
    if force {
        args.push("--force");
    }
    w.cmd(&args)
}

/// Refused without --force with a message that says why and names --force; settled with it.
fn refused_then_forced(w: &World, id: &str, why: &str) {
    let done = resolve(w, id, false).output();
    assert_eq!(done.code, 1, "{why}: settled without --force: {done:?}");
    assert!(
        done.stderr.contains("--force") && done.stderr.contains(why),
        "the refusal says why ({why}) and how to override:\n{}",
        done.stderr
    );
    assert_eq!(w.status(id), "executing");
    resolve(w, id, true).ok();
    assert_eq!(w.status(id), "completed_with_error");
    assert_eq!(
        w.query(&format!(
            "SELECT kind || ':' || outcome FROM attempts WHERE draft_id = '{id}' ORDER BY attempt_id DESC LIMIT 1"
        )),
        "reconcile:failed"
    );
}

#[test]
fn a_recent_claim_by_the_reference_is_refused_without_force_and_settled_with_it() {
    let w = World::ready();
    // The reference leaves no claims row: only `updated_at` says when it claimed.
    let id = executing(&w, now() - 30);
    refused_then_forced(&w, &id, "stuck_after");
}

#[test]
fn an_old_claim_with_no_claim_record_is_still_refused_without_force() {
    let w = World::ready();
    let id = executing(&w, now() - 7200);
    refused_then_forced(&w, &id, "may still be running");
}

#[test]
fn a_claim_from_another_host_is_refused_without_force() {
    let w = World::ready();
    let at = now() - 7200;
    let id = executing(&w, at);
    claim(&w, &id, at, 4_194_000, "elsewhere.example", 1);
    refused_then_forced(&w, &id, "elsewhere.example");
}

#[test]
fn a_recent_claim_by_a_dead_process_is_refused_without_force() {
    let w = World::ready();
    let at = now() - 20;
    let id = executing(&w, at);
    claim(&w, &id, at, 4_194_000, &host(), 1);
    refused_then_forced(&w, &id, "stuck_after");
}

#[test]
fn an_old_claim_by_a_dead_process_on_this_host_is_settled_without_force() {
    let w = World::ready();
    let at = now() - 7200;
    let id = executing(&w, at);
    claim(&w, &id, at, 4_194_000, &host(), 1);
    let before = now();
    resolve(&w, &id, false).ok();
    assert_eq!(w.status(&id), "completed_with_error");
    // Settled is finished: the row says when, as a run's own outcome would.
    let completed_at: i64 = w
        .query(&format!(
            "SELECT COALESCE(completed_at, -1) FROM drafts WHERE draft_id = '{id}'"
        ))
        .parse()
        .expect("completed_at");
    assert!(
        (before..=now()).contains(&completed_at),
        "completed_at {completed_at} is the moment of settling"
    );
}

/// A claim whose pid is not a process id (0, negative, past `pid_t`) says nothing about its
/// claimer: it is no claim record, never a dead claimer a human may overrule without --force.
#[test]
fn an_old_claim_whose_pid_is_not_a_process_id_is_refused_without_force() {
    for pid in [0, -5, 3_000_000_000, 1_i64 << 40] {
        let w = World::ready();
        let at = now() - 7200;
        let id = executing(&w, at);
        w.sql(&format!(
            "INSERT INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
                 VALUES ('{id}', {at}, {pid}, '{host}', '{boot}', 1)",
            host = host(),
            boot = boot()
        ));
        refused_then_forced(&w, &id, "may still be running");
    }
}

#[test]
fn a_live_claimer_is_refused_without_force() {
    let w = World::ready();
    let at = now() - 7200;
    let id = executing(&w, at);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("sleep");
    let stat = fs::read_to_string(format!("/proc/{}/stat", sleeper.id())).expect("stat");
    let start: i64 = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().nth(19))
        .and_then(|s| s.parse().ok())
        .expect("start time");
    claim(&w, &id, at, sleeper.id(), &host(), start);
    refused_then_forced(&w, &id, "still running");
    let _ = sleeper.kill();
    let _ = sleeper.wait();
}
