//! The v1 canonical bytes of a JSON value (DESIGN.md §2), and the reference's storage form.
//!
//! Both are Python `json.dumps` dialects, so one serializer with a [`Style`] writes both:
//! the canonical form (what the content hash covers) and the form the reference stores in
//! `target_json` / `payload_json` (`json.dumps(v, sort_keys=True)`).

use std::fmt::Write as _;

use serde_json::{Number, Value};
use unicode_normalization::{IsNormalized, UnicodeNormalization, is_nfc_quick};

/// Why a value has no canonical form. Fail closed: such a draft can never verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CanonicalError {
    /// NaN, Infinity, or a float literal too large for an IEEE double.
    #[error("number {0} is not finite: NaN and Infinity cannot be signed")]
    NonFinite(String),
    /// A number token that is not a JSON number (cannot come from the parser; kept for safety).
    #[error("{0:?} is not a JSON number")]
    BadNumber(String),
    /// Nesting deeper than the reference can canonicalise.
    #[error(
        "nested deeper than {MAX_CANONICAL_DEPTH} levels: the reference implementation cannot canonicalise it (Python's recursion limit)"
    )]
    TooDeep,
}

/// The deepest nesting, counted from the signed object itself, that the reference can
/// canonicalise: its recursive `canonicalize` spends three Python frames a level against a
/// recursion limit of 1000, and raises `RecursionError` past about 332 levels. Signing or
/// accepting anything deeper would disagree with it; failing closed agrees.
pub const MAX_CANONICAL_DEPTH: usize = 330;

/// Which `json.dumps` dialect to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// The signed form: NFC strings and keys, literal UTF-8, no whitespace.
    Canonical,
    /// The reference's stored form: strings as given, ASCII only (non-ASCII as `\u` escapes), `", "` and `": "`.
    Storage,
}

/// The canonical bytes of `value` (DESIGN.md §2).
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    if depth(value) > MAX_CANONICAL_DEPTH {
        return Err(CanonicalError::TooDeep);
    }
    let mut out = String::new();
    write_value(&mut out, value, Style::Canonical)?;
    Ok(out.into_bytes())
}

/// Nesting depth: a scalar is 0, `[]` and `{}` are 1.
fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// The text the reference stores for `value`: `json.dumps(value, sort_keys=True)`.
pub fn storage_json(value: &Value) -> Result<String, CanonicalError> {
    let mut out = String::new();
    write_value(&mut out, value, Style::Storage)?;
    Ok(out)
}

fn write_value(out: &mut String, value: &Value, style: Style) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => write_number(out, n)?,
        Value::String(s) => write_string(out, s, style),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(separator(style, ','));
                }
                write_value(out, item, style)?;
            }
            out.push(']');
        }
        Value::Object(map) => {
            // Sorted by the keys as given, before normalisation, as Python's `sorted(d.items())`
            // does. `str` order is code-point order, which is also UTF-8 byte order, so plain
            // `String` ordering matches; sort explicitly rather than trust the map's order,
            // which a crate feature elsewhere in the build (`preserve_order`) could change.
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push_str(separator(style, ','));
                }
                write_string(out, key, style);
                out.push_str(separator(style, ':'));
                write_value(out, member, style)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

fn separator(style: Style, c: char) -> &'static str {
    match (style, c) {
        (Style::Canonical, ',') => ",",
        (Style::Canonical, _) => ":",
        (Style::Storage, ',') => ", ",
        (Style::Storage, _) => ": ",
    }
}

/// Numbers keep their exact digits (serde_json's `arbitrary_precision`), so the token tells
/// an integer from a float the way Python's `json` module does: `.`, `e` or `E` make a float.
fn write_number(out: &mut String, n: &Number) -> Result<(), CanonicalError> {
    let token = n.as_str();
    if token.contains(['.', 'e', 'E']) {
        let x: f64 = token
            .parse()
            .map_err(|_| CanonicalError::BadNumber(token.to_owned()))?;
        if !x.is_finite() {
            return Err(CanonicalError::NonFinite(token.to_owned()));
        }
        write_python_float(out, x);
    } else {
        let digits = token.strip_prefix('-').unwrap_or(token);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CanonicalError::BadNumber(token.to_owned()));
        }
        // Python's int has no negative zero; JSON forbids leading zeros, so `0` is the only
        // token whose digits start with one.
        if token.starts_with('-') && digits != "0" {
            out.push('-');
        }
        out.push_str(digits);
    }
    Ok(())
}

