//! The documentation that ships beside the binary: the committed man page (no drift from the
//! clap definition), shell completions on a bare machine, the systemd units, the cron line and
//! the example configuration.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::CommandFactory;

use crate::harness::{BIN, on_path};

/// A file of the crate, by its path from the crate root.
fn crate_file(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

fn read(relative: &str) -> String {
    let path = crate_file(relative);
    fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The man page as a reader searches it: roff's escaped minus `\-` as a plain `-`.
fn searchable(roff: &str) -> String {
    roff.replace("\\-", "-")
}

/// One section of the page: from `.SH <name>` to the next `.SH`.
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .lines()
        .find(|l| {
            l.strip_prefix(".SH ")
                .is_some_and(|t| t.trim_matches('"') == name)
        })
        .and_then(|l| page.find(l))
        .unwrap_or_else(|| panic!("the man page has no {name} section"));
    let body = &page[start + 4..];
    let end = body.find("\n.SH ").map_or(body.len(), |i| i + 1);
    &body[..end]
}

/// Where two texts first differ, for a short failure message.
fn first_difference(committed: &str, rendered: &str) -> String {
    let (mut a, mut b) = (committed.lines(), rendered.lines());
    let mut line = 1;
    loop {
        match (a.next(), b.next()) {
            (Some(x), Some(y)) if x == y => line += 1,
            (None, None) => return "the files differ only in line endings".to_owned(),
            (x, y) => {
                return format!(
                    "first difference at line {line}:\n  committed: {}\n  rendered:  {}\n\
                     ({} lines committed, {} rendered)",
                    x.unwrap_or("<end of file>"),
                    y.unwrap_or("<end of file>"),
                    committed.lines().count(),
                    rendered.lines().count(),
                );
            }
        }
    }
}

#[test]
fn the_committed_man_page_matches_the_binary() {
    let path = crate_file("man/inbox-exec.1");
    let rendered = inbox_exec::man::render();
    let committed = fs::read_to_string(&path).unwrap_or_default();
    if committed == rendered {
        return;
    }
    if std::env::var_os("INBOX_EXEC_BLESS").is_some_and(|v| v == "1") {
        fs::create_dir_all(path.parent().expect("man/ has a parent")).expect("creating man/");
        fs::write(&path, &rendered).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        eprintln!("wrote {}", path.display());
        return;
    }
    panic!(
        "{} is out of date with the clap definition; {}\nrun INBOX_EXEC_BLESS=1 cargo test",
        path.display(),
        first_difference(&committed, &rendered)
    );
}

/// Every visible subcommand, nested ones included, as its full path (`draft new`).
fn subcommand_paths(cmd: &clap::Command, prefix: &str, out: &mut Vec<(String, clap::Command)>) {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let path = format!("{prefix}{}", sub.get_name());
        out.push((path.clone(), sub.clone()));
        subcommand_paths(sub, &format!("{path} "), out);
    }
}

