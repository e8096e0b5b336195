//! `inbox-exec run`: the cycle, its handlers, the thermal cutout, and at-most-once under
//! SIGKILL and concurrent runs.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::World;
use crate::stage::{Stage as Setup, TARGET, outcome_of, results, thermal_config};

#[test]
fn a_fresh_machine_runs_idle_without_a_key() {
    let w = World::new();
    let out = w.bare(&["run"]).output().expect("run");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "idle: no approved drafts\n"
    );
    assert!(w.home.join(".delimit/drafts.db").is_file());
    assert!(
        !w.home.join(".delimit/secrets").exists(),
        "no key is created"
    );
    let summary: Value = serde_json::from_slice(
        &fs::read(w.home.join(".delimit/inbox-exec/last-run.json")).expect("summary"),
    )
    .expect("summary is JSON");
    assert_eq!(summary["status"], "idle");
    assert_eq!(summary["totals"]["cycles"], 1);
}

#[test]
fn a_github_comment_runs_gh_with_the_body_on_stdin_and_an_allowlisted_environment() {
    let s = Setup::new("");
    let id = s.w.approved(
        "github_comment",
        TARGET,
        r#"{"body":"Thanks --repo evil/x $(id)"}"#,
    );
    let doc = s
        .run(&[])
        .env("GH_TOKEN", "t0ken")
        .env("AWS_SECRET_ACCESS_KEY", "must-not-leak")
        .ok()
        .json();
    assert_eq!(doc["status"], "ran");
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "executed");
    assert_eq!(
        r["executed_url"],
        "https://github.com/octo-org/demo/issues/42#issuecomment-1"
    );
    let calls = s.calls();
    assert_eq!(calls.len(), 1);
    let parts: Vec<&str> = calls[0].split("---\n").collect();
    assert_eq!(
        parts[0],
        "issue\ncomment\n42\n--repo\nocto-org/demo\n--body-file\n-\n"
    );
    assert_eq!(parts[2], "Thanks --repo evil/x $(id)");
    let env: Vec<&str> = parts[1]
        .lines()
        .map(|l| l.split('=').next().unwrap_or(""))
        .collect();
    assert!(
        env.contains(&"GH_TOKEN") && env.contains(&"PATH") && env.contains(&"HOME"),
        "{env:?}"
    );
    assert!(
        !parts[1].contains("must-not-leak"),
        "environment leaked: {}",
        parts[1]
    );
    assert_eq!(s.w.status(&id), "completed");
    assert_eq!(
        s.w.query(&format!(
            "SELECT executed_url FROM drafts WHERE draft_id = '{id}'"
        )),
        "https://github.com/octo-org/demo/issues/42#issuecomment-1"
    );
    let attempts = s.w.query(&format!(
        "SELECT group_concat(kind || ':' || outcome, ',') FROM (SELECT kind, outcome FROM attempts WHERE draft_id = '{id}' ORDER BY attempt_id)"
    ));
    assert_eq!(attempts, "verify:ok,execute:ok");
}

