//! The idle mark (issue 11): after a cycle that found nothing to do, runs skip opening a
//! SQLite registry until something writes to it, and never past what time alone makes due.

use std::fs;
use std::time::Duration;

use rusqlite::config::DbConfig;
use serde_json::Value;

use crate::harness::{Backend, Done, World, names_in, on_path, skip, write_private};
use crate::stage::{Stage, thermal_config};

/// What `-v` says when a run did not open the registry.
const SKIPPED: &str = "not opened";

/// `run -v --json`: the run, and whether it skipped the registry.
fn run(s: &Stage) -> (Done, bool) {
    let done = s.run(&["-v"]).ok();
    let skipped = done.stderr.contains(SKIPPED);
    (done, skipped)
}

/// Runs `runs` times and asserts that none skipped the registry (`why` it must not) and that
/// no mark was left; returns what each printed.
fn never_skip(s: &Stage, runs: usize, why: &str) -> Vec<Done> {
    let dones: Vec<Done> = (0..runs)
        .map(|_| {
            let (done, skipped) = run(s);
            assert!(!skipped, "{why}: {}", done.stderr);
            done
        })
        .collect();
    assert!(
        !s.state_file("idle.json").exists(),
        "{why}: a mark was left"
    );
    dones
}

/// Runs until one skips the registry (a quiet cycle leaves the mark, the next run uses it):
/// at most two full cycles, the first of which may still be writing. The run that skipped
/// reported idle like any other.
fn settle(s: &Stage) {
    for _ in 0..3 {
        let (done, skipped) = run(s);
        if skipped {
            assert_eq!(done.json()["status"], "idle", "{}", done.stdout);
            assert!(s.state_file("idle.json").is_file());
            return;
        }
    }
    panic!("no run skipped the registry after two quiet cycles");
}

/// Parks a draft out of the queue, so that a writer of the test's own can approve it later.
fn parked(s: &Stage, n: u32) -> String {
    let id =
        s.w.approved("ledger_done", "{}", &format!(r#"{{"n":{n}}}"#));
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'pending' WHERE draft_id = '{id}'"
    ));
    id
}

/// A transaction of `rows` blobs of `size` bytes, rolled back after a one-page cache spilled
/// its pages into the WAL: its frames stay in the file, past the last commit.
fn spill_and_roll_back(conn: &rusqlite::Connection, rows: u32, size: u32) {
    conn.execute_batch(&format!(
        "PRAGMA cache_size = 1; PRAGMA cache_spill = 1; BEGIN;
         CREATE TABLE scratch (x);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO scratch SELECT randomblob({size}) FROM n;
         ROLLBACK;"
    ))
    .expect("spill and roll back");
}

fn approve_sql(id: &str) -> String {
    format!("UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'")
}

fn summary_cycles(s: &Stage) -> u64 {
    let summary: Value =
        serde_json::from_slice(&fs::read(s.state_file("last-run.json")).expect("summary"))
            .expect("JSON");
    summary["totals"]["cycles"].as_u64().expect("cycles")
}

