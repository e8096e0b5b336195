//! The fault matrix of `inbox-exec run`: unusable state files, keys, registries, rows,
//! handlers and disks. Each fault ends in a clear message (naming the file or the draft and
//! what to do) and nothing lost or half-written: every draft in a legal status, none both
//! dispatched and left approved.
//!
//! Faults that need a filesystem the test can break (read-only, full) mount a small tmpfs;
//! where that is impossible (not root, no `mount`), the test says so through `harness::skip`
//! (need `mount`) and returns.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::harness::{Done, World, is_root, mode, names_in, outcome_of, skip};
use crate::stage::{Stage as Setup, TARGET, thermal_config};

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&fs::read(path).expect("read state file"))
        .unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn assert_mentions(done: &Done, fragments: &[&str]) {
    for f in fragments {
        assert!(
            done.stderr.contains(f),
            "stderr should mention {f:?}:\n{}",
            done.stderr
        );
    }
}

/// A tmpfs mounted for one test, unmounted (and its mount point removed) on drop, panics
/// included.
struct Mount {
    dir: PathBuf,
    _point: tempfile::TempDir,
}

impl Mount {
    /// A fresh tmpfs of `size` (e.g. `512k`) with extra mount `options`, or `None` (after
    /// reporting the skip of `test`) where this process cannot mount one.
    fn tmpfs(test: &str, size: &str, options: &str) -> Option<Mount> {
        let point = tempfile::tempdir().expect("mount point");
        let dir = point.path().to_owned();
        let opts = format!("size={size},mode=0700{options}");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &opts, "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Mount { dir, _point: point }),
            Ok(o) => {
                let why = format!(
                    "mount -t tmpfs -o {opts} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                skip(test, "mount", &why);
                None
            }
            Err(e) => {
                skip(test, "mount", &format!("cannot run mount: {e}"));
                None
            }
        }
    }

    fn remount(&self, options: &str) {
        let status = Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(&self.dir)
            .status()
            .expect("run mount");
        assert!(status.success(), "remount {options} failed");
    }