#[test]
fn a_command_handler_gets_the_draft_as_json_on_stdin() {
    let s = Setup::new("");
    let id =
        s.w.approved("ledger_done", r#"{"led":"LED-7"}"#, r#"{"items":[1,2.5]}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    let call = &s.calls()[0];
    assert!(call.starts_with("--quiet\n---\n"), "{call}");
    let stdin: Value =
        serde_json::from_str(call.rsplit("---\n").next().expect("stdin")).expect("JSON");
    assert_eq!(stdin["draft_id"], id.as_str());
    assert_eq!(stdin["draft_kind"], "ledger_done");
    assert_eq!(stdin["target"]["led"], "LED-7");
    assert_eq!(stdin["payload"]["items"][1], 2.5);
    assert!(stdin["issued_at"].is_i64());
}

#[test]
fn approved_drafts_run_oldest_first() {
    let s = Setup::new("");
    let ids = s.ledger(3);
    // Make the last-created the oldest.
    s.w.sql(&format!(
        "UPDATE drafts SET created_at = 1 WHERE draft_id = '{}'",
        ids[2]
    ));
    let doc = s.run(&["--batch", "1"]).ok().json();
    assert_eq!(results(&doc).len(), 1);
    assert_eq!(results(&doc)[0]["draft_id"], ids[2].as_str());
    assert_eq!(s.w.status(&ids[0]), "approved");
}

#[test]
fn argv_injection_through_the_target_is_refused_before_anything_runs() {
    let s = Setup::new("");
    let bad = [
        r#"{"repo":"--help","issue":1}"#,
        r#"{"repo":"evil.example.com/owner/name","issue":1}"#,
        r#"{"repo":"octo-org/demo","issue":-1}"#,
        r#"{"repo":"octo-org/demo","issue":"1; rm -rf /"}"#,
        r#""octo-org/demo#1""#,
    ];
    let ids: Vec<String> = bad
        .iter()
        .map(|t| s.w.approved("github_comment", t, r#"{"body":"x"}"#))
        .collect();
    let empty_body = s.w.approved("github_comment", TARGET, r#"{"body":""}"#);
    let doc = s.run(&[]).ok().json();
    for id in ids.iter().chain([&empty_body]) {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "execute_failed", "{r}");
        assert!(
            r["reason"]
                .as_str()
                .expect("reason")
                .starts_with("github_comment"),
            "{r}"
        );
        assert_eq!(s.w.status(id), "completed_with_error");
    }
    assert!(
        s.calls().is_empty(),
        "gh must never run for a refused target"
    );
}

#[test]
fn a_non_delegable_kind_is_refused_for_good() {
    let s = Setup::new("[refuse]\nextra_kinds = [\"ledger_done\"]\n");
    let push = s.w.approved(
        "force_push_shared",
        r#"{"repo":"octo-org/demo"}"#,
        r#"{"ref":"main"}"#,
    );
    let extra = s.w.approved("ledger_done", "{}", "{}");
    let doc = s
        .run(&[])
        .env("INBOX_EXEC_CONFIG", w_config_without_handler(&s))
        .ok()
        .json();
    for id in [&push, &extra] {
        assert_eq!(outcome_of(&doc, id)["outcome"], "refused_non_delegable");
        assert_eq!(s.w.status(id), "terminal_unrecoverable");
    }
    assert!(s.calls().is_empty());
}

/// The ledger handler cannot be configured for a kind that is refused: same config minus it.
fn w_config_without_handler(s: &Setup) -> PathBuf {
    let path = s.w.path("refuse.toml");
    fs::write(&path, "[refuse]\nextra_kinds = [\"ledger_done\"]\n").expect("write");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
    path
}

#[test]
fn a_draft_tampered_after_approval_fails_verification_and_never_runs() {
    let s = Setup::new("");
    let id =
        s.w.approved("github_comment", TARGET, r#"{"body":"approved text"}"#);
    s.w.sql(&format!(
        r#"UPDATE drafts SET payload_json = '{{"body": "attacker text"}}' WHERE draft_id = '{id}'"#
    ));
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "verify_failed");
    assert_eq!(r["reason"], "content_hash mismatch (record was tampered)");
    assert_eq!(s.w.status(&id), "completed_with_error");
    assert_eq!(
        s.w.query(&format!(
            "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
        )),
        "verify failed at execute time: content_hash mismatch (record was tampered)"
    );
    assert!(s.calls().is_empty());
}

#[test]
fn poison_drafts_end_alone_and_the_queue_goes_on() {
    let s = Setup::new("");
    let bad_json = s.w.approved("ledger_done", "{}", "{}");
    s.w.sql(&format!(
        "UPDATE drafts SET payload_json = '{{\"n\": ' WHERE draft_id = '{bad_json}'"
    ));
    let wrong_type = s.w.approved("ledger_done", "{}", "{}");
    s.w.sql(&format!(
        "UPDATE drafts SET issued_at = 'yesterday' WHERE draft_id = '{wrong_type}'"
    ));
    let huge = s.w.approved(
        "github_comment",
        TARGET,
        &format!(r#"{{"body":"{}"}}"#, "x".repeat(70_000)),
    );
    let nul =
        s.w.approved("github_comment", TARGET, r#"{"body":"a\u0000b"}"#);
    let no_handler = s.w.approved("social_post", "{}", r#"{"text":"hi"}"#);
    let good = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &bad_json)["outcome"], "verify_failed");
    assert_eq!(outcome_of(&doc, &wrong_type)["outcome"], "verify_failed");
    for id in [&huge, &nul, &no_handler] {
        assert_eq!(outcome_of(&doc, id)["outcome"], "execute_failed");
    }
    assert_eq!(
        outcome_of(&doc, &no_handler)["reason"],
        "no handler for kind=social_post"
    );
    for id in [&bad_json, &wrong_type, &huge, &nul, &no_handler] {
        assert_eq!(s.w.status(id), "completed_with_error", "{id}");
    }
    assert_eq!(outcome_of(&doc, &good)["outcome"], "executed");
    assert_eq!(
        s.w.query("SELECT count(*) FROM drafts WHERE status IN ('approved', 'executing')"),
        "0"
    );
}

#[test]
fn a_handler_that_fails_is_recorded_with_its_stderr() {
    let s = Setup::with_handler("echo 'rate limited by upstream' >&2; exit 3", "");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "execute_failed");
    assert_eq!(
        r["reason"],
        "handler failed: exit status 3: rate limited by upstream"
    );
    assert_eq!(s.w.status(&id), "completed_with_error");
}

#[test]
fn a_handler_killed_by_a_signal_is_a_failure() {
    let s = Setup::with_handler("kill -9 $$", "");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "handler failed: killed by signal 9"
    );
}

#[test]
fn a_hung_handler_is_killed_with_everything_it_started() {
    let s = Setup::with_handler(
        "sleep 60 & echo $! > \"$(dirname \"$f\")/../grandchild.pid\"; sleep 60",
        "",
    );
    s.handler_timeout("1s");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let next = s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "handler failed: timed out after 1s"
    );
    assert_eq!(s.w.status(&id), "completed_with_error");
    assert_eq!(
        outcome_of(&doc, &next)["outcome"],
        "execute_failed",
        "the next draft still ran"
    );
    let pid = fs::read_to_string(s.w.path("grandchild.pid")).expect("pid file");
    let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while proc.exists() && !is_zombie(&proc) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !proc.exists() || is_zombie(&proc),
        "the handler's child survived the timeout"
    );
}

