//! Every file and directory inbox-exec opens may be of any type and owned by anyone: a FIFO,
//! a socket, a device or a directory where a file belongs must be refused (or rebuilt, where
//! the design says so) with a message naming the file and what it is, never hang a run or a
//! monitor. A registry that is not there is never silently re-created, except the default
//! one on first use.
//!
//! Each command runs under a watchdog that SIGKILLs it after a few seconds: `run` ignores
//! SIGTERM while it holds the lock (a stop request waits for the draft in hand), so a hang
//! must fail the test, not wedge the suite.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::{Duration, Instant};

use crate::harness::{Done, Run, World, draft_new_args};
use crate::stage::Stage;

/// Long enough for a loaded 2-core machine, short enough that a hang is obvious.
const WATCHDOG: Duration = Duration::from_secs(10);

/// Runs the command, SIGKILLing it (and failing the test) if it is still running after
/// [`WATCHDOG`].
pub fn bounded(run: Run, what: &str) -> Done {
    let mut cmd = run.cmd;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn inbox-exec");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + WATCHDOG;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let stderr = err.join().unwrap_or_default();
            panic!(
                "{what}: inbox-exec still running after {WATCHDOG:?} (hung; killed)\nstderr:\n{stderr}"
            );
        }
        thread::sleep(Duration::from_millis(20));
    };
    Done {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(since.as_secs()).expect("seconds fit")
}

/// What can sit where a regular file belongs.
#[derive(Debug, Clone, Copy)]
pub enum Odd {
    Fifo,
    Directory,
    Socket,
    Device,
}

impl Odd {
    pub const ALL: [Odd; 4] = [Odd::Fifo, Odd::Directory, Odd::Socket, Odd::Device];

    /// The word the error message must use for it.
    pub fn word(self) -> &'static str {
        match self {
            Odd::Fifo => "FIFO",
            Odd::Directory => "directory",
            Odd::Socket => "socket",
            Odd::Device => "device",
        }
    }

    /// Makes one at `path`; false when this machine does not let us (a device needs
    /// CAP_MKNOD), which the caller reports as a skip.
    pub fn plant(self, path: &Path) -> bool {
        use rustix::fs::{FileType, Mode, mknodat};
        let mode = Mode::from_raw_mode(0o600);
        match self {
            Odd::Fifo => {
                mknodat(rustix::fs::CWD, path, FileType::Fifo, mode, 0).expect("mkfifo");
            }
            Odd::Directory => fs::create_dir(path).expect("mkdir"),
            Odd::Socket => {
                drop(std::os::unix::net::UnixListener::bind(path).expect("bind socket"));
            }
            Odd::Device => {
                // /dev/null's numbers: harmless to open, read and write.
                let dev = rustix::fs::makedev(1, 3);
                if mknodat(rustix::fs::CWD, path, FileType::CharacterDevice, mode, dev).is_err() {
                    eprintln!(
                        "SKIPPED device case at {}: needs CAP_MKNOD (mknod refused)",
                        path.display()
                    );
                    return false;
                }
            }
        }
        true
    }
}

/// Removes whatever is at `path`, of any type.
fn clear(path: &Path) {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path).expect("remove dir"),
        Ok(_) => fs::remove_file(path).expect("remove file"),
        Err(_) => {}
    }
}

/// Asserts the command ended with one of `codes`, without a panic, and that its output names
/// `file` and what it is.
fn named(done: &Done, codes: &[i32], file: &str, odd: Odd, what: &str) {
    assert!(
        codes.contains(&done.code),
        "{what} ({odd:?}): exit {} (expected one of {codes:?})\nstdout:\n{}\nstderr:\n{}",
        done.code,
        done.stdout,
        done.stderr
    );
    assert!(
        !done.stderr.contains("panicked"),
        "{what} ({odd:?}) panicked:\n{}",
        done.stderr
    );
    let all = format!("{}{}", done.stdout, done.stderr);
    assert!(
        all.contains(file) && all.contains(odd.word()) && all.contains("not a regular file"),
        "{what} ({odd:?}): the message must name {file} and say it is a {} and not a regular file:\n{all}",
        odd.word()
    );
}

