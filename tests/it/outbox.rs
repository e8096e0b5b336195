//! The alert outbox: every alert is written to the registry with the outcome it reports, sent
//! at the end of the cycle within one overall deadline, retried by later runs with backoff,
//! and shown by `status`. Mail servers here are real: mailin-embedded for a good one, and small
//! scripted servers on loopback for the bad ones (one that refuses large messages with 552, one
//! that trickles its greeting for ever, one that never answers, one that is not there).

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::alerts::{FROM, PREFIX, TO, mail_about};
use crate::harness::outcome_of;
use crate::mail::{Mail, SmtpServer};
use crate::stage::Stage;

/// What a scripted server does with each connection.
#[derive(Clone, Copy)]
enum Script {
    /// A plain server that answers 552 to any message of more than this many bytes.
    SizeLimit(usize),
    /// Sends a `220-` continuation line at this interval and never finishes the greeting.
    Trickle(Duration),
}

/// What a scripted server saw.
#[derive(Default, Debug)]
struct Seen {
    connections: usize,
    /// The DATA of each message accepted.
    accepted: Vec<String>,
    /// The size in bytes of each message refused with 552.
    refused: Vec<usize>,
}

/// A scripted SMTP server on a free loopback port, one thread per connection.
struct ScriptedSmtp {
    port: u16,
    seen: Arc<Mutex<Seen>>,
}

impl ScriptedSmtp {
    fn start(script: Script) -> ScriptedSmtp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("listener address").port();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let shared = Arc::clone(&seen);
        thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                shared.lock().expect("seen lock").connections += 1;
                let seen = Arc::clone(&shared);
                thread::spawn(move || {
                    // A client that hangs up mid-session is no concern of the server's.
                    let _ = match script {
                        Script::SizeLimit(limit) => serve_limited(stream, limit, &seen),
                        Script::Trickle(every) => trickle(stream, every),
                    };
                });
            }
        });
        ScriptedSmtp { port, seen }
    }

    fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    fn accepted(&self) -> Vec<Mail> {
        self.seen
            .lock()
            .expect("seen lock")
            .accepted
            .iter()
            .map(|data| Mail {
                from: FROM.to_owned(),
                to: vec![TO.to_owned()],
                data: data.clone(),
            })
            .collect()
    }

    fn refused(&self) -> Vec<usize> {
        self.seen.lock().expect("seen lock").refused.clone()
    }

    fn connections(&self) -> usize {
        self.seen.lock().expect("seen lock").connections
    }
}

/// Just enough SMTP for lettre: greeting, EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT.
fn serve_limited(stream: TcpStream, limit: usize, seen: &Mutex<Seen>) -> std::io::Result<()> {
    let mut out = stream.try_clone()?;
    let mut lines = BufReader::new(stream);
    out.write_all(b"220 scripted.test ESMTP\r\n")?;
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => out.write_all(b"250 scripted.test\r\n")?,
            "MAIL" | "RCPT" | "RSET" | "NOOP" => out.write_all(b"250 OK\r\n")?,
            "QUIT" => {
                out.write_all(b"221 bye\r\n")?;
                return Ok(());
            }
            "DATA" => {
                out.write_all(b"354 go ahead\r\n")?;
                let mut data = Vec::new();
                let mut chunk = Vec::new();
                loop {
                    chunk.clear();
                    if lines.read_until(b'\n', &mut chunk)? == 0 {
                        return Ok(());
                    }
                    if chunk == b".\r\n" {
                        break;
                    }
                    data.extend_from_slice(&chunk);
                }
                let mut seen = seen.lock().expect("seen lock");
                if data.len() > limit {
                    seen.refused.push(data.len());
                    out.write_all(b"552 5.3.4 message size exceeds fixed limit\r\n")?;
                } else {
                    seen.accepted
                        .push(String::from_utf8_lossy(&data).into_owned());
                    out.write_all(b"250 2.0.0 queued\r\n")?;
                }
            }
            _ => out.write_all(b"502 5.5.2 not implemented\r\n")?,
        }
    }
}

