//! JSON text to `serde_json::Value`, read the way the reference's `json.loads` reads it.
//!
//! A small parser of our own rather than `serde_json::from_str`, for three reasons: Python
//! accepts `NaN` and `Infinity`, which we must name when we refuse them; Python allows nesting
//! far deeper than serde_json's default of 128, and a row must never be able to overflow our
//! stack instead; and serde_json's own deserializer treats one reserved object key as a number
//! under `arbitrary_precision`, which would make a crafted payload hash differently here than
//! in Python. Numbers keep their exact digits (`serde_json::Number` with `arbitrary_precision`).

use std::str::FromStr;

use serde_json::{Map, Number, Value};

/// The deepest nesting parsed. Python's `json.loads` gives up near its recursion limit of
/// 1000; we parse that much and refuse deeper input instead of risking the stack. (The
/// canonical form has a lower limit of its own: see `canonical::MAX_CANONICAL_DEPTH`.)
pub const MAX_DEPTH: usize = 1000;

/// The most values (of any type, nested ones included) one document may hold. Parsing costs
/// far more memory than the text (a `Value`, and for a number its digits, for each): 10 MB
/// of small numbers took 1 GB, and whoever writes the registry chooses the text. The
/// reference has no such limit; no draft a handler takes comes near it.
pub const MAX_VALUES: usize = 100_000;

/// Python refuses to convert integers longer than this many digits
/// (`sys.int_info.default_max_str_digits`), so `json.loads` raises on them.
pub const MAX_INT_DIGITS: usize = 4300;

/// Why a JSON text was refused. The message names the position (in characters, 0-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg} at character {pos}")]
pub struct JsonError {
    msg: String,
    pos: usize,
}

/// Parses one JSON document: duplicate keys keep the last value, as Python's `dict` does.
pub fn parse_json(text: &str) -> Result<Value, JsonError> {
    let mut parser = Parser {
        chars: text.chars().collect(),
        pos: 0,
        depth: 0,
        values: 0,
    };
    parser.skip_ws();
    let value = parser.value()?;
    parser.skip_ws();
    if parser.pos < parser.chars.len() {
        return Err(parser.error("extra data after the JSON value"));
    }
    Ok(value)
}

/// Decodes JSON stored as bytes (a BLOB) the way Python's `json.loads(bytes)` does: UTF-8,
/// UTF-16 or UTF-32, told apart by a byte-order mark or the pattern of zero bytes.
pub fn decode_json_bytes(bytes: &[u8]) -> Result<String, String> {
    let encoding = detect_encoding(bytes);
    let decoded = match encoding {
        Encoding::Utf8 { skip } => String::from_utf8(bytes[skip..].to_vec()).ok(),
        Encoding::Utf16 { big_endian, skip } => {
            let units: Vec<u16> = bytes[skip..]
                .chunks(2)
                .map(|c| {
                    let pair = [c[0], *c.get(1).unwrap_or(&0)];
                    if big_endian {
                        u16::from_be_bytes(pair)
                    } else {
                        u16::from_le_bytes(pair)
                    }
                })
                .collect();
            if bytes[skip..].len().is_multiple_of(2) {
                String::from_utf16(&units).ok()
            } else {
                None
            }
        }
        Encoding::Utf32 { big_endian, skip } => {
            let rest = &bytes[skip..];
            if rest.len().is_multiple_of(4) {
                rest.chunks(4)
                    .map(|c| {
                        let quad = [c[0], c[1], c[2], c[3]];
                        let n = if big_endian {
                            u32::from_be_bytes(quad)
                        } else {
                            u32::from_le_bytes(quad)
                        };
                        char::from_u32(n)
                    })
                    .collect()
            } else {
                None
            }
        }
    };
    decoded.ok_or_else(|| format!("bytes are not valid {}", encoding.name()))
}

#[derive(Debug, Clone, Copy)]
enum Encoding {
    Utf8 { skip: usize },
    Utf16 { big_endian: bool, skip: usize },
    Utf32 { big_endian: bool, skip: usize },
}

