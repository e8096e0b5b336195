//! Content hash, HMAC signature and the fail-closed verification of a stored draft.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::SCHEMA_VERSION;
use super::canonical::{CanonicalError, canonicalize, storage_json};
use super::keys::{KeyError, KeyRing};
use super::record::{SqlValue, StoredDraft};

/// How far in the future `issued_at` may be, for clock skew between signer and executor.
pub const CLOCK_SKEW_SECONDS: i64 = 60;

/// Why a stored draft does not verify. `Display` gives the reference's reason strings, so
/// `last_error` and attempt reasons read the same whichever implementation wrote them.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Signed columns that are NULL.
    #[error("missing fields: [{}]", .0.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", "))]
    MissingFields(Vec<&'static str>),
    /// A `schema_version` other than `v1`.
    #[error("unsupported schema_version: {0}")]
    UnsupportedSchema(String),
    /// A `key_version` with no configured key.
    #[error("unknown key_version: {0}")]
    UnknownKeyVersion(String),
    /// `issued_at` more than the allowed skew ahead of now.
    #[error("issued_at is in the future")]
    Future,
    /// `issued_at` older than the TTL.
    #[error("draft expired (TTL elapsed)")]
    Expired,
    /// A row the reference could not even load or hash (it raised): bad JSON, wrong types.
    #[error("malformed draft: {0}")]
    Malformed(String),
    /// The recomputed content hash differs from the stored one.
    #[error("content_hash mismatch (record was tampered)")]
    HashMismatch,
    /// The HMAC over the content hash differs from the stored signature.
    #[error("signature mismatch (HMAC failed)")]
    BadSignature,
    /// The key for this draft's version could not be loaded: an operator problem, not a
    /// verdict on the draft, so callers stop rather than mark the draft.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// A draft that verified: its fields, parsed.
#[derive(Debug, Clone)]
pub struct Verified {
    /// The draft's id.
    pub draft_id: String,
    /// The kind, which selects the handler.
    pub kind: String,
    /// Where the action lands.
    pub target: Value,
    /// What the action does.
    pub payload: Value,
    /// The signed `issued_at`, as signed.
    pub issued_at: Value,
}

/// The signed object of a stored row and its hash, as the verifier recomputes them.
#[derive(Debug, Clone)]
pub struct SignedObject {
    /// `target_json`, parsed.
    pub target: Value,
    /// `payload_json`, parsed.
    pub payload: Value,
    /// The canonical bytes of the seven-field object.
    pub canonical: Vec<u8>,
    /// Lowercase hex SHA-256 of `canonical`.
    pub content_hash: String,
}

/// The columns of a freshly signed draft, ready to insert.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The draft id (a ULID).
    pub draft_id: String,
    /// `target_json` in the reference's storage form.
    pub target_json: String,
    /// `payload_json` in the reference's storage form.
    pub payload_json: String,
    /// The content hash.
    pub content_hash: String,
    /// The HMAC signature.
    pub signature: String,
}

/// Lowercase hex SHA-256 of the canonical bytes of the seven signed fields.
pub fn content_hash(fields: &Map<String, Value>) -> Result<(Vec<u8>, String), CanonicalError> {
    let canonical = canonicalize(&Value::Object(fields.clone()))?;
    let hash = hex(&Sha256::digest(&canonical));
    Ok((canonical, hash))
}

fn signed_fields(
    draft_id: Value,
    kind: Value,
    target: Value,
    payload: Value,
    issued_at: Value,
    key_version: Value,
    schema_version: Value,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("draft_id".into(), draft_id);
    m.insert("draft_kind".into(), kind);
    m.insert("target".into(), target);
    m.insert("payload".into(), payload);
    m.insert("issued_at".into(), issued_at);
    m.insert("key_version".into(), key_version);
    m.insert("schema_version".into(), schema_version);
    m
}