    /// Fills the filesystem: writes `filler` until the disk says it is full.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("filler");
        let mut file = fs::File::create(&path).expect("filler");
        let chunk = vec![0u8; 4096];
        loop {
            match file.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
                    break;
                }
            }
        }
        path
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let done = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !done {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

// --- The thermal sidecar -------------------------------------------------------------------

#[test]
fn an_empty_or_truncated_thermal_sidecar_is_rebuilt_from_the_attempts_table_with_a_warning() {
    for (what, damage) in [
        ("empty", (|_: &[u8]| Vec::new()) as fn(&[u8]) -> Vec<u8>),
        ("truncated", |b: &[u8]| b[..b.len() / 2].to_vec()),
    ] {
        let s = Setup::new(&thermal_config(1));
        s.ledger(1);
        s.run(&[]).ok();
        let sidecar = s.state_file("thermal.json");
        let whole = fs::read(&sidecar).expect("sidecar");
        fs::write(&sidecar, damage(&whole)).expect("damage the sidecar");
        let second = s.ledger(1);
        let out = s.run(&[]).ok();
        assert_mentions(&out, &["thermal.json", "unusable", "rebuilt"]);
        assert!(
            out.stderr.contains("[ALERT] inbox-exec") && out.stderr.contains("thermal history"),
            "{what}: an unusable sidecar raises an alert:\n{}",
            out.stderr
        );
        let doc = out.json();
        assert_eq!(
            outcome_of(&doc, &second[0])["outcome"],
            "executed",
            "{what}"
        );
        assert!(
            doc["paused_until"].is_i64(),
            "{what}: the window was rebuilt, not reset, so the second action trips: {doc}"
        );
        let rebuilt = json_file(&sidecar);
        assert_eq!(
            rebuilt["actions"].as_array().expect("actions").len(),
            2,
            "{what}: {rebuilt}"
        );
        assert_eq!(mode(&sidecar), 0o600);
    }
}

/// A cycle that claimed nothing and failed leaves an unusable sidecar as it found it: its
/// alert, which the registry would not take, is raised again by the next run instead of
/// being lost with the evidence.
#[test]
fn a_cycle_that_failed_before_claiming_leaves_an_unusable_sidecar_for_the_next_run_to_alert() {
    let s = Setup::new(&thermal_config(1));
    s.ledger(1);
    s.run(&[]).ok();
    let sidecar = s.state_file("thermal.json");
    fs::write(&sidecar, b"{").expect("damage the sidecar");
    // Nothing approved, and the registry's write lock held past the busy timeout: the cycle
    // cannot record its alert and fails.
    let other = rusqlite::Connection::open(&s.w.db).expect("open registry");
    other
        .execute_batch("BEGIN IMMEDIATE")
        .expect("take the write lock");
    let out = s.run(&[]).code(1);
    other.execute_batch("ROLLBACK").expect("release");
    drop(other);
    assert_mentions(&out, &["thermal.json", "unusable"]);
    assert_eq!(fs::read(&sidecar).expect("sidecar"), b"{", "left as it was");
    let out = s.run(&[]).ok();
    assert!(
        out.stderr.contains("[ALERT] inbox-exec") && out.stderr.contains("thermal history"),
        "the next run raises the alert:\n{}",
        out.stderr
    );
}

/// A line of the claims log torn by a power loss is skipped, and said so; the run's save takes
/// the rest in and removes the log.
#[test]
fn a_torn_line_in_the_claims_log_is_skipped_with_a_warning() {
    let s = Setup::new(&thermal_config(5));
    s.ledger(1);
    s.run(&[]).ok();
    let log = s.state_file("thermal-claims.jsonl");
    fs::write(&log, b"{\"at\": 1").expect("a torn line");
    let out = s.run(&[]).ok();
    assert_mentions(
        &out,
        &["thermal-claims.jsonl", "1 line(s) that do not parse"],
    );
    assert!(
        !log.exists(),
        "the run's save took the log in and removed it"
    );
}

#[test]
fn a_thermal_sidecar_over_4_mib_is_not_read_and_the_window_is_rebuilt() {
    let s = Setup::new(&thermal_config(1));
    s.ledger(1);
    s.run(&[]).ok();
    let sidecar = s.state_file("thermal.json");
    // Valid JSON, padded past the cap with whitespace: only its size can refuse it.
    let mut big = fs::read(&sidecar).expect("sidecar");
    big.resize(4 * 1024 * 1024 + 1, b' ');
    fs::write(&sidecar, &big).expect("grow the sidecar");
    s.ledger(1);
    let out = s.run(&[]).ok();
    assert_mentions(&out, &["thermal.json", "too large to be ours", "rebuilt"]);
    assert!(
        out.json()["paused_until"].is_i64(),
        "the rebuilt window still counts the first action"
    );
}

#[test]
fn after_a_run_the_sidecar_records_each_claim_it_made_and_nothing_else() {
    // The sidecar is the executor's own record of its actions: one entry per claim, naming
    // the claim's `verify ok` attempt, so the next run can merge the registry's record into
    // it without counting a claim twice. A refusal is not an action.
    let s = Setup::new("");
    let ids = s.ledger(2);
    s.w.approved("venture_kill", "{}", "{}");
    s.run(&[]).ok();
    let sidecar = json_file(&s.state_file("thermal.json"));
    let actions = sidecar["actions"].as_array().expect("actions");
    let mut recorded: Vec<(String, String)> = actions
        .iter()
        .map(|a| {
            (
                a["draft_id"].as_str().expect("draft_id").to_owned(),
                a["attempt_id"].to_string(),
            )
        })
        .collect();
    recorded.sort();
    let mut claims: Vec<(String, String)> = ids
        .iter()
        .map(|id| {
            let attempt = s.w.query(&format!(
                "SELECT attempt_id FROM attempts WHERE draft_id = '{id}' AND kind = 'verify' AND outcome = 'ok'"
            ));
            (id.clone(), attempt)
        })
        .collect();
    claims.sort();
    assert_eq!(recorded, claims, "{sidecar}");
}

#[test]
fn a_symlinked_thermal_sidecar_is_neither_followed_nor_written_through() {
    let s = Setup::new("");
    fs::create_dir_all(&s.w.state).expect("state");
    // Were the link followed, this would pause the run for an hour.
    let outside = s.w.path("outside.json");
    let planted = format!(
        "{{\"recent_action_times\": [], \"paused_until\": {}, \"high_water\": 999999}}\n",
        inbox_exec::unix_now() + 3600
    );
    fs::write(&outside, &planted).expect("outside");
    let sidecar = s.state_file("thermal.json");
    std::os::unix::fs::symlink(&outside, &sidecar).expect("symlink");
    let id = s.ledger(1).remove(0);
    let out = s.run(&[]).ok();
    assert_mentions(&out, &["thermal.json", "symlink", "rebuilt"]);
    let doc = out.json();
    assert_eq!(doc["status"], "ran", "{doc}");
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    assert_eq!(
        fs::read_to_string(&outside).expect("outside"),
        planted,
        "the link target must be untouched"
    );
    let meta = fs::symlink_metadata(&sidecar).expect("sidecar");
    assert!(meta.file_type().is_file(), "the link is replaced by a file");
    assert_eq!(
        json_file(&sidecar)["actions"]
            .as_array()
            .expect("actions")
            .len(),
        1
    );
}

#[test]
fn a_directory_in_place_of_the_thermal_sidecar_does_not_block_the_cycle() {
    let s = Setup::new(&thermal_config(1));
    let sidecar = s.state_file("thermal.json");
    fs::create_dir_all(&sidecar).expect("a directory at the sidecar's name");
    let first = s.ledger(1).remove(0);
    let out = s.run(&[]).ok();
    assert_mentions(&out, &["thermal.json", "not a regular file"]);
    assert_eq!(outcome_of(&out.json(), &first)["outcome"], "executed");
    assert_eq!(s.w.status(&first), "completed");
    // Still unusable next time: the window comes from the attempts table, so the second
    // action is counted with the first and trips the cutout.
    let second = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &second)["outcome"], "executed");
    assert!(doc["paused_until"].is_i64(), "{doc}");
    let third = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "paused", "{doc}");
    assert_eq!(s.w.status(&third), "approved");
    assert!(sidecar.is_dir());
    let leftovers: Vec<_> = fs::read_dir(&s.w.state)
        .expect("state")
        .map(|e| e.expect("entry").file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
}