fn is_zombie(proc: &Path) -> bool {
    fs::read_to_string(proc.join("stat")).is_ok_and(|s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn a_handler_that_floods_its_output_or_prints_invalid_utf8_is_contained() {
    let s = Setup::with_handler(
        "head -c 50000000 /dev/zero | tr '\\0' 'x'; printf '\\377\\376 bad\\n'; echo https://example.org/done",
        "",
    );
    let id = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "executed");
    assert_eq!(r["executed_url"], "https://example.org/done");
}

#[test]
fn a_missing_or_unexecutable_handler_fails_that_draft_only() {
    let s = Setup::new("");
    fs::remove_file(s.bin.join("ledger")).expect("rm");
    let missing = s.w.approved("ledger_done", "{}", "{}");
    let gh = s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &missing);
    assert_eq!(r["outcome"], "execute_failed");
    assert!(
        r["reason"]
            .as_str()
            .expect("reason")
            .contains("cannot start"),
        "{r}"
    );
    assert_eq!(outcome_of(&doc, &gh)["outcome"], "executed");
    // gh not on PATH at all.
    let other =
        s.w.approved("github_comment", TARGET, r#"{"body":"again"}"#);
    let doc = s.run(&[]).env("PATH", "/usr/bin:/bin").ok().json();
    assert_eq!(outcome_of(&doc, &other)["reason"], "gh not found on PATH");
}

#[test]
fn dry_run_reports_and_changes_nothing() {
    let s = Setup::new("");
    let good = s.w.approved("ledger_done", "{}", "{}");
    let refused = s.w.approved("venture_kill", "{}", "{}");
    let before = s.w.dump();
    let doc = s.run(&["--dry-run"]).ok().json();
    assert_eq!(doc["dry_run"], true);
    assert_eq!(outcome_of(&doc, &good)["outcome"], "would_execute");
    assert_eq!(
        outcome_of(&doc, &refused)["outcome"],
        "refused_non_delegable"
    );
    assert_eq!(s.w.status(&good), "approved");
    assert_eq!(s.w.status(&refused), "approved");
    assert_eq!(s.w.query("SELECT count(*) FROM attempts"), "0");
    assert!(s.calls().is_empty());
    assert!(!s.w.state.join("thermal.json").exists());
    assert!(!s.w.state.join("last-run.json").exists());
    assert!(s.w.dump() == before, "a dry run changed the registry");
}

#[test]
fn run_skips_when_the_lock_is_held() {
    let s = Setup::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    fs::create_dir_all(&s.w.state).expect("state");
    let lock = fs::File::create(s.w.state.join("inbox-exec.lock")).expect("lock file");
    lock.try_lock().expect("take the lock");
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "skipped");
    assert_eq!(s.w.status(&id), "approved");
    assert!(
        !s.w.state.join("last-run.json").exists(),
        "a skipped run touches nothing"
    );
    drop(lock);
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "ran");
}

