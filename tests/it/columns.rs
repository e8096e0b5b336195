//! Any column of any row may hold anything: whoever can write the registry can also rewrite
//! its schema (dropping `NOT NULL` and the column types), so a reader meets every storage
//! class in every column. For each column of each table, each storage class is planted and
//! every reading command is run: none may fail or panic because of it. A draft that cannot
//! verify fails verification, as `run` already does.

use std::fs;
use std::path::{Path, PathBuf};

use crate::files::bounded;
use crate::harness::{Done, Run, assert_ok};
use crate::stage::Stage;

/// One value of each storage class, as SQL literals, with the edges that overflow arithmetic.
const VALUES: &[(&str, &str)] = &[
    ("NULL", "NULL"),
    ("INTEGER min", "-9223372036854775808"),
    ("INTEGER max", "9223372036854775807"),
    ("REAL", "-1.5e308"),
    ("TEXT, invalid UTF-8", "CAST(x'c328ff41' AS TEXT)"),
    ("BLOB", "x'00ff1b5b324a'"),
];

/// The registry with one draft in each interesting state, its schema loosened so any value
/// fits anywhere, checkpointed into one file that each case copies.
struct Base {
    s: Stage,
    template: Vec<u8>,
    /// Approved and valid: `run` would dispatch it.
    approved: String,
    /// Executing for an hour, claimed by a dead process, alerted about, with an attempt.
    executing: String,
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .expect("hostname")
        .trim()
        .to_owned()
}

fn boot_id() -> String {
    fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .expect("boot id")
        .trim()
        .to_owned()
}

/// Drops `NOT NULL` and the declared types (so no affinity converts what is planted), keeping
/// keys and the rowid alias `attempt_id`.
fn loosen(ddl: &str) -> String {
    let mut out = ddl.replace("NOT NULL", "");
    for ty in ["TEXT", "INTEGER"] {
        out = out.replace(&format!(" {ty} PRIMARY KEY AUTOINCREMENT"), " @KEEP@");
        out = out.replace(&format!(" {ty},"), ",");
        out = out.replace(&format!(" {ty} "), " ");
        out = out.replace(&format!(" {ty}\n"), "\n");
    }
    out.replace(" @KEEP@", " INTEGER PRIMARY KEY AUTOINCREMENT")
}

impl Base {
    fn new() -> Base {
        let s = Stage::new("");
        let completed = s.ledger(1).remove(0);
        s.run(&[]).ok();
        assert_eq!(s.w.status(&completed), "completed");
        let approved = s.ledger(1).remove(0);
        let executing = s.ledger(1).remove(0);
        s.w.draft("ledger_done", r#"{"led":"LED-9"}"#, r#"{"n":"pending"}"#);
        let now = crate::files::now();
        let hour_ago = now - 3600;
        s.w.sql(&format!(
            "UPDATE drafts SET status = 'executing', updated_at = {hour_ago} WHERE draft_id = '{executing}';
             INSERT INTO claims (draft_id, claimed_at, pid, host, boot_id, process_start)
                 VALUES ('{executing}', {hour_ago}, 4194000, '{host}', '{boot}', 12345);
             INSERT INTO stuck_alerts (draft_id, alerted_at) VALUES ('{executing}', {hour_ago});
             INSERT INTO attempts (draft_id, kind, outcome, reason, executed_url, attempted_at)
                 VALUES ('{executing}', 'verify', 'ok', NULL, NULL, {hour_ago});
             INSERT INTO db_meta (key, value) VALUES ('planted', 'x');",
            host = hostname(),
            boot = boot_id(),
        ));
        {
            let conn = rusqlite::Connection::open(&s.w.db).expect("open");
            let tables: Vec<(String, String)> = conn
                .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name IN ('drafts', 'attempts', 'claims', 'stuck_alerts', 'db_meta')")
                .expect("schema")
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .expect("schema rows")
                .collect::<Result<_, _>>()
                .expect("schema rows");
            assert_eq!(tables.len(), 5, "{tables:?}");
            let version: i64 = conn
                .query_row("PRAGMA schema_version", [], |r| r.get(0))
                .expect("schema_version");
            conn.execute_batch("PRAGMA writable_schema = ON")
                .expect("writable");
            for (name, ddl) in &tables {
                conn.execute(
                    "UPDATE sqlite_master SET sql = ?1 WHERE type = 'table' AND name = ?2",
                    (loosen(ddl), name),
                )
                .expect("rewrite schema");
            }
            conn.execute_batch(&format!(
                "PRAGMA schema_version = {}; PRAGMA writable_schema = OFF;",
                version + 1
            ))
            .expect("bump schema");
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                .expect("checkpoint");
        }
        let check = rusqlite::Connection::open(&s.w.db).expect("reopen");
        let ok: String = check
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity");
        assert_eq!(ok, "ok");
        let ddl: String = check
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'drafts'",
                [],
                |r| r.get(0),
            )
            .expect("ddl");
        assert!(!ddl.contains("NOT NULL") && !ddl.contains("TEXT"), "{ddl}");
        drop(check);
        let template = fs::read(&s.w.db).expect("template");
        Base {
            s,
            template,
            approved,
            executing,
        }
    }

