//! A draft's signed fields exactly as the registry stores them, whatever their SQLite types.
//!
//! The reference reads columns through Python's `sqlite3`, so a column holds whatever storage
//! class was written: an `issued_at` stored as text stays text, JSON stored as a BLOB is bytes.
//! Keeping the storage class lets verification treat each case the way the reference does
//! (and refuse where the reference raised) instead of coercing it into a verdict it never gave.

use std::fmt;

use serde_json::Value;

use super::json::{decode_json_bytes, parse_json};

/// One SQLite value, storage class preserved.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// `NULL`.
    Null,
    /// An INTEGER.
    Integer(i64),
    /// A REAL.
    Real(f64),
    /// TEXT that is valid UTF-8.
    Text(String),
    /// TEXT that is not valid UTF-8 (Python's `sqlite3` raises on it).
    BadText(Vec<u8>),
    /// A BLOB.
    Blob(Vec<u8>),
}

/// The most a draft's `target_json` or `payload_json` may hold, in stored bytes: parsing
/// holds the text four times over (a `char` each) before the values, and whoever writes the
/// registry chooses it. A command handler may take a large payload (10 MiB reaches it whole,
/// `faults.rs`); the number of values is bounded apart (`json::MAX_VALUES`).
pub const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

impl SqlValue {
    /// The text, when this is TEXT.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            SqlValue::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a whole number, when it is an INTEGER or an integral REAL (Python's
    /// `1.0 == 1`).
    pub fn as_integral(&self) -> Option<i64> {
        match *self {
            SqlValue::Integer(i) => Some(i),
            #[allow(clippy::cast_possible_truncation, clippy::float_cmp)]
            SqlValue::Real(r) if r.fract() == 0.0 && r.abs() < 9.0e15 => Some(r as i64),
            _ => None,
        }
    }

    /// The JSON value this column contributes to the signed object, as Python would see it.
    pub fn to_json(&self, column: &str) -> Result<Value, String> {
        match self {
            SqlValue::Null => Ok(Value::Null),
            SqlValue::Integer(i) => Ok(Value::from(*i)),
            SqlValue::Real(r) => serde_json::Number::from_f64(*r)
                .map(Value::Number)
                .ok_or_else(|| format!("{column} is not a finite number")),
            SqlValue::Text(s) => Ok(Value::String(s.clone())),
            SqlValue::BadText(_) => Err(format!("{column} is not valid UTF-8 text")),
            SqlValue::Blob(_) => Err(format!("{column} is stored as a BLOB, not text")),
        }
    }

    /// Parses a `*_json` column as Python's `json.loads` would: text, or bytes in UTF-8/16/32.
    /// A column over [`MAX_JSON_BYTES`] is refused unparsed.
    pub fn parse_json_column(&self, column: &str) -> Result<Value, String> {
        let stored = match self {
            SqlValue::Text(s) => s.len(),
            SqlValue::Blob(b) => b.len(),
            _ => 0,
        };
        if stored > MAX_JSON_BYTES {
            return Err(format!(
                "{column} is {stored} bytes, more than the {MAX_JSON_BYTES} a draft's JSON may hold"
            ));
        }
        let owned;
        let text = match self {
            SqlValue::Text(s) => s.as_str(),
            SqlValue::Blob(b) => {
                owned = decode_json_bytes(b).map_err(|e| format!("{column}: {e}"))?;
                owned.as_str()
            }
            SqlValue::BadText(_) => return Err(format!("{column} is not valid UTF-8 text")),
            SqlValue::Null => return Err(format!("{column} is NULL")),
            SqlValue::Integer(_) | SqlValue::Real(_) => {
                return Err(format!("{column} is a number, not JSON text"));
            }
        };
        parse_json(text).map_err(|e| format!("{column} is not valid JSON: {e}"))
    }
}

/// Displays the value as the reference's reason strings show it (`unknown key_version: 2`).
impl fmt::Display for SqlValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlValue::Null => f.write_str("None"),
            SqlValue::Integer(i) => write!(f, "{i}"),
            SqlValue::Real(r) => {
                let mut s = String::new();
                super::canonical::write_python_float(&mut s, *r);
                f.write_str(&s)
            }
            SqlValue::Text(s) => f.write_str(s),
            SqlValue::BadText(b) | SqlValue::Blob(b) => {
                write!(f, "b{:?}", String::from_utf8_lossy(b))
            }
        }
    }
}

/// The nine signed columns of one `drafts` row, as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDraft {
    /// `draft_id`.
    pub draft_id: SqlValue,
    /// `draft_kind`.
    pub draft_kind: SqlValue,
    /// `target_json`.
    pub target_json: SqlValue,
    /// `payload_json`.
    pub payload_json: SqlValue,
    /// `issued_at`.
    pub issued_at: SqlValue,
    /// `key_version`.
    pub key_version: SqlValue,
    /// `schema_version`.
    pub schema_version: SqlValue,
    /// `content_hash`.
    pub content_hash: SqlValue,
    /// `signature`.
    pub signature: SqlValue,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_column_over_the_byte_limit_is_refused_unparsed() {
        // Valid JSON, so only the size can refuse it.
        let at_limit = format!("\"{}\"", "x".repeat(MAX_JSON_BYTES - 2));
        assert!(
            SqlValue::Text(at_limit)
                .parse_json_column("payload_json")
                .is_ok()
        );
        let over = format!("\"{}\"", "x".repeat(MAX_JSON_BYTES - 1));
        let refused = SqlValue::Blob(over.into_bytes())
            .parse_json_column("payload_json")
            .expect_err("one byte too many");
        assert_eq!(
            refused,
            format!(
                "payload_json is {} bytes, more than the {MAX_JSON_BYTES} a draft's JSON may hold",
                MAX_JSON_BYTES + 1
            )
        );
    }
}