#[test]
fn a_pause_in_a_sidecar_that_is_behind_the_attempts_table_is_kept() {
    let s = Setup::new("");
    s.ledger(1);
    s.run(&[]).ok();
    // Within the default 5 min cooldown: a longer pause would be cut to it (clock jumps).
    let until = inbox_exec::unix_now() + 200;
    fs::write(
        s.state_file("thermal.json"),
        format!("{{\"recent_action_times\": [], \"paused_until\": {until}, \"high_water\": 0}}\n"),
    )
    .expect("stale sidecar");
    let id = s.ledger(1).remove(0);
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "paused", "{doc}");
    assert_eq!(doc["paused_until"], until);
    assert_eq!(s.w.status(&id), "approved");
    assert_eq!(s.dispatched(&id), 0);
    let sidecar = json_file(&s.state_file("thermal.json"));
    assert_eq!(sidecar["paused_until"], until);
    assert_eq!(
        sidecar["actions"].as_array().expect("actions").len(),
        1,
        "the registry's action is merged in: {sidecar}"
    );
}

// --- The summary ---------------------------------------------------------------------------

#[test]
fn a_corrupt_empty_or_truncated_summary_is_replaced_and_its_totals_restart() {
    let s = Setup::new("");
    let summary = s.state_file("last-run.json");
    for content in [
        &b""[..],
        b"{\"status\": \"ran\", \"totals\": {\"cycles\": 4",
        b"\xff\xfe garbage",
    ] {
        fs::create_dir_all(&s.w.state).expect("state");
        fs::write(&summary, content).expect("damage the summary");
        let id = s.ledger(1).remove(0);
        let out = s.run(&[]).ok();
        assert_mentions(&out, &["last-run.json", "running totals restart"]);
        assert_eq!(outcome_of(&out.json(), &id)["outcome"], "executed");
        let doc = json_file(&summary);
        assert_eq!(doc["status"], "ran");
        assert_eq!(doc["totals"]["cycles"], 1, "{doc}");
        assert_eq!(doc["totals"]["executed"], 1, "{doc}");
        assert_eq!(mode(&summary), 0o600);
    }
}