/// A world with a key, a registry, one approved draft and one finished run (so the state
/// directory exists).
fn world_after_a_run() -> Stage {
    let s = Stage::new("");
    s.ledger(1);
    bounded(s.run(&[]), "the first run");
    assert!(s.w.state.join("last-run.json").is_file());
    s
}

/// [`world_after_a_run`] with `odd` planted at the state file `file`: the world, the file's
/// path, and that path as messages name it. `None` where this machine cannot plant it.
fn planted(file: &str, odd: Odd) -> Option<(Stage, PathBuf, String)> {
    let s = world_after_a_run();
    let path = s.state_file(file);
    clear(&path);
    if !odd.plant(&path) {
        return None;
    }
    let name = path.display().to_string();
    Some((s, path, name))
}

/// `status` (exit 0) and `status --check` (one of `check_codes`) with `odd` planted at
/// `file`: neither hangs, and both name the file.
fn status_names(s: &Stage, name: &str, odd: Odd, file: &str, check_codes: &[i32]) {
    let status = bounded(
        s.w.cmd(&["status"]).env("INBOX_EXEC_CONFIG", &s.config),
        "status",
    );
    named(&status, &[0], name, odd, &format!("{file}, status"));
    let check = bounded(
        s.w.cmd(&["status", "--check"])
            .env("INBOX_EXEC_CONFIG", &s.config),
        "status --check",
    );
    named(
        &check,
        check_codes,
        name,
        odd,
        &format!("{file}, status --check"),
    );
}

/// Closes the registry's WAL the way SQLite does when the last connection closes, so no
/// -wal or -shm file is left.
fn checkpoint(db: &Path) {
    let conn = rusqlite::Connection::open(db).expect("open registry");
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        .expect("checkpoint");
    drop(conn);
    for suffix in ["-wal", "-shm"] {
        clear(&PathBuf::from(format!("{}{suffix}", db.display())));
    }
}

#[test]
fn a_registry_that_is_not_a_regular_file_is_refused_by_every_command_without_hanging() {
    for odd in Odd::ALL {
        let w = World::new();
        w.cmd(&["keygen"]).ok();
        if !odd.plant(&w.db) {
            continue;
        }
        let name = w.db.display().to_string();
        for args in [
            &["run"][..],
            &["run", "--dry-run"],
            &["status"],
            &["status", "--check"],
            &["verify", "--all"],
            &["show", "01ARZ3NDEKTSV4RRFFQ69G5FAV"],
            &["reconcile"],
            &["init"],
            &draft_new_args("ledger_done"),
        ] {
            let what = format!("registry, `{}`", args.join(" "));
            let done = bounded(w.cmd(args), &what);
            named(&done, &[1], &name, odd, &what);
        }
    }
}

#[test]
fn a_wal_or_shm_that_is_not_a_regular_file_is_refused_without_hanging() {
    for suffix in ["-wal", "-shm"] {
        for odd in Odd::ALL {
            let s = Stage::new("");
            s.ledger(1);
            checkpoint(&s.w.db);
            let path = PathBuf::from(format!("{}{suffix}", s.w.db.display()));
            if !odd.plant(&path) {
                continue;
            }
            let name = path.display().to_string();
            for args in [
                &["run"][..],
                &["status", "--check"],
                &["verify", "--all"],
                &["reconcile"],
            ] {
                let what = format!("{suffix}, `{}`", args.join(" "));
                let run = s.w.cmd(args).env("INBOX_EXEC_CONFIG", &s.config);
                let done = bounded(run, &what);
                named(&done, &[1], &name, odd, &what);
            }
            let done = bounded(s.run(&["--dry-run"]), "run --dry-run");
            named(&done, &[1], &name, odd, &format!("{suffix}, run --dry-run"));
            assert_eq!(
                s.calls_of("ledger").len(),
                0,
                "nothing may run ({suffix} {odd:?})"
            );
        }
    }
}

