//! Arbitrary stored rows through the verifier (DESIGN.md §2): it must never panic.
//!
//! The input is split into fields by `arbitrary`: the target and payload JSON (as TEXT or as a
//! BLOB), `issued_at`, the clock and the TTL, and for each of the nine signed columns either
//! the honest value or a replacement of any SQLite storage class (NULL, INTEGER, REAL, TEXT,
//! TEXT that is not UTF-8, BLOB). The honest row is signed with a fixed key held in a 0600
//! temp file (or as key version 2, whose file is missing), so inputs get past the hash and
//! reach the HMAC check and the key loading. Checks:
//! - a row left honest, within the clock window, verifies (version 2: stops at the missing
//!   key); one whose JSON does not parse or has no canonical form is refused as malformed;
//! - whatever was replaced, a row that verifies hashes to the honest canonical bytes (the
//!   fuzzer cannot forge a signature, so anything else that verifies is a bug).

#![no_main]

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use inbox_exec::draft::sign::signed_object;
use inbox_exec::draft::{KeyRing, SqlValue, StoredDraft, VerifyError, sign, verify};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Not a secret: the fuzzer signs with it.
const KEY: &[u8; 32] = b"inbox-exec fuzz key, not secret!";
const DRAFT_ID: &str = "01HZY3K4M5N6P7Q8R9S0T1V2W3";
const KIND: &str = "github_comment";

thread_local! {
    /// Version 1: the key above, in a 0600 file. Version 2: a file that does not exist.
    static KEYS: KeyRing = key_ring();
}

fn key_ring() -> KeyRing {
    let dir = std::env::temp_dir().join(format!("inbox-exec-fuzz-{}", std::process::id()));
    fs::create_dir_all(&dir).expect("create the fuzz key directory");
    let path = dir.join("hmac.key");
    fs::write(&path, KEY).expect("write the fuzz key");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
    KeyRing::new(BTreeMap::from([(1, path), (2, dir.join("missing.key"))]))
}

/// How a JSON column is stored when left honest.
#[derive(Arbitrary, Debug)]
enum JsonColumn {
    Text(String),
    Blob(Vec<u8>),
}

impl JsonColumn {
    fn sql(&self) -> SqlValue {
        match self {
            JsonColumn::Text(s) => SqlValue::Text(s.clone()),
            JsonColumn::Blob(b) => SqlValue::Blob(b.clone()),
        }
    }
}

/// One signed column: the honest value, or a replacement of any storage class.
#[derive(Arbitrary, Debug)]
enum Column {
    Honest,
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    BadText(Vec<u8>),
    Blob(Vec<u8>),
}

impl Column {
    fn apply(&self, honest: &SqlValue) -> SqlValue {
        match self {
            Column::Honest => honest.clone(),
            Column::Null => SqlValue::Null,
            Column::Integer(i) => SqlValue::Integer(*i),
            Column::Real(r) => SqlValue::Real(*r),
            Column::Text(s) => SqlValue::Text(s.clone()),
            Column::BadText(b) => SqlValue::BadText(b.clone()),
            Column::Blob(b) => SqlValue::Blob(b.clone()),
        }
    }

    fn is_honest(&self) -> bool {
        matches!(self, Column::Honest)
    }
}

#[derive(Arbitrary, Debug)]
struct Input {
    target: JsonColumn,
    payload: JsonColumn,
    issued_at: i64,
    /// `now - issued_at`.
    age: i32,
    ttl: u32,
    /// Sign as key version 2, whose key file does not exist: verify must stop at the key.
    version_two: bool,
    columns: [Column; 9],
}

fn honest_row(input: &Input) -> (StoredDraft, Option<Vec<u8>>) {
    let version = if input.version_two { 2 } else { 1 };
    let mut row = StoredDraft {
        draft_id: SqlValue::Text(DRAFT_ID.into()),
        draft_kind: SqlValue::Text(KIND.into()),
        target_json: input.target.sql(),
        payload_json: input.payload.sql(),
        issued_at: SqlValue::Integer(input.issued_at),
        key_version: SqlValue::Integer(version.into()),
        schema_version: SqlValue::Text("v1".into()),
        content_hash: SqlValue::Text("0".repeat(64)),
        signature: SqlValue::Text("0".repeat(64)),
    };
    let Ok(object) = signed_object(&row) else {
        return (row, None);
    };
    let signed = sign(
        DRAFT_ID,
        KIND,
        &object.target,
        &object.payload,
        input.issued_at,
        version,
        KEY,
    )
    .expect("what hashed as stored also signs");
    assert_eq!(
        signed.content_hash, object.content_hash,
        "sign() and the stored row hash differently"
    );
    row.content_hash = SqlValue::Text(signed.content_hash);
    row.signature = SqlValue::Text(signed.signature);
    (row, Some(object.canonical))
}

fuzz_target!(|input: Input| {
    let (honest, canonical) = honest_row(&input);
    let c = &input.columns;
    let stored = StoredDraft {
        draft_id: c[0].apply(&honest.draft_id),
        draft_kind: c[1].apply(&honest.draft_kind),
        target_json: c[2].apply(&honest.target_json),
        payload_json: c[3].apply(&honest.payload_json),
        issued_at: c[4].apply(&honest.issued_at),
        key_version: c[5].apply(&honest.key_version),
        schema_version: c[6].apply(&honest.schema_version),
        content_hash: c[7].apply(&honest.content_hash),
        signature: c[8].apply(&honest.signature),
    };
    let now = input.issued_at.saturating_add(i64::from(input.age));
    let ttl = u64::from(input.ttl);
    let result = KEYS.with(|keys| verify(&stored, keys, now, ttl));

    if c.iter().all(Column::is_honest) {
        let age = i128::from(now) - i128::from(input.issued_at);
        let in_window = age >= -60 && age <= i128::from(ttl);
        let ok = match (&canonical, in_window, &result) {
            (_, false, Err(_)) => true,
            (None, true, r) => matches!(r, Err(VerifyError::Malformed(_))),
            (Some(_), true, Ok(_)) => !input.version_two,
            (Some(_), true, Err(VerifyError::Key(_))) => input.version_two,
            _ => false,
        };
        assert!(
            ok,
            "honest row: canonical={canonical:?} in_window={in_window} -> {result:?}"
        );
    }
    if result.is_ok() {
        let object = signed_object(&stored).expect("a verified row hashes");
        assert_eq!(
            Some(&object.canonical),
            canonical.as_ref(),
            "a row that verifies does not hash to the honest content"
        );
    }
});