/// A greeting that never ends: each line arrives well within any read timeout.
fn trickle(mut stream: TcpStream, every: Duration) -> std::io::Result<()> {
    loop {
        stream.write_all(b"220-still here\r\n")?;
        thread::sleep(every);
    }
}

/// A loopback port where nothing listens.
fn dead_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("listener address").port()
}

/// The `[notify]` table for `url`, with more keys after it.
fn notify(url: &str, timeout: &str, more: &str) -> String {
    format!(
        "[notify]\nsmtp_url = \"{url}\"\nfrom = \"{FROM}\"\nto = [\"{TO}\"]\ntimeout = \"{timeout}\"\n{more}"
    )
}

/// Points the stage's config at another mail server (the ledger handler stays).
fn renotify(s: &Stage, notify_table: &str) {
    let ledger = s.bin.join("ledger");
    std::fs::write(
        &s.config,
        format!(
            "[handlers.ledger_done]\ncommand = [\"{}\"]\ntimeout = \"20s\"\n{notify_table}",
            ledger.display()
        ),
    )
    .expect("config");
}

/// Lets time pass for the outbox: every waiting alert becomes due now. Backoff is tested by
/// reading the stored schedule, not by sleeping through it.
fn make_due(s: &Stage) {
    if outbox_exists(s) {
        s.w.sql("UPDATE alert_outbox SET next_try_at = 0 WHERE delivered_at IS NULL");
    }
}

fn outbox_exists(s: &Stage) -> bool {
    s.w.has_table("alert_outbox")
}

/// Alerts not yet delivered.
fn waiting(s: &Stage) -> String {
    s.w.query("SELECT count(*) FROM alert_outbox WHERE delivered_at IS NULL")
}

/// A draft left in `executing` an hour ago by a run that died: `run` alerts about it.
fn stuck_draft(s: &Stage) -> String {
    let id = s.w.approved("ledger_done", "{}", r#"{"stuck":true}"#);
    let hour_ago = inbox_exec::unix_now() - 3600;
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {hour_ago} WHERE draft_id = '{id}'"
    ));
    id
}

