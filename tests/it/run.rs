//! `inbox-exec run`: the cycle, its handlers, the thermal cutout, and at-most-once under
//! SIGKILL and concurrent runs.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{
    Done, KillGroupOnDrop, World, assert_ok, mode, on_path, outcome_of, results, skip,
    write_private,
};
use crate::stage::{GH_ARGV, GH_URL, Stage as Setup, TARGET, thermal_config};

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
    assert_eq!(r["executed_url"], GH_URL);
    let calls = s.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].argv, GH_ARGV);
    assert_eq!(calls[0].stdin_text(), "Thanks --repo evil/x $(id)");
    let env = &calls[0].env;
    assert_eq!(env.get("GH_TOKEN").map(String::as_str), Some("t0ken"));
    assert!(
        env.contains_key("PATH") && env.contains_key("HOME"),
        "{env:?}"
    );
    assert!(
        !env.values().any(|v| v.contains("must-not-leak")),
        "environment leaked: {env:?}"
    );
    assert_eq!(s.w.status(&id), "completed");
    assert_eq!(
        s.w.query(&format!(
            "SELECT executed_url FROM drafts WHERE draft_id = '{id}'"
        )),
        GH_URL
    );
    assert_eq!(s.attempts(&id), "verify:ok,execute:ok");
}