#[test]
fn the_man_page_documents_every_subcommand_and_long_option() {
    let page = searchable(&inbox_exec::man::render());
    let root = inbox_exec::cli::Cli::command();
    let mut commands = vec![(String::new(), root.clone())];
    subcommand_paths(&root, "", &mut commands);

    let mut missing = Vec::new();
    for (path, cmd) in &commands {
        if !path.is_empty() && !page.contains(&format!("inbox-exec {path}")) {
            missing.push(format!("subcommand `inbox-exec {path}`"));
        }
        for arg in cmd.get_arguments().filter(|a| !a.is_hide_set()) {
            if let Some(long) = arg.get_long()
                && !page.contains(&format!("--{long}"))
            {
                missing.push(format!("option --{long} (of `inbox-exec {path}`)"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "the man page does not mention:\n  {}",
        missing.join("\n  ")
    );
}

#[test]
fn the_man_page_lists_every_exit_code() {
    let page = inbox_exec::man::render();
    let exit_status = searchable(section(&page, "EXIT STATUS"));
    for (code, meaning) in inbox_exec::exit::CODES {
        assert!(
            exit_status.contains(&format!("\\fB{code}\\fR")),
            "EXIT STATUS does not list code {code}:\n{exit_status}"
        );
        assert!(
            exit_status.contains(meaning),
            "EXIT STATUS does not explain code {code} as {meaning:?}:\n{exit_status}"
        );
    }
}

#[test]
fn the_man_page_has_files_and_environment_sections() {
    let page = inbox_exec::man::render();
    let files = searchable(section(&page, "FILES"));
    for path in [
        "~/.delimit/drafts.db",
        "~/.delimit/secrets/inbox-executor-hmac.key",
        "~/.delimit/inbox-exec/",
        "/etc/inbox-exec/config.toml",
    ] {
        assert!(files.contains(path), "FILES does not name {path}:\n{files}");
    }

    // Every variable clap reads, anywhere in the tree, plus the ones the program reads itself.
    let root = inbox_exec::cli::Cli::command();
    let mut commands = vec![(String::new(), root.clone())];
    subcommand_paths(&root, "", &mut commands);
    let mut vars: Vec<String> = commands
        .iter()
        .flat_map(|(_, cmd)| cmd.get_arguments().filter_map(clap::Arg::get_env))
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    vars.extend(["HOME", "XDG_CONFIG_HOME", "NO_COLOR"].map(String::from));
    assert!(vars.iter().any(|v| v == "INBOX_EXEC_CONFIG"), "{vars:?}");

    let environment = searchable(section(&page, "ENVIRONMENT"));
    for var in &vars {
        assert!(
            environment.contains(&format!("\\fB{var}\\fR")),
            "ENVIRONMENT does not name {var}:\n{environment}"
        );
    }
}

/// The binary with an empty environment (no HOME, no PATH, no config) in an empty directory.
fn bare(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_clear()
        .current_dir(dir)
        .output()
        .expect("spawn inbox-exec")
}

#[test]
fn completions_work_on_a_bare_machine() {
    let dir = tempfile::tempdir().expect("temp dir");
    for shell in ["bash", "zsh", "fish"] {
        let out = bare(dir.path(), &["completions", shell]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "completions {shell}: {}\n{stderr}",
            out.status
        );
        assert!(
            stderr.is_empty(),
            "completions {shell} wrote to stderr:\n{stderr}"
        );
        assert!(
            stdout.contains("inbox-exec"),
            "the {shell} script does not name the program:\n{stdout}"
        );
        assert!(
            stdout.contains("verify") && stdout.contains("run"),
            "the {shell} script does not complete subcommands:\n{stdout}"
        );
    }
}

#[test]
fn completions_and_man_never_open_the_configuration() {
    // A configured but missing file would be an error for any command that loads it.
    let dir = tempfile::tempdir().expect("temp dir");
    let missing = dir.path().join("no-such-config.toml");
    for args in [&["completions", "bash"][..], &["man"][..]] {
        let out = Command::new(BIN)
            .args(args)
            .env_clear()
            .env("INBOX_EXEC_CONFIG", &missing)
            .current_dir(dir.path())
            .output()
            .expect("spawn inbox-exec");
        assert!(
            out.status.success(),
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let man = bare(dir.path(), &["man"]);
    assert!(man.status.success(), "man: {}", man.status);
    assert_eq!(
        String::from_utf8_lossy(&man.stdout),
        inbox_exec::man::render(),
        "`inbox-exec man` prints the page the library renders"
    );
}

/// The complaint a machine without the `inbox-exec` account may produce. Anything else that
/// `systemd-analyze verify` prints is a real finding.
fn is_missing_user_complaint(line: &str) -> bool {
    let lower = line.to_lowercase();
    lower.contains("inbox-exec")
        && (lower.contains("user") || lower.contains("group"))
        && ["not found", "unknown", "failed to resolve", "no such"]
            .iter()
            .any(|s| lower.contains(s))
}

#[test]
fn the_systemd_units_verify() {
    let Some(analyze) = on_path("systemd-analyze") else {
        crate::harness::skip(
            "the_systemd_units_verify",
            "systemd-analyze",
            "systemd-analyze is not on PATH",
        );
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    // The unit names must stay as shipped: the timer's Unit= refers to the service.
    let service = read("contrib/inbox-exec.service");
    let exec_start = service
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("the service has an ExecStart= line");
    // A bare name: systemd finds it in /usr/local/bin (built by hand) or /usr/bin (the package).
    let args = exec_start
        .strip_prefix("inbox-exec ")
        .expect("ExecStart= runs inbox-exec, by name");
    let service = service.replace(
        &format!("ExecStart={exec_start}"),
        &format!("ExecStart={BIN} {args}"),
    );
    fs::write(dir.path().join("inbox-exec.service"), service).expect("writing the service");
    fs::write(
        dir.path().join("inbox-exec.timer"),
        read("contrib/inbox-exec.timer"),
    )
    .expect("writing the timer");

    let mut cmd = Command::new(&analyze);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        // Warnings (unknown keys, bad values) are what we are after; info-level chatter is not.
        .env("SYSTEMD_LOG_LEVEL", "warning")
        .env("SYSTEMD_LOG_COLOR", "0")
        .current_dir(dir.path());
    if on_path("man").is_some() {
        // Documentation=man:inbox-exec(1) is checked against the page this crate ships.
        let man1 = dir.path().join("man/man1");
        fs::create_dir_all(&man1).expect("man dir");
        fs::copy(crate_file("man/inbox-exec.1"), man1.join("inbox-exec.1"))
            .expect("copying the man page");
        let mut manpath = OsString::from(dir.path().join("man"));
        manpath.push(":");
        cmd.env("MANPATH", manpath);
    } else {
        cmd.arg("--man=no");
    }
    let out = cmd
        .args(["verify", "./inbox-exec.service", "./inbox-exec.timer"])
        .output()
        .expect("spawn systemd-analyze");

    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let (user, other): (Vec<&str>, Vec<&str>) = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .partition(|l| is_missing_user_complaint(l));
    assert!(
        other.is_empty(),
        "systemd-analyze verify complains:\n{}",
        other.join("\n")
    );
    assert!(
        out.status.success() || !user.is_empty(),
        "systemd-analyze verify failed ({}) without saying why",
        out.status
    );
    if !user.is_empty() {
        println!("ignored (no inbox-exec account here): {}", user.join(" | "));
    }
}

/// `Key=value` lines of a unit, comments dropped.
fn directives(unit: &str) -> Vec<(&str, &str)> {
    unit.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with(';'))
        .filter_map(|l| l.split_once('='))
        .collect()
}

#[test]
fn the_timer_fires_every_30_seconds_and_the_service_is_hardened() {
    let timer = read("contrib/inbox-exec.timer");
    assert!(
        directives(&timer).contains(&("OnUnitActiveSec", "30s")),
        "{timer}"
    );
    assert!(
        directives(&timer).contains(&("Unit", "inbox-exec.service")),
        "{timer}"
    );

    let service = read("contrib/inbox-exec.service");
    let d = directives(&service);
    for expected in [
        ("Type", "oneshot"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("User", "inbox-exec"),
        ("Documentation", "man:inbox-exec(1)"),
    ] {
        assert!(d.contains(&expected), "the service lacks {expected:?}");
    }
    let writable: Vec<&str> = d
        .iter()
        .filter(|(k, _)| *k == "ReadWritePaths")
        .map(|(_, v)| *v)
        .collect();
    assert_eq!(
        writable,
        ["/var/lib/inbox-exec"],
        "the only writable path is the state directory"
    );
}

#[test]
fn the_cron_lines_run_every_30_seconds() {
    let cron = read("contrib/inbox-exec.cron");
    let jobs: Vec<&str> = cron
        .lines()
        .filter(|l| l.starts_with("* * * * *"))
        .collect();
    assert_eq!(jobs.len(), 2, "{cron}");
    assert!(jobs[0].contains("inbox-exec run"), "{cron}");
    assert!(jobs[1].contains("sleep 30; inbox-exec run"), "{cron}");
}

#[test]
fn the_example_config_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    fs::write(&config, read("contrib/config.example.toml")).expect("writing the config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    let db = dir.path().join("x.db");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(&db)
        .arg("init")
        .env_clear()
        .current_dir(dir.path())
        .output()
        .expect("spawn inbox-exec");
    assert!(
        out.status.success(),
        "init with the example config: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(db.exists(), "init created no registry");
}

/// The example config with its optional settings switched on: a `#` directly before a key or
/// a `[table]` marks one (a `# ` with a space is prose).
fn example_with_every_option() -> String {
    read("contrib/config.example.toml")
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(rest) if rest.starts_with(|c: char| c == '[' || c.is_ascii_lowercase()) => rest,
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_example_config_with_every_option_on_loads() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("config.toml");
    fs::write(&config, example_with_every_option()).expect("writing the config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod 0600");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("x.db"))
        .arg("init")
        .env_clear()
        .current_dir(dir.path())
        .output()
        .expect("spawn inbox-exec");
    assert!(
        out.status.success(),
        "init with every option of the example config: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_example_config_sets_every_documented_key() {
    let shipped: toml::Value =
        toml::from_str(&read("contrib/config.example.toml")).expect("the example is valid TOML");
    let text = example_with_every_option();
    let value: toml::Value = toml::from_str(&text).expect("the example with every option on");
    let get = |value: &toml::Value, path: &str| {
        path.split('.')
            .try_fold(value, |at, key| at.get(key))
            .is_some()
    };
    for key in [
        "db",
        "state_dir",
        "ttl",
        "keys.1",
        "run.batch",
        "run.stuck_after",
        "thermal.max_actions",
        "thermal.window",
        "thermal.cooldown",
        "refuse.extra_kinds",
        "github.gh",
        "github.timeout",
        "github.env",
        "handlers.ledger_done.command",
        "handlers.ledger_done.timeout",
        "handlers.ledger_done.env",
        "notify.smtp_url",
        "notify.from",
        "notify.to",
        "notify.username",
        "notify.password_file",
        "notify.timeout",
    ] {
        assert!(get(&value, key), "the example config does not show {key}");
    }
    // As shipped, what needs something that may not exist here stays off: a handler program,
    // a mail server and its password file.
    for key in ["handlers", "notify"] {
        assert!(
            !get(&shipped, key),
            "the example config switches on [{key}] as shipped"
        );
    }
    // The alternative to smtp_url, shown as prose (setting both is an error).
    assert!(
        text.contains("# sendmail = "),
        "the example does not show sendmail"
    );
}

/// Every test a document cites as `file.rs::name` (under `tests/it/`, or `props.rs` under
/// `tests/`), with the `#[test]` attribute right above its `fn`.
fn cited_tests(doc: &str) -> Vec<(String, String)> {
    let text = read(doc);
    let mut cited = Vec::new();
    for quoted in text.split('`').skip(1).step_by(2) {
        let Some((file, name)) = quoted.split_once(".rs::") else {
            continue;
        };
        let name = name.rsplit("::").next().unwrap_or(name);
        let is_ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '/')
        };
        if is_ident(file) && is_ident(name) {
            cited.push((format!("{file}.rs"), name.to_owned()));
        }
    }
    cited
}

#[test]
fn every_test_security_md_and_testing_md_cite_exists() {
    for (doc, at_least) in [("SECURITY.md", 50), ("TESTING.md", 10)] {
        let cited = cited_tests(doc);
        assert!(cited.len() >= at_least, "{doc} cites tests: {cited:?}");
        for (file, name) in cited {
            let path = if file == "props.rs" {
                format!("tests/{file}")
            } else {
                format!("tests/it/{file}")
            };
            let source = read(&path);
            let defined = source
                .split("#[test]")
                .skip(1)
                .any(|after| after.trim_start().starts_with(&format!("fn {name}(")));
            assert!(
                defined,
                "{doc} cites {file}::{name}, which is no test in {path}"
            );
        }
    }
}