    /// A fresh copy of the registry with `value` planted in `table.column`; `None` when SQLite
    /// itself cannot store it there (only integers fit the rowid alias `attempt_id`).
    fn plant(&self, table: &str, column: &str, value: &str, case: &Path) -> Option<PathBuf> {
        fs::create_dir_all(case).expect("case dir");
        let db = case.join("drafts.db");
        fs::write(&db, &self.template).expect("copy registry");
        let b = &self.executing;
        // Key columns take the value in one row only; the rest in every row.
        let only = match (table, column) {
            ("drafts", "draft_id") => format!("WHERE draft_id = '{b}'"),
            ("claims" | "stuck_alerts", "draft_id") => format!("WHERE draft_id = '{b}'"),
            ("attempts", "attempt_id") => {
                format!(
                    "WHERE attempt_id = (SELECT max(attempt_id) FROM attempts WHERE draft_id = '{b}')"
                )
            }
            ("db_meta", _) => "WHERE key = 'planted'".to_owned(),
            _ => String::new(),
        };
        let conn = rusqlite::Connection::open(&db).expect("open copy");
        // A writer of the file decides whether its foreign keys are enforced.
        conn.execute_batch("PRAGMA foreign_keys = OFF")
            .expect("foreign keys off");
        let planted = conn.execute(&format!("UPDATE {table} SET {column} = {value} {only}"), []);
        match planted {
            Ok(n) => assert!(n >= 1, "{table}.{column}: nothing planted"),
            Err(e) if e.to_string().contains("datatype mismatch") => return None,
            Err(e) => panic!("planting {value} in {table}.{column}: {e}"),
        }
        drop(conn);
        Some(db)
    }

    fn cmd(&self, args: &[&str], db: &Path, case: &Path) -> Run {
        self.s
            .w
            .cmd(args)
            .env("INBOX_EXEC_DB", db)
            .env("INBOX_EXEC_STATE_DIR", case.join("state"))
            .env("INBOX_EXEC_CONFIG", &self.s.config)
            .env("PATH", format!("{}:/usr/bin:/bin", self.s.bin.display()))
    }
}

fn columns_of(base: &Base, table: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(&base.s.w.db).expect("open");
    let mut stmt = conn
        .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
        .expect("columns");
    stmt.query_map([], |r| r.get(0))
        .expect("columns")
        .collect::<Result<_, _>>()
        .expect("columns")
}

/// Plants every value in every listed column of `table` and runs every reading command.
fn sweep(table: &str, pick: impl Fn(&str) -> bool) {
    let base = Base::new();
    let columns: Vec<String> = columns_of(&base, table)
        .into_iter()
        .filter(|c| pick(c))
        .collect();
    assert!(!columns.is_empty());
    let cases: Vec<(&String, usize)> = columns
        .iter()
        .flat_map(|c| (0..VALUES.len()).map(move |i| (c, i)))
        .collect();
    let failures = std::sync::Mutex::new(Vec::new());
    // The cases are independent (each has its own copy of the registry and its own state
    // dir) and mostly wait on fsync: a few at a time keeps the sweep short.
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(&(column, i)) = cases.get(n) else {
                        break;
                    };
                    let found = one_case(&base, table, column, i);
                    failures.lock().expect("failures").extend(found);
                }
            });
        }
    });
    let failures = failures.into_inner().expect("failures");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// One column, one value: every command, and what went wrong.
fn one_case(base: &Base, table: &str, column: &str, i: usize) -> Vec<String> {
    let (class, value) = VALUES[i];
    let case = base.s.w.path(&format!("case-{table}-{column}-{i}"));
    let Some(db) = base.plant(table, column, value, &case) else {
        return Vec::new();
    };
    let show_id = if (table, column) == ("drafts", "draft_id") {
        base.approved.clone()
    } else {
        base.executing.clone()
    };
    let commands: [(&[&str], &[i32]); 8] = [
        (&["status", "--check"], &[0, 4, 5, 6]),
        (&["--json", "status"], &[0]),
        (&["show", &show_id], &[0]),
        (&["verify"], &[0, 3]),
        (&["verify", "--all"], &[0, 3]),
        (&["reconcile"], &[0]),
        (&["run", "--dry-run"], &[0]),
        (&["run"], &[0]),
    ];
    let mut failures = Vec::new();
    for (args, codes) in commands {
        let what = format!("{table}.{column} = {class}: `{}`", args.join(" "));
        let done: Done = bounded(base.cmd(args, &db, &case), &what);
        // attempt_id at its maximum leaves AUTOINCREMENT nothing to give: no attempt can be
        // recorded, so the claim fails before any side effect. That run may fail, as long as
        // the draft stays approved.
        let exhausted = (table, column, class, args)
            == ("attempts", "attempt_id", "INTEGER max", &["run"][..])
            && done.code == 1
            && done.stderr.contains("it stays approved");
        if exhausted {
            continue;
        }
        if !codes.contains(&done.code) || done.stderr.contains("panicked") {
            failures.push(format!(
                "{what}: exit {}: {}",
                done.code,
                done.stderr.trim()
            ));
        }
    }
    let _ = fs::remove_dir_all(&case);
    failures
}