#[test]
fn a_command_handler_gets_the_draft_as_json_on_stdin() {
    let s = Setup::new("");
    let id =
        s.w.approved("ledger_done", r#"{"led":"LED-7"}"#, r#"{"items":[1,2.5]}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    let call = &s.calls()[0];
    assert_eq!(call.argv, ["--quiet"], "{call:?}");
    let stdin: Value = serde_json::from_slice(&call.stdin).expect("JSON");
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

/// The kinds DESIGN.md §4 refuses whatever the config says, written out here rather than
/// taken from the crate, so that dropping one from the code's list fails a test.
pub const NON_DELEGABLE: [&str; 10] = [
    "force_push_shared",
    "ruleset_disable",
    "account_switch",
    "cross_account_ops",
    "irreversible_capital_commit",
    "constitutional_rewrite",
    "authority_class_expansion",
    "venture_kill",
    "permission_escalation",
    "public_truth_claim",
];

#[test]
fn every_non_delegable_kind_and_every_configured_extra_is_refused_for_good() {
    let s = Setup::new("");
    // No handler for the extras: one cannot be configured for a refused kind, and without
    // the refusal they would fail as "no handler", not be refused.
    write_private(
        &s.config,
        "[refuse]\nextra_kinds = [\"ledger_done\", \"wire_transfer\"]\n",
    );
    let refused: Vec<(&str, String)> = NON_DELEGABLE
        .iter()
        .chain(&["ledger_done", "wire_transfer"])
        .map(|kind| (*kind, s.w.approved(kind, TARGET, r#"{"body":"x"}"#)))
        .collect();
    // A delegable draft in the same batch: proves the run and its gh work.
    let control =
        s.w.approved("github_comment", TARGET, r#"{"body":"control"}"#);
    let doc = s.run(&["--batch", "100"]).ok().json();
    for (kind, id) in &refused {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "refused_non_delegable", "{kind}: {r}");
        assert_eq!(r["reason"], format!("{kind} is non-delegable"), "{kind}");
        assert_eq!(s.w.status(id), "terminal_unrecoverable", "{kind}");
        assert_eq!(s.attempts(id), "execute:skipped", "{kind}");
        assert_eq!(
            s.w.query(&format!(
                "SELECT completed_at IS NOT NULL FROM drafts WHERE draft_id = '{id}'"
            )),
            "1",
            "{kind}: a refusal completes the draft"
        );
        assert_eq!(
            s.last_error(id),
            "kind is on the non-delegable refusal list",
            "{kind}"
        );
    }
    assert_eq!(outcome_of(&doc, &control)["outcome"], "executed");
    let calls = s.calls();
    assert_eq!(calls.len(), 1, "only the control draft ran: {calls:?}");
    assert_eq!(calls[0].stdin_text(), "control");
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
    // A column holding the wrong type: only SQLite lets a row hold one (PostgreSQL's typed
    // columns refuse the write), so there it stands for itself.
    let wrong_type = s.w.approved("ledger_done", "{}", "{}");
    if !s.w.on_postgres() {
        s.w.sql(&format!(
            "UPDATE drafts SET issued_at = 'yesterday' WHERE draft_id = '{wrong_type}'"
        ));
    }
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
    if !s.w.on_postgres() {
        assert_eq!(outcome_of(&doc, &wrong_type)["outcome"], "verify_failed");
    }
    for id in [&huge, &nul, &no_handler] {
        assert_eq!(outcome_of(&doc, id)["outcome"], "execute_failed");
    }
    assert_eq!(
        outcome_of(&doc, &no_handler)["reason"],
        "no handler for kind=social_post"
    );
    for id in [&bad_json, &huge, &nul, &no_handler] {
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
fn only_the_last_300_characters_of_a_failing_handlers_stderr_are_kept() {
    let s = Setup::with_handler(
        "head -c 20000 /dev/zero | tr '\\0' x >&2; echo ' the actual cause' >&2; exit 1",
        "",
    );
    let id = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    let reason = outcome_of(&doc, &id)["reason"]
        .as_str()
        .expect("reason")
        .to_owned();
    let tail = reason
        .strip_prefix("handler failed: exit status 1: …")
        .unwrap_or_else(|| panic!("{reason:.200}"));
    assert_eq!(tail.chars().count(), 300, "{reason:.400}");
    assert!(tail.ends_with("x the actual cause"), "{tail}");
    assert_eq!(s.last_error(&id), reason);
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
        "sleep 60 & echo $! > \"$d/../../grandchild.pid\"; sleep 60",
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

/// Peak resident memory of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmHWM in {status}"))
}

#[test]
fn a_flood_of_output_is_held_to_its_last_64_kib_per_stream() {
    // 64 MiB on each stream, then the handler waits while the test reads the run's peak
    // memory: unbounded capture would hold both floods, at least 128 MiB.
    const FLOOD_MIB: u64 = 64;
    const PEAK_LIMIT_KIB: u64 = 40 * 1024;
    let s = Setup::with_handler(
        &format!(
            "head -c {FLOOD_MIB}M /dev/zero | tr '\\0' o; echo\n\
             head -c {FLOOD_MIB}M /dev/zero | tr '\\0' e >&2; echo >&2\n\
             : > \"$d/../../flooded\"\n\
             while [ ! -e \"$d/../../go\" ]; do sleep 0.02; done\n\
             echo 'handler: the end of stderr' >&2\n\
             echo https://example.org/done"
        ),
        "",
    );
    let id = s.w.approved("ledger_done", "{}", "{}");
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("spawn run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !s.w.path("flooded").exists() {
        assert!(
            Instant::now() < deadline,
            "the handler never finished its flood"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let peak = peak_rss_kib(child.id());
    fs::write(s.w.path("go"), "").expect("let the handler finish");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{out:?}");
    let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "executed", "{r}");
    assert_eq!(r["executed_url"], "https://example.org/done");
    println!("peak {peak} KiB");
    assert!(
        peak < PEAK_LIMIT_KIB,
        "the run peaked at {peak} KiB while its handler printed {FLOOD_MIB} MiB on each stream"
    );
}

#[test]
fn the_capture_keeps_the_last_64_kib_of_stdout_and_no_more() {
    // The URL, then blank lines: with 65,000 of them the URL is inside the last 64 KiB
    // (65,536 bytes) and is recorded; with 66,000 it has been dropped with the rest.
    let s = Setup::with_handler(
        "if grep -q '\"n\":1' \"$d/stdin\"; then n=65000; else n=66000; fi\n\
         echo https://example.org/kept\n\
         head -c $n /dev/zero | tr '\\0' '\\n'",
        "",
    );
    let inside = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let outside = s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &inside);
    assert_eq!(r["outcome"], "executed", "{r}");
    assert_eq!(r["executed_url"], "https://example.org/kept");
    let r = outcome_of(&doc, &outside);
    assert_eq!(r["outcome"], "executed", "{r}");
    assert!(
        r.get("executed_url").is_none(),
        "kept more than 64 KiB: {r}"
    );
}

#[test]
fn a_last_line_of_2_kib_is_recorded_as_the_url_and_a_longer_one_is_not() {
    // https://example.org/ is 20 bytes; the path pads the line to 2,048 or 2,049 bytes.
    let s = Setup::with_handler(
        "if grep -q '\"n\":1' \"$d/stdin\"; then n=2028; else n=2029; fi\n\
         printf 'https://example.org/%s\\n' \"$(head -c $n /dev/zero | tr '\\0' a)\"",
        "",
    );
    let fits = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let too_long = s.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = s.run(&[]).ok().json();
    let url = outcome_of(&doc, &fits)["executed_url"].clone();
    assert_eq!(url.as_str().map(str::len), Some(2048), "{url}");
    let r = outcome_of(&doc, &too_long);
    assert_eq!(r["outcome"], "executed", "{r}");
    assert!(
        r.get("executed_url").is_none(),
        "a 2,049-byte URL was recorded"
    );
    assert_eq!(
        s.w.query(&format!(
            "SELECT coalesce(executed_url, 'none') FROM drafts WHERE draft_id = '{too_long}'"
        )),
        "none"
    );
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
    let status =
        s.w.cmd(&["status", "--json"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .ok()
            .json();
    assert_eq!(status["thermal"]["recent_actions"], 3, "{status}");
    assert!(status["thermal"]["paused_until"].is_i64(), "{status}");
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

sqlite_only! {
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
}

sqlite_only! {
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
}

#[test]
fn the_summary_keeps_running_totals() {
    let s = Setup::new("");
    // Every kind of ending, in each of two runs, so each total has to add up.
    let tampered = |s: &Setup| {
        let id = s.w.approved("ledger_done", "{}", r#"{"n":"t"}"#);
        s.w.sql(&format!(
            "UPDATE drafts SET payload_json = '{{}}' WHERE draft_id = '{id}'"
        ));
    };
    s.ledger(2);
    s.w.approved("venture_kill", "{}", "{}");
    tampered(&s);
    s.run(&[]).ok();
    s.w.approved("social_post", "{}", "{}");
    s.w.approved("venture_kill", "{}", r#"{"n":2}"#);
    tampered(&s);
    s.run(&[]).ok();
    s.run(&[]).ok();
    let summary: Value =
        serde_json::from_slice(&fs::read(s.w.state.join("last-run.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["status"], "idle");
    let totals = &summary["totals"];
    assert_eq!(totals["cycles"], 3, "{totals}");
    assert_eq!(totals["processed"], 7, "{totals}");
    assert_eq!(totals["executed"], 2, "{totals}");
    assert_eq!(totals["execute_failed"], 1, "{totals}");
    assert_eq!(totals["verify_failed"], 2, "{totals}");
    assert_eq!(totals["refused_non_delegable"], 2, "{totals}");
    assert_eq!(mode(&s.w.state.join("last-run.json")), 0o600);
}

#[test]
fn a_draft_approved_after_idle_runs_is_run_by_the_next() {
    let s = Setup::new("");
    for _ in 0..3 {
        assert_eq!(s.run(&[]).ok().json()["status"], "idle");
    }
    let id = s.ledger(1).remove(0);
    assert_eq!(s.run(&[]).ok().json()["status"], "ran");
    assert_eq!(s.dispatched(&id), 1);
    assert!(
        !s.state_file("idle.json").exists(),
        "a cycle that ran leaves no idle mark"
    );
    assert_eq!(s.run(&[]).ok().json()["status"], "idle");
    // A registry without files (PostgreSQL) has no fingerprint, so no idle mark.
    assert_eq!(
        s.state_file("idle.json").exists(),
        !s.w.on_postgres(),
        "the idle mark"
    );
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
    let mut run = s
        .run(&["--batch", batch])
        .env("INBOX_EXEC_STATE_DIR", state);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::null());
    run.cmd.spawn().expect("spawn run")
}

/// Waits until a stand-in has started `n` calls.
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
        child.kill().expect("SIGKILL the run");
        child.wait().expect("reap the run");
    }
    // Let handlers orphaned by a kill finish writing their record.
    std::thread::sleep(Duration::from_millis(400));
    s.run(&["--batch", "100"]).ok();
    // Fails on any record it cannot attribute, except an empty stdin: a run killed between
    // starting the handler and writing the draft to it.
    let dispatched = s.dispatches();
    let mut executing_unseen = 0;
    for id in &ids {
        let count = dispatched.of(id);
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
            "executing" => executing_unseen += usize::from(count == 0),
            other => panic!("{id} ended {other} (dispatched {count} times)"),
        }
    }
    assert!(
        dispatched.unattributed <= executing_unseen,
        "{} handler call(s) got no draft, but only {executing_unseen} executing draft(s) \
         have no recorded dispatch",
        dispatched.unattributed
    );
    assert_eq!(
        s.w.query("SELECT count(*) FROM drafts"),
        ids.len().to_string(),
        "no row lost"
    );
}

#[test]
fn concurrent_runs_dispatch_each_draft_exactly_once() {
    // A limit no run can reach: what holds here must be the claim, not the cutout.
    let s = Setup::with_handler("sleep 0.02", &thermal_config(1000));
    let ids = s.ledger(24);
    // Refused drafts too: a refusal is a move that can lose the race like a claim.
    let refused: Vec<String> = (0..8)
        .map(|i| {
            s.w.approved("venture_kill", "{}", &format!(r#"{{"n":{i}}}"#))
        })
        .collect();
    let children: Vec<Child> = (0..6)
        .map(|i| spawn_run(&s, &s.w.path(&format!("state-{i}")), "100"))
        .collect();
    let mut ended: HashMap<String, Vec<String>> = HashMap::new();
    let mut lost: HashMap<String, usize> = HashMap::new();
    let mut processed = 0;
    let mut skipped = 0;
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success());
        let doc: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        // The registry's own lock turns a run that overlaps another into `skipped`, which
        // touches nothing; the cutout never pauses (its limit is above the queue).
        if doc["status"] == "skipped" {
            skipped += 1;
            assert!(
                results(&doc).is_empty(),
                "a skipped run touches nothing: {doc}"
            );
            continue;
        }
        assert!(
            doc["status"] == "ran" || doc["status"] == "idle",
            "no run may be paused: {doc}"
        );
        assert!(doc.get("paused_until").is_none(), "{doc}");
        let results = results(&doc);
        assert_eq!(doc["processed"], results.len(), "{doc}");
        processed += results.len();
        for r in results {
            let id = r["draft_id"].as_str().expect("draft_id").to_owned();
            match r["outcome"].as_str() {
                Some("lost_race") => *lost.entry(id).or_insert(0) += 1,
                Some(outcome @ ("executed" | "refused_non_delegable")) => {
                    ended.entry(id).or_default().push(outcome.to_owned());
                }
                other => panic!("unexpected outcome {other:?}: {r}"),
            }
        }
    }
    let dispatched = s.dispatches();
    assert_eq!(dispatched.unattributed, 0);
    for id in &ids {
        assert_eq!(ended.get(id), Some(&vec!["executed".to_owned()]), "{id}");
        assert_eq!(dispatched.of(id), 1, "{id}");
        assert_eq!(s.w.status(id), "completed");
        assert_eq!(s.attempts(id), "verify:ok,execute:ok", "{id}");
    }
    for id in &refused {
        assert_eq!(
            ended.get(id),
            Some(&vec!["refused_non_delegable".to_owned()]),
            "{id}"
        );
        assert_eq!(s.w.status(id), "terminal_unrecoverable");
        assert_eq!(s.attempts(id), "execute:skipped", "{id}: recorded once");
    }
    // A lost race is a draft another run ended, and every result is one or the other.
    assert!(lost.keys().all(|id| ended.contains_key(id)), "{lost:?}");
    let lost_races: usize = lost.values().sum();
    assert_eq!(processed, ids.len() + refused.len() + lost_races);
    assert!(skipped < 6, "at least one run must have taken the lock");
    println!("{lost_races} lost races, {skipped} runs skipped on the registry's lock");
}

/// A log nobody reads any more (stderr a pipe whose reader is gone: `run -v 2>&1 | head -1`,
/// or a journal restarted under a running timer) costs log lines, never outcomes: every
/// draft the run dispatched is recorded, none is left in `executing`.
#[test]
fn a_closed_stderr_loses_log_lines_not_outcomes() {
    let s = Setup::new("");
    let ids = s.ledger(3);
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let mut run = s.cmd(&["run", "-v"]);
    let out = run
        .cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer)
        .output()
        .expect("run inbox-exec");

    assert_ok(&out);
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
    }
    assert_eq!(s.calls_of("ledger").len(), 3);
}

/// A log that stops moving (a full pipe nobody reads, a journal that stalls) must not hold
/// the run between a dispatch and its recording: there, a stop request could not finish the
/// draft in hand, and the next signal (or systemd's SIGKILL) leaves it in `executing`. A
/// line that cannot be written within a bounded wait is dropped.
#[test]
fn a_stderr_nobody_reads_cannot_hold_the_run() {
    use std::io::Write as _;
    let s = Setup::new("");
    let ids = s.ledger(2);
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    // Filled to the brim, then blocking again, as the child will find it.
    rustix::io::ioctl_fionbio(&writer, true).expect("non-blocking");
    while writer.write(&[b'x'; 4096]).is_ok() {}
    rustix::io::ioctl_fionbio(&writer, false).expect("blocking again");
    let mut run = s.cmd(&["run", "-v", "--json"]);
    run.cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(writer);
    let mut child = run.cmd.spawn().expect("spawn the run");
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().expect("poll the run").is_none() {
        if Instant::now() > deadline {
            child.kill().expect("kill the run");
            child.wait().expect("reap the run");
            panic!("the run was still writing to a full stderr after 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(reader);

    let out = child.wait_with_output().expect("the run's output");
    assert_ok(&out);
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
    }
}

#[test]
fn sigterm_during_a_run_records_the_draft_in_hand_and_claims_no_more() {
    let s = Setup::with_handler("sleep 1", "");
    let ids = s.ledger(3);
    let child = stop_mid_dispatch(&s, 1);
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

/// A second stop signal means "now": the run exits at once, and takes the handler in hand
/// with it. The handler runs in a process group of its own (for its timeout), so without
/// that it would live on past the run, and act, while `reconcile` calls its claimer dead.
#[test]
fn a_second_stop_signal_ends_the_handler_in_hand_with_the_run() {
    let s = Setup::with_handler("sleep 3 && : > \"$d/../../acted\"", "");
    let ids = s.ledger(1);
    let child = stop_mid_dispatch(&s, 2);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    // Past the handler's sleep: had it lived on, it would have acted by now.
    std::thread::sleep(Duration::from_secs(4));

    assert!(
        !s.w.path("acted").exists(),
        "the handler outlived the run and acted"
    );
    assert_eq!(s.w.status(&ids[0]), "executing", "for a human to settle");
}

/// The second stop signal can also come after the handler exited, while the run still
/// drains its output (here held open by something the handler left behind): it is not
/// swallowed, the run exits now.
#[test]
fn a_second_stop_signal_while_a_handlers_output_drains_still_exits_now() {
    let s = Setup::with_handler(
        // The second signal comes from a process that has left the handler's group (so the
        // kill of that group at the handler's exit spares it) and holds its output open.
        "run=$PPID; kill -TERM $run; setsid sh -c \"sleep 0.6; kill -TERM $run; sleep 2\" & sleep 0.3; exit 0",
        "",
    );
    s.ledger(1);
    let out = spawn_run(&s, &s.w.state, "10")
        .wait_with_output()
        .expect("wait");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

/// Starts a run, waits for its first handler, then sends it `signals` SIGTERMs, 100 ms apart.
fn stop_mid_dispatch(s: &Setup, signals: usize) -> Child {
    let child = spawn_run(s, &s.w.state, "10");
    s.wait_started(1);
    for i in 0..signals {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(100));
        }
        rustix::process::kill_process(pid_of(&child), rustix::process::Signal::TERM)
            .expect("SIGTERM the run");
    }
    child
}

fn pid_of(child: &Child) -> rustix::process::Pid {
    rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
        .expect("a child's pid is not 0")
}

/// Runs one draft under a 3 s handler timeout (time for its stand-in to start on a loaded
/// machine): the run reports the timeout and does not wait for `what`, which would otherwise
/// hold it for a minute.
fn run_to_timeout(s: &Setup, what: &str) -> Done {
    s.handler_timeout("3s");
    let id = s.w.approved("ledger_done", "{}", "{}");
    let started = Instant::now();
    let done = s.run(&[]).ok();
    let doc = done.json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "handler failed: timed out after 3s"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "the run waited for {what}"
    );
    done
}

#[test]
fn a_handler_whose_offspring_escapes_its_process_group_cannot_hang_the_run() {
    // setsid puts the sleeper in a new session, out of reach of the group kill, still
    // holding the handler's stdout and stderr open. It writes its pid, so the test can kill
    // exactly it afterwards.
    let s = Setup::with_handler(
        "setsid sh -c 'echo $$ > \"$0\"; exec sleep 37' \"$d/../../escaped.pid\" & sleep 60",
        "",
    );
    let _cleanup = KillGroupOnDrop {
        pid_file: s.w.path("escaped.pid"),
        marker: "37",
    };
    let done = run_to_timeout(&s, "the escaped process");
    assert!(
        done.stderr.contains("kept its output open"),
        "the run did not say why output may be missing:\n{}",
        done.stderr
    );
    assert!(
        s.w.path("escaped.pid").exists(),
        "the escaped process never started"
    );
}

/// Output that arrives after the handler exited, from something it started that outlives it,
/// is still read for a moment: the last line can be the URL.
#[test]
fn output_written_just_after_the_handler_exits_is_still_kept() {
    // The handler waits until its offspring is in a session of its own (out of reach of the
    // kill at the exit) and has closed its stderr, then exits; the offspring writes the URL
    // once the handler is reaped, which inbox-exec does just before it reads what is left.
    // Reading goes on while either stream is open.
    let s = Setup::with_handler(
        "setsid sh -c 'exec 2>&-; : > \"$0\"; while kill -0 \"$1\"; do sleep 0.01; done; echo https://late.example/1' \"$d/../../away\" $$ &
         while [ ! -e \"$d/../../away\" ]; do sleep 0.01; done; exit 0",
        "",
    );
    let id = s.w.approved("ledger_done", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    assert_eq!(
        s.w.query(&format!(
            "SELECT executed_url FROM drafts WHERE draft_id = '{id}'"
        )),
        "https://late.example/1"
    );
}

/// A parent that ignores SIGCHLD passes that on through exec, and the kernel then reaps
/// every child at once: the run could not learn how its handler ended, and recorded a
/// comment that was posted as a failure (which tells a human to draft it again).
#[test]
fn a_run_started_with_sigchld_ignored_still_learns_how_its_handlers_ended() {
    if on_path("perl").is_none() {
        skip(
            "run::a_run_started_with_sigchld_ignored_still_learns_how_its_handlers_ended",
            "perl",
            "perl is not on PATH to start the run with SIGCHLD ignored",
        );
        return;
    }
    let s = Setup::new("");
    let ids = s.ledger(2);
    let out = s
        .cmd(&["run", "--json"])
        .through(&[
            "perl",
            "-e",
            "$SIG{CHLD} = 'IGNORE'; exec @ARGV or die \"exec: $!\"",
        ])
        .output()
        .expect("run inbox-exec under perl");

    assert_ok(&out);
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
    }
}

#[test]
fn a_handler_that_leaves_its_process_group_is_still_killed_at_the_timeout() {
    // The shell has no setpgid; perl, essential on Debian, does.
    if on_path("perl").is_none() {
        skip(
            "run::a_handler_that_leaves_its_process_group_is_still_killed_at_the_timeout",
            "perl",
            "perl is not on PATH to call setpgid",
        );
        return;
    }
    // The handler joins inbox-exec's own process group, out of the group the timeout kills,
    // and would sleep far past the test's patience.
    // The pid is written only once the move succeeded; a failed one fails the handler.
    let s = Setup::with_handler(
        "exec perl -e 'setpgrp(0, getpgrp(getppid())) or die \"setpgid: $!\";
             open(my $f, \">\", $ARGV[0]) or die; print $f \"$$\\n\"; close $f; sleep 60' \"$d/../../moved.pid\"",
        "",
    );
    run_to_timeout(&s, "the handler that left its group");
    let pid = fs::read_to_string(s.w.path("moved.pid")).expect("pid file");
    let proc = PathBuf::from(format!("/proc/{}", pid.trim()));
    assert!(
        !proc.exists() || is_zombie(&proc),
        "the handler outlived its run"
    );
}

#[test]
fn a_claim_whose_run_died_still_counts_in_the_rebuilt_thermal_window() {
    let s = Setup::with_handler("sleep 3", &thermal_config(1));
    let first = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let mut child = spawn_run(&s, &s.w.state, "1");
    s.wait_started(1);
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
