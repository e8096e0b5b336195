//! What a person reads: one cause per error, warnings that tell the truth, usage errors that
//! exit 2, multi-line text printed as lines, dates instead of Unix times, grouped help.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::harness::{Done, World, script};
use crate::stage::Stage;

/// The `inbox-exec: error: …` line, with the continuation lines that follow it.
fn error_message(done: &Done) -> String {
    let start = done
        .stderr
        .find("inbox-exec: error: ")
        .unwrap_or_else(|| panic!("no error line in:\n{}", done.stderr));
    done.stderr[start..].trim_end().to_owned()
}

/// Fails when a message says the same thing twice: the same OS error, the same path, or the
/// same `: `-separated part (the symptom of a context and its source both printing the cause).
fn assert_one_cause(what: &str, message: &str) {
    let os_errors = message.matches("(os error").count();
    assert!(
        os_errors <= 1,
        "{what}: the OS error is printed {os_errors} times:\n{message}"
    );
    let parts: Vec<&str> = message.split(": ").map(str::trim).collect();
    for (i, part) in parts.iter().enumerate() {
        assert!(
            !parts[i + 1..].contains(part),
            "{what}: {part:?} is printed twice:\n{message}"
        );
    }
    let paths: Vec<&str> = message
        .split([' ', ':', '(', ')', '"'])
        .filter(|w| w.starts_with('/') && w.len() > 1)
        .collect();
    for (i, path) in paths.iter().enumerate() {
        assert!(
            !paths[i + 1..].contains(path),
            "{what}: the path {path} is printed twice:\n{message}"
        );
    }
}

/// A regular file standing where a directory should be: every path below it fails with
/// ENOTDIR, even for root, so each failing-file path can be reached on any machine.
fn blocker(w: &World) -> std::path::PathBuf {
    let file = w.path("not-a-dir");
    fs::write(&file, "x").expect("blocker");
    file
}

#[test]
fn every_failing_file_names_its_cause_once() {
    let w = World::ready();
    let blocked = blocker(&w);
    let under = |name: &str| blocked.join(name);
    let config_dir = w.path("config-dir");
    fs::create_dir(&config_dir).expect("dir");
    let unreadable_key = under("hmac.key");
    let cases: Vec<(&str, crate::harness::Run)> = vec![
        (
            "keygen where the key cannot be created (KeyError::Create)",
            w.cmd(&["keygen"])
                .env("INBOX_EXEC_KEY", under("k/hmac.key")),
        ),
        (
            "draft new with a key that cannot be read (KeyError::Unreadable)",
            w.draft_new("ledger_done")
                .env("INBOX_EXEC_KEY", &unreadable_key),
        ),
        (
            "a config that cannot be read (ConfigError::Read)",
            w.cmd(&["status"])
                .env("INBOX_EXEC_CONFIG", under("config.toml")),
        ),
        (
            "a config that is a directory (ConfigError::Read)",
            w.cmd(&["status"]).env("INBOX_EXEC_CONFIG", &config_dir),
        ),
        (
            "init where the registry cannot be created (RegistryError::Io)",
            w.cmd(&["init"]).env("INBOX_EXEC_DB", under("drafts.db")),
        ),
        (
            "draft new where the registry cannot be created (RegistryError::Io)",
            w.draft_new("ledger_done")
                .env("INBOX_EXEC_DB", under("drafts.db")),
        ),
        (
            "status on a registry that does not exist (RegistryError::Missing)",
            w.cmd(&["status"])
                .env("INBOX_EXEC_DB", w.path("nowhere.db")),
        ),
        (
            "show on a registry that is not a database",
            w.cmd(&["show", "X"]).env("INBOX_EXEC_DB", &blocked),
        ),
    ];
    for (what, run) in cases {
        let done = run.code(1);
        assert_one_cause(what, &error_message(&done));
    }
}

#[test]
fn init_never_warns_about_the_registry_it_was_asked_to_create() {
    let w = World::new();
    w.cmd(&["keygen"]).ok();
    let done = w.cmd(&["init"]).ok();
    assert!(
        !done.stderr.contains("created a new"),
        "init warned about doing what it was asked:\n{}",
        done.stderr
    );
}

#[test]
fn a_registry_that_could_not_be_created_is_not_reported_created() {
    let w = World::ready();
    // Missing, and its directory cannot be made (not even by root): /proc takes no mkdir.
    let done = w
        .draft_new("ledger_done")
        .env("INBOX_EXEC_DB", "/proc/inbox-exec-no-such-dir/drafts.db")
        .code(1);
    assert_one_cause("an uncreatable registry", &error_message(&done));
    assert!(
        !done.stderr.contains("created a new"),
        "a registry that failed to be created was reported created:\n{}",
        done.stderr
    );
}

#[test]
fn the_default_registry_created_on_first_use_is_reported_after_it_exists() {
    let w = World::new();
    w.cmd(&["keygen"]).ok();
    // The default registry (no --db): the one a first `run` or `draft new` may create.
    let done = w
        .cmd(&["run"])
        .env_remove("INBOX_EXEC_DB")
        .env_remove("INBOX_EXEC_STATE_DIR")
        .ok();
    let db = w.home.join(".delimit/drafts.db");
    assert!(db.is_file(), "the default registry was not created");
    assert!(
        done.stderr.contains("created a new, empty registry"),
        "the first use of the default registry says nothing:\n{}",
        done.stderr
    );
}

