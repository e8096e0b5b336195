//! `verify` writes each verdict as it is made: the same document and lines as before for
//! mixed verdicts, an output cut short by an error that cannot pass for whole, a reader that
//! goes away, and a peak memory that does not grow with the registry.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::harness::{Done, Run, World, skip};

/// GNU time: the peak RSS of one child, whatever else the test process runs meanwhile.
const TIME: &str = "/usr/bin/time";

/// Where the id column starts in a text verdict line (`FAILED` and two spaces), and where
/// the reason starts (a 26-character id and two spaces).
const ID_AT: usize = 8;
const REASON_AT: usize = ID_AT + 26 + 2;

/// Inserts drafts `ids` signed with the world's key, in one transaction; each `tamper`th is
/// altered after signing (a content_hash mismatch). Statuses cycle through pending,
/// approved and completed. Ids are 26 characters, as ULIDs are.
fn insert(w: &World, ids: std::ops::Range<u32>, tamper: u32) {
    let key = fs::read(&w.key).expect("key");
    let now = inbox_exec::unix_now();
    let mut conn = rusqlite::Connection::open(&w.db).expect("open registry");
    let tx = conn.transaction().expect("begin");
    {
        let mut insert = tx
            .prepare(
                "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                     key_version, schema_version, content_hash, signature, status, created_at,
                     updated_at)
                 VALUES (?1, 'ledger_done', ?2, ?3, ?4, 1, 'v1', ?5, ?6, ?7, ?8, ?8)",
            )
            .expect("prepare");
        for i in ids {
            let id = format!("01STREAM{i:018}");
            let target = json!({"led": format!("LED-{i}")});
            let payload = json!({"note": "small", "n": i});
            let signed =
                inbox_exec::draft::sign(&id, "ledger_done", &target, &payload, now, 1, &key)
                    .expect("sign");
            let payload_json = if tamper > 0 && i % tamper == 0 {
                r#"{"n": -1, "note": "changed"}"#.to_owned()
            } else {
                signed.payload_json
            };
            let status = ["pending", "approved", "completed"][(i % 3) as usize];
            insert
                .execute(rusqlite::params![
                    id,
                    signed.target_json,
                    payload_json,
                    now,
                    signed.content_hash,
                    signed.signature,
                    status,
                    i64::from(i),
                ])
                .expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// `verify`'s text output, read back.
struct Text {
    /// (ok, id, reason) per verdict line.
    lines: Vec<(bool, String, String)>,
    /// The count line's numbers: verified, failed.
    counts: (usize, usize),
}

/// Reads `verify`'s text output, checking the layout of each line: the word padded to the
/// id column, the reason in one column after a 26-character id, nothing after an ok id.
fn text_verdicts(stdout: &str) -> Text {
    let mut lines: Vec<&str> = stdout.lines().collect();
    let count = lines.pop().expect("a count line");
    let (verified, failed) = count
        .strip_suffix(" failed")
        .and_then(|s| s.split_once(" verified, "))
        .unwrap_or_else(|| panic!("last line is not a count: {count:?}"));
    let lines = lines
        .iter()
        .map(|line| {
            let ok = line.starts_with("ok      ");
            assert!(
                ok || line.starts_with("FAILED  "),
                "a verdict line starts with its word, padded to the id column: {line:?}"
            );
            let id = line[ID_AT..].split("  ").next().expect("id").to_owned();
            let reason = if ok {
                assert_eq!(
                    line.len(),
                    ID_AT + id.len(),
                    "nothing after an ok id: {line:?}"
                );
                String::new()
            } else {
                assert_eq!(
                    &line[ID_AT + id.len()..REASON_AT],
                    " ".repeat(REASON_AT - ID_AT - id.len()),
                    "reasons start in one column: {line:?}"
                );
                line[REASON_AT..].to_owned()
            };
            (ok, id, reason)
        })
        .collect();
    Text {
        lines,
        counts: (
            verified.parse().expect("verified"),
            failed.parse().expect("failed"),
        ),
    }
}

#[test]
fn mixed_verdicts_stream_as_one_json_document_and_as_aligned_lines() {
    let w = World::ready();
    let now = inbox_exec::unix_now();
    let good = w.draft(
        "github_comment",
        r#"{"repo": "o/r", "issue": 1}"#,
        r#"{"body": "hi"}"#,
    );
    let expired = w.draft_at("k", "{}", "{}", now - 3 * 86_400);
    let approved = w.approved("k", "{}", r#"{"n": 1}"#);
    let tampered = w.approved("k", "{}", r#"{"n": 2}"#);
    w.sql(&format!(
        "UPDATE drafts SET payload_json = '{{\"n\": 3}}' WHERE draft_id = '{tampered}'"
    ));
    let malformed = w.draft("k", "{}", "{}");
    w.sql(&format!(
        "UPDATE drafts SET target_json = '{{\"repo\": ' WHERE draft_id = '{malformed}'"
    ));
    let unknown_key = w.draft("k", "{}", "{}");
    w.sql(&format!(
        "UPDATE drafts SET key_version = 7 WHERE draft_id = '{unknown_key}'"
    ));
    let cancelled = w.draft("k", "{}", "{}");
    w.cmd(&["cancel", &cancelled]).ok();
    let hash = |id: &str| {
        w.query(&format!(
            "SELECT content_hash FROM drafts WHERE draft_id = '{id}'"
        ))
    };

    let expected = [
        (&good, "ok"),
        (&expired, "draft expired (TTL elapsed)"),
        (&approved, "ok"),
        (&tampered, "content_hash mismatch (record was tampered)"),
        (&malformed, "malformed draft: target_json is not valid JSON"),
        (&unknown_key, "unknown key_version: 7"),
    ];
    let doc = w.cmd(&["verify", "--json"]).code(3);
    let array = doc.json();
    let array = array.as_array().expect("one JSON array");
    let mut by_id: std::collections::HashMap<&str, &Value> = array
        .iter()
        .map(|v| (v["draft_id"].as_str().expect("draft_id"), v))
        .collect();
    assert_eq!(
        by_id.len(),
        expected.len(),
        "pending and approved only: {array:?}"
    );
    for (id, reason) in expected {
        let v = by_id
            .remove(id.as_str())
            .expect("a verdict for every draft");
        assert_eq!(v.as_object().expect("object").len(), 4, "{v}");
        assert_eq!(v["ok"], reason == "ok", "{v}");
        assert!(
            v["reason"].as_str().expect("reason").starts_with(reason),
            "{id}: {v}"
        );
        if id == &malformed {
            assert_eq!(v["content_hash"], Value::Null);
        } else if id == &tampered || id == &unknown_key {
            // Recomputed from the altered fields, not copied from the row.
            assert_ne!(v["content_hash"], hash(id).as_str(), "{v}");
        } else {
            assert_eq!(v["content_hash"], hash(id).as_str(), "{v}");
        }
    }
    // The document is laid out as serde_json's pretty printer lays out a whole array, the
    // fields in DESIGN.md's order.
    let elements: Vec<String> = array
        .iter()
        .map(|v| {
            format!(
                "  {{\n    \"draft_id\": {},\n    \"ok\": {},\n    \"reason\": {},\n    \"content_hash\": {}\n  }}",
                v["draft_id"], v["ok"], v["reason"], v["content_hash"]
            )
        })
        .collect();
    assert_eq!(doc.stdout, format!("[\n{}\n]\n", elements.join(",\n")));

    let text = w.cmd(&["verify"]).code(3);
    let Text { lines, counts } = text_verdicts(&text.stdout);
    assert_eq!(counts, (2, 4), "{}", text.stdout);
    let json_order: Vec<&str> = array
        .iter()
        .map(|v| v["draft_id"].as_str().expect("id"))
        .collect();
    let text_order: Vec<&str> = lines.iter().map(|(_, id, _)| id.as_str()).collect();
    assert_eq!(
        text_order, json_order,
        "text and JSON list the drafts alike"
    );
    for (ok, id, reason) in &lines {
        let (_, want) = expected.iter().find(|(e, _)| *e == id).expect("known id");
        assert_eq!(*ok, *want == "ok");
        assert!(*ok || reason.starts_with(want), "{id}: {reason}");
    }

    // --all adds the cancelled draft, which verifies.
    let all = w.cmd(&["verify", "--all", "--json"]).code(3).json();
    assert_eq!(all.as_array().expect("array").len(), expected.len() + 1);
    assert!(
        all.as_array()
            .expect("array")
            .iter()
            .any(|v| v["draft_id"] == cancelled.as_str() && v["ok"] == true)
    );
    let Text { lines, counts } = text_verdicts(&w.cmd(&["verify", "--all"]).code(3).stdout);
    assert_eq!((lines.len(), counts), (7, (3, 4)));

    // Nothing to verify is an empty document and a zero count.
    let empty = World::ready();
    assert_eq!(empty.cmd(&["verify", "--json"]).ok().stdout, "[]\n");
    assert_eq!(empty.cmd(&["verify"]).ok().stdout, "0 verified, 0 failed\n");
}

#[test]
fn a_key_failing_part_way_leaves_output_that_cannot_pass_for_whole() {
    let w = World::ready();
    // The expired draft is reported before any draft needs the key.
    let expired = w.draft_at("k", "{}", "{}", inbox_exec::unix_now() - 3 * 86_400);
    let fresh = w.draft("k", "{}", "{}");
    fs::set_permissions(&w.key, fs::Permissions::from_mode(0o644)).expect("chmod");

    let doc = w
        .cmd(&["verify", "--json"])
        .fails_with(&["chmod 600", &fresh]);
    assert!(
        doc.stdout.starts_with("[\n") && doc.stdout.contains(&expired),
        "the verdict made before the error is out: {}",
        doc.stdout
    );
    assert!(
        serde_json::from_str::<Value>(&doc.stdout).is_err(),
        "a cut-short array must not parse as a whole document:\n{}",
        doc.stdout
    );
    let text = w.cmd(&["verify"]).fails_with(&["chmod 600"]);
    assert!(text.stdout.contains(&expired), "{}", text.stdout);
    assert!(
        !text.stdout.contains("verified,"),
        "no count line after an error:\n{}",
        text.stdout
    );
    // With ids, everything is verified before anything is written: no verdict comes out,
    // only the error (with --json, its document, as for any command that fails).
    let done = w
        .cmd(&["verify", &expired, &fresh])
        .fails_with(&["chmod 600"]);
    assert_eq!(done.stdout, "");
    let done = w
        .cmd(&["verify", &expired, &fresh, "--json"])
        .fails_with(&["chmod 600"]);
    let doc = done.json();
    assert!(
        doc["error"]
            .as_str()
            .is_some_and(|e| e.contains("chmod 600"))
            && doc.get(0).is_none(),
        "{doc}"
    );
}

/// Runs `args`, under GNU time when there is one; returns its peak RSS in KiB (`None`
/// without GNU time) and what it printed.
fn peak_kib(w: &World, args: &[&str]) -> (Option<u64>, Done) {
    let inner = w.cmd(args);
    if !Path::new(TIME).is_file() {
        return (None, inner.output());
    }
    let report = w.path("time.txt");
    let inner = inner.cmd;
    let mut cmd = Command::new(TIME);
    cmd.arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(&report)
        .arg(inner.get_program())
        .args(inner.get_args())
        .env_clear()
        .current_dir(w.dir.path());
    for (key, value) in inner.get_envs() {
        if let Some(value) = value {
            cmd.env(key, value);
        }
    }
    let done = Run { cmd }.output();
    let kib = fs::read_to_string(&report)
        .expect("time's report")
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("a peak RSS in KiB");
    (Some(kib), done)
}

#[test]
fn verify_all_peak_memory_does_not_grow_with_the_registry() {
    const SMALL: u32 = 2_000;
    const LARGE: u32 = 20_000;
    const TAMPER: u32 = 7;
    let w = World::ready();
    let mut peaks = Vec::new();
    for (from, to) in [(0, SMALL), (SMALL, LARGE)] {
        insert(&w, from..to, TAMPER);
        let failed = usize::try_from(to.div_ceil(TAMPER)).expect("small");
        let total = usize::try_from(to).expect("small");
        let (json_kib, done) = peak_kib(&w, &["verify", "--all", "--json"]);
        assert_eq!(done.code, 3, "{}", done.stderr);
        let doc = done.json();
        let array = doc.as_array().expect("array");
        assert_eq!(array.len(), total);
        assert_eq!(array.iter().filter(|v| v["ok"] == false).count(), failed);
        let (text_kib, done) = peak_kib(&w, &["verify", "--all"]);
        assert_eq!(done.code, 3, "{}", done.stderr);
        let Text { lines, counts } = text_verdicts(&done.stdout);
        assert_eq!((lines.len(), counts), (total, (total - failed, failed)));
        peaks.push((to, json_kib, text_kib));
    }
    // A reader that goes away early (`| head`) is not a failure: the command goes on to
    // its end, and its exit code still says that drafts failed.
    let mut run = w.cmd(&["verify", "--all"]).cmd;
    let mut child = run
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = [0u8; 64];
    child
        .stdout
        .take()
        .expect("stdout")
        .read_exact(&mut first)
        .expect("the first verdicts");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(3), "{stderr}");
    assert_eq!(stderr, "");

    println!("peak RSS (drafts, json KiB, text KiB): {peaks:?}");
    let [
        (_, Some(small_json), Some(small_text)),
        (_, Some(large_json), Some(large_text)),
    ] = peaks[..]
    else {
        skip(
            "verify::verify_all_peak_memory_does_not_grow_with_the_registry",
            "time",
            "GNU time (/usr/bin/time) measures one child's peak RSS; the output was checked",
        );
        return;
    };
    // Ten times the drafts; holding ~1 KiB per verdict would add ~18 MiB. Allow 2 MiB for
    // the allocator's and SQLite's noise.
    for (form, small, large) in [
        ("json", small_json, large_json),
        ("text", small_text, large_text),
    ] {
        assert!(
            large <= small + 2048,
            "verify --all ({form}) peak RSS grew with the registry: {peaks:?} (drafts, json KiB, text KiB)"
        );
    }
}