sqlite_only! {
#[test]
fn runs_skip_an_unchanged_registry_and_still_write_their_summary() {
    let s = Stage::new("");
    let (first, skipped) = run(&s);
    assert!(!skipped, "the first run opens the registry: {}", first.stderr);
    let (second, skipped) = run(&s);
    assert!(skipped, "a quiet cycle lets the next run skip: {}", second.stderr);
    assert_eq!(second.json()["status"], "idle", "{}", second.stdout);
    assert_eq!(summary_cycles(&s), 2, "a run that skipped still counts as a cycle");
    let (_, skipped) = run(&s);
    assert!(skipped);
    assert_eq!(summary_cycles(&s), 3);
    assert_eq!(
        names_in(&s.w.state),
        ["idle.json", "inbox-exec.lock", "last-run.json", "thermal.json"],
        "the summaries it replaced are gone"
    );
    let id = s.ledger(1).remove(0);
    let (done, skipped) = run(&s);
    assert!(!skipped, "a draft approved through the CLI is seen: {}", done.stderr);
    assert_eq!(s.dispatched(&id), 1);
    assert_eq!(done.json()["status"], "ran");
}

#[test]
fn every_way_of_writing_the_registry_ends_the_skipping() {
    let s = Stage::new("");
    // What the writer does, what it does before the mark is left, and what after.
    type Writer = fn(&World, &str);
    let nothing: Writer = |_, _| {};
    let writers: [(&str, Writer, Writer); 4] = [
        ("a commit appended to the WAL", nothing, |w, id| w.sql(&approve_sql(id))),
        ("a commit after the WAL was checkpointed and truncated", nothing, |w, id| {
            let conn = rusqlite::Connection::open(&w.db).expect("open");
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .expect("checkpoint");
            conn.execute_batch(&approve_sql(id)).expect("approve");
        }),
        (
            "a commit over the frames of a transaction rolled back, the WAL no longer",
            nothing,
            |w, id| {
                let conn = rusqlite::Connection::open(&w.db).expect("open");
                // The small commit overwrites the first of the rolled-back frames.
                spill_and_roll_back(&conn, 2000, 500);
                conn.execute_batch(&approve_sql(id)).expect("approve");
            },
        ),
        (
            "the registry replaced by a copy holding the approval",
            |w, id| {
                // The copy is made before the mark; the original is left without the approval.
                w.sql(&approve_sql(id));
                let conn = rusqlite::Connection::open(&w.db).expect("open");
                conn.execute("VACUUM INTO ?1", [w.path("copy.db").to_str().expect("utf-8")])
                    .expect("copy");
                drop(conn);
                w.sql(&format!(
                    "UPDATE drafts SET status = 'pending' WHERE draft_id = '{id}'"
                ));
            },
            |w, _| {
                fs::rename(w.path("copy.db"), &w.db).expect("replace");
                for suffix in ["-wal", "-shm"] {
                    let _ = fs::remove_file(w.path(&format!("drafts.db{suffix}")));
                }
            },
        ),
    ];
    for (n, (what, prepare, write)) in (0..).zip(writers) {
        let id = parked(&s, n);
        prepare(&s.w, &id);
        settle(&s);
        write(&s.w, &id);
        let (done, skipped) = run(&s);
        assert!(!skipped, "{what}: the run skipped the registry: {}", done.stderr);
        assert_eq!(s.dispatched(&id), 1, "{what}: {}", done.stdout);
    }
}

#[test]
fn a_commit_that_changes_only_the_wal_index_ends_the_skipping() {
    // A writer that never checkpoints, as another program may be.
    let writer = |w: &World| {
        let conn = rusqlite::Connection::open(&w.db).expect("open");
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
            .expect("no checkpoint on close");
        conn
    };
    let wal = |w: &World| fs::metadata(w.path("drafts.db-wal")).expect("wal");
    let s = Stage::new("");
    let id = parked(&s, 0);
    // An empty WAL, then a transaction spilled into it and rolled back: its frames stay in
    // the file, past the last commit.
    let conn = writer(&s.w);
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    spill_and_roll_back(&conn, 30, 3000);
    drop(conn);
    settle(&s);
    // A small commit overwrites the first of those frames: the WAL keeps its size, and with
    // its mtime put back, only the WAL index's record of the last commit tells.
    let before = wal(&s.w);
    writer(&s.w)
        .execute_batch(&approve_sql(&id))
        .expect("approve");
    let after = wal(&s.w);
    assert_eq!(after.len(), before.len(), "the commit fit in the rolled-back frames");
    fs::File::options()
        .write(true)
        .open(s.w.path("drafts.db-wal"))
        .and_then(|f| f.set_modified(before.modified()?))
        .expect("mtime put back");
    let (done, skipped) = run(&s);
    assert!(!skipped, "{}", done.stderr);
    assert_eq!(s.dispatched(&id), 1);
}

#[test]
fn a_draft_in_executing_not_yet_alerted_about_keeps_runs_opening_the_registry() {
    // No stand-ins needed: the draft never runs. A short stuck_after, so its alert falls due
    // within the test; the handler timeouts must be shorter still.
    let s = Stage::new("");
    write_private(
        &s.config,
        "[run]\nstuck_after = \"2s\"\n[github]\ntimeout = \"1s\"\n",
    );
    let id = parked(&s, 0);
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = CAST(strftime('%s') AS INTEGER)
         WHERE draft_id = '{id}'"
    ));
    never_skip(&s, 2, "its alert is still to come");
    std::thread::sleep(Duration::from_millis(2100));
    let (done, _) = run(&s);
    assert!(done.stderr.contains(&id), "the stuck alert names it: {}", done.stderr);
    assert_eq!(
        s.w.query(&format!("SELECT count(*) FROM stuck_alerts WHERE draft_id = '{id}'")),
        "1"
    );
    // Alerted: nothing more falls due, so runs skip again.
    settle(&s);
}

