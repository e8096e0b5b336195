//! Many executors on one queue: six runs at once, each with its own state directory (each
//! standing for a host), killed with SIGKILL at random moments, on both backends. Every
//! draft runs at most once, none is lost, and the thermal budget holds for all of them.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Backend, World};
use crate::stage::{Stage, thermal_config};

/// A small xorshift, seeded from the clock unless INBOX_EXEC_TEST_SEED says otherwise.
struct Rng(u64);

impl Rng {
    fn new(stream: u64) -> Rng {
        let seed = std::env::var("INBOX_EXEC_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.subsec_nanos().into())
            });
        println!("executor {stream}: seed {seed}");
        Rng((seed ^ stream.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn_run(s: &Stage, state: &Path, batch: &str) -> Child {
    let mut run = s
        .run(&["--batch", batch])
        .env("INBOX_EXEC_STATE_DIR", state);
    run.cmd.stdout(Stdio::null()).stderr(Stdio::null());
    run.cmd.spawn().expect("spawn run")
}

/// `n` approved `ledger_done` drafts, each with its own payload: signed by the binary four
/// at a time, then approved in one statement (approval is only the status move here; the
/// run verifies every draft again before it claims it).
fn queue(s: &Stage, n: usize) -> Vec<String> {
    let ids: Vec<String> = thread::scope(|scope| {
        let workers: Vec<_> = (0..4)
            .map(|t| {
                scope.spawn(move || {
                    (t..n)
                        .step_by(4)
                        .map(|i| {
                            s.w.draft(
                                "ledger_done",
                                r#"{"led":"LED-1"}"#,
                                &format!(r#"{{"n":{i}}}"#),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("signer"))
            .collect()
    });
    s.w.sql("UPDATE drafts SET status = 'approved' WHERE status = 'pending'");
    assert_eq!(ids.len(), n);
    ids
}

/// Six executors run until the queue is empty (or the deadline), each killing about one run
/// in four at a random moment.
fn six_executors(s: &Stage, deadline: Duration) {
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    thread::scope(|scope| {
        for e in 0..6u64 {
            let done = Arc::clone(&done);
            scope.spawn(move || {
                let mut rng = Rng::new(e);
                let state = s.w.path(&format!("host-{e}"));
                while !done.load(Ordering::Relaxed) && started.elapsed() < deadline {
                    let mut child = spawn_run(s, &state, "10");
                    if rng.below(4) == 0 {
                        thread::sleep(Duration::from_millis(rng.below(300)));
                        let _ = child.kill(); // SIGKILL
                    }
                    let _ = child.wait();
                }
            });
        }
        while started.elapsed() < deadline {
            thread::sleep(Duration::from_millis(200));
            if s.w
                .query("SELECT count(*) FROM drafts WHERE status = 'approved'")
                == "0"
            {
                break;
            }
        }
        done.store(true, Ordering::Relaxed);
    });
    // Handlers orphaned by a kill finish writing their record.
    thread::sleep(Duration::from_millis(500));
}

fn at_most_once_and_none_lost(backend: Backend) {
    let s = Stage::build(World::ready_on(backend), "", &thermal_config(100_000));
    let ids = queue(&s, 300);
    six_executors(&s, Duration::from_secs(120));
    let dispatched = s.dispatches();
    let statuses: HashMap<String, String> =
        s.w.column("SELECT draft_id || ' ' || status FROM drafts")
            .into_iter()
            .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_owned(), b.to_owned())))
            .collect();
    assert_eq!(statuses.len(), ids.len(), "no row lost");
    let mut executing = 0;
    for id in &ids {
        let count = dispatched.of(id);
        assert!(count <= 1, "{id} dispatched {count} times");
        match statuses[id].as_str() {
            "completed" => {
                assert_eq!(count, 1, "{id} completed without a dispatch");
                let executes = s.w.query(&format!(
                    "SELECT count(*) FROM attempts WHERE draft_id = '{id}' AND kind = 'execute'"
                ));
                assert_eq!(executes, "1", "{id}");
            }
            // Killed between claim and record: a human settles it; never back to approved.
            "executing" => executing += 1,
            other => panic!("{id} ended {other} (dispatched {count} times)"),
        }
    }
    println!(
        "{backend:?}: {} completed, {executing} left executing by a kill",
        ids.len() - executing
    );
}

/// One budget for all six: with `max_actions = 5` and a cooldown as long as the window, no
/// more than 5 + 1 actions (the one that trips the cutout, as with one executor) ever run.
fn one_thermal_budget(backend: Backend) {
    let config = "[thermal]\nmax_actions = 5\nwindow = \"1h\"\ncooldown = \"1h\"\n";
    let s = Stage::build(World::ready_on(backend), "sleep 0.05", config);
    let ids = queue(&s, 60);
    let children: Vec<Child> = (0..6)
        .map(|e| spawn_run(&s, &s.w.path(&format!("host-{e}")), "20"))
        .collect();
    for mut child in children {
        let _ = child.wait();
    }
    let claims: usize =
        s.w.query("SELECT count(*) FROM attempts WHERE kind = 'verify' AND outcome = 'ok'")
            .parse()
            .expect("count");
    let dispatches = s.dispatches();
    let ran: usize = dispatches.by_id.values().sum::<usize>() + dispatches.unattributed;
    assert!(claims <= 6, "{claims} claims, over the budget of 5 + 1");
    assert!(ran <= 6, "{ran} dispatches, over the budget of 5 + 1");
    assert!(ran >= 1, "something ran");
    let approved: usize =
        s.w.query("SELECT count(*) FROM drafts WHERE status = 'approved'")
            .parse()
            .expect("count");
    assert_eq!(approved, ids.len() - claims, "the rest wait, approved");
}

#[test]
fn six_executors_killed_at_random_run_each_draft_at_most_once_on_postgres() {
    at_most_once_and_none_lost(Backend::Postgres);
}

#[test]
fn six_executors_killed_at_random_run_each_draft_at_most_once_on_sqlite() {
    at_most_once_and_none_lost(Backend::Sqlite);
}

#[test]
fn six_executors_share_one_thermal_budget_on_postgres() {
    one_thermal_budget(Backend::Postgres);
}

#[test]
fn six_executors_share_one_thermal_budget_on_sqlite() {
    one_thermal_budget(Backend::Sqlite);
}
