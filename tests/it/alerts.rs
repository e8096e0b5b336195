//! Alerts: what `run` mails, to whom, and what happens when the mail server is down, hung, or
//! replaced by sendmail, against the real SMTP server of `mail.rs`.

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::{Done, World, script};
use crate::mail::{Mail, SmtpServer};

const TARGET: &str = r#"{"repo":"octo-org/demo","issue":42}"#;
const PAYLOAD: &str = r#"{"body":"Thanks for the report."}"#;
pub(crate) const FROM: &str = "inbox-exec@example.org";
pub(crate) const TO: &str = "ops@example.org";
pub(crate) const PREFIX: &str = "[ALERT] inbox-exec";

/// The `[notify]` section for `url`.
fn notify_smtp(url: &str, timeout: &str) -> String {
    format!(
        "[notify]\nsmtp_url = \"{url}\"\nfrom = \"{FROM}\"\nto = [\"{TO}\"]\ntimeout = \"{timeout}\"\n"
    )
}

/// Writes the config file, private to its owner (a group- or world-writable one is refused).
fn write_config(w: &World, body: &str) -> PathBuf {
    let path = w.path("config.toml");
    fs::write(&path, body).expect("write config");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).expect("chmod config");
    path
}

/// A `bin` directory holding a `gh` stand-in with `body` as its script.
fn gh_stand_in(w: &World, body: &str) -> PathBuf {
    let bin = w.path("bin");
    fs::create_dir_all(&bin).expect("bin dir");
    script(&bin.join("gh"), body);
    bin
}

fn run(w: &World, config: &Path) -> crate::harness::Run {
    w.cmd(&["run", "--json", "--config", path_str(config)])
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn outcome(done: &Done, id: &str) -> String {
    let doc = done.json();
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["draft_id"] == id)
        .and_then(|r| r["outcome"].as_str())
        .unwrap_or_else(|| panic!("no result for {id} in {doc}"))
        .to_owned()
}

/// The one message whose subject names `id`.
pub(crate) fn mail_about<'a>(mails: &'a [Mail], id: &str) -> &'a Mail {
    let matching: Vec<&Mail> = mails.iter().filter(|m| m.subject().contains(id)).collect();
    assert_eq!(matching.len(), 1, "one message about {id}: {mails:#?}");
    matching[0]
}

/// An alert from us to the configured recipient, whose subject and body mention every
/// fragment.
fn assert_alert(mail: &Mail, subject: &[&str], body: &[&str]) {
    let subj = mail.subject();
    assert!(subj.starts_with(PREFIX), "subject {subj:?}");
    assert_eq!(mail.from, FROM, "envelope sender");
    assert_eq!(mail.to, [TO], "envelope recipients");
    let header_to = mail.header("To").expect("To header");
    assert!(header_to.contains(TO), "To: {header_to}");
    for f in subject {
        assert!(subj.contains(f), "subject should mention {f:?}: {subj:?}");
    }
    let text = mail.body();
    for f in body {
        assert!(text.contains(f), "body should mention {f:?}:\n{text}");
    }
}

#[test]
fn a_verify_failure_at_execute_time_is_mailed() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&smtp.url(), "5s"));
    let id = w.approved("github_comment", TARGET, PAYLOAD);
    w.sql(&format!(
        r#"UPDATE drafts SET payload_json = '{{"body": "attacker text"}}' WHERE draft_id = '{id}'"#
    ));
    let done = run(&w, &config).ok();
    assert_eq!(outcome(&done, &id), "verify_failed");
    assert_eq!(w.status(&id), "completed_with_error");
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_alert(
        &mails[0],
        &[&id, "failed verification"],
        &[&id, "content_hash mismatch", "completed_with_error"],
    );
}

#[test]
fn a_non_delegable_refusal_is_mailed() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&smtp.url(), "5s"));
    let id = w.approved("venture_kill", r#"{"venture":"v1"}"#, "{}");
    let done = run(&w, &config).ok();
    assert_eq!(outcome(&done, &id), "refused_non_delegable");
    assert_eq!(w.status(&id), "terminal_unrecoverable");
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_alert(
        &mails[0],
        &[&id, "venture_kill is non-delegable"],
        &[&id, "terminal_unrecoverable", "attestation"],
    );
}

