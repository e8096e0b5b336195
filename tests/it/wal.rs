//! What a process leaves behind for the next one (issue 11): every process rebuilds the WAL
//! index by reading the whole WAL, so no WAL may stay large; and a cycle that changed nothing
//! does not rewrite the thermal sidecar.

use std::fs;
use std::os::unix::fs::MetadataExt;

use rusqlite::config::DbConfig;
use serde_json::Value;

use crate::harness::World;
use crate::stage::{Stage, TARGET};

const MIB: u64 = 1024 * 1024;

fn wal_len(w: &World) -> u64 {
    let mut wal = w.db.clone().into_os_string();
    wal.push("-wal");
    fs::metadata(&wal).map(|m| m.len()).unwrap_or(0)
}

/// The frames a new process finds in the WAL, as SQLite counts them while rebuilding its
/// index (a restarted WAL holds fewer than its file's size). The connection never
/// checkpoints, so it changes nothing.
fn wal_frames(w: &World) -> i64 {
    let conn = rusqlite::Connection::open(&w.db).expect("open registry");
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .expect("no checkpoint on close");
    conn.query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| r.get(1))
        .expect("count WAL frames")
}

/// Inserts `rows` finished drafts with 150-character ids (so that an index on `draft_id` is
/// large) through a connection that never checkpoints, as another program may: every page it
/// writes stays in the WAL.
fn write_without_checkpoints(w: &World, rows: usize) {
    let mut conn = rusqlite::Connection::open(&w.db).expect("open registry");
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .expect("no checkpoint on close");
    conn.pragma_update(None, "wal_autocheckpoint", 0)
        .expect("no automatic checkpoint");
    let first: i64 = conn
        .query_row("SELECT count(*) FROM drafts", [], |r| r.get(0))
        .expect("count drafts");
    let rows = i64::try_from(rows).expect("small");
    let tx = conn.transaction().expect("begin");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                     key_version, schema_version, content_hash, signature, status,
                     created_at, updated_at)
                 VALUES (?1, 'github_comment', '{}', '{}', 1, 1, 'v1', 'h', 's', 'completed', ?2, ?2)",
            )
            .expect("prepare");
        for i in first..first + rows {
            insert.execute((format!("{i:0>150}"), i)).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// Leaves a WAL between the two bounds: one a cycle keeps, and a command that writes
/// restarts.
fn a_wal_only_a_cycle_keeps(w: &World) {
    write_without_checkpoints(w, 2_500);
    let start = wal_len(w);
    assert!(
        (MIB / 4..4 * MIB).contains(&start),
        "the WAL to start from: {start}"
    );
}

#[test]
fn an_idle_run_truncates_a_large_wal_another_program_left() {
    let w = World::ready();
    write_without_checkpoints(&w, 20_000);
    assert!(
        wal_len(&w) > 4 * MIB,
        "the WAL to start from: {}",
        wal_len(&w)
    );

    let doc = w.cmd(&["run", "--json"]).ok().json();

    assert_eq!(doc["status"], "idle");
    assert_eq!(wal_len(&w), 0, "an idle run leaves the WAL empty");
    assert_eq!(w.query("SELECT count(*) FROM drafts"), "20000");
}

/// What a cycle keeps, the processes that only read leave for the next command to restart:
/// the first idle run after a dispatching cycle, and the `status` a monitor runs after
/// every cycle. Truncating it there would cost them fsyncs, and the next cycle would grow
/// the file again instead of writing over it.
#[test]
fn an_idle_run_and_status_leave_a_wal_a_cycle_keeps() {
    let w = World::ready();
    a_wal_only_a_cycle_keeps(&w);
    let (size, frames) = (wal_len(&w), wal_frames(&w));

    assert_eq!(w.cmd(&["run", "--json"]).ok().json()["status"], "idle");
    w.cmd(&["status"]).ok();

    assert_eq!(wal_len(&w), size);
    assert_eq!(wal_frames(&w), frames);
}

/// A run that wrote keeps a WAL under a writer's bound: the next writer reuses it, and
/// truncating it after every write would cost fsyncs every cycle.
#[test]
fn a_run_that_wrote_keeps_a_wal_under_a_writers_bound() {
    let s = Stage::new("");
    // Approved first: `draft new` and `approve` restart the WAL as they close.
    s.ledger(1);
    a_wal_only_a_cycle_keeps(&s.w);

    assert_eq!(s.run(&[]).ok().json()["status"], "ran");

    let left = wal_len(&s.w);
    assert!(
        (MIB / 4..4 * MIB).contains(&left),
        "a writer's WAL of {left} bytes"
    );
}

/// Only a cycle keeps its WAL: a command a person or an agent runs (here a draft, then its
/// approval) checkpoints one a cycle would keep, so that the cycle after it does not read its
/// frames again while rebuilding the WAL index; and restarts it in place, keeping the file,
/// so that the cycle's commits overwrite it instead of growing it.
#[test]
fn a_command_that_wrote_restarts_a_wal_a_cycle_would_keep() {
    let w = World::ready();
    a_wal_only_a_cycle_keeps(&w);
    let size = wal_len(&w);

    let id = w.draft("github_comment", TARGET, r#"{"body": "hi"}"#);
    assert_eq!(wal_frames(&w), 1, "`draft new` leaves one frame");
    assert!(wal_len(&w) >= size, "`draft new` keeps the file");
    // What a process that writes nothing judges is the frames, not the file's size: an idle
    // run (the draft is pending) leaves the restarted WAL's file for the next cycle.
    let size = wal_len(&w);
    assert_eq!(w.cmd(&["run", "--json"]).ok().json()["status"], "idle");
    assert_eq!(
        wal_len(&w),
        size,
        "an idle run keeps a restarted WAL's file"
    );
    write_without_checkpoints(&w, 2_500);
    w.cmd(&["approve", &id]).ok();

    assert_eq!(wal_frames(&w), 1, "`approve` leaves one frame");
    assert_eq!(w.status(&id), "approved");
}

/// The cycle after such a command writes over the file it kept: the file does not grow.
#[test]
fn a_cycle_overwrites_the_wal_a_command_restarted() {
    let s = Stage::new("");
    a_wal_only_a_cycle_keeps(&s.w);
    s.ledger(3);
    let size = wal_len(&s.w);
    let before = wal_frames(&s.w);
    assert!(before < 64, "the commands left few frames: {before}");

    assert_eq!(s.run(&[]).ok().json()["processed"], 3);

    assert_eq!(wal_len(&s.w), size, "the cycle wrote within the file");
    let after = wal_frames(&s.w);
    assert!(
        after > before,
        "the cycle's commits are in the WAL: {after} frames"
    );
}

#[test]
fn a_migration_that_rewrites_an_index_leaves_no_large_wal() {
    let w = World::ready();
    write_without_checkpoints(&w, 40_000);
    // Back to a registry as the reference keeps it: without inbox-exec's migrations, so the
    // next open builds idx_drafts_status_created over 40,000 long ids. This connection
    // checkpoints on close, so the migration starts from an empty WAL.
    w.sql(
        "DROP INDEX idx_drafts_status_created;
         DELETE FROM db_meta WHERE key = 'inbox_exec_schema_version';
         PRAGMA wal_checkpoint(TRUNCATE);",
    );
    assert_eq!(wal_len(&w), 0);

    w.cmd(&["init"]).ok();

    let left = wal_len(&w);
    assert!(left <= 4 * MIB, "init left a WAL file of {left} bytes");
    assert_eq!(wal_frames(&w), 1, "init left one frame to read");
    assert_eq!(
        w.query("SELECT count(*) FROM sqlite_master WHERE name = 'idx_drafts_status_created'"),
        "1"
    );
}

#[test]
fn a_cycle_that_changes_nothing_leaves_the_thermal_sidecar_alone() {
    let s = Stage::new("");
    let sidecar = s.w.state.join("thermal.json");
    let summary = s.w.state.join("last-run.json");
    s.run(&[]).ok();
    let first = fs::metadata(&sidecar).expect("sidecar").ino();

    let doc = s.run(&[]).ok().json();

    assert_eq!(doc["status"], "idle");
    assert_eq!(
        fs::metadata(&sidecar).expect("sidecar").ino(),
        first,
        "an idle cycle rewrote the sidecar"
    );
    let totals: Value =
        serde_json::from_slice(&fs::read(&summary).expect("summary")).expect("JSON");
    assert_eq!(
        totals["totals"]["cycles"], 2,
        "the summary is still written every cycle"
    );

    s.w.approved("github_comment", TARGET, r#"{"body":"hello"}"#);
    s.run(&[]).ok();

    assert_ne!(fs::metadata(&sidecar).expect("sidecar").ino(), first);
    let thermal: Value =
        serde_json::from_slice(&fs::read(&sidecar).expect("sidecar")).expect("JSON");
    assert_eq!(
        thermal["actions"].as_array().expect("actions").len(),
        1,
        "the dispatching cycle saved its claim: {thermal}"
    );
}
