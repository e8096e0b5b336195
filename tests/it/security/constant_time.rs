//! Hash and signature comparisons are constant time.

use super::*;

/// A timing test would be flaky on a shared machine and prove little; what can be checked
/// for certain is that both comparisons go through `subtle`'s `ct_eq`.
#[test]
fn hash_and_signature_comparisons_go_through_subtle_ct_eq() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/draft/sign.rs");
    let text = fs::read_to_string(path).expect("read sign.rs");
    assert!(text.contains("use subtle::ConstantTimeEq;"), "{path}");
    let start = text.find("pub fn verify(").expect("verify in sign.rs");
    let body = &text[start..];
    let end = body[1..]
        .find("\nfn ")
        .or_else(|| body[1..].find("\npub fn "))
        .map_or(body.len(), |i| i + 1);
    let body = &body[..end];
    let lines: Vec<&str> = body.lines().collect();
    for verdict in ["VerifyError::HashMismatch", "VerifyError::BadSignature"] {
        let at = lines
            .iter()
            .position(|l| l.contains(verdict))
            .unwrap_or_else(|| panic!("{verdict} in verify"));
        let guard = lines[..at]
            .iter()
            .rev()
            .find(|l| l.trim_start().starts_with("if "))
            .unwrap_or_else(|| panic!("no `if` before {verdict}"));
        assert!(
            guard.contains(".ct_eq(") && guard.contains("bool::from("),
            "{verdict} is decided by {guard:?}, not by ct_eq"
        );
    }
    // Nothing else in the sources compares hashes, signatures or MACs with == or !=.
    for (file, text) in source_files() {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let l = line.to_ascii_lowercase();
            let names_secret = ["signature", "stored_sig", "_hash", "hmac"]
                .iter()
                .any(|s| l.contains(s));
            let compares = [" == ", " != ", ".eq(", ".ne("]
                .iter()
                .any(|s| l.contains(s));
            assert!(
                !(names_secret && compares) || l.trim_start().starts_with("//"),
                "{file}:{}: {line:?} compares a secret-derived value without ct_eq",
                n + 1
            );
        }
    }
}
