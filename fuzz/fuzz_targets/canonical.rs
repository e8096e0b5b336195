//! Arbitrary bytes through the JSON reader and the v1 canonical form (DESIGN.md §2).
//!
//! Never panics, and whenever a value has canonical bytes:
//! - they are UTF-8 JSON that parses again;
//! - re-parsing them gives the same bytes when every object key is NFC already (members are
//!   sorted before NFC, so a non-NFC key may move once: by design, as the reference does it);
//!   whatever the keys, one re-parse reaches a fixed point;
//! - the reference's storage form (`json.dumps(v, sort_keys=True)`) exists, is ASCII, and
//!   parses back to a value with the same canonical bytes.
//!
//! The bytes are read both as UTF-8 text and as a BLOB column is (`decode_json_bytes`: a BOM
//! or the zero-byte pattern picks UTF-8/16/32).

#![no_main]

use inbox_exec::draft::canonical::{canonicalize, storage_json};
use inbox_exec::draft::json::{decode_json_bytes, parse_json};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use unicode_normalization::is_nfc;

fn keys_are_nfc(v: &Value) -> bool {
    match v {
        Value::Array(items) => items.iter().all(keys_are_nfc),
        Value::Object(map) => map.iter().all(|(k, v)| is_nfc(k) && keys_are_nfc(v)),
        _ => true,
    }
}

fn reparse(bytes: &[u8]) -> Value {
    let text = std::str::from_utf8(bytes).expect("canonical bytes are UTF-8");
    match parse_json(text) {
        Ok(v) => v,
        Err(e) => panic!("canonical bytes do not parse: {e}: {text:?}"),
    }
}

fn check(text: &str) {
    let Ok(value) = parse_json(text) else {
        return;
    };
    let Ok(once) = canonicalize(&value) else {
        // No canonical form (NaN/Infinity never parse; an overflowing float literal): then
        // there is no storage form either.
        assert!(storage_json(&value).is_err(), "storable but not canonical");
        return;
    };
    let again = reparse(&once);
    let twice = canonicalize(&again).expect("canonical bytes have a canonical form");
    if keys_are_nfc(&value) {
        assert_eq!(
            String::from_utf8_lossy(&once),
            String::from_utf8_lossy(&twice),
            "canonical form is not idempotent"
        );
    }
    let thrice = canonicalize(&reparse(&twice)).expect("still canonical");
    assert_eq!(twice, thrice, "no fixed point after one re-parse");

    let stored = storage_json(&value).expect("a canonical value is storable");
    assert!(stored.is_ascii(), "storage form is not ASCII: {stored:?}");
    let back = match parse_json(&stored) {
        Ok(v) => v,
        Err(e) => panic!("storage form does not parse: {e}: {stored:?}"),
    };
    let from_storage = canonicalize(&back).expect("stored value is canonical");
    assert_eq!(
        String::from_utf8_lossy(&once),
        String::from_utf8_lossy(&from_storage),
        "storage form hashes differently"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    if let Ok(text) = decode_json_bytes(data) {
        check(&text);
    }
});
