//! Every draft signed by the reference implementation gets the reference's verdict
//! (tests/data/conformance, copied from the shared conformance set).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use inbox_exec::draft::sign::signed_object;
use inbox_exec::registry::{self, OpenMode};
use serde_json::Value;

use crate::harness::World;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/conformance");

struct Case {
    draft_id: String,
    ok: bool,
    reason: String,
    content_hash: Option<String>,
    canonical_hex: Option<String>,
    note: String,
}

fn cases() -> Vec<Case> {
    let text = fs::read_to_string(Path::new(DATA).join("expected.json")).expect("expected.json");
    let doc: Vec<Value> = serde_json::from_str(&text).expect("expected.json is JSON");
    doc.into_iter()
        .map(|c| Case {
            draft_id: c["draft_id"].as_str().expect("draft_id").to_owned(),
            ok: c["ok"].as_bool().expect("ok"),
            reason: c["reason"].as_str().expect("reason").to_owned(),
            content_hash: c["content_hash"].as_str().map(str::to_owned),
            canonical_hex: c["canonical_hex"].as_str().map(str::to_owned),
            note: c["note"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// The verdict DESIGN.md asks for: the reference's, except where the note marks a deviation
/// (NaN/Infinity, which the reference accepts) or an exception (which must be refused).
fn expected_ok(case: &Case) -> bool {
    case.ok && !case.note.contains("DEVIATION") && !case.note.contains("EXCEPTION")
}

/// Copies the set into `world`, the key with mode 0600 as the loader requires.
fn install(world: &World) {
    fs::copy(Path::new(DATA).join("drafts.db"), &world.db).expect("copy drafts.db");
    fs::copy(Path::new(DATA).join("hmac.key"), &world.key).expect("copy hmac.key");
    fs::set_permissions(&world.key, fs::Permissions::from_mode(0o600)).expect("chmod key");
    fs::set_permissions(&world.db, fs::Permissions::from_mode(0o600)).expect("chmod db");
}

fn now() -> String {
    fs::read_to_string(Path::new(DATA).join("NOW.txt"))
        .expect("NOW.txt")
        .trim()
        .to_owned()
}

#[test]
fn every_reference_draft_gets_the_reference_verdict() {
    let world = World::new();
    install(&world);
    let out = world
        .cmd(&["verify", "--all", "--now", &now(), "--json"])
        .code(3);
    let verdicts: HashMap<String, Value> = out
        .json()
        .as_array()
        .expect("an array")
        .iter()
        .map(|v| (v["draft_id"].as_str().expect("id").to_owned(), v.clone()))
        .collect();
    let cases = cases();
    assert_eq!(verdicts.len(), cases.len(), "one verdict per draft");
    let mut wrong = Vec::new();
    for case in &cases {
        let got = &verdicts[&case.draft_id];
        let ok = got["ok"].as_bool().expect("ok");
        if ok != expected_ok(case) {
            wrong.push(format!(
                "{}: got {got}, expected {} ({})",
                case.draft_id, case.reason, case.note
            ));
        }
        // Where the reference gave a reason we can match, the words are the same.
        if !case.note.contains("DEVIATION") && !case.note.contains("EXCEPTION") {
            assert_eq!(got["reason"], case.reason.as_str(), "{}", case.note);
        }
        if let (Some(hash), false) = (&case.content_hash, case.note.contains("DEVIATION")) {
            assert_eq!(got["content_hash"], hash.as_str(), "{}", case.note);
        }
    }
    assert!(wrong.is_empty(), "verdicts differ:\n{}", wrong.join("\n"));
}

#[test]
fn canonical_bytes_match_the_reference_byte_for_byte() {
    let world = World::new();
    install(&world);
    let mut registry =
        registry::open(&world.db, &Default::default(), OpenMode::Existing).expect("open");
    let mut checked = 0;
    for case in cases() {
        let row = registry
            .get(&case.draft_id)
            .expect("read")
            .expect("row exists");
        let object = signed_object(&row.signed);
        match (&case.canonical_hex, case.note.contains("DEVIATION")) {
            (Some(hex), false) => {
                let object = object.unwrap_or_else(|e| panic!("{}: {e}", case.note));
                let ours: String = object
                    .canonical
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                assert_eq!(&ours, hex, "{}", case.note);
                assert_eq!(
                    Some(&object.content_hash),
                    case.content_hash.as_ref(),
                    "{}",
                    case.note
                );
                checked += 1;
            }
            // The reference produced no canonical form (it raised), or one DESIGN.md refuses
            // (NaN): we must not produce one either.
            _ => assert!(
                object.is_err(),
                "{} should have no canonical form",
                case.note
            ),
        }
    }
    assert!(checked >= 80, "only {checked} cases compared");
}

#[test]
fn verifying_the_reference_registry_changes_nothing() {
    let world = World::new();
    install(&world);
    let before = world.query("SELECT group_concat(x, ',') FROM (SELECT draft_id || status AS x FROM drafts ORDER BY draft_id)");
    world.cmd(&["verify", "--all", "--now", &now()]).code(3);
    let after = world.query("SELECT group_concat(x, ',') FROM (SELECT draft_id || status AS x FROM drafts ORDER BY draft_id)");
    assert_eq!(before, after);
    assert_eq!(world.query("SELECT count(*) FROM attempts"), "0");
}