#[test]
fn a_thermal_sidecar_or_claims_log_that_is_not_a_regular_file_is_alerted_and_never_hangs_run_or_status()
 {
    for file in ["thermal.json", "thermal-claims.jsonl"] {
        for odd in Odd::ALL {
            let Some((s, _, name)) = planted(file, odd) else {
                continue;
            };
            status_names(&s, &name, odd, file, &[0, 4, 5, 6]);
            let ids = s.ledger(1);
            let run = bounded(s.run(&[]), "run");
            named(&run, &[0], &name, odd, &format!("{file}, run"));
            if file == "thermal-claims.jsonl" && matches!(odd, Odd::Directory) {
                // Nothing else can be put in its place: each run says so.
                assert!(
                    run.stderr.contains("cannot remove the thermal claims log"),
                    "{}",
                    run.stderr
                );
            }
            assert_eq!(
                s.dispatched(&ids[0]),
                1,
                "the queue goes on ({file} {odd:?})"
            );
            let alerted = s.w.query(&format!(
                "SELECT count(*) FROM alert_outbox
                  WHERE (subject LIKE '%thermal history rebuilt%'
                         OR subject LIKE '%thermal claims log unusable%')
                    AND body LIKE '%{file}%'"
            ));
            assert_eq!(alerted, "1", "a human hears of it ({file} {odd:?})");
        }
    }
}

#[test]
fn an_idle_mark_that_is_not_a_regular_file_is_no_mark_and_never_hangs_or_stops_a_run() {
    for odd in Odd::ALL {
        let Some((s, _, _)) = planted("idle.json", odd) else {
            continue;
        };
        let run = bounded(s.run(&["-v"]), "run");
        assert_eq!(run.code, 0, "{odd:?}: {}", run.stderr);
        assert!(
            !run.stderr.contains("not opened"),
            "{odd:?}: {}",
            run.stderr
        );
        if matches!(odd, Odd::Directory) {
            // Nothing else can be put in its place: each run says so, and opens the registry.
            let run = bounded(s.run(&["-v"]), "run");
            assert!(!run.stderr.contains("not opened"), "{}", run.stderr);
            assert!(
                run.stderr.contains("cannot remove the idle mark"),
                "{}",
                run.stderr
            );
        }
        let ids = s.ledger(1);
        bounded(s.run(&[]), "run");
        assert_eq!(s.dispatched(&ids[0]), 1, "the queue goes on ({odd:?})");
    }
}

#[test]
fn a_run_summary_that_is_not_a_regular_file_is_reported_by_status_check_and_replaced_by_run() {
    for odd in Odd::ALL {
        let Some((s, path, name)) = planted("last-run.json", odd) else {
            continue;
        };
        status_names(&s, &name, odd, "last-run.json", &[4]);
        let ids = s.ledger(1);
        let run = bounded(s.run(&[]), "run");
        match odd {
            // A directory cannot be replaced by a rename: the run says so and fails.
            Odd::Directory => named(&run, &[1], &name, odd, "last-run.json, run"),
            _ => {
                named(&run, &[0], &name, odd, "last-run.json, run");
                assert!(
                    fs::symlink_metadata(&path).expect("summary").is_file(),
                    "the summary was replaced by a regular file ({odd:?})"
                );
            }
        }
        assert_eq!(s.dispatched(&ids[0]), 1, "the queue goes on ({odd:?})");
    }
}

#[test]
fn a_lock_file_that_is_not_a_regular_file_fails_the_run_clearly() {
    for odd in Odd::ALL {
        let Some((s, _, name)) = planted("inbox-exec.lock", odd) else {
            continue;
        };
        let ids = s.ledger(1);
        let run = bounded(s.run(&[]), "run");
        named(&run, &[1], &name, odd, "inbox-exec.lock, run");
        assert_eq!(s.dispatched(&ids[0]), 0, "nothing runs without the lock");
    }
}

#[test]
fn a_key_that_is_not_a_regular_file_is_refused_without_hanging() {
    for odd in Odd::ALL {
        let s = Stage::new("");
        let ids = s.ledger(1);
        fs::remove_file(&s.w.key).expect("remove key");
        if !odd.plant(&s.w.key) {
            continue;
        }
        let name = s.w.key.display().to_string();
        let run = bounded(s.run(&[]), "run");
        named(&run, &[1], &name, odd, "key, run");
        assert_eq!(s.dispatched(&ids[0]), 0);
        for args in [
            &["verify", "--all"][..],
            &[
                "draft",
                "new",
                "--kind",
                "ledger_done",
                "--target",
                "{}",
                "--payload",
                "{}",
            ],
        ] {
            let what = format!("key, `{}`", args.join(" "));
            let done = bounded(s.w.cmd(args), &what);
            named(&done, &[1], &name, odd, &what);
        }
    }
}

