//! Re-signed, re-targeted, relabelled or replayed drafts are refused before anything runs.

use super::*;

#[test]
fn a_draft_signed_with_another_key_is_refused_at_approve_and_at_run() {
    let s = Stage::new("");
    let other = s.w.path("other.key");
    let other = other.to_str().expect("utf8");
    s.w.cmd(&["keygen", "--key", other]).ok();
    let id =
        s.w.cmd(&[
            "draft",
            "new",
            "--key",
            other,
            "--kind",
            "github_comment",
            "--target",
            TARGET,
            "--payload",
            r#"{"body":"signed elsewhere"}"#,
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    s.w.cmd(&["approve", &id])
        .fails_with(&["signature mismatch (HMAC failed)", "stays pending"]);
    assert_eq!(s.w.status(&id), "pending");
    // A registry writer approves it anyway.
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    let doc = s.run(&[]).ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "verify_failed");
    assert_eq!(r["reason"], "signature mismatch (HMAC failed)");
    assert_eq!(s.w.status(&id), "completed_with_error");
    assert!(s.calls().is_empty());
}

#[test]
fn a_draft_retargeted_after_approval_is_refused_and_nothing_runs() {
    let s = Stage::new("");
    let plain = s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let rehashed = s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let moved = r#"{"issue": 1, "repo": "evil-org/elsewhere"}"#;
    for id in [&plain, &rehashed] {
        s.w.sql(&format!(
            "UPDATE drafts SET target_json = '{moved}' WHERE draft_id = '{id}'"
        ));
    }
    // Without the key an attacker can still recompute the hash; the HMAC then fails.
    let hash = rehash(&s.w, &rehashed);
    s.w.sql(&format!(
        "UPDATE drafts SET content_hash = '{hash}' WHERE draft_id = '{rehashed}'"
    ));
    let doc = s.run(&[]).ok().json();
    for (id, reason) in [
        (&plain, "content_hash mismatch (record was tampered)"),
        (&rehashed, "signature mismatch (HMAC failed)"),
    ] {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "verify_failed", "{r}");
        assert_eq!(r["reason"], reason);
        assert_eq!(s.w.status(id), "completed_with_error");
        assert_eq!(
            s.last_error(id),
            format!("verify failed at execute time: {reason}")
        );
    }
    assert!(s.calls().is_empty(), "nothing was dispatched");
}

#[test]
fn a_draft_replayed_under_another_id_is_refused() {
    let s = Stage::new("");
    let original = s.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &original)["outcome"], "executed");
    let copy = |new_id: &str| {
        s.w.sql(&format!(
            "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                 key_version, schema_version, content_hash, signature, status, created_at, updated_at)
             SELECT '{new_id}', draft_kind, target_json, payload_json, issued_at, key_version,
                 schema_version, content_hash, signature, 'approved', created_at, updated_at
             FROM drafts WHERE draft_id = '{original}'"
        ));
    };
    let same = "01REPLAYSAMEHASH0000000000";
    let rehashed = "01REPLAYREHASHED0000000000";
    copy(same);
    copy(rehashed);
    let hash = rehash(&s.w, rehashed);
    s.w.sql(&format!(
        "UPDATE drafts SET content_hash = '{hash}' WHERE draft_id = '{rehashed}'"
    ));
    let doc = s.run(&[]).ok().json();
    for (id, reason) in [
        (same, "content_hash mismatch (record was tampered)"),
        (rehashed, "signature mismatch (HMAC failed)"),
    ] {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "verify_failed", "{r}");
        assert_eq!(r["reason"], reason);
    }
    assert_eq!(s.calls().len(), 1, "only the original ran");
}

#[test]
fn a_draft_carrying_another_drafts_hash_and_signature_is_refused() {
    let s = Stage::new("");
    let donor = s.w.draft("ledger_done", "{}", r#"{"n":"approved text"}"#);
    let forged = s.w.draft("ledger_done", "{}", r#"{"n":"attacker text"}"#);
    s.w.sql(&format!(
        "UPDATE drafts SET
             content_hash = (SELECT content_hash FROM drafts WHERE draft_id = '{donor}'),
             signature = (SELECT signature FROM drafts WHERE draft_id = '{donor}')
         WHERE draft_id = '{forged}'"
    ));
    s.w.cmd(&["approve", &forged])
        .fails_with(&["content_hash mismatch", "stays pending"]);
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{forged}'"
    ));
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        outcome_of(&doc, &forged)["reason"],
        "content_hash mismatch (record was tampered)"
    );
    assert!(s.calls().is_empty());
}

#[test]
fn a_draft_with_a_changed_kind_or_issued_at_is_refused() {
    let s = Stage::new("");
    // issued_at moved forward (within the clock skew allowance) would stretch the TTL; the kind moved would change the handler.
    let later = s.w.approved("ledger_done", "{}", "{}");
    let rekinded = s.w.approved("social_post", "{}", "{}");
    s.w.sql(&format!(
        "UPDATE drafts SET issued_at = issued_at + 50 WHERE draft_id = '{later}';
         UPDATE drafts SET draft_kind = 'ledger_done' WHERE draft_id = '{rekinded}';"
    ));
    let doc = s.run(&[]).ok().json();
    for id in [&later, &rekinded] {
        assert_eq!(
            outcome_of(&doc, id)["reason"],
            "content_hash mismatch (record was tampered)"
        );
    }
    assert!(s.calls().is_empty());
}

#[test]
fn a_draft_under_an_unconfigured_key_version_is_refused_even_with_the_same_key_bytes() {
    let s = Stage::new("");
    // Version 2 configured with the same key file: the signature itself is good.
    let both = s.w.path("both.toml");
    write_private(
        &both,
        &format!("[keys]\n1 = \"{k}\"\n2 = \"{k}\"\n", k = s.w.key.display()),
    );
    let id =
        s.w.cmd(&[
            "draft",
            "new",
            "--config",
            both.to_str().expect("utf8"),
            "--kind",
            "ledger_done",
            "--target",
            "{}",
            "--payload",
            "{}",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(
        s.w.query(&format!(
            "SELECT key_version FROM drafts WHERE draft_id = '{id}'"
        )),
        "2"
    );
    // The executor knows only version 1.
    s.w.cmd(&["approve", &id])
        .env("INBOX_EXEC_CONFIG", &s.config)
        .fails_with(&["unknown key_version: 2"]);
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    // A second copy relabelled as version 1: key_version is signed, so the hash breaks.
    let relabelled = "01RELABELLEDKEYVERSION0000";
    s.w.sql(&format!(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
             key_version, schema_version, content_hash, signature, status, created_at, updated_at)
         SELECT '{relabelled}', draft_kind, target_json, payload_json, issued_at, 1,
             schema_version, content_hash, signature, 'approved', created_at, updated_at
         FROM drafts WHERE draft_id = '{id}'"
    ));
    let doc = s.run(&[]).ok().json();
    assert_eq!(outcome_of(&doc, &id)["reason"], "unknown key_version: 2");
    assert_eq!(
        outcome_of(&doc, relabelled)["reason"],
        "content_hash mismatch (record was tampered)"
    );
    assert!(s.calls().is_empty());
}