#[test]
fn a_draft_alerted_about_but_not_yet_past_stuck_after_keeps_runs_opening_the_registry() {
    // Alerted under a shorter stuck_after than now: the metrics count it as stuck once it
    // is past the new one, which no write announces.
    let s = Stage::new("");
    let id = parked(&s, 0);
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = CAST(strftime('%s') AS INTEGER)
           WHERE draft_id = '{id}';
         INSERT INTO stuck_alerts (draft_id, alerted_at) VALUES ('{id}', 1);"
    ));
    never_skip(&s, 2, "it falls past stuck_after with time");
}

#[test]
fn a_paused_cycle_leaves_no_mark() {
    let s = Stage::new(&thermal_config(1));
    s.ledger(3);
    s.run(&[]).ok();
    // More runs than a quiet registry needs to settle (a WAL truncated after the big write,
    // the index rebuilt over an empty WAL), so a mark would have been left by now.
    for done in never_skip(&s, 4, "the pause ends with time") {
        assert_eq!(done.json()["status"], "paused", "{}", done.stdout);
    }
}

#[test]
fn an_alert_waiting_for_its_retry_keeps_runs_opening_the_registry() {
    let s = Stage::new(
        "[notify]\nsmtp_url = \"smtp://127.0.0.1:1\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\ntimeout = \"2s\"\n",
    );
    s.w.approved("venture_kill", "{}", "{}");
    s.run(&[]).ok();
    assert_eq!(
        s.w.query("SELECT count(*) FROM alert_outbox WHERE delivered_at IS NULL"),
        "1",
        "the refusal's alert could not be sent"
    );
    never_skip(&s, 2, "its retry falls due with time");
}

#[test]
fn a_mark_that_is_stale_from_the_future_or_unreadable_is_not_trusted() {
    let s = Stage::new("");
    let mark = s.state_file("idle.json");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_secs()
            .cast_signed()
    };
    // Moves one of the mark's clocks: "at" (Unix time) or "boot_at" (time since boot).
    let shift = |clock: &str, to: &dyn Fn(i64) -> i64| {
        let mut doc: Value = serde_json::from_slice(&fs::read(&mark).expect("mark")).expect("JSON");
        doc[clock] = to(doc[clock].as_i64().expect("a time")).into();
        fs::write(&mark, doc.to_string()).expect("rewrite");
    };
    // The mark's time since boot is the machine's (/proc/uptime, whole seconds).
    settle(&s);
    let uptime: f64 = fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split_whitespace()
        .next()
        .and_then(|t| t.parse().ok())
        .expect("seconds");
    let doc: Value = serde_json::from_slice(&fs::read(&mark).expect("mark")).expect("JSON");
    let boot_at = doc["boot_at"].as_f64().expect("boot_at");
    assert!((boot_at - uptime).abs() < 5.0, "boot_at {boot_at}, uptime {uptime}");
    for (what, spoil) in [
        ("five minutes old", &(|| shift("at", &|_| now() - 300)) as &dyn Fn()),
        ("dated after now", &|| shift("at", &|_| now() + 60)),
        ("five minutes old by the time since boot", &|| shift("boot_at", &|t| t - 300)),
        ("dated after now by the time since boot", &|| shift("boot_at", &|t| t + 60)),
        ("not JSON", &|| fs::write(&mark, "{").expect("write")),
        ("of another version", &|| {
            let text = fs::read_to_string(&mark).expect("mark");
            fs::write(&mark, text.replace("\"version\":1", "\"version\":2")).expect("write");
        }),
    ] {
        settle(&s);
        spoil();
        let (done, skipped) = run(&s);
        assert!(!skipped, "a mark {what}: {}", done.stderr);
        let (done, skipped) = run(&s);
        assert!(skipped, "the full run left a fresh mark after one {what}: {}", done.stderr);
    }
}

