//! The draft commands: keygen, init, draft new, approve, cancel, expire, show, verify, and
//! what each does with bad input.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{World, mode};

const TARGET: &str = r#"{"repo":"octo-org/demo","issue":42}"#;
const PAYLOAD: &str = r#"{"body":"Thanks for the report."}"#;

#[test]
fn keygen_creates_a_private_key_and_never_overwrites_it() {
    let w = World::new();
    let out = w.cmd(&["keygen"]).ok();
    assert!(out.stdout.contains("created HMAC key"), "{}", out.stdout);
    assert_eq!(mode(&w.key), 0o600);
    let key = fs::read(&w.key).expect("key");
    assert_eq!(key.len(), 32);
    w.cmd(&["keygen"])
        .fails_with(&["already exists", "never overwrites"]);
    assert_eq!(fs::read(&w.key).expect("key"), key, "the key was replaced");
}

#[test]
fn keygen_refuses_to_write_through_a_symlink() {
    let w = World::new();
    let victim = w.path("victim");
    fs::write(&victim, "precious").expect("victim");
    std::os::unix::fs::symlink(&victim, &w.key).expect("symlink");
    w.cmd(&["keygen"]).fails_with(&["already exists"]);
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "precious");
}

#[test]
fn default_paths_follow_the_reference_layout() {
    let w = World::new();
    let out = w.bare(&["keygen"]).output().expect("run");
    assert!(out.status.success(), "{out:?}");
    assert!(
        w.home
            .join(".delimit/secrets/inbox-executor-hmac.key")
            .is_file()
    );
    let out = w.bare(&["init"]).output().expect("run");
    assert!(out.status.success(), "{out:?}");
    assert!(w.home.join(".delimit/drafts.db").is_file());
}

#[test]
fn a_new_draft_is_signed_inserted_as_pending_and_verifies() {
    let w = World::ready();
    let id = w.draft("github_comment", TARGET, PAYLOAD);
    assert_eq!(id.len(), 26, "a ULID: {id}");
    assert_eq!(w.status(&id), "pending");
    // Stored the way the reference stores it: json.dumps(sort_keys=True).
    assert_eq!(
        w.query(&format!(
            "SELECT target_json FROM drafts WHERE draft_id = '{id}'"
        )),
        r#"{"issue": 42, "repo": "octo-org/demo"}"#
    );
    let out = w.cmd(&["verify", &id, "--json"]).ok().json();
    assert_eq!(out[0]["ok"], true);
    assert_eq!(out[0]["reason"], "ok");
    assert_eq!(
        out[0]["content_hash"],
        w.query(&format!(
            "SELECT content_hash FROM drafts WHERE draft_id = '{id}'"
        ))
        .as_str()
    );
}

#[test]
fn draft_new_json_names_the_id() {
    let w = World::ready();
    let out = w
        .cmd(&[
            "draft",
            "new",
            "--json",
            "--kind",
            "ledger_done",
            "--target",
            "{}",
            "--payload",
            "[1.5, 2]",
        ])
        .ok()
        .json();
    let id = out["draft_id"].as_str().expect("draft_id");
    assert_eq!(w.status(id), "pending");
}

#[test]
fn malformed_json_is_refused_and_nothing_is_inserted() {
    let w = World::ready();
    w.cmd(&[
        "draft",
        "new",
        "--kind",
        "github_comment",
        "--target",
        "{repo:",
        "--payload",
        PAYLOAD,
    ])
    .fails_with(&["--target is not valid JSON"]);
    w.cmd(&[
        "draft",
        "new",
        "--kind",
        "github_comment",
        "--target",
        TARGET,
        "--payload",
        r#"{"x": NaN}"#,
    ])
    .fails_with(&["--payload is not valid JSON", "NaN"]);
    assert_eq!(w.query("SELECT count(*) FROM drafts"), "0");
}

#[test]
fn approve_verifies_afresh_and_moves_only_pending_drafts() {
    let w = World::ready();
    let id = w.draft("github_comment", TARGET, PAYLOAD);
    let out = w.cmd(&["approve", &id, "--json"]).ok().json();
    assert_eq!(out["status"], "approved");
    assert_eq!(w.status(&id), "approved");
    w.cmd(&["approve", &id])
        .fails_with(&[&id, "is approved, not pending"]);
    w.cmd(&["cancel", &id])
        .fails_with(&["is approved, not pending"]);
    assert_eq!(w.status(&id), "approved");
}

