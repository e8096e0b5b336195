//! The operator's path, performed rather than read: the README's install block run step by
//! step in a scratch root that stands in for `/`, as the service user; the example config
//! running clean as shipped; the drop-in for an existing `~/.delimit`; and the files the
//! Debian package is built from.

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use clap::CommandFactory;

use crate::harness::{BIN, on_path, script};
use crate::stage::TARGET;

/// The URL the stand-in `gh` prints, as the real one prints the new comment's.
const URL: &str = "https://github.com/octo-org/demo/issues/42#issuecomment-7";

/// The README's marker line before the install block.
const INSTALL_MARKER: &str = "<!-- install:";

/// The README's marker line before the list of the package's files.
const DEB_FILES_MARKER: &str = "<!-- deb-files:";

/// A file of the crate, by its path from the crate root.
fn crate_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = crate_file(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Says why a test did not run, on stderr where `cargo test` shows it, in the form the other
/// suites use; a shared `harness::skip` is meant to replace this one.
fn skip(test: &str, need: &str, reason: &str) {
    let line = format!("SKIPPED {test}: needs {need} ({reason})\n");
    let _ = std::io::stderr().write_all(line.as_bytes());
}

/// The lines of the fenced block that follows the line starting with `marker`.
fn fenced_block(text: &str, marker: &str) -> Vec<String> {
    let mut lines = text.lines().skip_while(|l| !l.starts_with(marker));
    assert!(
        lines.next().is_some(),
        "the README has no line starting with {marker:?}"
    );
    let fence = lines.next().unwrap_or_default();
    assert!(
        fence.starts_with("```"),
        "the line after {marker:?} is not a fence: {fence:?}"
    );
    lines
        .take_while(|l| !l.starts_with("```"))
        .map(str::to_owned)
        .collect()
}

/// `Key=value` lines of a unit file's sections, comments dropped, in order.
fn directives(unit: &str) -> Vec<(String, String)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `Environment=NAME=value` of a unit, in order (a later one wins, as in systemd).
fn unit_environment(unit: &str) -> Vec<(String, String)> {
    directives(unit)
        .into_iter()
        .filter(|(k, _)| k == "Environment")
        .map(|(_, v)| {
            let (name, value) = v.split_once('=').expect("Environment=NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// A scratch directory standing in for `/`: `/etc/inbox-exec` is `<root>/etc/inbox-exec`.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        let dir = tempfile::tempdir().expect("temp dir");
        // The service user must reach the files under it, as it reaches them under `/`.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod root");
        Root { dir }
    }

    /// Where an absolute path of the real layout lands under the root.
    fn at(&self, absolute: &str) -> PathBuf {
        assert!(absolute.starts_with('/'), "{absolute} is not absolute");
        self.dir.path().join(absolute.trim_start_matches('/'))
    }

    /// A command-line word moved under the root: absolute paths are, the rest is as written.
    fn word(&self, word: &str) -> String {
        if word.starts_with('/') {
            self.at(word).display().to_string()
        } else {
            word.to_owned()
        }
    }

    /// A file's text with the layout's directories moved under the root.
    fn relocate(&self, text: &str) -> String {
        ["/etc/inbox-exec", "/var/lib/inbox-exec", "/home/"]
            .iter()
            .fold(text.to_owned(), |t, dir| {
                t.replace(dir, &self.at(dir).display().to_string())
            })
    }

    /// The PATH a systemd service gets, with its local directories under the root, where the
    /// stand-in `gh` and the installed binary are.
    fn service_path(&self) -> String {
        format!(
            "{}:{}:/usr/sbin:/usr/bin:/sbin:/bin",
            self.at("/usr/local/sbin").display(),
            self.at("/usr/local/bin").display()
        )
    }

    /// A stand-in `gh` in `<root>/usr/local/bin` that records its argv and stdin in `calls`
    /// and prints [`URL`].
    fn stand_in_gh(&self, calls: &Path) {
        let bin = self.at("/usr/local/bin");
        fs::create_dir_all(&bin).expect("bin dir");
        fs::create_dir_all(calls).expect("calls dir");
        script(
            &bin.join("gh"),
            &format!(
                "#!/bin/sh\n{{ printf '%s\\n' \"$@\"; echo ---; cat; }} > {}/call.$$\necho {URL}\n",
                calls.display()
            ),
        );
    }
}

/// The one call the stand-in `gh` recorded: its argv lines, `---`, its stdin.
fn single_gh_call(calls: &Path) -> String {
    let files: Vec<PathBuf> = fs::read_dir(calls)
        .expect("calls dir")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(files.len(), 1, "gh ran {} times, not once", files.len());
    fs::read_to_string(&files[0]).expect("call file")
}

/// One string column of one row of the registry.
fn query(db: &Path, sql: &str) -> String {
    let conn = rusqlite::Connection::open(db).expect("open registry");
    conn.query_row(sql, [], |r| r.get::<_, Option<String>>(0))
        .expect("query")
        .unwrap_or_else(|| "NULL".to_owned())
}

fn assert_ok(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// Exit 0 and nothing at all on stderr: no warning, no error.
fn assert_clean(what: &str, out: &Output) {
    assert_ok(what, out);
    assert!(
        out.stderr.is_empty(),
        "{what} wrote to stderr:\n{}",
        text(&out.stderr)
    );
}

/// The body every install test posts.
const BODY: &str = "Installed as the README says.";

/// The payload carrying [`BODY`].
fn payload() -> String {
    format!(r#"{{"body":"{BODY}"}}"#)
}

/// Checks a draft went through the stand-in `gh` once, exactly as `gh issue comment` wants it.
fn assert_posted(db: &Path, id: &str, calls: &Path) {
    let row = |col: &str| {
        query(
            db,
            &format!("SELECT {col} FROM drafts WHERE draft_id = '{id}'"),
        )
    };
    assert_eq!(
        row("status"),
        "completed",
        "last_error: {}",
        row("last_error")
    );
    assert_eq!(row("executed_url"), URL);
    let call = single_gh_call(calls);
    assert_eq!(
        call,
        format!("issue\ncomment\n42\n--repo\nocto-org/demo\n--body-file\n-\n---\n{BODY}"),
        "gh's argv and stdin"
    );
}

/// The service user as sysusers.d created it in the root: uid, gid, home.
struct ServiceUser {
    uid: u32,
    gid: u32,
    home: String,
}

fn service_user(root: &Root) -> ServiceUser {
    let passwd = fs::read_to_string(root.at("/etc/passwd")).expect("the root's /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.starts_with("inbox-exec:"))
        .unwrap_or_else(|| panic!("sysusers.d created no inbox-exec user:\n{passwd}"));
    let fields: Vec<&str> = line.split(':').collect();
    assert_eq!(fields.len(), 7, "{line}");
    ServiceUser {
        uid: fields[2].parse().expect("uid"),
        gid: fields[3].parse().expect("gid"),
        home: fields[5].to_owned(),
    }
}

/// A command run as the service user: the uid and gid sysusers.d allocated in the root, no
/// supplementary groups, and the environment `runuser -u` gives it (HOME, PATH), nothing else.
fn as_user(root: &Root, user: &ServiceUser, program: &Path) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={}", user.uid))
        .arg(format!("--regid={}", user.gid))
        .arg("--clear-groups")
        .arg("--")
        .arg(program)
        .env_clear()
        .env("HOME", root.at(&user.home))
        .env("PATH", root.service_path())
        .current_dir("/")
        .stdin(Stdio::null());
    cmd
}

/// What the install test needs, or the first thing it lacks, with why.
fn install_prerequisites() -> Result<(), (String, String)> {
    if !rustix::process::geteuid().is_root() {
        return Err((
            "root".into(),
            "to own files as root and run commands as the service user".into(),
        ));
    }
    for tool in ["setpriv", "systemd-sysusers", "systemd-tmpfiles", "install"] {
        if on_path(tool).is_none() {
            return Err((tool.into(), "not on PATH".into()));
        }
    }
    Ok(())
}

/// What performing the README's block did, for the checks after it.
#[derive(Default)]
struct Performed {
    /// Each step, in order: `install`, `sysusers`, `tmpfiles`, the inbox-exec subcommand run as
    /// the service user (`keygen`, `init`), `systemctl …`.
    steps: Vec<String>,
}

/// Performs one line of the README's install block under `root`. Every command the block may
/// use is here; a line this does not know fails the test, so the block cannot grow a step
/// that nothing checks.
fn perform(root: &Root, line: &str, done: &mut Performed) {
    assert!(
        !line.contains(['\'', '"', '$', '`', '|', '>', '<', ';', '&']),
        "the install block is plain words, one command a line (no quoting, expansion or \
         redirection), so that this test performs it as written: {line}"
    );
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["install", args @ ..] => {
            let user = || service_user(root);
            let mut cmd = Command::new("install");
            let mut option: Option<&str> = None;
            for arg in args {
                let mapped = match (option.take(), *arg) {
                    (Some("-o" | "-g"), "root") => "0".to_owned(),
                    (Some("-o"), "inbox-exec") => user().uid.to_string(),
                    (Some("-g"), "inbox-exec") => user().gid.to_string(),
                    (Some("-o" | "-g"), other) => {
                        panic!("install: an owner the test does not know: {other}")
                    }
                    // -m MODE, -t DIRECTORY.
                    (Some(_), value) => root.word(value),
                    (None, flag @ ("-m" | "-o" | "-g" | "-t")) => {
                        option = Some(flag);
                        flag.to_owned()
                    }
                    (None, flag) if flag.starts_with('-') => flag.to_owned(),
                    // The binary cargo built for this test run.
                    (None, "target/release/inbox-exec") => BIN.to_owned(),
                    (None, path) if path.starts_with('/') => root.word(path),
                    (None, path) => crate_file(path).display().to_string(),
                };
                cmd.arg(mapped);
            }
            let out = cmd.output().expect("spawn install");
            assert_ok(line, &out);
            if args.contains(&"contrib/config.example.toml") {
                let dest = root.at(args.last().expect("install has a destination"));
                let installed = fs::read_to_string(&dest).expect("the installed config");
                fs::write(&dest, root.relocate(&installed)).expect("relocating the config");
            }
            done.steps.push("install".into());
        }
        ["systemd-sysusers", file] => {
            let out = Command::new("systemd-sysusers")
                .arg(format!("--root={}", root.dir.path().display()))
                .arg(file)
                .output()
                .expect("spawn systemd-sysusers");
            assert_ok(line, &out);
            done.steps.push("sysusers".into());
        }
        ["systemd-tmpfiles", "--create", file] => {
            let out = Command::new("systemd-tmpfiles")
                .arg(format!("--root={}", root.dir.path().display()))
                .arg("--create")
                .arg(file)
                .output()
                .expect("spawn systemd-tmpfiles");
            assert_ok(line, &out);
            done.steps.push("tmpfiles".into());
        }
        ["runuser", "-u", "inbox-exec", "--", "inbox-exec", args @ ..] => {
            let user = service_user(root);
            let out = as_user(root, &user, &root.at("/usr/local/bin/inbox-exec"))
                .args(args.iter().map(|a| root.word(a)))
                .output()
                .expect("spawn setpriv");
            assert_ok(line, &out);
            let subcommand = args.iter().rfind(|a| !a.starts_with('-'));
            done.steps
                .push((*subcommand.expect("a subcommand")).to_owned());
        }
        // No systemd in here: the service is started by hand below, as the timer would.
        ["systemctl", rest @ ..] => done.steps.push(format!("systemctl {}", rest.join(" "))),
        _ => panic!(
            "tests/it/install.rs does not know this install step; teach it, so the README's \
             block stays what the test performs: {line}"
        ),
    }
}

/// The installed service, started once the way systemd would: its `User=`, its
/// `Environment=`, its `ExecStart=` with the name looked up in `/usr/local/bin` then
/// `/usr/bin`, from `/`.
fn start_service(root: &Root, user: &ServiceUser) -> Output {
    let unit = fs::read_to_string(root.at("/etc/systemd/system/inbox-exec.service"))
        .expect("the installed service");
    let d = directives(&unit);
    let get = |key: &str| {
        d.iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("the service has no {key}="))
    };
    assert_eq!(get("User"), "inbox-exec");
    assert_eq!(get("Group"), "inbox-exec");
    let exec = get("ExecStart");
    let mut words = exec.split_whitespace();
    let name = words.next().expect("ExecStart= names a program");
    let program = if name.starts_with('/') {
        root.at(name)
    } else {
        ["/usr/local/bin", "/usr/bin"]
            .iter()
            .map(|dir| root.at(dir).join(name))
            .find(|p| p.exists())
            .unwrap_or_else(|| panic!("{name} is in neither /usr/local/bin nor /usr/bin"))
    };
    let mut cmd = as_user(root, user, &program);
    for (name, value) in unit_environment(&unit) {
        cmd.env(name, root.word(&value));
    }
    cmd.args(words).output().expect("spawn the service")
}

#[test]
fn the_readme_install_works_as_written_and_the_timer_dispatches_a_draft() {
    let test = "the_readme_install_works_as_written_and_the_timer_dispatches_a_draft";
    if let Err((need, reason)) = install_prerequisites() {
        skip(test, &need, &reason);
        return;
    }
    let root = Root::new();
    // The host's accounts, so that the user sysusers.d allocates has a uid and gid no real
    // account has here.
    // And the directory every systemd machine has, where the units go.
    fs::create_dir_all(root.at("/etc/systemd/system")).expect("etc/systemd/system");
    for file in ["/etc/passwd", "/etc/group"] {
        fs::copy(file, root.at(file)).unwrap_or_else(|e| panic!("copying {file}: {e}"));
    }

    let mut done = Performed::default();
    let block = fenced_block(&read("README.md"), INSTALL_MARKER);
    for line in &block {
        let line = line.split(" #").next().unwrap_or_default().trim();
        if !line.is_empty() {
            perform(&root, line, &mut done);
        }
    }
    for step in [
        "sysusers",
        "tmpfiles",
        "keygen",
        "init",
        "systemctl enable --now inbox-exec.timer",
    ] {
        assert!(
            done.steps.iter().any(|s| s == step),
            "the README's install block has no {step} step: {:?}",
            done.steps
        );
    }
    let order = |step: &str| done.steps.iter().position(|s| s == step);
    assert!(
        order("keygen") < order("systemctl enable --now inbox-exec.timer"),
        "the key must exist before the timer runs"
    );

    // The layout the documents describe.
    let user = service_user(&root);
    assert_eq!(root.at(&user.home), root.at("/var/lib/inbox-exec"));
    let owned = |path: &str, uid: u32, gid: Option<u32>, expected: u32| {
        let p = root.at(path);
        let meta = fs::metadata(&p).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.uid(), uid, "{path} owner");
        if let Some(gid) = gid {
            assert_eq!(meta.gid(), gid, "{path} group");
        }
        assert_eq!(
            format!("{:04o}", mode(&p)),
            format!("{expected:04o}"),
            "{path} mode"
        );
    };
    owned("/etc/inbox-exec", 0, Some(user.gid), 0o750);
    owned("/etc/inbox-exec/config.toml", 0, Some(0), 0o644);
    owned("/var/lib/inbox-exec", user.uid, Some(user.gid), 0o700);
    owned("/var/lib/inbox-exec/hmac.key", user.uid, None, 0o600);
    owned("/var/lib/inbox-exec/drafts.db", user.uid, None, 0o600);
    owned("/usr/local/bin/inbox-exec", 0, None, 0o755);
    assert!(root.at("/usr/local/share/man/man1/inbox-exec.1").is_file());
    assert!(root.at("/etc/systemd/system/inbox-exec.timer").is_file());

    // The first timer run: nothing approved, and nothing to say on stderr.
    let calls = root.at("/gh-calls");
    root.stand_in_gh(&calls);
    std::os::unix::fs::chown(&calls, Some(user.uid), Some(user.gid)).expect("chown calls");
    let idle = start_service(&root, &user);
    assert_clean("the first run", &idle);
    owned("/var/lib/inbox-exec/last-run.json", user.uid, None, 0o600);

    // A draft signed and approved as the service user, then one timer run.
    let config = root.at("/etc/inbox-exec/config.toml");
    let inbox_exec = root.at("/usr/local/bin/inbox-exec");
    let as_service = |args: &[&str]| {
        let out = as_user(&root, &user, &inbox_exec)
            .arg("--config")
            .arg(&config)
            .args(args)
            .output()
            .expect("spawn setpriv");
        assert_clean(&args.join(" "), &out);
        text(&out.stdout)
    };
    let payload = payload();
    let id = as_service(&[
        "draft",
        "new",
        "--kind",
        "github_comment",
        "--target",
        TARGET,
        "--payload",
        &payload,
    ]);
    let id = id.trim();
    as_service(&["approve", id]);
    let run = start_service(&root, &user);
    assert_clean("the run that dispatches", &run);
    assert_posted(&root.at("/var/lib/inbox-exec/drafts.db"), id, &calls);
    as_service(&["status", "--check"]);
}

/// The example config with its paths moved under `root`, at `<root>/etc/inbox-exec`, and the
/// state directory, as tmpfiles.d makes them (owned by whoever runs the test).
fn install_example(root: &Root) -> PathBuf {
    let config = root.at("/etc/inbox-exec/config.toml");
    fs::create_dir_all(config.parent().expect("etc/inbox-exec")).expect("etc dir");
    fs::write(&config, root.relocate(&read("contrib/config.example.toml")))
        .expect("writing the config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o644)).expect("chmod config");
    let state = root.at("/var/lib/inbox-exec");
    fs::create_dir_all(&state).expect("state dir");
    fs::set_permissions(&state, fs::Permissions::from_mode(0o700)).expect("chmod state");
    config
}

#[test]
fn the_example_config_runs_clean_as_shipped() {
    let root = Root::new();
    let config = install_example(&root);
    let calls = root.at("/gh-calls");
    root.stand_in_gh(&calls);
    let inbox_exec = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&config)
            .args(args)
            .env_clear()
            .env("HOME", root.at("/var/lib/inbox-exec"))
            .env("PATH", root.service_path())
            .current_dir("/")
            .stdin(Stdio::null())
            .output()
            .expect("spawn inbox-exec")
    };
    assert_clean("keygen", &inbox_exec(&["keygen"]));
    assert_ok("init", &inbox_exec(&["init"]));

    let idle = inbox_exec(&["run"]);
    assert_clean("an idle run with the example config", &idle);

    let payload = payload();
    let new = inbox_exec(&[
        "draft",
        "new",
        "--kind",
        "github_comment",
        "--target",
        TARGET,
        "--payload",
        &payload,
    ]);
    assert_clean("draft new", &new);
    let id = text(&new.stdout).trim().to_owned();
    assert_clean("approve", &inbox_exec(&["approve", &id]));
    let run = inbox_exec(&["run"]);
    assert_clean("a run that dispatches with the example config", &run);
    assert_posted(&root.at("/var/lib/inbox-exec/drafts.db"), &id, &calls);
}

#[test]
fn the_delimit_drop_in_runs_the_timer_on_the_users_own_registry() {
    let drop_in = read("contrib/inbox-exec-delimit.conf");
    let d = directives(&drop_in);
    let has = |key: &str, value: &str| d.iter().any(|(k, v)| k == key && v == value);
    assert!(has("User", "alice") && has("Group", "alice"), "{drop_in}");
    assert!(
        has("StateDirectory", ""),
        "the drop-in must drop the inbox-exec user's StateDirectory="
    );
    let writable: Vec<&str> = d
        .iter()
        .filter(|(k, v)| k == "ReadWritePaths" && !v.is_empty())
        .map(|(_, v)| v.as_str())
        .collect();
    let env = unit_environment(&drop_in);
    for name in ["INBOX_EXEC_DB", "INBOX_EXEC_KEY", "INBOX_EXEC_STATE_DIR"] {
        let value = env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the drop-in does not set {name}"));
        assert!(
            value.starts_with("/home/alice/.delimit/"),
            "{name}={value} is not in ~/.delimit"
        );
        assert!(
            writable.iter().any(|w| value.starts_with(w)),
            "{name}={value} is not under ReadWritePaths= {writable:?}"
        );
    }

    // The cycle with the drop-in's environment and the system's example config: every file
    // lands in alice's ~/.delimit, none in the inbox-exec user's /var/lib/inbox-exec.
    let root = Root::new();
    let config = install_example(&root);
    fs::remove_dir(root.at("/var/lib/inbox-exec")).expect("no state dir of the service user");
    let calls = root.at("/gh-calls");
    root.stand_in_gh(&calls);
    let inbox_exec = |args: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env_clear()
            .env("INBOX_EXEC_CONFIG", &config)
            .env("PATH", root.service_path())
            .current_dir("/")
            .stdin(Stdio::null());
        for (name, value) in &env {
            cmd.env(name, root.relocate(value));
        }
        cmd.output().expect("spawn inbox-exec")
    };
    assert_clean("keygen", &inbox_exec(&["keygen"]));
    assert_ok("init", &inbox_exec(&["init"]));
    let payload = payload();
    let new = inbox_exec(&[
        "draft",
        "new",
        "--kind",
        "github_comment",
        "--target",
        TARGET,
        "--payload",
        &payload,
    ]);
    assert_clean("draft new", &new);
    let id = text(&new.stdout).trim().to_owned();
    assert_clean("approve", &inbox_exec(&["approve", &id]));
    assert_clean("run", &inbox_exec(&["run"]));

    let delimit = root.at("/home/alice/.delimit");
    assert_posted(&delimit.join("drafts.db"), &id, &calls);
    assert!(delimit.join("secrets/inbox-executor-hmac.key").is_file());
    assert!(delimit.join("inbox-exec/last-run.json").is_file());
    assert!(
        !root.at("/var/lib/inbox-exec").exists(),
        "the drop-in's cycle touched /var/lib/inbox-exec"
    );

    // And systemd reads the unit with the drop-in without a complaint.
    let Some(analyze) = on_path("systemd-analyze") else {
        skip(
            "the_delimit_drop_in_runs_the_timer_on_the_users_own_registry (systemd-analyze part)",
            "systemd-analyze",
            "not on PATH",
        );
        return;
    };
    let units = tempfile::tempdir().expect("temp dir");
    let service = read("contrib/inbox-exec.service")
        .replace("ExecStart=inbox-exec ", &format!("ExecStart={BIN} "));
    fs::write(units.path().join("inbox-exec.service"), service).expect("service");
    fs::create_dir(units.path().join("inbox-exec.service.d")).expect("drop-in dir");
    fs::write(
        units.path().join("inbox-exec.service.d/delimit.conf"),
        &drop_in,
    )
    .expect("drop-in");
    let out = Command::new(analyze)
        .args(["verify", "--man=no", "./inbox-exec.service"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .env("SYSTEMD_LOG_COLOR", "0")
        .current_dir(units.path())
        .output()
        .expect("spawn systemd-analyze");
    let complaints: Vec<String> = format!("{}{}", text(&out.stdout), text(&out.stderr))
        .lines()
        .filter(|l| !l.trim().is_empty())
        // Neither alice nor inbox-exec need exist on the machine running the tests.
        .filter(|l| !(l.contains("alice") || l.contains("inbox-exec")) || !l.contains("user"))
        .map(str::to_owned)
        .collect();
    assert!(
        complaints.is_empty(),
        "systemd-analyze verify complains about the drop-in:\n{}",
        complaints.join("\n")
    );
}

/// The completion scripts the package ships, by shell, and where they are committed.
const COMPLETIONS: [(&str, &str); 3] = [
    ("bash", "contrib/completions/inbox-exec.bash"),
    ("zsh", "contrib/completions/_inbox-exec"),
    ("fish", "contrib/completions/inbox-exec.fish"),
];

#[test]
fn the_committed_completion_scripts_match_the_binary() {
    let bless = std::env::var_os("INBOX_EXEC_BLESS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (shell, file) in COMPLETIONS {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .env_clear()
            .output()
            .expect("spawn inbox-exec");
        assert_clean(&format!("completions {shell}"), &out);
        let path = crate_file(file);
        if fs::read(&path).unwrap_or_default() == out.stdout {
            continue;
        }
        if bless {
            fs::write(&path, &out.stdout)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            eprintln!("wrote {}", path.display());
        } else {
            stale.push(file);
        }
    }
    assert!(
        stale.is_empty(),
        "out of date with the clap definition: {stale:?}; run INBOX_EXEC_BLESS=1 cargo test"
    );
    // Nothing to complete is missing from them: every visible subcommand is named.
    let bash = read("contrib/completions/inbox-exec.bash");
    for sub in inbox_exec::cli::Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
    {
        assert!(
            bash.contains(sub.get_name()),
            "the bash script does not name {}",
            sub.get_name()
        );
    }
}

/// Where cargo-deb puts an asset: the destination, or the source's name under it when the
/// destination is a directory; man pages gzipped, as cargo-deb does.
fn deb_destination(source: &str, dest: &str) -> String {
    let mut path = if dest.ends_with('/') {
        let name = Path::new(source).file_name().expect("a file name");
        format!("/{dest}{}", name.to_string_lossy())
    } else {
        format!("/{dest}")
    };
    if path.starts_with("/usr/share/man/") {
        path.push_str(".gz");
    }
    path
}

#[test]
fn the_package_metadata_names_files_that_exist_and_the_readme_lists_them() {
    let manifest: toml::Value = toml::from_str(&read("Cargo.toml")).expect("Cargo.toml");
    // It is the package's one-line synopsis too, which Debian wants under 80 characters
    // (cargo-deb wraps a longer one into the long description).
    let description = manifest["package"]["description"]
        .as_str()
        .expect("description");
    assert!(description.len() < 80, "{description:?} is too long");
    let deb = &manifest["package"]["metadata"]["deb"];
    let assets = deb["assets"]
        .as_array()
        .expect("[package.metadata.deb] assets");
    let listed = fenced_block(&read("README.md"), DEB_FILES_MARKER);
    for asset in assets {
        let asset = asset
            .as_array()
            .expect("an asset is [source, destination, mode]");
        let (source, dest) = (
            asset[0].as_str().expect("source"),
            asset[1].as_str().expect("destination"),
        );
        if !source.starts_with("target/") {
            assert!(
                crate_file(source).is_file(),
                "asset {source} does not exist"
            );
        }
        let installed = deb_destination(source, dest);
        assert!(
            listed.contains(&installed),
            "the README's list of the package's files lacks {installed}"
        );
    }
    // The units, sysusers.d and tmpfiles.d files cargo-deb picks up by name.
    let units = deb["systemd-units"]["unit-scripts"]
        .as_str()
        .expect("systemd-units.unit-scripts");
    for (file, installed) in [
        (
            "inbox-exec.service",
            "/usr/lib/systemd/system/inbox-exec.service",
        ),
        (
            "inbox-exec.timer",
            "/usr/lib/systemd/system/inbox-exec.timer",
        ),
        ("inbox-exec.sysusers", "/usr/lib/sysusers.d/inbox-exec.conf"),
        ("inbox-exec.tmpfile", "/usr/lib/tmpfiles.d/inbox-exec.conf"),
    ] {
        assert!(
            crate_file(units).join(file).is_file(),
            "{units}{file} does not exist"
        );
        assert!(
            listed.iter().any(|l| l == installed),
            "the README's list of the package's files lacks {installed}"
        );
    }
}

/// `(path, mode, owner, group)` of each `install -d` line in `text`, comment markers dropped.
fn install_d_lines(text: &str) -> Vec<(String, String, String, String)> {
    let mut dirs: Vec<_> = text
        .lines()
        .map(|l| l.trim_start_matches('#').trim())
        .filter(|l| l.starts_with("install -d "))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let after = |flag: &str| {
                let i = words.iter().position(|w| *w == flag);
                i.and_then(|i| words.get(i + 1))
                    .map(|w| (*w).to_owned())
                    .unwrap_or_else(|| panic!("{flag} missing in {l}"))
            };
            let path = (*words.last().expect("a path")).to_owned();
            (path, after("-m"), after("-o"), after("-g"))
        })
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn the_layout_without_systemd_is_the_tmpfiles_layout() {
    let mut tmpfiles: Vec<_> = read("contrib/inbox-exec.tmpfile")
        .lines()
        .filter(|l| l.starts_with("d "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            (
                w[1].to_owned(),
                w[2].to_owned(),
                w[3].to_owned(),
                w[4].to_owned(),
            )
        })
        .collect();
    tmpfiles.sort();
    assert_eq!(tmpfiles.len(), 2, "{tmpfiles:?}");
    assert_eq!(
        install_d_lines(&read("contrib/inbox-exec.cron")),
        tmpfiles,
        "contrib/inbox-exec.cron"
    );
    assert_eq!(
        install_d_lines(&read("README.md")),
        tmpfiles,
        "README.md (without systemd)"
    );
    // And the account: the one sysusers.d describes.
    let sysusers = read("contrib/inbox-exec.sysusers");
    let user = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .expect("a u line");
    assert!(
        user.ends_with("/var/lib/inbox-exec /usr/sbin/nologin"),
        "{user}"
    );
    for text in [read("README.md"), read("contrib/inbox-exec.cron")] {
        assert!(
            text.contains(
                "useradd --system --user-group --no-create-home --home-dir /var/lib/inbox-exec --shell /usr/sbin/nologin inbox-exec"
            ),
            "the useradd line differs from sysusers.d's account"
        );
    }
}
