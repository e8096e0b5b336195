//! A draft cannot forge alerts or log lines: no injected mail headers, no raw control
//! characters on the terminal or in the log.

use super::*;

#[test]
fn a_draft_cannot_inject_mail_headers_or_recipients_into_an_alert() {
    let s = Stage::new("");
    s.write_config(&format!(
        "[notify]\nsendmail = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        s.bin.join("sendmail").display()
    ));
    // The kind is the signer's choice; an unverifiable row's id is the registry writer's.
    s.w.approved("x\r\nBcc: evil@example.net\r\nX-Injected: yes", "{}", "{}");
    s.w.sql(&format!(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at, key_version,
             schema_version, content_hash, signature, status, created_at, updated_at)
         VALUES ('evil' || char(13, 10) || 'Bcc: evil2@example.net', 'k', '{{}}', '{{}}', {now}, 1,
             'v1', 'x', 'y', 'approved', 1, 1)",
        now = inbox_exec::unix_now()
    ));
    s.run(&[]).ok();
    let calls = s.calls_of("sendmail");
    assert_eq!(calls.len(), 2, "two alerts");
    for call in &calls {
        assert_eq!(
            call.argv,
            ["-i", "-f", "a@example.org", "--", "b@example.org"],
            "the envelope is the configured one"
        );
        let message = String::from_utf8_lossy(&call.stdin);
        let (headers, _) = message.split_once("\r\n\r\n").expect("headers and body");
        for line in headers.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            assert!(
                !lower.starts_with("bcc:") && !lower.starts_with("x-injected:"),
                "injected header {line:?} in:\n{headers}"
            );
        }
    }
}

#[test]
fn control_characters_from_a_draft_never_reach_the_terminal_or_the_log_raw() {
    let s = Stage::new("");
    // An escape sequence (sets a terminal's title) and a forged log line, in a signed kind.
    let kind = "x\u{1b}]0;owned\u{7}\ninbox-exec: error: forged line";
    let id = s.w.approved(kind, "{}", "{}");
    let human =
        s.w.cmd(&["run"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .env("PATH", s.path_var())
            .ok();
    assert_eq!(s.w.status(&id), "completed_with_error");
    let show = s.w.cmd(&["show", &id]).ok();
    for (what, done) in [("run", &human), ("show", &show)] {
        for (stream, text) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
            assert!(
                !text.contains('\u{1b}'),
                "{what} {stream} carries a raw ESC from the draft:\n{text:?}"
            );
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("inbox-exec: error: forged line")),
                "{what} {stream} carries a forged log line:\n{text}"
            );
        }
    }
}