#[test]
fn a_dispatch_failure_is_mailed_with_the_reason() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&smtp.url(), "5s"));
    let bin = gh_stand_in(
        &w,
        "#!/bin/sh\ncat >/dev/null\necho 'HTTP 502: upstream exploded' >&2\nexit 1\n",
    );
    let gh = w.approved("github_comment", TARGET, PAYLOAD);
    let social = w.approved("social_post", "{}", r#"{"text":"hi"}"#);
    let done = run(&w, &config)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .ok();
    assert_eq!(outcome(&done, &gh), "execute_failed");
    assert_eq!(outcome(&done, &social), "execute_failed");
    assert_eq!(w.status(&gh), "completed_with_error");
    assert_eq!(w.status(&social), "completed_with_error");
    let mails = smtp.wait_for(2);
    assert_eq!(mails.len(), 2, "{mails:#?}");
    assert_alert(
        mail_about(&mails, &gh),
        &[&gh, "failed", "HTTP 502: upstream exploded"],
        &[
            &gh,
            "github_comment",
            "exit status 1",
            "HTTP 502: upstream exploded",
            "Its handler ran and failed",
        ],
    );
    assert_alert(
        mail_about(&mails, &social),
        &[&social, "no handler for kind=social_post"],
        &[
            &social,
            "no handler for kind=social_post",
            "refused before its handler ran",
        ],
    );
}

#[test]
fn a_thermal_trip_is_mailed_once() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let ledger = w.path("ledger");
    script(&ledger, "#!/bin/sh\ncat >/dev/null\n");
    let config = write_config(
        &w,
        &format!(
            "[handlers.ledger_done]\ncommand = [\"{}\"]\n\n[thermal]\nmax_actions = 1\n\n{}",
            ledger.display(),
            notify_smtp(&smtp.url(), "5s")
        ),
    );
    let ids: Vec<String> = (0..3)
        .map(|i| w.approved("ledger_done", "{}", &format!(r#"{{"n":{i}}}"#)))
        .collect();
    let done = run(&w, &config).ok();
    let outcomes: Vec<String> = ids.iter().map(|id| outcome(&done, id)).collect();
    assert_eq!(outcomes, ["executed", "executed", "deferred_thermal"]);
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_alert(
        &mails[0],
        &["thermal cutout tripped"],
        &["more than the limit of 1", "paused"],
    );
    // The next run finds the cutout in force: paused, and no second alert for the same trip.
    let done = run(&w, &config).ok();
    assert_eq!(done.json()["status"], "paused");
    assert_eq!(smtp.received().len(), 1, "{:#?}", smtp.received());
}

sqlite_only! {
#[test]
fn an_unusable_thermal_sidecar_is_mailed_as_thermal_history_rebuilt() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&smtp.url(), "5s"));
    fs::create_dir_all(&w.state).expect("state dir");
    fs::write(w.state.join("thermal.json"), b"\x00{garbage").expect("corrupt sidecar");
    let done = run(&w, &config).ok();
    assert_eq!(done.json()["status"], "idle");
    assert!(
        done.stderr.contains("warning") && done.stderr.contains("unusable"),
        "{}",
        done.stderr
    );
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_alert(
        &mails[0],
        &["thermal history rebuilt"],
        &["thermal.json", "unusable", "rebuilt"],
    );
}
}

#[test]
fn a_successful_run_sends_no_mail() {
    let smtp = SmtpServer::start();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&smtp.url(), "5s"));
    let bin = gh_stand_in(
        &w,
        "#!/bin/sh\ncat >/dev/null\necho https://github.com/octo-org/demo/issues/42#issuecomment-1\n",
    );
    let path = format!("{}:/usr/bin:/bin", bin.display());
    let id = w.approved("github_comment", TARGET, PAYLOAD);
    let done = run(&w, &config).env("PATH", &path).ok();
    assert_eq!(outcome(&done, &id), "executed");
    assert_eq!(w.status(&id), "completed");
    // Alerts are sent before the process exits, and the server stores a message before it
    // acknowledges it: nothing more can arrive from that run.
    assert!(smtp.received().is_empty(), "{:#?}", smtp.received());
    // The server was reachable all along: a failure in the next run does arrive.
    let bad = w.approved("social_post", "{}", "{}");
    run(&w, &config).env("PATH", &path).ok();
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert_alert(&mails[0], &[&bad], &[]);
}

#[test]
fn without_a_notify_section_the_alert_is_a_warning_on_stderr() {
    let w = World::ready();
    let id = w.approved("social_post", "{}", r#"{"text":"hi"}"#);
    let done = w.cmd(&["run", "--json"]).ok();
    assert_eq!(outcome(&done, &id), "execute_failed");
    assert_eq!(w.status(&id), "completed_with_error");
    let line = done
        .stderr
        .lines()
        .find(|l| l.contains(PREFIX))
        .unwrap_or_else(|| panic!("no alert on stderr:\n{}", done.stderr));
    assert!(line.contains("warning"), "{line}");
    assert!(line.contains(&id), "{line}");
    assert!(line.contains("no handler for kind=social_post"), "{line}");
}

#[test]
fn a_mail_server_that_is_down_does_not_fail_the_cycle() {
    // A port where nothing listens: bound, then released.
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        listener.local_addr().expect("listener address").port()
    };
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&format!("smtp://127.0.0.1:{port}"), "2s"));
    let first = w.approved("social_post", "{}", "{}");
    let second = w.approved("notify_routing_update", "{}", "{}");
    let done = run(&w, &config).ok();
    for id in [&first, &second] {
        assert_eq!(outcome(&done, id), "execute_failed");
        assert_eq!(w.status(id), "completed_with_error");
        assert!(done.stderr.contains(id.as_str()), "{}", done.stderr);
    }
    // One failed attempt to reach the server; the second alert goes straight to the log.
    assert_eq!(
        done.stderr.matches("cannot send alert").count(),
        1,
        "{}",
        done.stderr
    );
    assert_eq!(
        done.stderr.matches("not sent").count(),
        1,
        "{}",
        done.stderr
    );
}