#[test]
fn a_symlinked_summary_is_replaced_by_a_file_and_its_target_left_alone() {
    let s = Setup::new("");
    fs::create_dir_all(&s.w.state).expect("state");
    let outside = s.w.path("precious.txt");
    fs::write(&outside, "not yours\n").expect("outside");
    let summary = s.state_file("last-run.json");
    std::os::unix::fs::symlink(&outside, &summary).expect("symlink");
    let id = s.ledger(1).remove(0);
    let out = s.run(&[]).ok();
    assert_mentions(&out, &["last-run.json", "symlink"]);
    assert_eq!(outcome_of(&out.json(), &id)["outcome"], "executed");
    assert_eq!(
        fs::read_to_string(&outside).expect("outside"),
        "not yours\n"
    );
    assert!(
        fs::symlink_metadata(&summary)
            .expect("summary")
            .file_type()
            .is_file()
    );
    assert_eq!(json_file(&summary)["totals"]["executed"], 1);
    assert_eq!(mode(&summary), 0o600);
}

#[test]
fn a_directory_in_place_of_the_summary_fails_the_run_only_after_the_drafts_are_recorded() {
    let s = Setup::new("");
    let summary = s.state_file("last-run.json");
    fs::create_dir_all(&summary).expect("a directory at the summary's name");
    let ids = s.ledger(2);
    let out = s.run(&[]).fails_with(&["last-run.json", "recorded"]);
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
        assert_eq!(s.attempts(id), "verify:ok,execute:ok");
        assert_eq!(s.dispatched(id), 1);
        assert!(
            out.stdout.contains(id.as_str()) || out.stderr.contains(id.as_str()),
            "the message says the drafts were processed; it must say which ({id}):\nstdout:\n{}\nstderr:\n{}",
            out.stdout,
            out.stderr
        );
    }
    // The next run fails the same way and runs nothing twice.
    s.run(&[]).fails_with(&["last-run.json"]);
    for id in &ids {
        assert_eq!(s.dispatched(id), 1);
    }
}

// --- The key -------------------------------------------------------------------------------

#[test]
fn run_stops_on_a_missing_empty_or_directory_key_before_claiming_anything() {
    type Break = fn(&Path);
    let cases: [(&str, Break, &[&str]); 3] = [
        (
            "missing",
            |k| fs::remove_file(k).expect("rm key"),
            &["does not exist", "inbox-exec keygen"],
        ),
        (
            "empty",
            |k| fs::write(k, b"").expect("empty key"),
            &["not a usable key", "keygen"],
        ),
        (
            "a directory",
            |k| {
                fs::remove_file(k).expect("rm key");
                fs::create_dir(k).expect("dir");
                fs::set_permissions(k, fs::Permissions::from_mode(0o700)).expect("chmod");
            },
            &["not a regular file"],
        ),
    ];
    for (what, damage, fragments) in cases {
        let s = Setup::new("");
        let id = s.ledger(1).remove(0);
        damage(&s.w.key);
        let key = s.w.key.display().to_string();
        let out = s.run(&[]).fails_with(&[key.as_str(), id.as_str()]);
        assert_mentions(&out, fragments);
        assert!(
            ["keygen", "--key", "chmod", "remove"]
                .iter()
                .any(|fix| out.stderr.contains(fix)),
            "a key that is {what}: the message must say what to do:\n{}",
            out.stderr
        );
        assert_eq!(s.w.status(&id), "approved", "{what}");
        assert_eq!(s.w.query("SELECT count(*) FROM attempts"), "0", "{what}");
        assert!(s.calls().is_empty(), "{what}");
        let summary = json_file(&s.state_file("last-run.json"));
        assert_eq!(summary["status"], "failed", "{what}: {summary}");
        assert!(
            summary["error"]
                .as_str()
                .is_some_and(|e| e.contains(key.as_str())),
            "{what}: {summary}"
        );
    }
}

#[test]
fn run_with_no_approved_draft_does_not_need_the_key() {
    let s = Setup::new("");
    let pending = s.w.draft("ledger_done", "{}", "{}");
    fs::remove_file(&s.w.key).expect("rm key");
    let doc = s.run(&[]).ok().json();
    assert_eq!(doc["status"], "idle");
    fs::create_dir(&s.w.key).expect("a directory as the key");
    let out = s.w.cmd(&["run"]).env("INBOX_EXEC_CONFIG", &s.config).ok();
    assert_eq!(out.stdout, "idle: no approved drafts\n");
    assert_eq!(s.w.status(&pending), "pending");
    assert!(s.w.key.is_dir(), "the key path is left alone");
}

