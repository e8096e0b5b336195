//! Operating it: reconcile, status, stuck-draft alerts.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::{KillGroupOnDrop, Run, World, skip};
use crate::stage::Stage;

/// A stage whose `ledger_done` handler records its call, writes its pid to `started` and
/// then hangs; drafts count as stuck after a minute.
struct Slow {
    s: Stage,
    started: std::path::PathBuf,
    _handler: KillGroupOnDrop,
}

impl Slow {
    fn new() -> Slow {
        let s = Stage::with_handler(
            "echo $$ > \"$d/../../started\"\nexec sleep 30",
            "[run]\nstuck_after = \"1m\"\n",
        );
        let started = s.w.path("started");
        Slow {
            _handler: KillGroupOnDrop {
                pid_file: started.clone(),
                marker: "sleep",
            },
            started,
            s,
        }
    }

    fn w(&self) -> &World {
        &self.s.w
    }

    fn cmd(&self, args: &[&str]) -> Run {
        self.s.cmd(args)
    }

    /// Starts a run and waits until its handler is running.
    fn start_run(&self) -> Child {
        let mut run = self.cmd(&["run"]);
        run.cmd.stdout(Stdio::null()).stderr(Stdio::null());
        let child = run.cmd.spawn().expect("spawn run");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.started.exists() {
            assert!(Instant::now() < deadline, "the handler never started");
            std::thread::sleep(Duration::from_millis(10));
        }
        child
    }

    /// Kills the handler's process group: the handler leads its own.
    fn kill_handler(&self) {
        let pid: i32 = fs::read_to_string(&self.started)
            .expect("the handler wrote its pid")
            .trim()
            .parse()
            .expect("a pid");
        let pid = rustix::process::Pid::from_raw(pid).expect("not 0");
        rustix::process::kill_process_group(pid, rustix::process::Signal::KILL)
            .expect("kill the handler");
    }
}

#[test]
fn a_draft_left_executing_by_a_killed_run_is_listed_with_a_dead_claimer_and_settled() {
    let s = Slow::new();
    let id = s.w().approved("ledger_done", r#"{"led":"LED-9"}"#, "{}");
    let mut run = s.start_run();

    // While the run lives, its claim is shown as running and cannot be settled.
    let list = s.cmd(&["reconcile", "--json"]).ok().json();
    assert_eq!(list[0]["draft_id"], id.as_str());
    assert_eq!(list[0]["claimer"], "running");
    s.cmd(&["reconcile", "resolve", &id, "--as", "failed", "--note", "x"])
        .fails_with(&["still running"]);

    run.kill().expect("SIGKILL the run");
    run.wait().expect("reap");
    s.kill_handler();
    assert_eq!(s.w().status(&id), "executing");

    let list = s.cmd(&["reconcile", "--json"]).ok().json();
    let row = &list[0];
    assert_eq!(row["claimer"], "dead");
    assert_eq!(row["kind"], "ledger_done");
    assert_eq!(row["attempts"], 1);
    assert_eq!(row["last_attempt"], "verify ok");
    assert!(row["age_s"].as_i64().expect("age") >= 0);
    assert!(row["target"].as_str().expect("target").contains("LED-9"));
    let text = s.cmd(&["reconcile"]).ok().stdout;
    assert!(text.contains(&id) && text.contains("dead"), "{text}");

    let usage = s
        .cmd(&["reconcile", "resolve", &id, "--as", "failed"])
        .code(2);
    assert!(usage.stderr.contains("--note"), "{}", usage.stderr);
    // Claimed moments ago: settling needs --force until stuck_after has passed.
    s.cmd(&[
        "reconcile",
        "resolve",
        &id,
        "--as",
        "completed",
        "--url",
        "https://example.org/done",
    ])
    .fails_with(&["stuck_after", "--force"]);
    s.cmd(&[
        "reconcile",
        "resolve",
        &id,
        "--as",
        "completed",
        "--url",
        "https://example.org/done",
        "--force",
    ])
    .ok();
    assert_eq!(s.w().status(&id), "completed");
    let show = s.cmd(&["show", &id, "--json"]).ok().json();
    assert_eq!(show["executed_url"], "https://example.org/done");
    let last = show["attempts"]
        .as_array()
        .expect("attempts")
        .last()
        .cloned()
        .expect("an attempt");
    assert_eq!(last["kind"], "reconcile");
    assert_eq!(last["outcome"], "ok");
    s.cmd(&[
        "reconcile",
        "resolve",
        &id,
        "--as",
        "terminal",
        "--note",
        "again",
    ])
    .fails_with(&["is completed, not executing"]);
    assert_eq!(
        s.cmd(&["reconcile", "--json"]).ok().json(),
        serde_json::json!([])
    );
}

#[test]
fn rows_claimed_by_the_reference_are_listed_and_settled_like_any_other() {
    let s = Slow::new();
    let id = s.w().approved("ledger_done", "{}", "{}");
    let old = inbox_exec::unix_now() - 3600;
    s.w().sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {old} WHERE draft_id = '{id}'"
    ));
    let list = s
        .cmd(&["reconcile", "--json", "--older-than", "30m"])
        .ok()
        .json();
    assert_eq!(list[0]["claimer"], "unknown");
    assert_eq!(list[0]["claimed_at"], old);
    assert_eq!(
        s.cmd(&["reconcile", "--json", "--older-than", "2h"])
            .ok()
            .json(),
        serde_json::json!([])
    );
    s.cmd(&[
        "reconcile",
        "resolve",
        &id,
        "--as",
        "terminal",
        "--note",
        "posted twice by hand, do not retry",
        // The reference leaves no claim record: whether it still runs is unknown here.
        "--force",
    ])
    .ok();
    assert_eq!(s.w().status(&id), "terminal_unrecoverable");
    assert_eq!(
        s.w().query(&format!(
            "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
        )),
        "posted twice by hand, do not retry"
    );
}