#[test]
fn a_config_that_is_not_a_regular_file_is_refused_without_hanging() {
    for odd in Odd::ALL {
        let w = World::ready();
        let config = w.path("config.toml");
        if !odd.plant(&config) {
            continue;
        }
        let name = config.display().to_string();
        for args in [&["run"][..], &["status", "--check"]] {
            let what = format!("config, `{}`", args.join(" "));
            let done = bounded(w.cmd(args).env("INBOX_EXEC_CONFIG", &config), &what);
            named(&done, &[1], &name, odd, &what);
        }
    }
}

#[test]
fn an_smtp_password_file_that_is_not_a_regular_file_never_hangs_the_run() {
    for odd in Odd::ALL {
        let w = World::ready();
        let password = w.path("smtp.pass");
        if !odd.plant(&password) {
            continue;
        }
        // Port 1 on loopback refuses at once: the alert fails fast, after the password is read.
        let s = Stage::build(
            w,
            "",
            &format!(
                "[notify]\nsmtp_url = \"smtp://127.0.0.1:1\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"alice\"\npassword_file = \"{}\"\ntimeout = \"2s\"\n",
                password.display()
            ),
        );
        // A kind without a handler fails, which queues an alert.
        s.w.approved("no_handler_kind", "{}", "{}");
        let run = bounded(s.run(&[]), "run");
        named(
            &run,
            &[0],
            &password.display().to_string(),
            odd,
            "password file, run",
        );
    }
}

#[test]
fn a_registry_with_two_names_is_refused_with_the_fix() {
    let s = Stage::new("");
    let ids = s.ledger(1);
    let alias = s.w.path("alias.db");
    fs::hard_link(&s.w.db, &alias).expect("ln");
    for db in [&s.w.db, &alias] {
        let run = bounded(s.run(&[]).env("INBOX_EXEC_DB", db), "run");
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.contains(&db.display().to_string())
                && run.stderr.contains("hard link")
                && run.stderr.contains("cp "),
            "the message names the file, says why and how to fix it:\n{}",
            run.stderr
        );
    }
    assert_eq!(s.dispatched(&ids[0]), 0);
}

#[test]
fn a_state_dir_that_is_a_symlink_works_and_one_that_is_not_a_directory_is_refused() {
    let s = Stage::new("");
    let real = s.w.path("real-state");
    fs::create_dir(&real).expect("mkdir");
    fs::set_permissions(&real, fs::Permissions::from_mode(0o700)).expect("chmod");
    // systemd's DynamicUser makes /var/lib/NAME a symlink to /var/lib/private/NAME.
    std::os::unix::fs::symlink(&real, &s.w.state).expect("symlink");
    let ids = s.ledger(1);
    let run = bounded(s.run(&[]), "run");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(s.dispatched(&ids[0]), 1);
    assert!(real.join("last-run.json").is_file());

    for odd in [Odd::Fifo, Odd::Socket] {
        let s = Stage::new("");
        if !odd.plant(&s.w.state) {
            continue;
        }
        let ids = s.ledger(1);
        let run = bounded(s.run(&[]), "run");
        assert_eq!(run.code, 1, "{odd:?}: {run:?}");
        assert!(
            run.stderr.contains(&s.w.state.display().to_string())
                && run.stderr.contains("not a directory"),
            "{odd:?}: {}",
            run.stderr
        );
        assert_eq!(s.dispatched(&ids[0]), 0);
    }
}

#[test]
fn a_state_dir_others_can_write_is_refused() {
    let s = world_after_a_run();
    fs::set_permissions(&s.w.state, fs::Permissions::from_mode(0o777)).expect("chmod");
    let ids = s.ledger(1);
    let run = bounded(s.run(&[]), "run");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&s.w.state.display().to_string()) && run.stderr.contains("chmod go-w"),
        "{}",
        run.stderr
    );
    assert_eq!(s.dispatched(&ids[0]), 0);
}

#[test]
fn a_state_dir_owned_by_another_user_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED a_state_dir_owned_by_another_user_is_refused: needs root (chown)");
        return;
    }
    let s = world_after_a_run();
    rustix::fs::chown(
        &s.w.state,
        Some(rustix::fs::Uid::from_raw(65534)),
        Some(rustix::fs::Gid::from_raw(65534)),
    )
    .expect("chown");
    assert_eq!(fs::metadata(&s.w.state).expect("state").uid(), 65534);
    let ids = s.ledger(1);
    let run = bounded(s.run(&[]), "run");
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains(&s.w.state.display().to_string()) && run.stderr.contains("uid 65534"),
        "{}",
        run.stderr
    );
    assert_eq!(s.dispatched(&ids[0]), 0);
}