// --- The registry --------------------------------------------------------------------------

#[test]
fn read_commands_name_init_when_the_registry_is_missing_and_run_creates_it_privately() {
    let w = World::new();
    for args in [
        &["status"][..],
        &["reconcile"],
        &["show", "01J9ZX3K7Q8W2M4N6P0R5T7V9B"],
        &[
            "reconcile",
            "resolve",
            "01J9ZX3K7Q8W2M4N6P0R5T7V9B",
            "--as",
            "failed",
            "--note",
            "x",
        ],
    ] {
        let db = w.db.display().to_string();
        w.cmd(args)
            .fails_with(&[db.as_str(), "does not exist", "inbox-exec init"]);
        assert!(!w.db.exists(), "{args:?} created the registry");
    }
    // Only the default registry is created on first use; a named one is made by `init`.
    let db = w.home.join(".delimit/drafts.db");
    let out = crate::harness::Run {
        cmd: w.bare(&["run"]),
    }
    .ok();
    assert_eq!(out.stdout, "idle: no approved drafts\n");
    assert!(db.is_file());
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().expect("parent")), 0o700);
}

#[test]
fn a_read_only_registry_fails_the_run_and_leaves_the_draft_approved() {
    // chmod does not stop root: make the filesystem itself read-only.
    let mount = if is_root() {
        let Some(m) = Mount::tmpfs(
            "a_read_only_registry_fails_the_run_and_leaves_the_draft_approved",
            "8m",
            "",
        ) else {
            return;
        };
        Some(m)
    } else {
        None
    };
    let s = match &mount {
        Some(m) => {
            let mut w = World::new();
            w.db = m.dir.join("drafts.db");
            w.cmd(&["keygen"]).ok();
            w.cmd(&["init"]).ok();
            Setup::build(w, "", "")
        }
        None => Setup::new(""),
    };
    let id = s.ledger(1).remove(0);
    let before = s.w.dump();
    let files = ["drafts.db", "drafts.db-wal", "drafts.db-shm"]
        .map(|name| s.w.db.with_file_name(name))
        .into_iter()
        .filter(|f| f.exists());
    let make_writable = |writable: bool| {
        if let Some(m) = &mount {
            m.remount(if writable { "rw" } else { "ro" });
        } else {
            for f in files.clone() {
                let mode = if writable { 0o600 } else { 0o400 };
                fs::set_permissions(&f, fs::Permissions::from_mode(mode)).expect("chmod");
            }
        }
    };
    make_writable(false);
    let out = s.run(&[]).code(1);
    make_writable(true);
    let db = s.w.db.display().to_string();
    assert_mentions(&out, &[db.as_str()]);
    assert!(
        ["read-only", "readonly", "not writable"]
            .iter()
            .any(|w| out.stderr.to_lowercase().contains(w)),
        "the message must say the registry cannot be written:\n{}",
        out.stderr
    );
    assert!(s.calls().is_empty());
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.w.dump() == before, "the registry changed");
    // Writable again: the draft runs, once.
    assert_eq!(
        outcome_of(&s.run(&[]).ok().json(), &id)["outcome"],
        "executed"
    );
    assert_eq!(s.dispatched(&id), 1);
}

#[test]
fn a_registry_locked_by_another_writer_fails_the_run_after_the_busy_timeout() {
    let s = Setup::new("");
    let id = s.ledger(1).remove(0);
    let other = rusqlite::Connection::open(&s.w.db).expect("open registry");
    other
        .execute_batch("BEGIN EXCLUSIVE")
        .expect("take the write lock");
    let started = Instant::now();
    let db = s.w.db.display().to_string();
    let out = s.run(&[]).fails_with(&["locked", db.as_str()]);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(4500),
        "gave up after {waited:?}, before the 5 s busy timeout:\n{}",
        out.stderr
    );
    other.execute_batch("ROLLBACK").expect("release");
    drop(other);
    assert_eq!(s.w.status(&id), "approved");
    assert_eq!(s.attempts(&id), "");
    assert_eq!(s.w.query("SELECT count(*) FROM claims"), "0");
    assert!(s.calls().is_empty());
    // Released: the next run takes it.
    assert_eq!(
        outcome_of(&s.run(&[]).ok().json(), &id)["outcome"],
        "executed"
    );
}