#[test]
fn a_bad_duration_is_a_usage_error() {
    let w = World::ready();
    for (args, env) in [
        (&["--ttl", "nonsense", "status"][..], None),
        (&["reconcile", "--older-than", "soon"][..], None),
        (&["status"][..], Some(("INBOX_EXEC_TTL", "nonsense"))),
    ] {
        let mut run = w.cmd(args);
        if let Some((k, v)) = env {
            run = run.env(k, v);
        }
        let done = run.code(2);
        assert!(
            done.stderr.contains("not a duration") && done.stderr.contains("30s"),
            "{args:?}: the usage error does not say what a duration looks like:\n{}",
            done.stderr
        );
    }
}

#[test]
fn a_toml_error_is_printed_as_lines_not_escapes() {
    let w = World::ready();
    let config = w.path("bad.toml");
    fs::write(&config, "[run\nbatch = 3\n").expect("config");
    fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
    let done = w.cmd(&["status"]).env("INBOX_EXEC_CONFIG", &config).code(1);
    assert!(
        !done.stderr.contains("\\u{a}"),
        "newlines printed as escapes:\n{}",
        done.stderr
    );
    // The parser's caret diagram, each line indented under the error line.
    let lines: Vec<&str> = done.stderr.lines().collect();
    assert!(
        lines[0].starts_with("inbox-exec: error: config "),
        "{lines:?}"
    );
    assert!(lines.len() > 2, "{lines:?}");
    assert!(
        lines[1..].iter().all(|l| l.starts_with("    ")),
        "{lines:?}"
    );
}

/// A stage whose ledger handler fails with a multi-line, escape-laden stderr.
fn failing_stage() -> (Stage, String) {
    let s = Stage::with_handler(
        "printf 'first problem\\nsecond line \\033[31mred\\033[0m\\n' >&2\nexit 3",
        "",
    );
    let id = s.w.approved("ledger_done", "{}", "{}");
    (s, id)
}

#[test]
fn a_handlers_multi_line_stderr_reads_as_lines_in_run_and_show() {
    let (s, id) = failing_stage();
    let mut run = s.w.cmd(&["run"]);
    run = run
        .env("INBOX_EXEC_CONFIG", &s.config)
        .env("PATH", format!("{}:/usr/bin:/bin", s.bin.display()));
    let ran = run.ok();
    let shown = s.w.cmd(&["show", &id]).ok();
    for (what, text) in [("run", &ran.stdout), ("show", &shown.stdout)] {
        assert!(
            !text.contains("\\u{a}"),
            "{what} prints newlines as escapes:\n{text}"
        );
        assert!(
            !text.contains('\u{1b}'),
            "{what} lets a handler's escape sequence through:\n{text}"
        );
        assert!(
            text.contains("\\u{1b}[31mred"),
            "{what} hides the escape instead of showing it:\n{text}"
        );
        let second = text
            .lines()
            .find(|l| l.contains("second line"))
            .unwrap_or_else(|| panic!("{what}: no line with the second line:\n{text}"));
        assert!(
            second.starts_with("  ") && !second.contains("first problem"),
            "{what}: the handler's second line is not its own indented line:\n{text}"
        );
    }
}

#[test]
fn an_alert_subject_is_one_line_cut_at_the_end() {
    let (s, _id) = failing_stage();
    // A long first line, so the subject must be cut.
    script(
        &s.bin.join("ledger"),
        &format!(
            "#!/bin/sh\ncat >/dev/null\nprintf 'BEGIN {}END\\nsecond line\\n' >&2\nexit 3\n",
            "x".repeat(200)
        ),
    );
    s.run(&[]).ok();
    let subject =
        s.w.query("SELECT subject FROM alert_outbox WHERE subject LIKE '%failed%'");
    assert!(!subject.contains('\n'), "{subject:?}");
    assert!(
        subject.contains("BEGIN"),
        "the subject lost the start of the reason: {subject:?}"
    );
    assert!(
        subject.ends_with('…') && !subject.contains("END") && !subject.contains("second"),
        "the subject is not cut at the end: {subject:?}"
    );
}

#[test]
fn a_pause_is_shown_as_a_date_and_the_time_left() {
    let s = Stage::new("");
    s.run(&[]).ok();
    // Within the default cooldown (5m): a later pause would be clamped to it.
    let until = inbox_exec::unix_now() + 240;
    let paused = serde_json::json!({
        "recent_action_times": [], "paused_until": until, "high_water": 0
    });
    fs::write(s.w.state.join("thermal.json"), paused.to_string()).expect("sidecar");
    let text = s.w.cmd(&["status"]).ok().stdout;
    let line = text
        .lines()
        .find(|l| l.contains("paused until"))
        .unwrap_or_else(|| panic!("no pause in:\n{text}"));
    assert!(
        !line.contains(&until.to_string()),
        "a raw Unix time: {line}"
    );
    let date = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(until.unsigned_abs()),
    )
    .to_string();
    assert!(line.contains(&date), "no RFC 3339 date ({date}): {line}");
    assert!(
        line.contains("in 3m") || line.contains("in 4m"),
        "no time left: {line}"
    );
}

#[test]
fn subcommand_help_groups_the_global_options_under_their_own_heading() {
    let w = World::new();
    let help = w.cmd(&["run", "--help"]).ok().stdout;
    let heading = help
        .find("Global options:")
        .unwrap_or_else(|| panic!("no Global options heading:\n{help}"));
    let (own, global) = help.split_at(heading);
    for flag in ["--batch", "--dry-run"] {
        assert!(own.contains(flag), "{flag} is not among run's own options");
    }
    for flag in [
        "--config",
        "--db",
        "--key",
        "--state-dir",
        "--ttl",
        "--json",
        "--verbose",
        "--quiet",
    ] {
        assert!(
            global.contains(flag) && !own.contains(flag),
            "{flag} is not under Global options:\n{help}"
        );
    }
}