#[test]
fn a_huge_config_or_password_file_is_refused_without_reading_it_all() {
    let w = World::ready();
    let config = w.path("config.toml");
    // Valid TOML (comments), far beyond any real config.
    let line = format!("# {}\n", "x".repeat(1000));
    fs::write(&config, line.repeat(4 * 1024)).expect("config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    let done = bounded(
        w.cmd(&["status"]).env("INBOX_EXEC_CONFIG", &config),
        "status",
    );
    assert_eq!(done.code, 1, "{done:?}");
    assert!(
        done.stderr.contains(&config.display().to_string()) && done.stderr.contains("too large"),
        "{}",
        done.stderr
    );
}

mod missing_registry {
    use super::*;

    #[test]
    fn a_vanished_registry_is_not_re_created_by_run_and_status_check_goes_non_zero() {
        let s = world_after_a_run();
        checkpoint(&s.w.db);
        fs::remove_file(&s.w.db).expect("rm registry");
        let run = bounded(s.run(&[]), "run");
        assert_eq!(run.code, 1, "{run:?}");
        assert!(
            run.stderr.contains(&s.w.db.display().to_string()) && run.stderr.contains("init"),
            "{}",
            run.stderr
        );
        assert!(!s.w.db.exists(), "run re-created the registry");
        let check = bounded(
            s.w.cmd(&["status", "--check"])
                .env("INBOX_EXEC_CONFIG", &s.config),
            "status --check",
        );
        assert_ne!(check.code, 0, "{check:?}");
        assert!(check.stderr.contains("init"), "{}", check.stderr);
    }

    #[test]
    fn a_mistyped_registry_path_is_an_error_naming_init_and_creates_nothing() {
        let w = World::ready();
        let typo = w.path("typo/drafts.db");
        let typo_str = typo.display().to_string();
        for run in [
            w.cmd(&["--db", &typo_str, "run"]),
            w.cmd(&["run"]).env("INBOX_EXEC_DB", &typo),
            w.draft_new("k").env("INBOX_EXEC_DB", &typo),
        ] {
            let done = bounded(run, "run on a typo");
            assert_eq!(done.code, 1, "{done:?}");
            assert!(
                done.stderr.contains(&typo_str) && done.stderr.contains("inbox-exec init"),
                "{}",
                done.stderr
            );
            assert!(!w.path("typo").exists(), "a directory was created");
        }
        // From the config file too.
        let config = w.path("config.toml");
        fs::write(&config, format!("db = \"{typo_str}\"\n")).expect("config");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
        let done = bounded(
            w.cmd(&["run"])
                .env_remove("INBOX_EXEC_DB")
                .env("INBOX_EXEC_CONFIG", &config),
            "run with db from the config",
        );
        assert_eq!(done.code, 1, "{done:?}");
        assert!(done.stderr.contains("init"), "{}", done.stderr);
        assert!(!w.path("typo").exists());
        // `init` is how it is made.
        w.cmd(&["--db", &typo_str, "init"]).ok();
        w.cmd(&["--db", &typo_str, "run"]).ok();
    }

    #[test]
    fn the_default_registry_is_created_on_first_use_but_not_once_it_vanished() {
        let w = World::new();
        let first = bounded(
            Run {
                cmd: w.bare(&["run"]),
            },
            "first run",
        );
        assert_eq!(first.code, 0, "{first:?}");
        let db = w.home.join(".delimit/drafts.db");
        assert!(db.is_file(), "the default registry is created on first use");
        checkpoint(&db);
        fs::remove_file(&db).expect("rm");
        let again = bounded(
            Run {
                cmd: w.bare(&["run"]),
            },
            "run after the registry vanished",
        );
        assert_eq!(again.code, 1, "{again:?}");
        assert!(
            again.stderr.contains(&db.display().to_string()) && again.stderr.contains("init"),
            "{}",
            again.stderr
        );
        assert!(!db.exists(), "a vanished default registry was re-created");
    }
}