#[test]
fn a_registry_from_a_newer_inbox_exec_schema_is_refused_by_run() {
    let s = Setup::new("");
    let id = s.ledger(1).remove(0);
    s.w.sql("UPDATE db_meta SET value = '99' WHERE key = 'inbox_exec_schema_version'");
    let before = s.w.dump();
    let db = s.w.db.display().to_string();
    s.run(&[]).fails_with(&[
        db.as_str(),
        "newer program",
        "inbox_exec_schema_version = 99",
        "upgrade inbox-exec",
    ]);
    assert!(s.w.dump() == before, "the registry changed");
    assert_eq!(s.w.status(&id), "approved");
    assert!(s.calls().is_empty());
}

// --- Rows ----------------------------------------------------------------------------------

/// Signs a draft through the library with the world's key and inserts it as approved, the
/// way `draft new` stores it: for drafts too large for a command line.
fn insert_approved(w: &World, id: &str, kind: &str, target: &Value, payload: &Value) {
    let key = fs::read(&w.key).expect("key");
    let now = inbox_exec::unix_now();
    let signed =
        inbox_exec::draft::sign(id, kind, target, payload, now, 1, &key).expect("sign the draft");
    let conn = rusqlite::Connection::open(&w.db).expect("open registry");
    conn.execute(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
             key_version, schema_version, content_hash, signature, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 1, 'v1', ?6, ?7, 'approved', ?5, ?5)",
        rusqlite::params![
            signed.draft_id,
            kind,
            signed.target_json,
            signed.payload_json,
            now,
            signed.content_hash,
            signed.signature
        ],
    )
    .expect("insert the draft");
}

#[test]
fn a_ten_megabyte_payload_reaches_its_handler_whole() {
    let s = Setup::new("");
    let id = "01J9ZX3K7Q8W2M4N6P0R5T7V9B";
    let body = "0123456789abcdef".repeat(10 * 1024 * 1024 / 16);
    insert_approved(
        &s.w,
        id,
        "ledger_done",
        &json!({"led": "LED-BIG"}),
        &json!({ "body": body }),
    );
    s.w.cmd(&["verify", id]).ok();
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, id)["outcome"], "executed", "{doc}");
    assert_eq!(s.w.status(id), "completed");
    let calls: Vec<String> = s
        .calls()
        .iter()
        .map(crate::stage::Call::stdin_text)
        .collect();
    assert_eq!(calls.len(), 1);
    assert!(
        calls[0].len() > 10 * 1024 * 1024,
        "{} bytes",
        calls[0].len()
    );
    let got: Value = serde_json::from_str(&calls[0]).expect("stdin is the draft as JSON");
    assert_eq!(got["draft_id"], id);
    assert_eq!(
        got["payload"]["body"].as_str().map(str::len),
        Some(body.len())
    );
    assert!(
        got["payload"]["body"] == body.as_str(),
        "the body arrived altered"
    );
}

#[test]
fn rows_with_a_null_or_numeric_kind_or_an_undecodable_target_fail_alone() {
    let s = Setup::new("");
    let ids = s.ledger(4);
    let (null_kind, number_kind, bad_target, good) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    // The reference's schema forbids a NULL kind; a registry built by other tools may not.
    s.w.sql(
        "CREATE TABLE loose AS SELECT * FROM drafts;
         DROP TABLE drafts;
         CREATE TABLE drafts (draft_id PRIMARY KEY, draft_kind, target_json, payload_json, issued_at,
             key_version, schema_version, content_hash, signature, status, led_ref, approval_subject,
             executed_url, last_error, created_at, updated_at, completed_at);
         INSERT INTO drafts SELECT * FROM loose;
         DROP TABLE loose;",
    );
    s.w.sql(&format!(
        "UPDATE drafts SET draft_kind = NULL WHERE draft_id = '{null_kind}';
         UPDATE drafts SET draft_kind = 7 WHERE draft_id = '{number_kind}';
         UPDATE drafts SET target_json = X'7B226C6564223A22FF80FE227D' WHERE draft_id = '{bad_target}';"
    ));
    let doc = s.run(&[]).ok().json();
    for id in [null_kind, number_kind, bad_target] {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "verify_failed", "{r}");
        assert_eq!(s.w.status(id), "completed_with_error", "{id}");
        assert_eq!(s.attempts(id), "verify:failed", "{id}");
        assert_eq!(s.dispatched(id), 0, "{id}");
        let last_error = s.w.query(&format!(
            "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
        ));
        assert!(
            last_error.starts_with("verify failed at execute time: "),
            "{last_error}"
        );
    }
    assert_eq!(
        outcome_of(&doc, null_kind)["reason"],
        "missing fields: ['draft_kind']"
    );
    assert!(
        outcome_of(&doc, bad_target)["reason"]
            .as_str()
            .is_some_and(|r| r.contains("target_json")),
        "{doc}"
    );
    assert_eq!(outcome_of(&doc, good)["outcome"], "executed");
    assert_eq!(s.w.status(good), "completed");
}

