//! An outcome the registry would not take (its write lock held past the busy timeout while a
//! handler ran) is kept in a journal in the state directory and recorded by the next run:
//! a side effect that happened is never left for a human to rediscover.

use std::fs;
use std::process::Stdio;

use serde_json::Value;

use crate::stage::{Stage as Setup, TARGET};

const URL: &str = "https://github.com/octo-org/demo/issues/42#issuecomment-1";

/// The state directory's entries besides the ones every run leaves.
fn extra_state_files(s: &Setup) -> Vec<String> {
    fs::read_dir(&s.w.state)
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| !["inbox-exec.lock", "thermal.json", "last-run.json"].contains(&n.as_str()))
        .collect()
}

/// Runs `s` on its one approved draft `id`, holding the registry's write lock from the
/// moment the handler starts until the run gives up; returns the run's stderr.
fn run_while_the_registry_is_locked(s: &Setup, id: &str) -> String {
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("spawn run");
    s.wait_started(1);
    // The handler is running: hold the write lock until the run gives up on recording it.
    let other = rusqlite::Connection::open(&s.w.db).expect("open registry");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let out = child.wait_with_output().expect("wait");
    other.execute_batch("ROLLBACK").expect("release");
    drop(other);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "the run fails:\n{stderr}");
    assert_eq!(s.dispatched_comments(), 1);
    assert_eq!(s.w.status(id), "executing");
    assert_eq!(
        extra_state_files(s).len(),
        1,
        "the outcome is kept beside the lock"
    );
    stderr
}

#[test]
fn an_outcome_the_locked_registry_refused_is_journalled_and_recorded_by_the_next_run() {
    let s = Setup::with_handler("sleep 1", "");
    let id =
        s.w.approved("github_comment", TARGET, r#"{"body":"hello"}"#);
    let stderr = run_while_the_registry_is_locked(&s, &id);
    let summary: Value =
        serde_json::from_slice(&fs::read(s.state_file("last-run.json")).expect("summary"))
            .expect("summary JSON");
    let error = summary["error"].as_str().expect("error in the summary");
    for said in [stderr.as_str(), error] {
        assert!(
            !said.contains("nothing was changed"),
            "a side effect ran, yet:\n{said}"
        );
        assert!(said.contains(&id) && said.contains(URL), "{said}");
    }

    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "idle", "{doc}");
    assert_eq!(doc["recorded_late"][0]["draft_id"], id.as_str(), "{doc}");
    assert_eq!(doc["recorded_late"][0]["executed_url"], URL, "{doc}");
    assert_eq!(s.w.status(&id), "completed");
    assert_eq!(
        s.w.query(&format!(
            "SELECT executed_url FROM drafts WHERE draft_id = '{id}'"
        )),
        URL
    );
    assert_eq!(s.attempts(&id), "verify:ok,execute:ok");
    assert!(
        extra_state_files(&s).is_empty(),
        "the journal is gone: {:?}",
        extra_state_files(&s)
    );
    assert_eq!(s.dispatched_comments(), 1, "nothing ran twice");
    // Once recorded, never again.
    s.run(&[]).ok();
    assert_eq!(s.attempts(&id), "verify:ok,execute:ok");
}

#[test]
fn a_failure_the_locked_registry_refused_keeps_its_alert_too() {
    let s = Setup::with_handler("sleep 1; echo 'rate limited' >&2; exit 3", "");
    let id =
        s.w.approved("github_comment", TARGET, r#"{"body":"hello"}"#);
    let stderr = run_while_the_registry_is_locked(&s, &id);
    assert!(stderr.contains("failed"), "{stderr}");
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        doc["recorded_late"][0]["outcome"], "execute_failed",
        "{doc}"
    );
    assert_eq!(s.w.status(&id), "completed_with_error");
    assert_eq!(s.attempts(&id), "verify:ok,execute:failed");
    assert_eq!(
        s.w.query(&format!(
            "SELECT count(*) FROM alert_outbox WHERE draft_id = '{id}' AND subject LIKE '%failed%'"
        )),
        "1",
        "the failure's alert rode with its outcome"
    );
    assert!(extra_state_files(&s).is_empty());
}

impl Setup {
    /// How many times the `gh` stand-in was called.
    fn dispatched_comments(&self) -> usize {
        self.calls_of("gh")
            .iter()
            .filter(|c| {
                c.argv
                    .starts_with(&["issue".to_owned(), "comment".to_owned()])
            })
            .count()
    }
}