impl Encoding {
    fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 { .. } => "UTF-8",
            Encoding::Utf16 { .. } => "UTF-16",
            Encoding::Utf32 { .. } => "UTF-32",
        }
    }
}

fn detect_encoding(b: &[u8]) -> Encoding {
    if b.starts_with(&[0xff, 0xfe, 0, 0]) {
        return Encoding::Utf32 {
            big_endian: false,
            skip: 4,
        };
    }
    if b.starts_with(&[0, 0, 0xfe, 0xff]) {
        return Encoding::Utf32 {
            big_endian: true,
            skip: 4,
        };
    }
    if b.starts_with(&[0xff, 0xfe]) {
        return Encoding::Utf16 {
            big_endian: false,
            skip: 2,
        };
    }
    if b.starts_with(&[0xfe, 0xff]) {
        return Encoding::Utf16 {
            big_endian: true,
            skip: 2,
        };
    }
    if b.starts_with(&[0xef, 0xbb, 0xbf]) {
        return Encoding::Utf8 { skip: 3 };
    }
    if b.len() >= 4 {
        if b[0] == 0 {
            return if b[1] != 0 {
                Encoding::Utf16 {
                    big_endian: true,
                    skip: 0,
                }
            } else {
                Encoding::Utf32 {
                    big_endian: true,
                    skip: 0,
                }
            };
        }
        if b[1] == 0 {
            return if b[2] != 0 || b[3] != 0 {
                Encoding::Utf16 {
                    big_endian: false,
                    skip: 0,
                }
            } else {
                Encoding::Utf32 {
                    big_endian: false,
                    skip: 0,
                }
            };
        }
    } else if b.len() == 2 {
        if b[0] == 0 {
            return Encoding::Utf16 {
                big_endian: true,
                skip: 0,
            };
        }
        if b[1] == 0 {
            return Encoding::Utf16 {
                big_endian: false,
                skip: 0,
            };
        }
    }
    Encoding::Utf8 { skip: 0 }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    /// Values parsed so far, against [`MAX_VALUES`].
    values: usize,
}

impl Parser {
    fn error(&self, msg: impl Into<String>) -> JsonError {
        JsonError {
            msg: msg.into(),
            pos: self.pos,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(' ' | '\t' | '\n' | '\r')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, word: &str) -> bool {
        let end = self.pos + word.chars().count();
        if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(word.chars()) {
            self.pos = end;
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Value, JsonError> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(self.error(format!("more than {MAX_VALUES} values")));
        }
        match self.peek() {
            Some('{') => self.nested(Self::object),
            Some('[') => self.nested(Self::array),
            Some('"') => Ok(Value::String(self.string()?)),
            Some('-' | '0'..='9') => self.number(),
            _ if self.eat("null") => Ok(Value::Null),
            _ if self.eat("true") => Ok(Value::Bool(true)),
            _ if self.eat("false") => Ok(Value::Bool(false)),
            _ if self.eat("NaN") || self.eat("Infinity") => {
                Err(self.error("NaN and Infinity cannot be signed"))
            }
            None => Err(self.error("unexpected end of JSON text")),
            Some(c) => Err(self.error(format!("unexpected character {c:?}"))),
        }
    }

    fn nested(
        &mut self,
        parse: fn(&mut Self) -> Result<Value, JsonError>,
    ) -> Result<Value, JsonError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        let value = parse(self);
        self.depth -= 1;
        value
    }

    fn object(&mut self) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut map = Map::new();
        self.skip_ws();
        if self.peek() == Some('}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some('"') {
                return Err(self.error("expected a string key"));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(':') {
                return Err(self.error("expected ':'"));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value()?;
            map.insert(key, value);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
    }

    fn array(&mut self) -> Result<Value, JsonError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value()?);
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some(']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
    }