#[test]
fn a_state_file_changed_under_the_mark_ends_the_skipping() {
    let s = Stage::new("");
    for name in ["thermal.json", "thermal-claims.jsonl", "unrecorded-outcomes.json"] {
        settle(&s);
        fs::write(s.state_file(name), "garbage").expect("plant");
        // Whatever the full cycle makes of the file (an unparseable outcome journal stops
        // it), it is a full cycle.
        let done = s.run(&["-v"]).output();
        assert!(!done.stderr.contains(SKIPPED), "{name}: {}", done.stderr);
        let _ = fs::remove_file(s.state_file(name));
    }
}

#[test]
fn a_registry_whose_wal_a_writer_removed_gets_no_mark_until_a_cycle_sees_it_back() {
    // A connection that is the last to close checkpoints and deletes `-wal` and `-shm`; the
    // database file's mtime would then be all that shows a write, and it can be too coarse.
    let s = Stage::new("");
    settle(&s);
    s.w.sql("SELECT 1");
    assert!(!s.w.path("drafts.db-wal").exists(), "the WAL was removed");
    let (done, skipped) = run(&s);
    assert!(!skipped, "{}", done.stderr);
    assert!(!s.state_file("idle.json").exists(), "no WAL before this cycle: no mark");
    settle(&s);
}

#[test]
fn a_writer_that_removes_the_wal_while_a_cycle_ends_leaves_no_mark_on_coarse_timestamps() {
    const TEST: &str =
        "idle::a_writer_that_removes_the_wal_while_a_cycle_ends_leaves_no_mark_on_coarse_timestamps";
    let Some(strace) = on_path("strace") else {
        return skip(TEST, "strace", "strace is not installed");
    };
    // ext4 with 128-byte inodes keeps whole seconds: a write in the same second as the one
    // before it leaves the database's mtime and ctime as they were.
    let Some(mount) = CoarseMount::new(TEST) else {
        return;
    };
    let mut w = World::on(Backend::Sqlite);
    w.db = mount.dir.join("drafts.db");
    w.cmd(&["keygen"]).ok();
    w.cmd(&["init"]).ok();
    let s = Stage::build(w, "", "");
    let id = parked(&s, 0);
    // The state files made, so that the summary's is the run's only rename below.
    s.run(&[]).ok();
    // Early in a second, so that everything below happens within it.
    let subsec = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .subsec_millis();
    std::thread::sleep(Duration::from_millis(u64::from(1050 - subsec)));
    // A write, by a connection that is the last to close: it checkpoints (the database file
    // written in this second) and removes `-wal` and `-shm`.
    s.w.sql(&format!(
        "UPDATE drafts SET updated_at = updated_at + 1 WHERE draft_id = '{id}'"
    ));
    assert!(!s.w.db.with_extension("db-wal").exists());
    // The summary's rename (an exchange, over the summary there) comes after the registry is
    // closed and before the second fingerprint: held there for 700 ms, while a writer
    // approves and closes, as an agent's short-lived connection does, removing the WAL again.
    let mut run = s.run(&["-v"]);
    let argv: Vec<_> = std::iter::once(run.cmd.get_program().to_owned())
        .chain(run.cmd.get_args().map(ToOwned::to_owned))
        .collect();
    let mut traced = std::process::Command::new(strace);
    traced
        .args(["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat2"])
        .args(["-e", "inject=rename,renameat2:delay_exit=700000"])
        .args(&argv)
        .env_clear()
        .envs(run.cmd.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))));
    run.cmd = traced;
    let started = std::time::Instant::now();
    let child = std::thread::spawn(move || run.ok());
    std::thread::sleep(Duration::from_millis(350));
    s.w.sql(&approve_sql(&id));
    let done = child.join().expect("the run");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "the run was not held at its rename: {}",
        done.stderr
    );
    assert_eq!(done.json()["status"], "idle", "the approval came after the cycle looked");
    assert!(
        !s.state_file("idle.json").exists(),
        "no WAL when the cycle began or ended: no mark"
    );
    s.run(&[]).ok();
    assert_eq!(s.dispatched(&id), 1);
}