// --- Handlers ------------------------------------------------------------------------------

#[test]
fn a_handler_without_the_execute_bit_fails_its_draft_and_the_next_one_runs() {
    let s = Setup::new("");
    let ledger = s.bin.join("ledger");
    fs::set_permissions(&ledger, fs::Permissions::from_mode(0o644)).expect("chmod -x");
    let id = s.ledger(1).remove(0);
    let next = s.w.approved("github_comment", TARGET, r#"{"body":"next"}"#);
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "execute_failed", "{r}");
    let reason = r["reason"].as_str().expect("reason");
    assert!(
        reason.contains("cannot start")
            && reason.contains(&ledger.display().to_string())
            && reason.contains("ermission denied"),
        "{reason}"
    );
    assert_eq!(s.w.status(&id), "completed_with_error");
    assert_eq!(s.attempts(&id), "verify:ok,execute:failed");
    assert_eq!(outcome_of(&doc, &next)["outcome"], "executed");
    assert_eq!(s.w.status(&next), "completed");
}

// --- The state directory -------------------------------------------------------------------

#[test]
fn a_missing_state_dir_is_created_private_by_run() {
    let s = Setup::new("");
    let state = s.w.path("var/lib/inbox-exec/state");
    let id = s.ledger(1).remove(0);
    let doc = s.run(&[]).env("INBOX_EXEC_STATE_DIR", &state).ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    assert_eq!(mode(&state), 0o700);
    for name in ["inbox-exec.lock", "thermal.json", "last-run.json"] {
        assert_eq!(mode(&state.join(name)), 0o600, "{name}");
    }
}

#[test]
fn an_unwritable_state_dir_fails_the_run_before_anything_is_claimed() {
    let s = Setup::new("");
    let id = s.ledger(1).remove(0);
    let mount;
    let state = if is_root() {
        // Permissions do not stop root: a read-only filesystem does.
        let Some(m) = Mount::tmpfs(
            "an_unwritable_state_dir_fails_the_run_before_anything_is_claimed",
            "64k",
            ",ro",
        ) else {
            return;
        };
        mount = m;
        mount.dir.clone()
    } else {
        let state = s.w.path("locked-state");
        fs::create_dir(&state).expect("state");
        fs::set_permissions(&state, fs::Permissions::from_mode(0o500)).expect("chmod");
        state
    };
    let out = s.run(&[]).env("INBOX_EXEC_STATE_DIR", &state).code(1);
    assert_mentions(&out, &[&state.display().to_string()]);
    assert!(
        out.stderr.contains("Read-only file system") || out.stderr.contains("Permission denied"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("were processed"),
        "no draft was processed, and no message may say otherwise:\n{}",
        out.stderr
    );
    assert_eq!(s.w.status(&id), "approved");
    assert_eq!(s.w.query("SELECT count(*) FROM attempts"), "0");
    assert!(s.calls().is_empty());
}

// --- A full disk ---------------------------------------------------------------------------

#[test]
fn a_full_disk_under_the_registry_stops_the_cycle_and_leaves_only_the_dispatched_draft_executing() {
    let Some(mount) = Mount::tmpfs(
        "a_full_disk_under_the_registry_stops_the_cycle_and_leaves_only_the_dispatched_draft_executing",
        "4m",
        "",
    ) else {
        return;
    };
    let mut w = World::new();
    w.db = mount.dir.join("drafts.db");
    w.cmd(&["keygen"]).ok();
    w.cmd(&["init"]).ok();
    let mnt = mount.dir.display().to_string();
    // The first handler fills the disk, as a runaway log elsewhere would.
    let s = Setup::build(
        w,
        &format!("dd if=/dev/zero of=\"{mnt}/filler\" bs=65536 2>/dev/null; true"),
        "",
    );
    let ids = s.ledger(3);
    let out = s
        .run(&[])
        .fails_with(&[ids[0].as_str(), "the next run records it", "full"]);
    // Even with the disk still full, the registry opens and reads whole.
    assert_eq!(s.w.query("PRAGMA integrity_check"), "ok", "{}", out.stderr);
    assert_eq!(s.w.status(&ids[0]), "executing", "its side effect ran");
    assert_eq!(s.dispatched(&ids[0]), 1);
    for id in &ids[1..] {
        assert_eq!(s.w.status(id), "approved", "{id}");
        assert_eq!(s.attempts(id), "", "{id}");
        assert_eq!(s.dispatched(id), 0, "{id}");
    }
    // No draft was dispatched and left approved.
    fs::remove_file(mount.dir.join("filler")).expect("free the disk");
    let summary = json_file(&s.state_file("last-run.json"));
    assert_eq!(summary["status"], "failed", "{summary}");
    let stuck = s.w.cmd(&["reconcile", "--json"]).ok().json();
    assert_eq!(stuck[0]["draft_id"], ids[0].as_str(), "{stuck}");
    // With room again, the kept outcome is recorded first, and the rest run.
    let s = Setup::build(s.w, "", "");
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        doc["recorded_late"][0]["draft_id"],
        ids[0].as_str(),
        "{doc}"
    );
    for id in &ids[1..] {
        assert_eq!(outcome_of(&doc, id)["outcome"], "executed");
    }
    assert_eq!(s.w.status(&ids[0]), "completed");
    assert_eq!(s.w.query("PRAGMA integrity_check"), "ok");
}

