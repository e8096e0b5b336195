//! What a handler printed before it exited is kept even when something it left behind (a
//! `setsid` daemon) still holds its stdout or stderr: the URL of a finished side effect must
//! not be lost to a background process.

use std::fs;
use std::time::{Duration, Instant};

use crate::files::bounded;
use crate::stage::Stage;

/// Kills the daemon a test started, by the pid it wrote.
struct Daemon(std::path::PathBuf);

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(pid) = fs::read_to_string(&self.0)
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok())
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
        }
    }
}

#[test]
fn a_handler_that_leaves_a_setsid_daemon_on_its_output_keeps_its_url_and_its_error() {
    for (exit, expect_url) in [(0, true), (3, false)] {
        let probe = tempfile::tempdir().expect("dir");
        let pidfile = probe.path().join("daemon.pid");
        let _daemon = Daemon(pidfile.clone());
        let s = Stage::with_handler(
            &format!(
                "echo https://ledger.example.org/entries/77\necho 'ledger said: quota exceeded' >&2\nsetsid sh -c 'echo $$ > {pid}; exec sleep 30' &\n# Exit only once the daemon is in its own session, out of reach of the group kill.\nwhile [ ! -s {pid} ]; do sleep 0.05; done\nexit {exit}",
                pid = pidfile.display()
            ),
            "",
        );
        let id = s.ledger(1).remove(0);
        let started = Instant::now();
        let done = bounded(s.run(&[]), "run");
        assert_eq!(done.code, 0, "{done:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "the run waited for the daemon: {:?}",
            started.elapsed()
        );
        if expect_url {
            assert_eq!(s.w.status(&id), "completed");
            assert_eq!(
                s.w.query(&format!(
                    "SELECT executed_url FROM drafts WHERE draft_id = '{id}'"
                )),
                "https://ledger.example.org/entries/77",
                "the URL printed before exit 0 was lost"
            );
        } else {
            assert_eq!(s.w.status(&id), "completed_with_error");
            let error = s.w.query(&format!(
                "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
            ));
            assert!(
                error.contains("exit status 3") && error.contains("quota exceeded"),
                "the stderr written before the exit was lost: {error}"
            );
        }
    }
}