/// A small ext4 with whole-second timestamps, loop-mounted (root only).
struct CoarseMount {
    dir: std::path::PathBuf,
    _root: tempfile::TempDir,
}

impl CoarseMount {
    fn new(test: &str) -> Option<CoarseMount> {
        let root = tempfile::tempdir().expect("temp dir");
        let image = root.path().join("fs.img");
        let dir = root.path().join("mnt");
        fs::create_dir(&dir).expect("mount point");
        fs::File::create(&image)
            .and_then(|f| f.set_len(16 << 20))
            .expect("image");
        let sh = |cmd: &mut std::process::Command| {
            cmd.output()
                .map_err(|e| e.to_string())
                .and_then(|o| match o.status.success() {
                    true => Ok(()),
                    false => Err(String::from_utf8_lossy(&o.stderr).trim().to_owned()),
                })
        };
        let made = sh(std::process::Command::new("mkfs.ext4")
            .args(["-q", "-F", "-I", "128"])
            .arg(&image))
        .and_then(|()| {
            sh(std::process::Command::new("mount")
                .args(["-o", "loop"])
                .arg(&image)
                .arg(&dir))
        });
        match made {
            Ok(()) => Some(CoarseMount { dir, _root: root }),
            Err(why) => {
                skip(test, "mount", &format!("cannot loop-mount an ext4 image: {why}"));
                None
            }
        }
    }
}

impl Drop for CoarseMount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
fn a_settings_change_ends_the_skipping() {
    let s = Stage::new("");
    settle(&s);
    // The default is 10: a value of the same length, so only the setting itself differs.
    s.write_config("[thermal]\nmax_actions = 11\n");
    let (done, skipped) = run(&s);
    assert!(!skipped, "{}", done.stderr);
}

#[test]
fn a_run_that_would_skip_still_refuses_a_second_name_for_the_registry() {
    let s = Stage::new("");
    settle(&s);
    fs::hard_link(&s.w.db, s.w.path("alias.db")).expect("link");
    s.run(&[]).fails_with(&["hard links"]);
}

#[test]
fn a_run_that_would_skip_is_skipped_while_another_state_directory_holds_the_registry() {
    let s = Stage::new("");
    settle(&s);
    let held = fs::File::open(&s.w.db).expect("open registry");
    held.try_lock().expect("lock the registry as a run would");
    assert_eq!(s.run(&[]).ok().json()["status"], "skipped");
    drop(held);
    let (done, skipped) = run(&s);
    assert!(skipped, "{}", done.stderr);
}

#[test]
fn a_cycle_that_wrote_to_the_registry_leaves_no_mark() {
    let s = Stage::new("");
    settle(&s);
    // An unusable sidecar: the cycle rebuilds the window and commits an alert about it.
    fs::write(s.state_file("thermal.json"), "garbage").expect("plant");
    let (done, _) = run(&s);
    assert!(done.stderr.contains("thermal"), "{}", done.stderr);
    assert!(
        !s.state_file("idle.json").exists(),
        "the registry changed while the cycle looked"
    );
    settle(&s);
}

#[test]
fn a_run_that_skips_writes_the_metrics_a_full_one_would() {
    let metrics = |s: &Stage| {
        fs::read_to_string(s.w.path("metrics.prom"))
            .expect("metrics")
            .lines()
            .filter(|l| !l.contains("_seconds") && !l.contains("cycles") && !l.contains("timestamp"))
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let s = Stage::new("");
    s.write_config(&format!(
        "[run]\nmetrics_file = \"{}\"\n",
        s.w.path("metrics.prom").display()
    ));
    // One draft stuck and alerted about, so the gauges are not all zero.
    let id = parked(&s, 0);
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = 1 WHERE draft_id = '{id}'"
    ));
    run(&s);
    let (_, skipped) = run(&s);
    assert!(!skipped);
    let full = metrics(&s);
    assert!(full.iter().any(|l| l.contains("stuck") && l.ends_with(" 1")), "{full:?}");
    let (_, skipped) = run(&s);
    assert!(skipped);
    assert_eq!(metrics(&s), full);
}
}