/// Signs a new draft with `key` as `key_version` (DESIGN.md §2).
pub fn sign(
    draft_id: &str,
    kind: &str,
    target: &Value,
    payload: &Value,
    issued_at: i64,
    key_version: u32,
    key: &[u8],
) -> Result<Signed, CanonicalError> {
    let fields = signed_fields(
        draft_id.into(),
        kind.into(),
        target.clone(),
        payload.clone(),
        issued_at.into(),
        key_version.into(),
        SCHEMA_VERSION.into(),
    );
    let (_, content_hash) = content_hash(&fields)?;
    Ok(Signed {
        draft_id: draft_id.to_owned(),
        target_json: storage_json(target)?,
        payload_json: storage_json(payload)?,
        signature: hmac_hex(key, &content_hash),
        content_hash,
    })
}

fn hmac_hex(key: &[u8], content_hash: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key)
        .expect("HMAC-SHA256 accepts keys of any length");
    mac.update(content_hash.as_bytes());
    hex(&mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Recomputes the signed object of a stored row: parses its JSON columns and hashes the
/// seven fields as they are stored. Fails where the reference raised.
pub fn signed_object(stored: &StoredDraft) -> Result<SignedObject, String> {
    let target = stored.target_json.parse_json_column("target_json")?;
    let payload = stored.payload_json.parse_json_column("payload_json")?;
    let fields = signed_fields(
        stored.draft_id.to_json("draft_id")?,
        stored.draft_kind.to_json("draft_kind")?,
        target.clone(),
        payload.clone(),
        stored.issued_at.to_json("issued_at")?,
        stored.key_version.to_json("key_version")?,
        stored.schema_version.to_json("schema_version")?,
    );
    let (canonical, content_hash) = content_hash(&fields).map_err(|e| e.to_string())?;
    Ok(SignedObject {
        target,
        payload,
        canonical,
        content_hash,
    })
}

/// Verifies a stored draft as of `now` (fail closed; the first failure is the reason), in the
/// reference's order: fields present, schema, key version, not future, not expired, content
/// hash, signature. The key is read only when a draft gets as far as its signature.
pub fn verify(
    stored: &StoredDraft,
    keys: &KeyRing,
    now: i64,
    ttl_seconds: u64,
) -> Result<Verified, VerifyError> {
    let columns = [
        ("content_hash", &stored.content_hash),
        ("draft_id", &stored.draft_id),
        ("draft_kind", &stored.draft_kind),
        ("issued_at", &stored.issued_at),
        ("key_version", &stored.key_version),
        ("payload", &stored.payload_json),
        ("schema_version", &stored.schema_version),
        ("signature", &stored.signature),
        ("target", &stored.target_json),
    ];
    let missing: Vec<&'static str> = columns
        .iter()
        .filter(|(_, v)| matches!(v, SqlValue::Null))
        .map(|(name, _)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(VerifyError::MissingFields(missing));
    }
    if stored.schema_version.as_text() != Some(SCHEMA_VERSION) {
        return Err(VerifyError::UnsupportedSchema(
            stored.schema_version.to_string(),
        ));
    }
    let key_version = stored
        .key_version
        .as_integral()
        .and_then(|v| u32::try_from(v).ok())
        .filter(|v| keys.knows(*v))
        .ok_or_else(|| VerifyError::UnknownKeyVersion(stored.key_version.to_string()))?;

    check_age(&stored.issued_at, now, ttl_seconds)?;

    let object = signed_object(stored).map_err(VerifyError::Malformed)?;
    let stored_hash = text_column(&stored.content_hash, "content_hash")?;
    if !bool::from(object.content_hash.as_bytes().ct_eq(stored_hash.as_bytes())) {
        return Err(VerifyError::HashMismatch);
    }
    let key = keys.key(key_version)?;
    let expected = hmac_hex(key, &object.content_hash);
    let stored_sig = text_column(&stored.signature, "signature")?;
    if !bool::from(expected.as_bytes().ct_eq(stored_sig.as_bytes())) {
        return Err(VerifyError::BadSignature);
    }
    let kind = text_column(&stored.draft_kind, "draft_kind")?.to_owned();
    let draft_id = text_column(&stored.draft_id, "draft_id")?.to_owned();
    Ok(Verified {
        draft_id,
        kind,
        target: object.target,
        payload: object.payload,
        issued_at: stored
            .issued_at
            .to_json("issued_at")
            .map_err(VerifyError::Malformed)?,
    })
}

fn text_column<'a>(value: &'a SqlValue, column: &str) -> Result<&'a str, VerifyError> {
    value
        .as_text()
        .ok_or_else(|| VerifyError::Malformed(format!("{column} is not text")))
}