#[test]
fn approve_refuses_every_draft_that_does_not_verify_and_it_stays_pending() {
    let w = World::ready();
    let now = inbox_exec::unix_now();
    let tampered = w.draft("github_comment", TARGET, PAYLOAD);
    w.sql(&format!(
        r#"UPDATE drafts SET payload_json = '{{"body": "attacker text"}}' WHERE draft_id = '{tampered}'"#
    ));
    let forged = w.draft("github_comment", TARGET, PAYLOAD);
    w.sql(&format!(
        "UPDATE drafts SET signature = '{}' WHERE draft_id = '{forged}'",
        "0".repeat(64)
    ));
    let other_key = w.path("other.key");
    let other = other_key.to_str().expect("utf8");
    w.cmd(&["keygen", "--key", other]).ok();
    let foreign = w
        .cmd(&[
            "draft",
            "new",
            "--key",
            other,
            "--kind",
            "k",
            "--target",
            "{}",
            "--payload",
            "{}",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    let expired = w.draft_at("k", "{}", "{}", now - 86_401);
    let future = w.draft_at("k", "{}", "{}", now + 3600);
    let good = w.draft("k", "{}", "{}");
    for (id, reason) in [
        (&tampered, "content_hash mismatch (record was tampered)"),
        (&forged, "signature mismatch (HMAC failed)"),
        (&foreign, "signature mismatch (HMAC failed)"),
        (&expired, "draft expired (TTL elapsed)"),
        (&future, "issued_at is in the future"),
    ] {
        let before = w.dump();
        w.cmd(&["approve", id]).fails_with(&[
            &format!("draft {id} does not verify ("),
            reason,
            "stays pending",
        ]);
        assert_eq!(w.status(id), "pending", "{reason}");
        assert!(
            w.dump() == before,
            "{reason}: a refused approval changed the registry"
        );
    }
    let out = w.cmd(&["verify", &tampered]).code(3);
    assert!(out.stdout.contains("FAILED"), "{}", out.stdout);
    // The control: the same command approves a draft that verifies.
    w.cmd(&["approve", &good]).ok();
    assert_eq!(w.status(&good), "approved");
}

#[test]
fn approve_allows_a_minute_of_clock_skew_and_a_draft_to_the_end_of_its_ttl() {
    let w = World::ready();
    let now = inbox_exec::unix_now();
    let ahead = w.draft_at("k", "{}", "{}", now + 30);
    let too_far = w.draft_at("k", "{}", "{}", now + 90);
    let nearly_expired = w.draft_at("k", "{}", "{}", now - 86_400 + 30);
    for id in [&ahead, &nearly_expired] {
        w.cmd(&["approve", id]).ok();
        assert_eq!(w.status(id), "approved");
    }
    w.cmd(&["approve", &too_far])
        .fails_with(&["issued_at is in the future"]);
}

#[test]
fn cancel_moves_a_pending_draft_to_cancelled() {
    let w = World::ready();
    let id = w.draft("github_comment", TARGET, PAYLOAD);
    w.cmd(&["cancel", &id]).ok();
    assert_eq!(w.status(&id), "cancelled");
}

#[test]
fn expire_marks_only_pending_drafts_older_than_the_ttl() {
    let w = World::ready();
    let stale = w.draft_at("k", "{}", "{}", inbox_exec::unix_now() - 2 * 86_400);
    let fresh = w.draft_at("k", "{}", "{}", inbox_exec::unix_now() - 3600);
    let out = w.cmd(&["expire", "--json"]).ok().json();
    assert_eq!(out["expired"], 1);
    assert_eq!(w.status(&stale), "expired");
    assert_eq!(w.status(&fresh), "pending");
    // A shorter TTL from the environment expires the hour-old one too.
    w.cmd(&["expire"]).env("INBOX_EXEC_TTL", "30m").ok();
    assert_eq!(w.status(&fresh), "expired");
}

#[test]
fn show_prints_the_draft_and_its_attempts() {
    let w = World::ready();
    let id = w.approved("github_comment", TARGET, PAYLOAD);
    w.sql(&format!(
        "INSERT INTO attempts (draft_id, kind, outcome, reason, attempted_at) VALUES ('{id}', 'verify', 'ok', NULL, 5)"
    ));
    let doc = w.cmd(&["show", &id, "--json"]).ok().json();
    assert_eq!(doc["draft_id"], id.as_str());
    assert_eq!(doc["status"], "approved");
    assert_eq!(doc["target"]["repo"], "octo-org/demo");
    assert_eq!(doc["payload"]["body"], "Thanks for the report.");
    assert_eq!(doc["attempts"][0]["kind"], "verify");
    assert_eq!(doc["attempts"][0]["attempted_at"], 5);
    let text = w.cmd(&["show", &id]).ok().stdout;
    assert!(
        text.contains("approved") && text.contains("attempts:"),
        "{text}"
    );
}

#[test]
fn an_unknown_draft_id_is_named() {
    let w = World::ready();
    for cmd in ["show", "approve", "cancel", "verify"] {
        w.cmd(&[cmd, "01NOSUCHDRAFT0000000000000"])
            .fails_with(&["no draft 01NOSUCHDRAFT0000000000000"]);
    }
}

#[test]
fn a_row_with_malformed_json_gets_its_own_verdict_and_others_are_unaffected() {
    let w = World::ready();
    let good = w.approved("github_comment", TARGET, PAYLOAD);
    let bad = w.approved("github_comment", TARGET, PAYLOAD);
    w.sql(&format!(
        "UPDATE drafts SET target_json = '{{\"repo\": ' WHERE draft_id = '{bad}'"
    ));
    let out = w.cmd(&["verify", "--json"]).code(3).json();
    let verdict = |id: &str| {
        out.as_array()
            .expect("array")
            .iter()
            .find(|v| v["draft_id"] == id)
            .cloned()
            .expect("verdict")
    };
    assert_eq!(verdict(&good)["ok"], true);
    assert_eq!(verdict(&bad)["ok"], false);
    assert!(
        verdict(&bad)["reason"]
            .as_str()
            .expect("reason")
            .contains("target_json is not valid JSON"),
        "{out}"
    );
    assert_eq!(verdict(&bad)["content_hash"], serde_json::Value::Null);
    let doc = w.cmd(&["show", &bad, "--json"]).ok().json();
    assert!(doc["target_error"].is_string(), "{doc}");
}

sqlite_only! {
#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_alone() {
    let w = World::new();
    w.cmd(&["keygen"]).ok();
    for content in [&b"hello, this is a text file"[..], b""] {
        fs::write(&w.db, content).expect("write");
        for args in [
            &["init"][..],
            &["verify"],
            &[
                "draft",
                "new",
                "--kind",
                "k",
                "--target",
                "{}",
                "--payload",
                "{}",
            ],
        ] {
            w.cmd(args)
                .fails_with(&["is not a SQLite database", "not modified"]);
        }
        assert_eq!(fs::read(&w.db).expect("read"), content);
        assert!(!w.path("drafts.db-wal").exists());
    }
}
}

sqlite_only! {
#[test]
fn a_missing_registry_is_not_created_by_read_commands() {
    let w = World::new();
    w.cmd(&["verify"])
        .fails_with(&["does not exist", "inbox-exec init"]);
    w.cmd(&["show", "x"]).fails_with(&["does not exist"]);
    assert!(!w.db.exists());
}
}

#[test]
fn a_missing_key_is_named_and_not_created() {
    let w = World::new();
    w.cmd(&["init"]).ok();
    w.draft_new("k").fails_with(&["does not exist", "keygen"]);
    assert!(!w.key.exists(), "the key must never be created implicitly");
}

#[test]
fn a_key_others_can_read_is_refused_with_the_fix() {
    let w = World::ready();
    let id = w.draft("k", "{}", "{}");
    fs::set_permissions(&w.key, fs::Permissions::from_mode(0o644)).expect("chmod");
    w.cmd(&["verify", &id])
        .fails_with(&["accessible by group or others", "chmod 600"]);
    w.cmd(&["approve", &id]).fails_with(&["chmod 600"]);
    assert_eq!(w.status(&id), "pending");
}

#[test]
fn an_empty_key_or_a_directory_is_refused() {
    let w = World::ready();
    let id = w.draft("k", "{}", "{}");
    fs::remove_file(&w.key).expect("rm");
    fs::write(&w.key, b"").expect("empty");
    fs::set_permissions(&w.key, fs::Permissions::from_mode(0o600)).expect("chmod");
    w.cmd(&["verify", &id]).fails_with(&["not a usable key"]);
    fs::remove_file(&w.key).expect("rm");
    fs::create_dir(&w.key).expect("dir");
    fs::set_permissions(&w.key, fs::Permissions::from_mode(0o700)).expect("chmod");
    w.cmd(&["verify", &id]).fails_with(&["not a regular file"]);
}

#[test]
fn a_key_file_over_64_kib_is_refused_and_one_of_64_kib_is_read() {
    let w = World::ready();
    let id = w.draft("k", "{}", "{}");
    for (len, usable) in [(64 * 1024 + 1, false), (64 * 1024, true)] {
        fs::remove_file(&w.key).expect("rm");
        fs::write(&w.key, vec![7u8; len]).expect("key");
        fs::set_permissions(&w.key, fs::Permissions::from_mode(0o600)).expect("chmod");
        if usable {
            // Another key: the draft reads, and fails only its signature.
            w.cmd(&["verify", &id]).code(3);
        } else {
            w.cmd(&["verify", &id])
                .fails_with(&["not a usable key", &len.to_string()]);
        }
    }
}

#[test]
fn verify_exits_zero_only_when_every_draft_verifies() {
    let w = World::ready();
    let a = w.draft("k", "{}", "{}");
    w.cmd(&["verify"]).ok();
    w.cmd(&["verify", &a]).ok();
    let b = w.draft_at("k", "{}", "{}", inbox_exec::unix_now() + 3600);
    let out = w.cmd(&["verify", &a, &b, "--json"]).code(3).json();
    assert_eq!(out[1]["reason"], "issued_at is in the future");
    // As of two hours from now, both are fine.
    let later = (inbox_exec::unix_now() + 7200).to_string();
    w.cmd(&["verify", &a, &b, "--now", &later]).ok();
}

// A REAL in an INTEGER column is a SQLite storage class; PostgreSQL's column refuses it.
sqlite_only! {
#[test]
fn a_fractional_issued_at_is_judged_by_its_exact_value() {
    // Another tool may store a float time; the column's INTEGER affinity keeps a fraction
    // as REAL. Its age is checked before its hash, so the verdict shows where it falls.
    let w = World::ready();
    let id = w.draft("k", "{}", "{}");
    let issued: i64 = w
        .query(&format!(
            "SELECT issued_at FROM drafts WHERE draft_id = '{id}'"
        ))
        .parse()
        .expect("an integer");
    w.sql(&format!(
        "UPDATE drafts SET issued_at = issued_at + 0.5 WHERE draft_id = '{id}'"
    ));
    assert_eq!(
        w.query(&format!(
            "SELECT typeof(issued_at) FROM drafts WHERE draft_id = '{id}'"
        )),
        "real"
    );
    let ttl = 86_400;
    for (now, reason) in [
        (issued - 60, "issued_at is in the future"),
        (issued - 59, "content_hash mismatch (record was tampered)"),
        (issued + ttl, "content_hash mismatch (record was tampered)"),
        (issued + ttl + 1, "draft expired (TTL elapsed)"),
    ] {
        let out = w
            .cmd(&["verify", &id, "--json", "--now", &now.to_string()])
            .code(3)
            .json();
        assert_eq!(
            out[0]["reason"],
            reason,
            "now = issued_at {:+}",
            now - issued
        );
    }
}
}

#[test]
fn global_options_work_after_the_subcommand() {
    let w = World::new();
    let db = w.path("elsewhere.db");
    w.bare(&["init", "--db", db.to_str().expect("utf8"), "-q"])
        .output()
        .expect("run");
    assert!(db.is_file());
}

sqlite_only! {
#[test]
fn a_new_registry_has_the_reference_schema() {
    let w = World::ready();
    let conn = rusqlite::Connection::open(&w.db).expect("open");
    let meta: String = conn
        .query_row(
            "SELECT value FROM db_meta WHERE key = 'db_schema_version'",
            [],
            |r| r.get(0),
        )
        .expect("db_schema_version");
    assert_eq!(meta, "1");
    // Immutable: the fixture must not change, and whoever runs this may not be able to write
    // its directory (a WAL database opened read-only would still want a -shm there).
    let reference = rusqlite::Connection::open_with_flags(
        concat!(
            "file:",
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/conformance/drafts.db?immutable=1"
        ),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_URI,
    )
    .expect("reference db");
    for table in ["drafts", "attempts", "db_meta"] {
        let columns = |c: &rusqlite::Connection| -> Vec<(String, String, i64, i64)> {
            let mut stmt = c
                .prepare(&format!(
                    "SELECT name, type, \"notnull\", pk FROM pragma_table_info('{table}')"
                ))
                .expect("prepare");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        assert_eq!(columns(&conn), columns(&reference), "table {table}");
    }
    let journal: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal");
    assert_eq!(journal, "wal");
    assert_eq!(mode(&w.db), 0o600);
}
}

#[test]
fn a_registry_from_a_newer_schema_is_refused() {
    let w = World::ready();
    w.sql("UPDATE db_meta SET value = '9' WHERE key = 'db_schema_version'");
    w.cmd(&["verify"])
        .fails_with(&["newer program", "db_schema_version = 9"]);
}

mod config {
    use super::*;

    fn write_config(w: &World, body: &str) -> std::path::PathBuf {
        let path = w.path("config.toml");
        fs::write(&path, body).expect("config");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    #[test]
    fn unknown_keys_are_errors() {
        let w = World::new();
        let path = write_config(&w, "db = \"x.db\"\nbatchh = 3\n");
        w.cmd(&["init", "--config", path.to_str().expect("utf8")])
            .fails_with(&["config.toml", "batchh"]);
    }

    #[test]
    fn a_config_others_can_write_is_refused() {
        let w = World::new();
        let path = write_config(&w, "");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o666)).expect("chmod");
        w.cmd(&["init"])
            .env("INBOX_EXEC_CONFIG", &path)
            .fails_with(&["writable by group or others", "chmod go-w"]);
    }

    #[test]
    fn flags_beat_environment_beats_file() {
        let w = World::new();
        let path = write_config(&w, "db = \"from-file.db\"\n");
        // File only (relative paths are relative to the config file).
        w.cmd(&["init"])
            .env_remove("INBOX_EXEC_DB")
            .env("INBOX_EXEC_CONFIG", &path)
            .ok();
        assert!(w.path("from-file.db").is_file());
        // Environment over file.
        w.cmd(&["init"])
            .env("INBOX_EXEC_DB", w.path("from-env.db"))
            .env("INBOX_EXEC_CONFIG", &path)
            .ok();
        assert!(w.path("from-env.db").is_file());
        // Flag over environment.
        let flag = w.path("from-flag.db");
        w.cmd(&["init", "--db", flag.to_str().expect("utf8")])
            .env("INBOX_EXEC_CONFIG", &path)
            .ok();
        assert!(flag.is_file());
    }

    #[test]
    fn the_xdg_config_file_is_found() {
        let w = World::new();
        let dir = w.home.join(".config/inbox-exec");
        fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.toml");
        fs::write(&path, format!("db = \"{}\"\n", w.path("xdg.db").display())).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod");
        let out = w.bare(&["init"]).output().expect("run");
        assert!(out.status.success(), "{out:?}");
        assert!(w.path("xdg.db").is_file());
    }

    #[test]
    fn a_handler_for_any_non_delegable_kind_or_configured_extra_is_rejected() {
        let w = World::new();
        let extra = "[refuse]\nextra_kinds = [\"wire_transfer\"]\n";
        for kind in crate::run::NON_DELEGABLE.iter().chain(&["wire_transfer"]) {
            let path = write_config(
                &w,
                &format!("{extra}[handlers.{kind}]\ncommand = [\"/bin/true\"]\n"),
            );
            w.cmd(&["init", "--config", path.to_str().expect("utf8")])
                .fails_with(&[&format!("{kind} is non-delegable")]);
        }
    }

    #[test]
    fn key_versions_come_from_the_keys_table() {
        let w = World::new();
        let k2 = w.path("k2.key");
        let path = write_config(
            &w,
            &format!(
                "[keys]\n1 = \"{}\"\n2 = \"{}\"\n",
                w.key.display(),
                k2.display()
            ),
        );
        let cfg = path.to_str().expect("utf8");
        w.bare(&["keygen", "--config", cfg]).output().expect("run");
        assert!(k2.is_file(), "keygen makes the newest version's key");
        w.bare(&["keygen", "--config", cfg, "--key-version", "1"])
            .output()
            .expect("run");
        let run = |args: &[&str]| {
            let out = w.bare(args).output().expect("run");
            assert!(out.status.success(), "{out:?}");
            String::from_utf8(out.stdout).expect("utf8")
        };
        let db = w.path("k.db");
        let dbs = db.to_str().expect("utf8");
        // Only the default registry is created on first use.
        run(&["init", "--config", cfg, "--db", dbs]);
        let id = run(&[
            "draft",
            "new",
            "--config",
            cfg,
            "--db",
            dbs,
            "--kind",
            "k",
            "--target",
            "{}",
            "--payload",
            "{}",
        ]);
        let id = id.trim();
        let conn = rusqlite::Connection::open(&db).expect("open");
        let v: i64 = conn
            .query_row(
                "SELECT key_version FROM drafts WHERE draft_id = ?1",
                [id],
                |r| r.get(0),
            )
            .expect("row");
        assert_eq!(v, 2, "signing uses the newest key");
        run(&["verify", "--config", cfg, "--db", dbs, id]);
        // Without version 2 configured, the same draft names its unknown version.
        let only1 = write_config(&w, &format!("[keys]\n1 = \"{}\"\n", w.key.display()));
        let out = w
            .bare(&[
                "verify",
                "--config",
                only1.to_str().expect("utf8"),
                "--db",
                dbs,
                id,
            ])
            .output()
            .expect("run");
        assert_eq!(out.status.code(), Some(3));
        assert!(String::from_utf8_lossy(&out.stdout).contains("unknown key_version: 2"));
    }
}

sqlite_only! {
/// A registry whose columns have no declared types keeps whatever storage class was written,
/// as a registry built by other tools might: each is read the way Python's sqlite3 reads it.
#[test]
fn columns_are_read_by_their_storage_class_as_the_reference_reads_them() {
    let w = World::ready();
    let ids: Vec<String> = (0..4)
        .map(|i| w.draft("k", "{}", &format!(r#"{{"n":{i}}}"#)))
        .collect();
    w.sql(
        "CREATE TABLE loose AS SELECT * FROM drafts;
         DROP TABLE drafts;
         CREATE TABLE drafts (draft_id PRIMARY KEY, draft_kind, target_json, payload_json, issued_at,
             key_version, schema_version, content_hash, signature, status, led_ref, approval_subject,
             executed_url, last_error, created_at, updated_at, completed_at);
         INSERT INTO drafts SELECT * FROM loose;
         DROP TABLE loose;",
    );
    // JSON stored as a BLOB: Python's json.loads takes bytes, so this still verifies.
    w.sql(&format!(
        "UPDATE drafts SET payload_json = CAST(payload_json AS BLOB) WHERE draft_id = '{}'",
        ids[0]
    ));
    // issued_at as text digits: the reference raises comparing str with int.
    w.sql(&format!(
        "UPDATE drafts SET issued_at = CAST(issued_at AS TEXT) WHERE draft_id = '{}'",
        ids[1]
    ));
    // key_version 1.0: known (1.0 == 1 in Python) but it hashes as a float, so the hash differs.
    w.sql(&format!(
        "UPDATE drafts SET key_version = 1.0 WHERE draft_id = '{}'",
        ids[2]
    ));
    // key_version '1' as text: not the integer 1.
    w.sql(&format!(
        "UPDATE drafts SET key_version = '1' WHERE draft_id = '{}'",
        ids[3]
    ));
    let out = w
        .cmd(&["verify", "--json", &ids[0], &ids[1], &ids[2], &ids[3]])
        .code(3)
        .json();
    assert_eq!(out[0]["ok"], true, "{out}");
    assert_eq!(out[1]["ok"], false);
    assert!(
        out[1]["reason"]
            .as_str()
            .expect("reason")
            .contains("issued_at is not a number"),
        "{out}"
    );
    assert_eq!(
        out[2]["reason"],
        "content_hash mismatch (record was tampered)"
    );
    assert_eq!(out[3]["reason"], "unknown key_version: 1");
}
}