#[test]
fn the_thermal_cutout_trips_defers_the_rest_and_pauses_later_runs() {
    let s = Setup::new(&thermal_config(2));
    let ids = s.ledger(5);
    let doc = s.run(&[]).ok().json();
    let outcomes: Vec<Value> = ids
        .iter()
        .map(|id| outcome_of(&doc, id)["outcome"].clone())
        .collect();
    assert_eq!(
        outcomes,
        [
            "executed",
            "executed",
            "executed",
            "deferred_thermal",
            "deferred_thermal"
        ]
    );
    assert!(doc["paused_until"].is_i64());
    assert_eq!(s.w.status(&ids[3]), "approved");
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "paused");
    assert_eq!(s.w.status(&ids[3]), "approved");
    let thermal: Value =
        serde_json::from_slice(&fs::read(s.w.state.join("thermal.json")).expect("sidecar"))
            .expect("JSON");
    assert_eq!(thermal["actions"].as_array().expect("actions").len(), 3);
    assert_eq!(mode(&s.w.state.join("thermal.json")), 0o600);
}

#[test]
fn refusals_and_verify_failures_do_not_count_as_actions() {
    let s = Setup::new(&thermal_config(1));
    for _ in 0..3 {
        s.w.approved("venture_kill", "{}", "{}");
        s.w.approved("social_post", "{}", "{}");
    }
    let good = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &good)["outcome"], "executed");
    assert!(doc.get("paused_until").is_none(), "{doc}");
}

#[test]
fn a_lost_thermal_sidecar_is_rebuilt_from_the_attempts_table() {
    let s = Setup::new(&thermal_config(1));
    s.ledger(1);
    s.run(&[]).ok();
    // The sidecar is lost: the window must not restart from zero.
    fs::remove_file(s.w.state.join("thermal.json")).expect("rm");
    s.ledger(1);
    let doc = s.run(&[]).ok().json();
    assert!(
        doc["paused_until"].is_i64(),
        "the second action must trip: {doc}"
    );
    // Corrupt: the same, with a warning.
    fs::write(s.w.state.join("thermal.json"), b"{not json").expect("corrupt");
    let out = s.run(&[]).ok();
    assert_eq!(
        out.json()["status"],
        "paused",
        "the pause survives a corrupt sidecar"
    );
    assert!(out.stderr.contains("unusable"), "{}", out.stderr);
}