const SIGNED: &[&str] = &[
    "draft_id",
    "draft_kind",
    "target_json",
    "payload_json",
    "issued_at",
    "key_version",
    "schema_version",
    "content_hash",
    "signature",
];

#[test]
fn any_value_in_a_signed_drafts_column_is_read_by_every_command() {
    sweep("drafts", |c| SIGNED.contains(&c));
}

#[test]
fn any_value_in_an_unsigned_drafts_column_is_read_by_every_command() {
    sweep("drafts", |c| !SIGNED.contains(&c));
}

#[test]
fn any_value_in_any_attempts_column_is_read_by_every_command() {
    sweep("attempts", |_| true);
}

#[test]
fn any_value_in_any_claims_column_is_read_by_every_command() {
    sweep("claims", |_| true);
}

#[test]
fn any_value_in_stuck_alerts_or_an_unrelated_db_meta_row_is_read_by_every_command() {
    sweep("stuck_alerts", |_| true);
    sweep("db_meta", |_| true);
}

#[test]
fn a_schema_version_that_is_not_a_number_is_refused_by_name_and_a_huge_one_is_not_echoed() {
    let base = Base::new();
    for (class, value) in VALUES {
        let case = base.s.w.path("case-meta");
        let _ = fs::remove_dir_all(&case);
        fs::create_dir_all(&case).expect("case");
        let db = case.join("drafts.db");
        fs::write(&db, &base.template).expect("copy");
        let conn = rusqlite::Connection::open(&db).expect("open");
        conn.execute(
            &format!("UPDATE db_meta SET value = {value} WHERE key = 'db_schema_version'"),
            [],
        )
        .expect("plant");
        drop(conn);
        for args in [&["status"][..], &["run"], &["verify", "--all"]] {
            let done = bounded(base.cmd(args, &db, &case), class);
            assert_eq!(done.code, 1, "{class} `{}`: {done:?}", args.join(" "));
            assert!(
                done.stderr.contains("db_schema_version") && !done.stderr.contains("panicked"),
                "{class}: the refusal names the db_meta key:\n{}",
                done.stderr
            );
        }
    }
    // A version stored as an INTEGER is still a version.
    let case = base.s.w.path("case-meta-int");
    fs::create_dir_all(&case).expect("case");
    let db = case.join("drafts.db");
    fs::write(&db, &base.template).expect("copy");
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "UPDATE db_meta SET value = 1 WHERE key = 'db_schema_version'",
        [],
    )
    .expect("plant");
    drop(conn);
    let done = bounded(base.cmd(&["status"], &db, &case), "integer version");
    assert!(
        done.code == 0 && done.stderr.is_empty(),
        "an INTEGER version 1 is read quietly: {done:?}"
    );
    // A megabyte of junk is refused without being echoed back whole.
    let conn = rusqlite::Connection::open(&db).expect("open");
    conn.execute(
        "UPDATE db_meta SET value = printf('%.*c', 1000000, 'x') WHERE key = 'db_schema_version'",
        [],
    )
    .expect("plant");
    drop(conn);
    let done = bounded(base.cmd(&["status"], &db, &case), "huge version");
    assert_eq!(done.code, 1);
    assert!(
        done.stderr.len() < 2000,
        "the error echoes {} bytes",
        done.stderr.len()
    );
}

/// Parsing a draft's JSON costs far more memory than its text (a value per number: a
/// 10 MB array of small numbers took 1 GB), so a row that whoever writes the registry made
/// huge could run the executor out of memory. It aborted the run while it verified the next
/// draft, with the outcome of the one it had just dispatched still in hand: that draft stayed
/// in `executing`, its comment posted. A JSON column with more values than the limit is
/// refused as soon as the parser counts past it.
#[test]
fn a_json_column_of_millions_of_values_is_refused_before_it_takes_the_memory() {
    let s = Stage::new("");
    let ids = s.ledger(2);
    let conn = rusqlite::Connection::open(&s.w.db).expect("open");
    conn.execute(
        "UPDATE drafts SET payload_json =
             '{\"pad\": [' || replace(printf('%.*c', 5000000, 'x'), 'x', '1,') || '1]}'
         WHERE draft_id = ?1",
        [&ids[1]],
    )
    .expect("plant a 10 MB payload");
    drop(conn);
    // Well above what the run needs, far below what parsing that payload would take.
    let out = s
        .run(&[])
        .through(&["sh", "-c", "ulimit -v 400000 && exec \"$0\" \"$@\""])
        .output()
        .expect("run inbox-exec");

    assert_ok(&out);
    assert_eq!(s.w.status(&ids[0]), "completed");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let refused = crate::harness::outcome_of(&doc, &ids[1]);
    assert_eq!(refused["outcome"], "verify_failed", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("more than 100000 values")),
        "{refused}"
    );
}