/// Python's `repr(float)`: shortest round-trip digits, positional for `1e-4 <= |x| < 1e16`
/// (always with a digit after the point), else `d[.ddd]e±XX`.
pub fn write_python_float(out: &mut String, x: f64) {
    if x.is_nan() {
        out.push_str("nan");
        return;
    }
    if x.is_infinite() {
        out.push_str(if x > 0.0 { "inf" } else { "-inf" });
        return;
    }
    if x == 0.0 {
        out.push_str(if x.is_sign_negative() { "-0.0" } else { "0.0" });
        return;
    }
    let sci = shortest_digits(x.abs());
    let (mantissa, exponent) = sci
        .split_once('e')
        .expect("LowerExp output always has an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("LowerExp exponent is a decimal integer");
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if x.is_sign_negative() {
        out.push('-');
    }
    if (-4..16).contains(&exponent) {
        if exponent >= 0 {
            let int_len = usize::try_from(exponent).expect("non-negative") + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            let zeros = usize::try_from(-exponent - 1).expect("positive");
            out.extend(std::iter::repeat_n('0', zeros));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(out, "e{sign}{:02}", exponent.unsigned_abs());
    }
}

/// The shortest digits that round-trip, as `d.ddde±N`. Rust's `{:e}` finds how many digits
/// that takes, but when two candidates of that length are equally close it picks the one
/// away from zero, where Python's repr picks the even one (`1000000000000000.25` is
/// `...0.2` in Python). Formatting again to that many digits rounds exactly, half to even;
/// that result is kept when it still round-trips.
fn shortest_digits(x: f64) -> String {
    let shortest = format!("{x:e}");
    let digits = shortest
        .split_once('e')
        .map_or(1, |(m, _)| m.chars().filter(char::is_ascii_digit).count());
    let even = format!("{:.*e}", digits.saturating_sub(1), x);
    if even != shortest && even.parse::<f64>() == Ok(x) {
        even
    } else {
        shortest
    }
}

fn write_string(out: &mut String, s: &str, style: Style) {
    match style {
        Style::Canonical => {
            if is_nfc_quick(s.chars()) == IsNormalized::Yes {
                write_escaped(out, s.chars(), false);
            } else {
                write_escaped(out, s.nfc(), false);
            }
        }
        Style::Storage => write_escaped(out, s.chars(), true),
    }
}

/// `json.dumps` string escaping; `ascii_only` is its `ensure_ascii`.
fn write_escaped(out: &mut String, chars: impl Iterator<Item = char>, ascii_only: bool) {
    out.push('"');
    for c in chars {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if c < ' ' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            // ensure_ascii escapes everything outside printable ASCII, DEL included.
            c if ascii_only && !(' '..='~').contains(&c) => {
                let mut units = [0u16; 2];
                for unit in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{unit:04x}");
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(json: &str) -> String {
        let value = crate::draft::json::parse_json(json).expect("test JSON parses");
        String::from_utf8(canonicalize(&value).expect("canonical")).expect("UTF-8")
    }

    fn float(x: f64) -> String {
        let mut s = String::new();
        write_python_float(&mut s, x);
        s
    }

    #[test]
    fn literals_are_written_as_json_keywords() {
        assert_eq!(canon("[null,true,false]"), "[null,true,false]");
    }

    #[test]
    fn integers_keep_every_digit() {
        assert_eq!(canon("18446744073709551617"), "18446744073709551617");
        assert_eq!(canon("-18446744073709551616"), "-18446744073709551616");
        assert_eq!(
            canon("123456789012345678901234567890"),
            "123456789012345678901234567890"
        );
    }

    #[test]
    fn negative_zero_integer_is_zero() {
        assert_eq!(canon("-0"), "0");
        assert_eq!(canon("-0.0"), "-0.0");
    }

    // The tie literals below are exact doubles; clippy sees more digits than it would print.
    #[allow(clippy::excessive_precision)]
    #[test]
    fn floats_print_as_python_repr() {
        assert_eq!(float(0.1), "0.1");
        assert_eq!(float(1.0), "1.0");
        assert_eq!(float(100.0), "100.0");
        assert_eq!(float(1e16), "1e+16");
        assert_eq!(float(1e15), "1000000000000000.0");
        assert_eq!(float(1e-5), "1e-05");
        assert_eq!(float(1e-4), "0.0001");
        assert_eq!(float(1.5e300), "1.5e+300");
        assert_eq!(float(-2.25), "-2.25");
        assert_eq!(float(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(float(1.2345678901234568e17), "1.2345678901234568e+17");
        assert_eq!(float(5e-324), "5e-324");
        assert_eq!(float(f64::MAX), "1.7976931348623157e+308");
        assert_eq!(float(123456.789), "123456.789");
        assert_eq!(float(9999999999999998.0), "9999999999999998.0");
        // Exact ties between two shortest spellings go to the even digit, as in Python.
        assert_eq!(float(1000000000000000.25), "1000000000000000.2");
        assert_eq!(float(87754016791058.125), "87754016791058.12");
        assert_eq!(float(562949953421312.25), "562949953421312.2");
        assert_eq!(float(f64::NAN), "nan");
        assert_eq!(float(f64::NEG_INFINITY), "-inf");
    }

    #[test]
    fn float_tokens_are_floats_even_when_integral() {
        assert_eq!(canon("1e2"), "100.0");
        assert_eq!(canon("1E2"), "100.0");
        assert_eq!(canon("[1, 1.0]"), "[1,1.0]");
    }

    #[test]
    fn overflowing_float_literal_is_refused() {
        let value = crate::draft::json::parse_json("1e400").expect("parses");
        assert!(matches!(
            canonicalize(&value),
            Err(CanonicalError::NonFinite(_))
        ));
    }

    #[test]
    fn nesting_the_reference_cannot_canonicalise_is_refused() {
        let parse = |text: String| crate::draft::json::parse_json(&text).expect("parses");
        let arrays = |n: usize| parse(format!("{}{}", "[".repeat(n), "]".repeat(n)));
        let objects = |n: usize| {
            parse(format!(
                "{}{{}}{}",
                "{\"k\":".repeat(n - 1),
                "}".repeat(n - 1)
            ))
        };
        // Arrays and objects alternating, with a scalar sibling first in each container, so
        // the depth is the deepest member's, not the first one's.
        let mixed = |n: usize| {
            let mut text = String::from("0");
            for level in 0..n {
                text = if level % 2 == 0 {
                    format!("[0,{text}]")
                } else {
                    format!("{{\"a\":0,\"b\":{text}}}")
                };
            }
            parse(text)
        };
        for nest in [&arrays as &dyn Fn(usize) -> Value, &objects, &mixed] {
            assert!(canonicalize(&nest(MAX_CANONICAL_DEPTH)).is_ok());
            assert_eq!(
                canonicalize(&nest(MAX_CANONICAL_DEPTH + 1)),
                Err(CanonicalError::TooDeep)
            );
        }
    }

    #[test]
    fn strings_are_nfc_normalised() {
        assert_eq!(canon("\"cafe\\u0301\""), "\"caf\u{e9}\"");
    }

    #[test]
    fn escapes_follow_json_dumps() {
        assert_eq!(
            canon(r#""\" \\ \n \r \t \b \f \u0001 \u001f \u007f / é""#),
            "\"\\\" \\\\ \\n \\r \\t \\b \\f \\u0001 \\u001f \u{7f} / \u{e9}\""
        );
    }

    #[test]
    fn keys_sort_by_code_point_before_normalisation() {
        // "e\u0301x" (NFD) sorts before "f" although its NFC form "éx" sorts after.
        assert_eq!(canon(r#"{"f":2,"e\u0301x":1}"#), "{\"\u{e9}x\":1,\"f\":2}");
        // U+FF61 sorts before U+1F600 by code point, after it by UTF-16 unit.
        assert_eq!(
            canon(r#"{"\ud83d\ude00":2,"\uff61":1}"#),
            "{\"\u{ff61}\":1,\"\u{1f600}\":2}"
        );
    }

    #[test]
    fn containers_have_no_whitespace() {
        assert_eq!(
            canon(r#"{ "b" : [ 1 , {} ] , "a" : [] }"#),
            r#"{"a":[],"b":[1,{}]}"#
        );
    }

    #[test]
    fn storage_form_matches_python_json_dumps_sort_keys() {
        let value =
            crate::draft::json::parse_json(r#"{"b":"caf\u00e9 \ud83d\ude80","a":[1,2.5e20]}"#)
                .expect("parses");
        assert_eq!(
            storage_json(&value).expect("storable"),
            r#"{"a": [1, 2.5e+20], "b": "caf\u00e9 \ud83d\ude80"}"#
        );
    }
}