    fn number(&mut self) -> Result<Value, JsonError> {
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
            if self.eat("Infinity") {
                return Err(self.error("NaN and Infinity cannot be signed"));
            }
        }
        match self.peek() {
            Some('0') => self.pos += 1,
            Some('1'..='9') => self.digits(),
            _ => return Err(self.error("expected a digit")),
        }
        if self.peek() == Some('.') && matches!(self.chars.get(self.pos + 1), Some('0'..='9')) {
            self.pos += 1;
            self.digits();
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let mut look = self.pos + 1;
            if matches!(self.chars.get(look), Some('+' | '-')) {
                look += 1;
            }
            if matches!(self.chars.get(look), Some('0'..='9')) {
                self.pos = look;
                self.digits();
            }
        }
        let token: String = self.chars[start..self.pos].iter().collect();
        let is_integer = !token.contains(['.', 'e', 'E']);
        let digits = token.trim_start_matches('-').len();
        if is_integer && digits > MAX_INT_DIGITS {
            return Err(self.error(format!(
                "an integer of {digits} digits (Python's json.loads refuses more than {MAX_INT_DIGITS})"
            )));
        }
        Number::from_str(&token)
            .map(Value::Number)
            .map_err(|e| self.error(format!("bad number {token}: {e}")))
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some('0'..='9')) {
            self.pos += 1;
        }
    }

    fn string(&mut self) -> Result<String, JsonError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return Err(self.error("unterminated string"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => self.escape(&mut out)?,
                c if c < ' ' => return Err(self.error("control character in a string")),
                c => out.push(c),
            }
        }
    }

    fn escape(&mut self, out: &mut String) -> Result<(), JsonError> {
        let Some(c) = self.peek() else {
            return Err(self.error("unterminated escape"));
        };
        self.pos += 1;
        let plain = match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let unit = self.hex4()?;
                let c = if (0xd800..0xdc00).contains(&unit) && self.eat("\\u") {
                    let low = self.hex4()?;
                    if !(0xdc00..0xe000).contains(&low) {
                        // Python keeps both halves as separate, unpaired surrogates, which
                        // then cannot be encoded; either way the draft cannot verify.
                        return Err(self.error("unpaired surrogate in \\u escape"));
                    }
                    char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
                } else {
                    char::from_u32(unit)
                };
                c.ok_or_else(|| self.error("unpaired surrogate in \\u escape"))?
            }
            other => return Err(self.error(format!("invalid escape \\{other}"))),
        };
        out.push(plain);
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, JsonError> {
        let end = self.pos + 4;
        if end > self.chars.len() {
            return Err(self.error("truncated \\u escape"));
        }
        let hex: String = self.chars[self.pos..end].iter().collect();
        let unit = u32::from_str_radix(&hex, 16)
            .ok()
            .filter(|_| hex.chars().all(|c| c.is_ascii_hexdigit()))
            .ok_or_else(|| self.error(format!("invalid \\u escape {hex:?}")))?;
        self.pos = end;
        Ok(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_up_to_the_limit_parse_and_one_more_is_refused() {
        // The array itself is one of the values.
        let full = format!("[{}]", vec!["1"; MAX_VALUES - 1].join(","));
        assert!(parse_json(&full).is_ok());
        let over = format!("[{}]", vec!["1"; MAX_VALUES].join(","));
        let refused = parse_json(&over).expect_err("one value too many");
        assert!(
            refused.to_string().contains("more than 100000 values"),
            "{refused}"
        );
    }

    #[test]
    fn duplicate_keys_keep_the_last_value() {
        assert_eq!(parse_json(r#"{"a":1,"a":2}"#).expect("parses")["a"], 2);
    }

    #[test]
    fn nan_and_infinity_are_refused_by_name() {
        for text in ["NaN", "[Infinity]", "{\"x\": -Infinity}"] {
            let err = parse_json(text).expect_err(text).to_string();
            assert!(err.contains("NaN and Infinity"), "{text}: {err}");
        }
    }

    #[test]
    fn nesting_up_to_the_limit_parses_and_deeper_is_refused() {
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse_json(&ok).is_ok());
        // Depth is nesting, not a count of containers: more siblings than the limit are fine.
        let wide = format!("[{}[]]", "[{}],".repeat(MAX_DEPTH));
        assert!(parse_json(&wide).is_ok());
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert!(
            parse_json(&deep)
                .expect_err("too deep")
                .to_string()
                .contains("nesting")
        );
    }

    #[test]
    fn integers_longer_than_python_converts_are_refused() {
        assert!(parse_json(&"7".repeat(MAX_INT_DIGITS)).is_ok());
        assert!(parse_json(&format!("-{}", "7".repeat(MAX_INT_DIGITS))).is_ok());
        assert!(parse_json(&"7".repeat(MAX_INT_DIGITS + 1)).is_err());
    }

    #[test]
    fn reserved_serde_key_is_an_ordinary_key() {
        let v = parse_json(r#"{"$serde_json::private::Number":"1"}"#).expect("parses");
        assert!(v.is_object());
    }

    #[test]
    fn surrogate_pairs_join_and_lone_surrogates_are_refused() {
        assert_eq!(parse_json(r#""\ud83d\ude00""#).expect("pair"), "\u{1f600}");
        assert!(parse_json(r#""\ud83d""#).is_err());
        assert!(parse_json(r#""\ude00""#).is_err());
    }

    #[test]
    fn malformed_text_is_refused() {
        for text in [
            "",
            "{",
            "[1,]",
            "01",
            "1.",
            "{\"a\" 1}",
            "\"\t\"",
            "[] x",
            "\u{feff}{}",
        ] {
            assert!(parse_json(text).is_err(), "{text:?} should be refused");
        }
        // Each refusal names its own cause: only the words NaN and Infinity are called that.
        for (text, cause) in [
            ("", "unexpected end of JSON text"),
            ("[", "unexpected end of JSON text"),
            ("x", "unexpected character 'x'"),
            ("nul", "unexpected character 'n'"),
            ("\"\\u12", "truncated \\u escape"),
            ("\"\\u0041", "unterminated string"),
        ] {
            let err = parse_json(text).expect_err(text).to_string();
            assert!(err.contains(cause), "{text:?}: {err}");
        }
    }

    #[test]
    fn bytes_decode_by_bom_or_zero_pattern() {
        assert_eq!(decode_json_bytes(b"{}").expect("utf8"), "{}");
        assert_eq!(
            decode_json_bytes(b"\xef\xbb\xbf{}").expect("utf8 bom"),
            "{}"
        );
        assert_eq!(decode_json_bytes(b"{\0}\0").expect("utf16le"), "{}");
        assert_eq!(decode_json_bytes(b"\0{\0}").expect("utf16be"), "{}");
        assert!(decode_json_bytes(b"\xff\xff").is_err());
        // Python's json.detect_encoding, case by case: XX 00 00 XX is UTF-16-LE (not UTF-32),
        // and two bytes with a zero are UTF-16 either way round.
        assert_eq!(
            decode_json_bytes(b"\"\0\0\x4e\"\0").expect("utf16le"),
            "\"\u{4e00}\""
        );
        assert_eq!(decode_json_bytes(b"1\0\0\0").expect("utf32le"), "1");
        assert_eq!(decode_json_bytes(&[0, 0, 0, b'1']).expect("utf32be"), "1");
        assert_eq!(decode_json_bytes(b"\x001").expect("utf16be"), "1");
        assert_eq!(decode_json_bytes(b"1\0").expect("utf16le"), "1");
        // An undecodable document names the encoding it was read as.
        for (bytes, name) in [
            (&b"\xff\xfe\x00\xd8"[..], "UTF-16"),
            (&b"\xff\xfe\0\0\0\0\x11\0"[..], "UTF-32"),
            (&b"\xc3("[..], "UTF-8"),
        ] {
            assert_eq!(
                decode_json_bytes(bytes).expect_err(name),
                format!("bytes are not valid {name}")
            );
        }
    }
}