/// A draft approved and then edited in the registry: it fails verification at execute time.
fn tampered_draft(s: &Stage) -> String {
    let id = s.w.approved("ledger_done", "{}", r#"{"n":"honest"}"#);
    s.w.sql(&format!(
        r#"UPDATE drafts SET payload_json = '{{"n":"forged"}}' WHERE draft_id = '{id}'"#
    ));
    id
}

/// Spawns `run --json` with the stage's config; stdout is kept, stderr dropped.
fn spawn_run(s: &Stage) -> Child {
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    run.cmd.spawn().expect("spawn run")
}

/// Waits for `child` to exit within `limit`; kills it and fails the test otherwise.
fn finishes_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("run still running after {limit:?}: the mail server held it");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until something connects to `listener` (non-blocking accept); keeps the connection
/// open so the client keeps waiting for a greeting that never comes.
fn wait_for_connection(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).expect("non-blocking");
    let deadline = Instant::now() + limit;
    loop {
        match listener.accept() {
            Ok((stream, _)) => return stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "the run never connected");
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

#[test]
fn alerts_committed_before_a_sigkill_are_sent_by_the_next_run() {
    // Every kind of alert in one cycle, the run killed once all outcomes are committed and it
    // is waiting on the mail server: nothing may be lost.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    let silent_url = format!(
        "smtp://127.0.0.1:{}",
        silent.local_addr().expect("address").port()
    );
    let s = Stage::with_handler(
        "echo 'ledger is down' >&2; exit 3",
        &format!(
            "[thermal]\nmax_actions = 1\n\n{}",
            notify(&silent_url, "30s", "")
        ),
    );
    std::fs::create_dir_all(&s.w.state).expect("state dir");
    std::fs::write(s.state_file("thermal.json"), b"\x00{garbage").expect("corrupt sidecar");
    let stuck = stuck_draft(&s);
    let tampered = tampered_draft(&s);
    let refused = s.w.approved("venture_kill", "{}", "{}");
    let unhandled = s.w.approved("social_post", "{}", "{}");
    let failed: Vec<String> = (0..2)
        .map(|i| {
            s.w.approved("ledger_done", "{}", &format!(r#"{{"n":{i}}}"#))
        })
        .collect();

    let mut child = spawn_run(&s);
    let _held = wait_for_connection(&silent, Duration::from_secs(20));
    child
        .kill()
        .expect("SIGKILL the run while it waits on the mail server");
    child.wait().expect("reap");
    // The outcomes were committed before the mail phase began.
    assert_eq!(s.w.status(&tampered), "completed_with_error");
    assert_eq!(s.w.status(&refused), "terminal_unrecoverable");
    assert_eq!(s.w.status(&unhandled), "completed_with_error");
    for id in &failed {
        assert_eq!(s.w.status(id), "completed_with_error");
    }

    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    s.run(&[]).ok();
    let mails = smtp.wait_for(8);
    assert_eq!(mails.len(), 8, "{mails:#?}");
    let subjects: Vec<String> = mails.iter().map(Mail::subject).collect();
    for id in [
        &stuck, &tampered, &refused, &unhandled, &failed[0], &failed[1],
    ] {
        mail_about(&mails, id);
    }
    for what in ["thermal cutout tripped", "thermal history rebuilt"] {
        assert_eq!(
            subjects.iter().filter(|s| s.contains(what)).count(),
            1,
            "{subjects:#?}"
        );
    }
    assert!(subjects.iter().all(|s| s.starts_with(PREFIX)));
    // Delivered once: a third run sends nothing more.
    s.run(&[]).ok();
    assert_eq!(smtp.received().len(), 8, "{:#?}", smtp.received());
}

#[test]
fn a_refusal_committed_before_a_sigkill_mid_batch_is_alerted_by_the_next_run() {
    // The refusal commits, then the next draft's handler is running when the run is killed:
    // the mail phase never started.
    let s = Stage::with_handler(
        "sleep 5",
        &notify(&format!("smtp://127.0.0.1:{}", dead_port()), "2s", ""),
    );
    let refused = s.w.approved("venture_kill", "{}", "{}");
    s.ledger(1);
    let mut child = spawn_run(&s);
    s.wait_started(1);
    child.kill().expect("SIGKILL the run mid-dispatch");
    child.wait().expect("reap");
    assert_eq!(s.w.status(&refused), "terminal_unrecoverable");

    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    s.run(&[]).ok();
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(mails[0].subject().contains(&refused), "{mails:#?}");
}

#[test]
fn a_message_refused_as_too_large_does_not_silence_the_other_alerts() {
    // The stuck draft's alert quotes its target: 1 MB of it. A server with a 2 KiB limit
    // refuses that alert with 552 (the others are well under 1 KiB); the alerts after it must
    // still go out.
    let server = ScriptedSmtp::start(Script::SizeLimit(2048));
    let s = Stage::new(&notify(&server.url(), "5s", ""));
    let stuck = stuck_draft(&s);
    let blob = "0".repeat(1_000_000);
    s.w.sql(&format!(
        r#"UPDATE drafts SET target_json = '{{"blob":"{blob}"}}' WHERE draft_id = '{stuck}'"#
    ));
    let tampered = tampered_draft(&s);
    let refused = s.w.approved("venture_kill", "{}", "{}");
    let unhandled = s.w.approved("social_post", "{}", "{}");
    let doc = s.run(&[]).ok().json();
    assert_eq!(
        outcome_of(&doc, &refused)["outcome"],
        "refused_non_delegable"
    );

    let accepted = server.accepted();
    assert_eq!(accepted.len(), 3, "accepted: {accepted:#?}");
    for id in [&tampered, &refused, &unhandled] {
        mail_about(&accepted, id);
    }
    let refused_sizes = server.refused();
    assert_eq!(refused_sizes.len(), 1, "{refused_sizes:?}");
    // Each alert is bounded: the 1 MB target is not mailed whole.
    assert!(
        refused_sizes[0] < 64 * 1024,
        "the stuck alert was {} bytes",
        refused_sizes[0]
    );
    // The refused one waits in the outbox with the server's answer; the others are done.
    assert_eq!(waiting(&s), "1");
    let (error, tries) = (
        s.w.query("SELECT last_error FROM alert_outbox WHERE delivered_at IS NULL"),
        s.w.query("SELECT tries FROM alert_outbox WHERE delivered_at IS NULL"),
    );
    assert!(error.contains("552"), "{error}");
    assert_eq!(tries, "1");
    assert!(
        s.w.query("SELECT subject FROM alert_outbox WHERE delivered_at IS NULL")
            .contains(&stuck)
    );
}

#[test]
fn a_trickling_mail_server_cannot_hold_the_run_past_the_deadline() {
    // lettre's timeout bounds each read, and a line every 200 ms satisfies it for ever.
    let server = ScriptedSmtp::start(Script::Trickle(Duration::from_millis(200)));
    let s = Stage::new(&notify(&server.url(), "1s", "deadline = \"3s\"\n"));
    let refused = s.w.approved("venture_kill", "{}", "{}");
    let unhandled = s.w.approved("social_post", "{}", "{}");
    let mut child = spawn_run(&s);
    let started = Instant::now();
    // The deadline, plus room for starting up and recording on a busy machine.
    let status = finishes_within(&mut child, Duration::from_secs(3 + 7));
    let took = started.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(server.connections() >= 1, "the run never tried the server");
    assert!(took >= Duration::from_secs(2), "gave up early: {took:?}");
    assert_eq!(s.w.status(&refused), "terminal_unrecoverable");
    assert_eq!(s.w.status(&unhandled), "completed_with_error");
    // Nothing was confirmed sent, so everything is still waiting.
    assert_eq!(waiting(&s), "2");

    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    make_due(&s);
    s.run(&[]).ok();
    let mails = smtp.wait_for(2);
    mail_about(&mails, &refused);
    mail_about(&mails, &unhandled);
    assert_eq!(waiting(&s), "0");
}

#[test]
fn a_failed_alert_is_retried_later_with_exponential_backoff_up_to_a_cap() {
    let down = notify(&format!("smtp://127.0.0.1:{}", dead_port()), "2s", "");
    let s = Stage::new(&down);
    let id = s.w.approved("social_post", "{}", "{}");
    s.run(&[]).ok();
    let delay = || -> i64 {
        s.w.query("SELECT next_try_at - last_try_at FROM alert_outbox WHERE delivered_at IS NULL")
            .parse()
            .expect("a delay")
    };
    assert_eq!(waiting(&s), "1");
    assert_eq!(s.w.query("SELECT tries FROM alert_outbox"), "1");
    let first = delay();
    assert!(first > 0, "no backoff: {first}");
    assert!(
        s.w.query("SELECT last_error FROM alert_outbox")
            .contains("127.0.0.1"),
        "the error names the server"
    );

    // A good server now, but the alert is not due yet: nothing is sent.
    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    s.run(&[]).ok();
    assert!(smtp.received().is_empty(), "{:#?}", smtp.received());
    assert_eq!(waiting(&s), "1");

    // Failing again doubles the delay.
    renotify(&s, &down);
    make_due(&s);
    s.run(&[]).ok();
    assert_eq!(s.w.query("SELECT tries FROM alert_outbox"), "2");
    assert_eq!(delay(), 2 * first);

    // Many failures: the delay stops growing at a cap, and never overflows.
    s.w.sql("UPDATE alert_outbox SET tries = 1000");
    make_due(&s);
    s.run(&[]).ok();
    let capped = delay();
    assert!(capped >= 2 * first && capped <= 24 * 3600, "{capped}");

    // Due and the server is back: sent once, and marked delivered.
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    make_due(&s);
    s.run(&[]).ok();
    let mails = smtp.wait_for(1);
    mail_about(&mails, &id);
    assert_eq!(waiting(&s), "0");
    assert_ne!(s.w.query("SELECT delivered_at FROM alert_outbox"), "NULL");
    s.run(&[]).ok();
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn a_stuck_draft_alert_whose_mail_failed_is_sent_later() {
    let s = Stage::new(&notify(
        &format!("smtp://127.0.0.1:{}", dead_port()),
        "2s",
        "",
    ));
    let stuck = stuck_draft(&s);
    let done = s.run(&[]).ok();
    assert!(done.stderr.contains(&stuck), "{}", done.stderr);

    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    make_due(&s);
    s.run(&[]).ok();
    let mails = smtp.wait_for(1);
    assert_eq!(mails.len(), 1, "{mails:#?}");
    assert!(
        mails[0].subject().contains("stuck in executing"),
        "{mails:#?}"
    );
    assert!(mails[0].body().contains("reconcile resolve"));
    // Still once per draft.
    s.run(&[]).ok();
    assert_eq!(smtp.received().len(), 1);
}

#[test]
fn status_shows_the_alerts_waiting() {
    let s = Stage::new(&notify(
        &format!("smtp://127.0.0.1:{}", dead_port()),
        "2s",
        "",
    ));
    s.w.approved("venture_kill", "{}", "{}");
    s.w.approved("social_post", "{}", "{}");
    s.run(&[]).ok();
    let status = |args: &[&str]| {
        let mut all = vec!["status"];
        all.extend_from_slice(args);
        s.w.cmd(&all).env("INBOX_EXEC_CONFIG", &s.config)
    };
    let doc: Value = status(&["--json"]).ok().json();
    let alerts = &doc["alerts"];
    assert_eq!(alerts["waiting"], 2, "{doc}");
    assert!(
        alerts["oldest_age_s"].as_i64().is_some_and(|a| a >= 0),
        "{doc}"
    );
    let error = alerts["last_error"].as_str().unwrap_or_default();
    assert!(error.contains("127.0.0.1"), "{doc}");
    let text = status(&[]).ok().stdout;
    let line = text
        .lines()
        .find(|l| l.contains("alerts waiting"))
        .unwrap_or_else(|| panic!("no alerts line:\n{text}"));
    assert!(line.contains('2'), "{line}");

    // Once delivered, nothing waits.
    let smtp = SmtpServer::start();
    renotify(&s, &notify(&smtp.url(), "5s", ""));
    make_due(&s);
    s.run(&[]).ok();
    smtp.wait_for(2);
    let doc: Value = status(&["--json"]).ok().json();
    assert_eq!(doc["alerts"]["waiting"], 0, "{doc}");
    assert_eq!(doc["alerts"]["last_error"], Value::Null, "{doc}");
}

#[test]
fn without_mail_configured_alerts_are_logged_and_nothing_waits() {
    let s = Stage::new("");
    let id = s.w.approved("social_post", "{}", "{}");
    let done = s.run(&[]).ok();
    assert!(
        done.stderr
            .lines()
            .any(|l| l.contains("warning") && l.contains(PREFIX) && l.contains(&id)),
        "{}",
        done.stderr
    );
    assert_eq!(s.w.query("SELECT count(*) FROM alert_outbox"), "1");
    assert_eq!(waiting(&s), "0");
}

#[test]
fn status_check_exits_7_when_an_alert_is_undeliverable_for_too_long() {
    let down = notify(
        &format!("smtp://127.0.0.1:{}", dead_port()),
        "2s",
        "undelivered_after = \"1h\"\n",
    );
    let s = Stage::new(&down);
    s.w.approved("social_post", "{}", "{}");
    s.run(&[]).ok();
    let check = || {
        s.w.cmd(&["status", "--check"])
            .env("INBOX_EXEC_CONFIG", &s.config)
    };
    // Waiting, but not for long: healthy.
    check().ok();
    s.w.sql("UPDATE alert_outbox SET created_at = created_at - 7200");
    let done = check().code(7);
    assert!(
        done.stdout.contains("undeliverable") || done.stdout.contains("not delivered"),
        "{}",
        done.stdout
    );
    // Delivered: healthy again.
    let smtp = SmtpServer::start();
    renotify(
        &s,
        &notify(&smtp.url(), "5s", "undelivered_after = \"1h\"\n"),
    );
    make_due(&s);
    s.run(&[]).ok();
    smtp.wait_for(1);
    check().ok();
}

#[test]
fn a_zero_delivery_deadline_or_undelivered_after_is_refused() {
    for key in ["deadline", "undelivered_after"] {
        let s = Stage::new(&notify(
            &format!("smtp://127.0.0.1:{}", dead_port()),
            "2s",
            &format!("{key} = \"0s\"\n"),
        ));
        s.w.approved("social_post", "{}", "{}");
        let done = s.run(&[]).output();
        assert_ne!(done.code, 0, "{key} = 0s accepted");
        assert!(
            done.stderr.contains(&format!("[notify] {key}")),
            "{}",
            done.stderr
        );
        assert!(
            !done.stderr.contains("unknown field"),
            "{key} is not a known key: {}",
            done.stderr
        );
        assert_eq!(s.w.query("SELECT status FROM drafts"), "approved");
    }
}

/// With no `[notify]`, an alert is delivered by logging it: a log that does not take it
/// (stderr a full pipe nobody reads, as a stalled journal) has not delivered it, and the next
/// run logs it again.
#[test]
fn an_alert_the_log_could_not_take_stays_in_the_outbox() {
    let s = Stage::with_handler("exit 1", "");
    s.ledger(1);
    let (reader, mut writer) = std::io::pipe().expect("pipe");
    rustix::io::ioctl_fionbio(&writer, true).expect("non-blocking");
    while writer.write(&[b'x'; 4096]).is_ok() {}
    rustix::io::ioctl_fionbio(&writer, false).expect("blocking again");
    let mut run = s.run(&[]);
    run.cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer);
    let status = run.cmd.status().expect("run with a full stderr");
    drop(reader);
    assert!(status.success(), "{status:?}");
    assert_eq!(waiting(&s), "1", "the alert the log did not take");

    make_due(&s);
    let done = s.run(&[]).ok();

    assert!(
        done.stderr.contains("[ALERT]") && done.stderr.contains("failed"),
        "{}",
        done.stderr
    );
    assert_eq!(waiting(&s), "0");
}

/// After a dispatch the immediate exit is armed again: a second stop signal while the run
/// waits on a mail server (here one that never finishes its greeting) ends it at once.
#[test]
fn a_second_stop_signal_after_the_dispatches_still_exits_at_once() {
    let server = ScriptedSmtp::start(Script::Trickle(Duration::from_millis(200)));
    let s = Stage::with_handler(
        "exit 1",
        &notify(&server.url(), "1s", "deadline = \"60s\"\n"),
    );
    let ids = s.ledger(1);
    let mut child = spawn_run(&s);
    let deadline = Instant::now() + Duration::from_secs(30);
    while server.connections() == 0 {
        assert!(
            Instant::now() < deadline,
            "the run never reached the mail server"
        );
        thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"))
        .expect("a child's pid is not 0");
    for _ in 0..2 {
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).expect("SIGTERM");
        thread::sleep(Duration::from_millis(100));
    }

    let status = finishes_within(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(s.w.status(&ids[0]), "completed_with_error");
}

/// `-q` logs errors only: with no `[notify]`, an alert it would have logged as a warning is
/// not delivered, and waits for a run that logs it.
#[test]
fn with_q_and_no_notify_an_alert_waits_for_a_run_that_logs_it() {
    let s = Stage::with_handler("exit 1", "");
    s.ledger(1);
    let quiet = s.run(&["-q"]).ok();
    assert!(!quiet.stderr.contains("[ALERT]"), "{}", quiet.stderr);
    assert_eq!(waiting(&s), "1");

    make_due(&s);
    let done = s.run(&[]).ok();

    assert!(done.stderr.contains("[ALERT]"), "{}", done.stderr);
    assert_eq!(waiting(&s), "0");
}