#[test]
fn a_full_disk_under_the_state_dir_fails_the_run_after_recording_and_keeps_the_old_state_files() {
    let Some(mount) = Mount::tmpfs(
        "a_full_disk_under_the_state_dir_fails_the_run_after_recording_and_keeps_the_old_state_files",
        "256k",
        "",
    ) else {
        return;
    };
    let s = Setup::new("");
    s.w.cmd(&["run"])
        .env("INBOX_EXEC_STATE_DIR", &mount.dir)
        .env("INBOX_EXEC_CONFIG", &s.config)
        .ok();
    let thermal = mount.dir.join("thermal.json");
    let summary = mount.dir.join("last-run.json");
    let (old_thermal, old_summary) = (
        fs::read(&thermal).expect("sidecar"),
        fs::read(&summary).expect("summary"),
    );
    // The quiet run left an idle mark; the next run removes it first, which would free the
    // block the claims log then takes. Gone before the fill, the disk is full for all of it.
    fs::remove_file(mount.dir.join("idle.json")).expect("the idle mark");
    let filler = mount.fill();
    let id = s.ledger(1).remove(0);
    let state = mount.dir.display().to_string();
    let out = s
        .run(&[])
        .env("INBOX_EXEC_STATE_DIR", &mount.dir)
        .fails_with(&[&format!("{state}/last-run.json"), "No space left on device"]);
    assert_mentions(&out, &["thermal.json"]);
    assert_eq!(s.w.status(&id), "completed", "recorded before the summary");
    assert_eq!(s.attempts(&id), "verify:ok,execute:ok");
    assert_eq!(fs::read(&thermal).expect("sidecar"), old_thermal);
    assert_eq!(fs::read(&summary).expect("summary"), old_summary);
    assert_eq!(
        names_in(&mount.dir),
        ["filler", "inbox-exec.lock", "last-run.json", "thermal.json"],
        "nothing half-written left behind"
    );
    // With room again, the stale sidecar is rebuilt from the table: the action counts.
    fs::remove_file(filler).expect("free the disk");
    let doc = s
        .run(&[])
        .env("INBOX_EXEC_STATE_DIR", &mount.dir)
        .ok()
        .json();
    assert_eq!(doc["status"], "idle");
    assert_eq!(
        json_file(&thermal)["actions"]
            .as_array()
            .expect("actions")
            .len(),
        1
    );
    assert_eq!(s.dispatched(&id), 1);
}