#[test]
fn run_alerts_once_about_a_stuck_draft_and_never_claims_it_again() {
    let s = Slow::new();
    let id = s.w().approved("ledger_done", "{}", "{}");
    let old = inbox_exec::unix_now() - 3600;
    s.w().sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {old} WHERE draft_id = '{id}'"
    ));
    let first = s.cmd(&["run"]).ok();
    assert!(
        first
            .stderr
            .contains(&format!("draft {id} stuck in executing")),
        "{}",
        first.stderr
    );
    assert!(
        first.stderr.contains("inbox-exec reconcile resolve"),
        "{}",
        first.stderr
    );
    let second = s.cmd(&["run"]).ok();
    assert!(
        !second.stderr.contains("stuck in executing"),
        "alerted twice: {}",
        second.stderr
    );
    // Its side effect may have happened: only a human may settle it, never a second claim.
    assert_eq!(s.s.started(), 0, "the stuck draft's handler ran again");
    assert_eq!(s.w().status(&id), "executing");
    assert_eq!(s.s.attempts(&id), "", "nothing was attempted on it");
}

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
fn start_time(pid: u32) -> i64 {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).expect("proc stat");
    let after = stat.rsplit_once(')').expect("comm").1;
    after
        .split_whitespace()
        .nth(19)
        .and_then(|t| t.parse().ok())
        .expect("start time")
}