/// The reference compares Python numbers exactly; an integer column stays exact here too.
fn check_age(issued_at: &SqlValue, now: i64, ttl_seconds: u64) -> Result<(), VerifyError> {
    let (future, expired) = match *issued_at {
        SqlValue::Integer(t) => {
            let (t, now) = (i128::from(t), i128::from(now));
            (
                t > now + i128::from(CLOCK_SKEW_SECONDS),
                now - t > i128::from(ttl_seconds),
            )
        }
        SqlValue::Real(t) => {
            #[allow(clippy::cast_precision_loss)]
            let (now, skew, ttl) = (now as f64, CLOCK_SKEW_SECONDS as f64, ttl_seconds as f64);
            (t > now + skew, now - t > ttl)
        }
        _ => {
            return Err(VerifyError::Malformed(format!(
                "issued_at is not a number: {issued_at}"
            )));
        }
    };
    if future {
        Err(VerifyError::Future)
    } else if expired {
        Err(VerifyError::Expired)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference's comparisons are strict on both branches: a draft exactly at the skew
    /// ahead or exactly the TTL old is still valid, one second (or a fraction) past is not.
    #[test]
    fn age_limits_are_strict_for_integer_and_real_issued_at() {
        let (now, ttl) = (1_700_000_000_i64, 3600_u64);
        let ttl_i = i64::try_from(ttl).expect("small");
        let verdict = |issued: SqlValue| match check_age(&issued, now, ttl) {
            Ok(()) => "ok",
            Err(VerifyError::Future) => "future",
            Err(VerifyError::Expired) => "expired",
            Err(e) => panic!("{issued}: {e}"),
        };
        for (issued, expected) in [
            (now + CLOCK_SKEW_SECONDS, "ok"),
            (now + CLOCK_SKEW_SECONDS + 1, "future"),
            (now - ttl_i, "ok"),
            (now - ttl_i - 1, "expired"),
        ] {
            assert_eq!(
                verdict(SqlValue::Integer(issued)),
                expected,
                "integer {issued}"
            );
            #[allow(clippy::cast_precision_loss)]
            let real = issued as f64;
            assert_eq!(verdict(SqlValue::Real(real)), expected, "real {real}");
        }
        #[allow(clippy::cast_precision_loss)]
        let (ahead, old) = (
            (now + CLOCK_SKEW_SECONDS) as f64 + 0.5,
            (now - ttl_i) as f64 - 0.5,
        );
        assert_eq!(verdict(SqlValue::Real(ahead)), "future");
        assert_eq!(verdict(SqlValue::Real(old)), "expired");
    }

    #[test]
    fn hex_is_lowercase_and_padded() {
        assert_eq!(hex(&[0x00, 0x0f, 0xab]), "000fab");
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            hmac_hex(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_non_finite_key_version_is_an_unknown_version_not_a_panic() {
        let stored = StoredDraft {
            draft_id: SqlValue::Text("01X".into()),
            draft_kind: SqlValue::Text("k".into()),
            target_json: SqlValue::Text("{}".into()),
            payload_json: SqlValue::Text("{}".into()),
            issued_at: SqlValue::Integer(100),
            key_version: SqlValue::Real(f64::INFINITY),
            schema_version: SqlValue::Text("v1".into()),
            content_hash: SqlValue::Text(String::new()),
            signature: SqlValue::Text(String::new()),
        };
        let keys = KeyRing::new([(1, std::path::PathBuf::from("/nonexistent"))].into());
        let err = verify(&stored, &keys, 100, 86_400).expect_err("refused");
        assert_eq!(err.to_string(), "unknown key_version: inf");
    }

    #[test]
    fn verify_error_reasons_match_the_reference() {
        assert_eq!(
            VerifyError::MissingFields(vec!["payload", "target"]).to_string(),
            "missing fields: ['payload', 'target']"
        );
        assert_eq!(
            VerifyError::UnknownKeyVersion("2".into()).to_string(),
            "unknown key_version: 2"
        );
    }
}