#[test]
fn a_sidecar_older_than_the_attempts_table_is_not_trusted() {
    let s = Setup::new(&thermal_config(2));
    s.ledger(1);
    s.run(&[]).ok();
    let stale = fs::read(s.w.state.join("thermal.json")).expect("sidecar");
    s.ledger(1);
    s.run(&[]).ok();
    // As if the last run had crashed before saving its sidecar.
    fs::write(s.w.state.join("thermal.json"), stale).expect("restore");
    s.ledger(1);
    let doc = s.run(&[]).ok().json();
    assert!(
        doc["paused_until"].is_i64(),
        "three actions in the window must trip: {doc}"
    );
}

#[test]
fn the_summary_keeps_running_totals() {
    let s = Setup::new("");
    s.ledger(2);
    s.run(&[]).ok();
    s.w.approved("social_post", "{}", "{}");
    s.run(&[]).ok();
    s.run(&[]).ok();
    let summary: Value =
        serde_json::from_slice(&fs::read(s.w.state.join("last-run.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["status"], "idle");
    assert_eq!(summary["totals"]["cycles"], 3);
    assert_eq!(summary["totals"]["executed"], 2);
    assert_eq!(summary["totals"]["execute_failed"], 1);
    assert_eq!(mode(&s.w.state.join("last-run.json")), 0o600);
}

#[test]
fn human_output_has_a_line_per_draft() {
    let s = Setup::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let out = s.w.cmd(&["run"]).env("INBOX_EXEC_CONFIG", &s.config).ok();
    assert!(
        out.stdout.starts_with("ran: 1 draft(s)\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("executed  {id}  ledger_done")),
        "{}",
        out.stdout
    );
}

#[test]
fn a_refused_key_stops_the_run_before_anything_is_claimed() {
    let s = Setup::new("");
    let id = s.w.approved("ledger_done", "{}", "{}");
    fs::set_permissions(&s.w.key, fs::Permissions::from_mode(0o640)).expect("chmod");
    s.run(&[]).fails_with(&["chmod 600", &id]);
    assert_eq!(s.w.status(&id), "approved");
    assert_eq!(s.w.query("SELECT count(*) FROM attempts"), "0");
    assert!(s.calls().is_empty());
}

#[test]
fn an_unusable_registry_or_state_dir_is_an_error_that_names_it() {
    let s = Setup::new("");
    fs::write(s.w.path("not.db"), "garbage").expect("write");
    s.run(&[])
        .env("INBOX_EXEC_DB", s.w.path("not.db"))
        .fails_with(&["not.db", "is not a SQLite database"]);
    fs::write(s.w.path("statefile"), "").expect("write");
    s.run(&[])
        .env("INBOX_EXEC_STATE_DIR", s.w.path("statefile"))
        .fails_with(&["state directory", "statefile", "not a directory"]);
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// A tiny deterministic generator, seeded from the clock and printed, so a failure can be
/// replayed by setting INBOX_EXEC_TEST_SEED.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("INBOX_EXEC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64)
            });
        println!("seed {seed}");
        Rng(seed | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn_run(s: &Setup, state: &Path, batch: &str) -> Child {
    let mut run =
        s.w.cmd(&["run", "--json", "--batch", batch])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .env("INBOX_EXEC_STATE_DIR", state)
            .env("PATH", format!("{}:/usr/bin:/bin", s.bin.display()));
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    run.cmd.spawn().expect("spawn run")
}

#[test]
fn sigkill_at_random_moments_never_runs_a_side_effect_twice() {
    let s = Setup::with_handler("sleep 0.15", &thermal_config(1000));
    let ids = s.ledger(16);
    let mut rng = Rng::new();
    for _ in 0..40 {
        if s.w
            .query("SELECT count(*) FROM drafts WHERE status = 'approved'")
            == "0"
        {
            break;
        }
        let mut child = spawn_run(&s, &s.w.state, "3");
        std::thread::sleep(Duration::from_millis(rng.below(450)));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // Let handlers orphaned by a kill finish writing their record.
    std::thread::sleep(Duration::from_millis(400));
    s.run(&["--batch", "100"]).ok();
    let dispatched = s.dispatches();
    for id in &ids {
        let count = dispatched.get(id).copied().unwrap_or(0);
        let status = s.w.status(id);
        assert!(count <= 1, "{id} dispatched {count} times");
        match status.as_str() {
            // Its side effect happened exactly once, and it is recorded as such.
            "completed" => {
                assert_eq!(count, 1, "{id} completed without a dispatch");
                let executes = s.w.query(&format!(
                    "SELECT count(*) FROM attempts WHERE draft_id = '{id}' AND kind = 'execute'"
                ));
                assert_eq!(executes, "1", "{id}");
            }
            // Killed between claim and record: the side effect may or may not have run;
            // a human settles it. It never returns to approved.
            "executing" => {}
            other => panic!("{id} ended {other} (dispatched {count} times)"),
        }
    }
    assert_eq!(
        s.w.query("SELECT count(*) FROM drafts"),
        ids.len().to_string(),
        "no row lost"
    );
}

#[test]
fn concurrent_runs_dispatch_each_draft_exactly_once() {
    // One budget per registry: a limit above the queue, so only the races are tested.
    let s = Setup::with_handler("sleep 0.02", &thermal_config(1000));
    let ids = s.ledger(24);
    let children: Vec<Child> = (0..6)
        .map(|i| spawn_run(&s, &s.w.path(&format!("state-{i}")), "100"))
        .collect();
    let mut executed = 0;
    let mut lost = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        for r in results(&doc) {
            match r["outcome"].as_str() {
                Some("executed") => executed += 1,
                Some("lost_race") => lost += 1,
                other => panic!("unexpected outcome {other:?}"),
            }
        }
    }
    assert_eq!(executed, ids.len());
    let dispatched = s.dispatches();
    for id in &ids {
        assert_eq!(dispatched.get(id), Some(&1), "{id}");
        assert_eq!(s.w.status(id), "completed");
    }
    println!("{lost} lost races");
}

#[test]
fn sigterm_during_a_run_records_the_draft_in_hand_and_claims_no_more() {
    let s = Setup::with_handler("sleep 1", "");
    let ids = s.ledger(3);
    let child = spawn_run(&s, &s.w.state, "10");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.calls().is_empty() {
        assert!(Instant::now() < deadline, "the handler never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(results(&doc).len(), 1, "{doc}");
    assert_eq!(
        s.w.status(&ids[0]),
        "completed",
        "the draft in hand is recorded"
    );
    assert_eq!(s.w.status(&ids[1]), "approved");
    assert_eq!(s.w.status(&ids[2]), "approved");
    assert_eq!(s.calls().len(), 1);
}

#[test]
fn a_handler_whose_offspring_escapes_its_process_group_cannot_hang_the_run() {
    // setsid puts the sleeper in a new session, out of reach of the group kill, still
    // holding the handler's stdout and stderr open.
    let s = Setup::with_handler("setsid sleep 37 & sleep 60", "");
    s.handler_timeout("1s");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let started = Instant::now();
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "handler failed: timed out after 1s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run waited for the escaped process"
    );
    let _ = std::process::Command::new("pkill")
        .args(["-f", "sleep 37"])
        .status();
}

#[test]
fn a_claim_whose_run_died_still_counts_in_the_rebuilt_thermal_window() {
    let s = Setup::with_handler("sleep 3", &thermal_config(1));
    let first = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let mut child = spawn_run(&s, &s.w.state, "1");
    let deadline = Instant::now() + Duration::from_secs(10);
    while s.calls().is_empty() {
        assert!(Instant::now() < deadline, "the handler never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().expect("SIGKILL the run mid-dispatch");
    child.wait().expect("reap");
    assert_eq!(s.w.status(&first), "executing");
    // The killed run saved no sidecar and recorded no outcome; its claim is the only trace,
    // and it must count: one more action makes two, over the limit of one.
    s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    assert!(
        doc["paused_until"].is_i64(),
        "the crashed claim was not counted: {doc}"
    );
}