#[test]
fn a_claim_whose_pid_now_runs_another_process_is_dead_and_can_be_settled() {
    let s = Slow::new();
    // A live process whose pid the claims below record, as if the claimer's pid had been
    // reused by it after the claimer died.
    let mut live = Command::new("sleep")
        .arg("30")
        .spawn()
        .expect("spawn sleep");
    let pid = live.id();
    let start = start_time(pid);
    let host = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned();
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("boot id")
        .trim()
        .to_owned();
    let claimed = inbox_exec::unix_now() - 3600;
    let reused = s.w().approved("ledger_done", "{}", r#"{"n":1}"#);
    let same = s.w().approved("ledger_done", "{}", r#"{"n":2}"#);
    for (id, process_start) in [(&reused, start + 1), (&same, start)] {
        s.w().sql(&format!(
            "UPDATE drafts SET status = 'executing', updated_at = {claimed} WHERE draft_id = '{id}';
             INSERT INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
             VALUES ('{id}', {claimed}, {pid}, '{host}', '{boot_id}', {process_start});"
        ));
    }
    let list = s.cmd(&["reconcile", "--json"]).ok().json();
    let claimer = |id: &str| -> Value {
        list.as_array()
            .expect("a list")
            .iter()
            .find(|r| r["draft_id"] == id)
            .unwrap_or_else(|| panic!("{id} not listed: {list}"))["claimer"]
            .clone()
    };
    assert_eq!(claimer(&reused), "dead", "same pid, another start time");
    assert_eq!(claimer(&same), "running", "same pid, same start time");
    s.cmd(&[
        "reconcile",
        "resolve",
        &same,
        "--as",
        "failed",
        "--note",
        "x",
    ])
    .fails_with(&["still running"]);
    s.cmd(&[
        "reconcile",
        "resolve",
        &reused,
        "--as",
        "failed",
        "--note",
        "its claimer died; the pid was reused",
    ])
    .ok();
    assert_eq!(s.w().status(&reused), "completed_with_error");
    assert_eq!(s.w().status(&same), "executing");
    live.kill().expect("kill sleep");
    live.wait().expect("reap sleep");
}

#[test]
fn status_reports_counts_stuck_drafts_thermal_and_the_last_run() {
    let s = Slow::new();
    let approved = s.w().approved("ledger_done", "{}", "{}");
    s.w().draft("ledger_done", "{}", "{}");
    let doc = s.cmd(&["status", "--json"]).ok().json();
    assert_eq!(doc["counts"]["approved"], 1);
    assert_eq!(doc["counts"]["pending"], 1);
    assert_eq!(doc["counts"]["terminal_unrecoverable"], 0);
    assert!(doc["oldest_approved_age_s"].as_i64().expect("age") >= 0);
    assert_eq!(doc["stuck"], serde_json::json!([]));
    assert_eq!(doc["thermal"]["recent_actions"], 0);
    assert_eq!(doc["last_run"], Value::Null);
    // No run yet: a monitor should hear about it.
    s.cmd(&["status", "--check"]).code(4);

    s.w().sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {} WHERE draft_id = '{approved}'",
        inbox_exec::unix_now() - 3600
    ));
    s.cmd(&["run"]).ok();
    let doc = s.cmd(&["status", "--json"]).ok().json();
    assert_eq!(doc["stuck"][0]["draft_id"], approved.as_str());
    assert_eq!(doc["last_run"]["status"], "idle");
    assert!(doc["last_run"].get("results").is_none());
    let out = s.cmd(&["status", "--check"]).code(5);
    assert!(out.stdout.contains("stuck in executing"), "{}", out.stdout);

    s.cmd(&[
        "reconcile",
        "resolve",
        &approved,
        "--as",
        "completed",
        "--force",
    ])
    .ok();
    s.cmd(&["status", "--check"]).ok();

    let paused = serde_json::json!({
        "recent_action_times": [], "paused_until": inbox_exec::unix_now() + 600, "high_water": 0
    });
    fs::write(s.w().state.join("thermal.json"), paused.to_string()).expect("sidecar");
    s.cmd(&["status", "--check"]).code(6);
    let text = s.cmd(&["status"]).ok().stdout;
    assert!(text.contains("paused until"), "{text}");
}

#[test]
fn a_failed_run_is_seen_by_status_check() {
    let s = Slow::new();
    // The handler hangs: settle the first run's draft so the second has work of its own.
    let second = s.w().approved("social_post", "{}", "{}");
    fs::set_permissions(&s.w().key, fs::Permissions::from_mode(0o644)).expect("chmod");
    s.cmd(&["run"]).fails_with(&["chmod 600", &second]);
    let doc = s.cmd(&["status", "--json"]).ok().json();
    assert_eq!(doc["last_run"]["status"], "failed");
    assert!(
        doc["last_run"]["error"]
            .as_str()
            .expect("error")
            .contains("chmod 600")
    );
    s.cmd(&["status", "--check"]).code(4);
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let w = World::ready();
    w.draft("k", "{}", "{}");
    let piped = w.cmd(&["verify"]).ok().stdout;
    assert!(!piped.contains('\u{1b}'), "colour on a pipe: {piped:?}");
    // `script` gives the binary a pseudo-terminal as stdout.
    if Command::new("script").arg("--version").output().is_err() {
        skip(
            "colour_only_on_a_terminal_and_never_with_no_color",
            "script",
            "util-linux `script` gives the binary a terminal; the pipe half ran",
        );
        return;
    }
    let on_tty = |no_color: Option<&str>| {
        let mut run = w.cmd(&["--version"]);
        run.cmd = std::process::Command::new("script");
        run.cmd
            .args([
                "-qec",
                &format!("{} verify", crate::harness::BIN),
                "/dev/null",
            ])
            .env_clear()
            .env("HOME", &w.home)
            .env("PATH", "/usr/bin:/bin")
            .env("INBOX_EXEC_DB", w.db_arg())
            .env("INBOX_EXEC_KEY", &w.key);
        if let Some(v) = no_color {
            run.cmd.env("NO_COLOR", v);
        }
        run.ok().stdout
    };
    let coloured = on_tty(None);
    assert!(coloured.contains("\u{1b}[32mok\u{1b}[0m"), "{coloured:?}");
    let plain = on_tty(Some("1"));
    assert!(
        !plain.contains('\u{1b}'),
        "colour despite NO_COLOR: {plain:?}"
    );
}