#[test]
fn a_mail_server_that_never_answers_does_not_stall_the_run() {
    // The kernel completes the TCP handshake for connections queued on a listening socket, so
    // the client is connected to a server that never says a word. The connections are
    // accepted after the run, to count them.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let port = listener.local_addr().expect("listener address").port();
    let w = World::ready();
    let config = write_config(&w, &notify_smtp(&format!("smtp://127.0.0.1:{port}"), "1s"));
    let first = w.approved("social_post", "{}", "{}");
    let second = w.approved("venture_kill", "{}", "{}");
    let started = Instant::now();
    let done = run(&w, &config).ok();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "the run took {took:?}");
    assert_eq!(outcome(&done, &first), "execute_failed");
    assert_eq!(w.status(&first), "completed_with_error");
    assert_eq!(outcome(&done, &second), "refused_non_delegable");
    assert_eq!(w.status(&second), "terminal_unrecoverable");
    assert!(done.stderr.contains("cannot send alert"), "{}", done.stderr);
    // After the first timeout the notifier stops trying: one connection, not one per alert.
    listener
        .set_nonblocking(true)
        .expect("non-blocking listener");
    let mut held = Vec::new();
    while let Ok((stream, _)) = listener.accept() {
        held.push(stream);
    }
    assert_eq!(held.len(), 1, "connections to the silent server");
}

#[test]
fn alerts_can_go_through_sendmail() {
    let w = World::ready();
    let argv = w.path("sendmail.argv");
    let stdin = w.path("sendmail.stdin");
    let sendmail = w.path("sendmail");
    script(
        &sendmail,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat > '{}'\n",
            argv.display(),
            stdin.display()
        ),
    );
    let config = write_config(
        &w,
        &format!(
            "[notify]\nsendmail = \"{}\"\nfrom = \"{FROM}\"\nto = [\"{TO}\", \"oncall@example.org\"]\ntimeout = \"5s\"\n",
            sendmail.display()
        ),
    );
    let id = w.approved("social_post", "{}", "{}");
    let done = run(&w, &config).ok();
    assert_eq!(outcome(&done, &id), "execute_failed");
    let args: Vec<String> = fs::read_to_string(&argv)
        .expect("sendmail was run")
        .lines()
        .map(str::to_owned)
        .collect();
    let recipients: Vec<&str> = args
        .iter()
        .skip_while(|a| *a != "--")
        .skip(1)
        .map(String::as_str)
        .collect();
    assert_eq!(recipients, [TO, "oncall@example.org"], "argv {args:?}");
    assert!(
        args.windows(2).any(|p| p[0] == "-f" && p[1] == FROM),
        "argv {args:?}"
    );
    let mail = Mail {
        from: FROM.to_owned(),
        to: vec![TO.to_owned()],
        data: fs::read_to_string(&stdin).expect("sendmail stdin"),
    };
    let subject = mail.subject();
    assert!(subject.starts_with(PREFIX), "{subject:?}");
    assert!(
        mail.text().contains(&id) && mail.text().contains("no handler for kind=social_post"),
        "{}",
        mail.text()
    );
    let header_to = mail.header("To").expect("To header");
    assert!(
        header_to.contains(TO) && header_to.contains("oncall@example.org"),
        "To: {header_to}"
    );
}

#[test]
fn sendmail_gets_bare_envelope_addresses_when_the_config_has_display_names() {
    // `from` and `to` are parsed as mailboxes, so display names are accepted, and over SMTP
    // the envelope carries the bare addresses. sendmail's `-f` and recipient arguments are
    // envelope addresses too, and must not get the display names.
    let w = World::ready();
    let argv = w.path("sendmail.argv");
    let sendmail = w.path("sendmail");
    script(
        &sendmail,
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\ncat >/dev/null\n",
            argv.display()
        ),
    );
    let config = write_config(
        &w,
        &format!(
            "[notify]\nsendmail = \"{}\"\nfrom = \"Inbox Exec <{FROM}>\"\nto = [\"Ops <{TO}>\"]\n",
            sendmail.display()
        ),
    );
    w.approved("social_post", "{}", "{}");
    run(&w, &config).ok();
    let args: Vec<String> = fs::read_to_string(&argv)
        .expect("sendmail was run")
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(args, ["-i", "-f", FROM, "--", TO]);
}
