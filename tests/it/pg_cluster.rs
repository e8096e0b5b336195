//! What only a shared PostgreSQL registry can promise: a live claimer told from a dead one
//! on any host, a stuck-draft alert once for all executors, and a run that survives losing
//! its database session.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::{Backend, World};
use crate::stage::Stage;

fn wait_for(what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A PostgreSQL stage, or `None` after a visible skip.
fn stage(handler_tail: &str, extra: &str) -> Option<Stage> {
    let w = World::ready_on(Backend::Postgres);
    if !w.on_postgres() {
        return None;
    }
    Some(Stage::build(w, handler_tail, extra))
}

#[test]
fn a_claimer_on_another_host_is_seen_alive_while_its_session_holds_the_draft() {
    let Some(s) = stage("sleep 30", "") else {
        return;
    };
    let id = s.ledger(1).remove(0);
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = run.cmd.spawn().expect("spawn run");
    wait_for("the dispatch", || s.started() > 0);
    // As another host records it: no process lookup can tell from here.
    s.w.sql(&format!(
        "UPDATE claims SET host = 'other-host.example', pid = 1 WHERE draft_id = '{id}'"
    ));
    let reconcile = |s: &Stage| {
        s.w.cmd(&["reconcile", "--json"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .ok()
            .json()
    };
    let list = reconcile(&s);
    assert_eq!(list[0]["draft_id"], id.as_str());
    assert_eq!(list[0]["claimer"], "running", "{list}");
    assert_eq!(list[0]["claimed_by"], "1@other-host.example");
    s.w.cmd(&["reconcile", "resolve", &id, "--as", "failed", "--note", "x"])
        .env("INBOX_EXEC_CONFIG", &s.config)
        .fails_with(&["still running"]);

    // The executor dies: its connection goes, and with it the lock.
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    wait_for("the server to notice", || {
        reconcile(&s)[0]["claimer"] == "dead"
    });
    // Dead, but claimed a moment ago: a claimer that lost its connection may still have a
    // handler running, so settling waits for stuck_after unless the human says --force.
    let settle = |force: bool| {
        let mut args = vec![
            "reconcile",
            "resolve",
            id.as_str(),
            "--as",
            "failed",
            "--note",
            "checked",
        ];
        if force {
            args.push("--force");
        }
        s.w.cmd(&args).env("INBOX_EXEC_CONFIG", &s.config)
    };
    settle(false).fails_with(&["less than stuck_after"]);
    settle(true).ok();
    assert_eq!(s.w.status(&id), "completed_with_error");
}

#[test]
fn a_stuck_draft_is_alerted_once_for_all_executors() {
    let Some(s) = stage("", "") else { return };
    let id = s.ledger(1).remove(0);
    let old = inbox_exec::unix_now() - 3600;
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {old} WHERE draft_id = '{id}'"
    ));
    let children: Vec<_> = (0..6)
        .map(|e| {
            let mut run = s
                .run(&[])
                .env("INBOX_EXEC_STATE_DIR", s.w.path(&format!("host-{e}")));
            run.cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            run.cmd.spawn().expect("spawn run")
        })
        .collect();
    let alerts: usize = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().expect("wait");
            assert!(out.status.success());
            String::from_utf8_lossy(&out.stderr)
                .matches(&format!("draft {id} stuck in executing"))
                .count()
        })
        .sum();
    assert_eq!(alerts, 1, "one alert for six executors");
}

#[test]
fn a_run_whose_database_session_is_killed_mid_dispatch_records_the_outcome_on_a_new_one() {
    let Some(s) = stage("sleep 0.5", "") else {
        return;
    };
    let ids = s.ledger(2);
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("spawn run");
    wait_for("the first dispatch", || s.started() > 0);
    let killed = s.w.query(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'inbox-exec'",
    );
    assert_eq!(killed, "1", "the run's session was found and killed");
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("connecting again"), "{stderr}");
    for id in &ids {
        assert_eq!(s.w.status(id), "completed", "{id}");
        assert_eq!(s.dispatched(id), 1, "{id}");
        assert_eq!(s.attempts(id), "verify:ok,execute:ok", "{id}");
    }
}

/// A TCP proxy to the test server that passes everything on, except that the connection
/// carrying the client's `nth` COMMIT (counted over all its connections) is cut right after
/// that COMMIT reached the server and before its reply could come back: the transaction is
/// committed, and the client cannot know it. Returns the proxy's port.
fn reply_losing_proxy(nth: usize) -> u16 {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
    let port = listener.local_addr().expect("proxy address").port();
    let server = crate::pgdb::server_addr();
    let commits = Arc::new(AtomicUsize::new(0));
    let cut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let Ok(mut upstream) = TcpStream::connect(&server) else {
                return;
            };
            let (Ok(mut client_out), Ok(mut upstream_in)) =
                (client.try_clone(), upstream.try_clone())
            else {
                return;
            };
            // This connection's own flag: once its COMMIT is on the way, no reply passes.
            let cutting = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let replies_cut = Arc::clone(&cutting);
            // Replies, as they come, until the cut.
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                while let Ok(n) = upstream_in.read(&mut buf) {
                    if n == 0
                        || replies_cut.load(Ordering::SeqCst)
                        || client_out.write_all(&buf[..n]).is_err()
                    {
                        break;
                    }
                }
            });
            let commits = Arc::clone(&commits);
            let cut = Arc::clone(&cut);
            std::thread::spawn(move || {
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let chunk = &buf[..n];
                    let seen = chunk.windows(6).filter(|w| *w == b"COMMIT").count();
                    let cut_here = seen > 0
                        && commits.fetch_add(seen, Ordering::SeqCst) + seen >= nth
                        && !cut.swap(true, Ordering::SeqCst);
                    if cut_here {
                        cutting.store(true, Ordering::SeqCst);
                    }
                    if upstream.write_all(chunk).is_err() {
                        break;
                    }
                    if cut_here {
                        // Time for the server to commit; then the connection is gone.
                        std::thread::sleep(Duration::from_millis(300));
                        let _ = client.shutdown(Shutdown::Both);
                        let _ = upstream.shutdown(Shutdown::Both);
                        break;
                    }
                }
            });
        }
    });
    port
}

/// A commit whose reply is lost with the connection may have gone through: the run that
/// could not know must not record the outcome it carried a second time, nor say that the
/// draft it was claiming "stays approved" when it may be executing (its handler never ran).
#[test]
fn a_commit_whose_reply_is_lost_is_not_recorded_twice() {
    let Some(s) = stage("", "") else {
        return;
    };
    let ids = s.ledger(2);
    // The run's own commits, counted on the proxy: the first claim, then the claim of the
    // second draft carrying the first one's outcome.
    let port = reply_losing_proxy(2);
    let proxied = crate::pgdb::through_port(&s.w.db_arg().to_string_lossy(), port);

    let done = s.run(&[]).env("INBOX_EXEC_DB", &proxied).output();

    assert_eq!(done.code, 1, "{done:?}");
    assert_eq!(s.dispatched(&ids[0]), 1);
    assert_eq!(s.attempts(&ids[0]), "verify:ok,execute:ok", "recorded once");
    assert_eq!(s.w.status(&ids[0]), "completed");
    assert_eq!(
        s.dispatched(&ids[1]),
        0,
        "the second draft's handler never ran"
    );
    assert!(
        !done.stderr.contains("stays approved") && done.stderr.contains("never ran"),
        "{}",
        done.stderr
    );
}
