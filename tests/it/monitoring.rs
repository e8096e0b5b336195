//! For machines and monitors: JSON documents (errors included) with a format version, the
//! monitoring-plugins status line, the Prometheus textfile, and journal priorities.

use std::fs::{self, File};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use crate::harness::{Done, Run, World, draft_new_args};
use crate::stage::{Stage, TARGET};

/// Asserts a `--json` document carries the format version documented in docs/json.md.
fn assert_format(what: &str, doc: &Value) {
    assert_eq!(doc["format"], 1, "{what}: no \"format\": 1 in {doc}");
}

#[test]
fn with_json_an_error_is_a_json_document_too() {
    let w = World::ready();
    let done = w.cmd(&["--json", "show", "NOSUCHID"]).code(1);
    let doc = done.json();
    assert_format("show NOSUCHID", &doc);
    let error = doc["error"].as_str().expect("error is a string");
    assert!(error.contains("no draft NOSUCHID"), "{doc}");
    assert_eq!(doc["exit_code"], 1, "{doc}");
    // People still read it on stderr.
    assert!(done.stderr.contains("no draft NOSUCHID"), "{}", done.stderr);

    // A usage error, caught by the argument parser, too.
    let done = w.cmd(&["--json", "status", "--no-such-flag"]).code(2);
    let doc = done.json();
    assert_format("a usage error", &doc);
    assert_eq!(doc["exit_code"], 2, "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .expect("error")
            .contains("--no-such-flag"),
        "{doc}"
    );
}

#[test]
fn with_json_a_run_whose_summary_cannot_be_written_reports_the_error_in_the_document() {
    let s = Stage::new("");
    let id = s.ledger(1).remove(0);
    // A directory where the summary goes: the rename onto it fails after the cycle ran.
    fs::create_dir_all(s.state_file("last-run.json")).expect("dir");
    let done = s.run(&[]).code(1);
    let doc = done.json();
    assert_format("run", &doc);
    assert_eq!(doc["results"][0]["draft_id"], id.as_str(), "{doc}");
    assert!(
        doc["error"]
            .as_str()
            .expect("error")
            .contains("last-run.json"),
        "{doc}"
    );
}

#[test]
fn every_json_document_carries_its_format_version() {
    let s = Stage::new("");
    let w = &s.w;
    let run_cmd = |args: &[&str]| -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        w.cmd(&all).env("INBOX_EXEC_CONFIG", &s.config).ok().json()
    };
    let new = run_cmd(&draft_new_args("ledger_done"));
    let id = new["draft_id"].as_str().expect("id").to_owned();
    let other = w.draft("ledger_done", "{}", r#"{"n":2}"#);
    let docs = [
        ("draft new", new),
        ("init", run_cmd(&["init"])),
        (
            "keygen",
            w.cmd(&["--json", "keygen"])
                .env("INBOX_EXEC_KEY", w.path("second.key"))
                .ok()
                .json(),
        ),
        ("approve", run_cmd(&["approve", &id])),
        ("cancel", run_cmd(&["cancel", &other])),
        ("expire", run_cmd(&["expire"])),
        ("show", run_cmd(&["show", &id])),
        ("status", run_cmd(&["status"])),
        ("completions", run_cmd(&["completions", "bash"])),
    ];
    for (what, doc) in &docs {
        assert_format(what, doc);
    }
    let ran = s.run(&[]).ok().json();
    assert_format("run", &ran);
    // The two list documents the design fixes as arrays: their format is the documented one.
    let json_doc = fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/json.md"))
        .expect("docs/json.md");
    for command in [
        "run",
        "status",
        "show",
        "verify",
        "reconcile",
        "draft new",
        "approve",
        "cancel",
        "expire",
        "init",
        "keygen",
        "completions",
        "error",
    ] {
        assert!(
            json_doc.contains(&format!("`{command}")),
            "docs/json.md does not document {command}"
        );
    }
    assert!(
        json_doc.contains("\"format\": 1"),
        "docs/json.md names no format"
    );
}

/// `status --json`'s health verdict.
fn health(s: &Stage) -> Value {
    s.w.cmd(&["status", "--json"])
        .env("INBOX_EXEC_CONFIG", &s.config)
        .ok()
        .json()["health"]
        .clone()
}

/// `status --plugin`: the one line and the exit code.
fn plugin(s: &Stage) -> (i32, String) {
    let done =
        s.w.cmd(&["status", "--plugin"])
            .env("INBOX_EXEC_CONFIG", &s.config)
            .output();
    assert_eq!(
        done.stdout.lines().count(),
        1,
        "not one line:\n{}",
        done.stdout
    );
    (done.code, done.stdout.trim_end().to_owned())
}

/// Checks the monitoring-plugins form: `INBOX-EXEC STATE - text | label=value[uom];;;…`.
fn assert_plugin_line(line: &str, state: &str) {
    let prefix = format!("INBOX-EXEC {state} - ");
    assert!(
        line.starts_with(&prefix),
        "{line:?} does not start {prefix:?}"
    );
    let (_, perfdata) = line
        .split_once(" | ")
        .unwrap_or_else(|| panic!("no perfdata in {line:?}"));
    for item in perfdata.split(' ') {
        let (label, rest) = item
            .split_once('=')
            .unwrap_or_else(|| panic!("perfdata item {item:?} has no ="));
        assert!(
            !label.is_empty() && !label.contains(['\'', '=']),
            "{item:?}"
        );
        let value = rest.split(';').next().expect("a value");
        if value == "U" {
            continue; // monitoring-plugins' "undetermined"
        }
        let number = value.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == '%');
        number
            .parse::<f64>()
            .unwrap_or_else(|e| panic!("perfdata {item:?}: {number:?} is not a number ({e})"));
    }
    for label in [
        "approved=",
        "stuck=",
        "paused=",
        "alerts_waiting=",
        "last_run_age=",
    ] {
        assert!(perfdata.contains(label), "no {label} in {perfdata:?}");
    }
}

#[test]
fn status_plugin_speaks_the_monitoring_plugins_convention() {
    let s = Stage::new("[run]\nstuck_after = \"1m\"\n");
    // No run yet: the timer is not running, the queue is never worked.
    let (code, line) = plugin(&s);
    assert_eq!(code, 2, "{line}");
    assert_plugin_line(&line, "CRITICAL");
    assert_eq!(health(&s)["verdict"], "critical");

    s.run(&[]).ok();
    let (code, line) = plugin(&s);
    assert_eq!(code, 0, "{line}");
    assert_plugin_line(&line, "OK");
    let h = health(&s);
    assert_eq!(h["verdict"], "ok", "{h}");
    assert_eq!(h["problems"], serde_json::json!([]), "{h}");

    // The thermal cutout lifts by itself: a warning.
    let paused = serde_json::json!({
        "recent_action_times": [], "paused_until": inbox_exec::unix_now() + 600, "high_water": 0
    });
    fs::write(s.state_file("thermal.json"), paused.to_string()).expect("sidecar");
    let (code, line) = plugin(&s);
    assert_eq!(code, 1, "{line}");
    assert_plugin_line(&line, "WARNING");
    assert!(line.contains("paused"), "{line}");
    assert_eq!(health(&s)["verdict"], "warning");
    fs::remove_file(s.state_file("thermal.json")).expect("rm sidecar");

    // A stuck draft needs a human: critical. `--check` keeps its own code.
    let id = s.w.approved("ledger_done", "{}", "{}");
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {} WHERE draft_id = '{id}'",
        inbox_exec::unix_now() - 3600
    ));
    let (code, line) = plugin(&s);
    assert_eq!(code, 2, "{line}");
    assert_plugin_line(&line, "CRITICAL");
    assert!(line.contains("stuck"), "{line}");
    assert!(line.contains("stuck=1"), "{line}");
    let h = health(&s);
    assert_eq!(h["verdict"], "critical", "{h}");
    assert_eq!(h["check_exit_code"], 5, "{h}");
    s.w.cmd(&["status", "--check"])
        .env("INBOX_EXEC_CONFIG", &s.config)
        .code(5);
}

#[test]
fn status_plugin_is_unknown_when_it_cannot_look() {
    let w = World::ready();
    let done = w
        .cmd(&["status", "--plugin"])
        .env("INBOX_EXEC_DB", w.path("nowhere.db"))
        .code(3);
    assert_eq!(done.stdout.lines().count(), 1, "{}", done.stdout);
    assert!(
        done.stdout.starts_with("INBOX-EXEC UNKNOWN - ") && done.stdout.contains("nowhere.db"),
        "{}",
        done.stdout
    );
}

/// One sample of the exposition format: name, labels, value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

/// Parses the Prometheus text exposition format strictly enough to catch what
/// node_exporter's textfile collector refuses: samples without HELP and TYPE, bad names,
/// bad label escapes, values that are not numbers.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut helped = Vec::new();
    let mut typed = Vec::new();
    let mut samples = Vec::new();
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !n.starts_with(|c: char| c.is_ascii_digit())
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').expect("HELP name text");
            assert!(valid_name(name) && !help.is_empty(), "{line}");
            helped.push(name.to_owned());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("TYPE name kind");
            assert!(["counter", "gauge"].contains(&kind), "{line}");
            assert!(!typed.contains(&name.to_owned()), "TYPE twice: {line}");
            typed.push(name.to_owned());
        } else if line.starts_with('#') || line.is_empty() {
            panic!("unexpected line {line:?}");
        } else {
            let (head, value) = line.rsplit_once(' ').expect("sample value");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, parse_labels(rest.strip_suffix('}').expect("}"))),
                None => (head, Vec::new()),
            };
            assert!(valid_name(name), "{line}");
            assert!(
                helped.iter().any(|h| h == name) && typed.iter().any(|t| t == name),
                "sample {name} comes before its HELP and TYPE lines"
            );
            samples.push(Sample {
                name: name.to_owned(),
                labels,
                value: value
                    .parse()
                    .unwrap_or_else(|e| panic!("{line}: value ({e})")),
            });
        }
    }
    samples
}

fn parse_labels(text: &str) -> Vec<(String, String)> {
    let mut labels = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(
            chars.next(),
            Some('"'),
            "label {name} is not quoted in {text}"
        );
        let mut value = String::new();
        loop {
            match chars.next().expect("unterminated label value") {
                '"' => break,
                '\\' => match chars.next().expect("escape") {
                    'n' => value.push('\n'),
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    other => panic!("bad escape \\{other} in {text}"),
                },
                '\n' => panic!("raw newline in a label"),
                c => value.push(c),
            }
        }
        labels.push((name, value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    labels
}

fn sample<'a>(samples: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> &'a Sample {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .unwrap_or_else(|| panic!("no sample {name}{labels:?} in {samples:#?}"))
}

/// A stage whose config names a metrics file in a directory of its own (as node_exporter's
/// textfile directory is): the directory, the file's path and the stage.
fn with_metrics_file() -> (tempfile::TempDir, PathBuf, Stage) {
    let dir = tempfile::tempdir().expect("textfile dir");
    let metrics = dir.path().join("inbox_exec.prom");
    let s = Stage::new(&format!(
        "[run]\nmetrics_file = \"{}\"\n",
        metrics.display()
    ));
    (dir, metrics, s)
}

#[test]
fn each_run_writes_the_prometheus_textfile_atomically() {
    let (dir, metrics, s) = with_metrics_file();
    s.ledger(2);
    let weird = "we\"ird\\kind";
    s.w.approved(weird, "{}", "{}");
    s.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    s.run(&[]).ok();
    let text = fs::read_to_string(&metrics).expect("the metrics file");
    let samples = parse_exposition(&text);
    let now = inbox_exec::unix_now() as f64;
    let last = sample(&samples, "inbox_exec_last_run_timestamp_seconds", &[]).value;
    assert!((now - last).abs() < 60.0, "{last}");
    assert_eq!(
        sample(&samples, "inbox_exec_last_run_success", &[]).value,
        1.0
    );
    assert_eq!(
        sample(&samples, "inbox_exec_last_run_status", &[("status", "ran")]).value,
        1.0
    );
    let by = |kind: &str, outcome: &str| {
        sample(
            &samples,
            "inbox_exec_last_run_drafts",
            &[("kind", kind), ("outcome", outcome)],
        )
        .value
    };
    assert_eq!(by("ledger_done", "executed"), 2.0);
    assert_eq!(by("github_comment", "executed"), 1.0);
    assert_eq!(by(weird, "execute_failed"), 1.0);
    assert_eq!(
        sample(
            &samples,
            "inbox_exec_drafts_total",
            &[("outcome", "executed")]
        )
        .value,
        3.0
    );
    assert_eq!(sample(&samples, "inbox_exec_cycles_total", &[]).value, 1.0);
    assert_eq!(sample(&samples, "inbox_exec_stuck_drafts", &[]).value, 0.0);
    assert_eq!(sample(&samples, "inbox_exec_paused", &[]).value, 0.0);
    assert_eq!(
        sample(&samples, "inbox_exec_approved_drafts", &[]).value,
        0.0
    );
    assert_eq!(
        sample(&samples, "inbox_exec_oldest_approved_age_seconds", &[]).value,
        0.0
    );
    assert_eq!(
        sample(&samples, "inbox_exec_alerts_waiting", &[]).value,
        0.0
    );
    // node_exporter runs as another user; the temp file never lingers.
    let mode = fs::metadata(&metrics).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode, 0o644, "{mode:o}");
    let names: Vec<String> = fs::read_dir(dir.path())
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["inbox_exec.prom"]);

    // The next run: counters add up, per-run gauges start over.
    s.ledger(1);
    s.run(&[]).ok();
    let samples = parse_exposition(&fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(
        sample(
            &samples,
            "inbox_exec_drafts_total",
            &[("outcome", "executed")]
        )
        .value,
        4.0
    );
    assert_eq!(sample(&samples, "inbox_exec_cycles_total", &[]).value, 2.0);
    assert!(
        !samples.iter().any(
            |x| x.name == "inbox_exec_last_run_drafts" && x.labels.iter().any(|l| l.1 == weird)
        ),
        "a per-run gauge carried over"
    );
}

/// The registry gauges describe the registry as the run left it: what is still approved and
/// since when, and what is stuck, not only what the run itself did.
#[test]
fn the_metrics_file_describes_the_registry_the_run_left() {
    let (_dir, metrics, s) = with_metrics_file();
    let now = inbox_exec::unix_now();
    let ids = s.ledger(4);
    for (id, age) in ids.iter().zip([3000, 2000, 1000]) {
        s.w.sql(&format!(
            "UPDATE drafts SET created_at = {} WHERE draft_id = '{id}'",
            now - age
        ));
    }
    // The fourth: claimed two hours ago by a run that never came back.
    s.w.sql(&format!(
        "UPDATE drafts SET status = 'executing', updated_at = {} WHERE draft_id = '{}'",
        now - 7200,
        ids[3]
    ));
    s.run(&["--batch", "1"]).ok();
    let samples = parse_exposition(&fs::read_to_string(&metrics).expect("the metrics file"));
    assert_eq!(
        sample(&samples, "inbox_exec_approved_drafts", &[]).value,
        2.0
    );
    let age = sample(&samples, "inbox_exec_oldest_approved_age_seconds", &[]).value;
    assert!((2000.0..2060.0).contains(&age), "oldest approved: {age}");
    assert_eq!(sample(&samples, "inbox_exec_stuck_drafts", &[]).value, 1.0);
}

#[test]
fn a_failed_run_is_in_the_metrics_file() {
    let (_dir, metrics, s) = with_metrics_file();
    s.ledger(1);
    fs::set_permissions(&s.w.key, fs::Permissions::from_mode(0o644)).expect("chmod");
    s.run(&[]).code(1);
    let samples = parse_exposition(&fs::read_to_string(&metrics).expect("metrics"));
    assert_eq!(
        sample(&samples, "inbox_exec_last_run_success", &[]).value,
        0.0
    );
    assert_eq!(
        sample(
            &samples,
            "inbox_exec_last_run_status",
            &[("status", "failed")]
        )
        .value,
        1.0
    );
}

/// Runs with stdout and stderr going to files; `journal` names the file whose dev:ino goes
/// into JOURNAL_STREAM. Returns (stdout, stderr, exit code).
fn with_journal(
    run: Run,
    journal: &Path,
    other: &Path,
    stdout_is_journal: bool,
) -> (String, String, i32) {
    let (out_path, err_path) = if stdout_is_journal {
        (journal, journal)
    } else {
        (other, journal)
    };
    let meta = fs::metadata(journal).expect("journal file");
    let mut cmd = run
        .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
        .cmd;
    let out = File::options()
        .append(true)
        .open(out_path)
        .expect("stdout file");
    let err = File::options()
        .append(true)
        .open(err_path)
        .expect("stderr file");
    let status = cmd
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .status()
        .expect("spawn");
    let read = |p: &Path| fs::read_to_string(p).expect("read");
    let (o, e) = (read(out_path), read(err_path));
    fs::write(journal, "").expect("truncate");
    fs::write(other, "").expect("truncate");
    (o, e, status.code().unwrap_or(-1))
}

/// Every line starts with an sd-daemon priority prefix; returns the priorities.
fn priorities(text: &str) -> Vec<u8> {
    text.lines()
        .map(|l| {
            assert!(
                l.len() > 3 && l.starts_with('<') && l.as_bytes()[2] == b'>',
                "a journal line without a priority: {l:?}\n{text}"
            );
            l.as_bytes()[1] - b'0'
        })
        .collect()
}

#[test]
fn under_the_journal_lines_carry_priorities_and_an_idle_run_stays_quiet() {
    let s = Stage::new("");
    let journal = s.w.path("journal");
    let other = s.w.path("other");
    fs::write(&journal, "").expect("journal");
    fs::write(&other, "").expect("other");

    // Idle: at most one line, and not at info or above.
    s.run(&[]).ok();
    let idle = s.w.cmd(&["run"]).env("INBOX_EXEC_CONFIG", &s.config);
    let (out, _, code) = with_journal(idle, &journal, &other, true);
    assert_eq!(code, 0);
    assert!(out.lines().count() <= 1, "an idle run wrote:\n{out}");
    assert!(
        priorities(&out).iter().all(|p| *p == 7),
        "an idle run logs above debug:\n{out}"
    );

    // A refused draft with no mail configured: its alert is a warning, every line of it.
    s.w.approved("force_push_shared", "{}", "{}");
    let run = s.w.cmd(&["run", "-v"]).env("INBOX_EXEC_CONFIG", &s.config);
    let (_, err, code) = with_journal(run, &journal, &other, false);
    assert_eq!(code, 0, "{err}");
    let prios = priorities(&err);
    assert!(prios.contains(&4), "no warning:\n{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("<4>") && l.contains("non-delegable")),
        "the alert is not a warning:\n{err}"
    );

    // An error is at error priority.
    let fail = s.w.cmd(&["show", "NOSUCHID"]);
    let (_, err, code) = with_journal(fail, &journal, &other, false);
    assert_eq!(code, 1);
    assert!(
        err.lines()
            .any(|l| l.starts_with("<3>") && l.contains("NOSUCHID")),
        "{err}"
    );
    assert!(priorities(&err).iter().all(|p| *p == 3), "{err}");

    // JOURNAL_STREAM naming another file (inherited, not ours): plain lines.
    let meta = fs::metadata(&other).expect("other");
    let done: Done =
        s.w.cmd(&["show", "NOSUCHID"])
            .env("JOURNAL_STREAM", format!("{}:{}", meta.dev(), meta.ino()))
            .code(1);
    assert!(
        done.stderr.starts_with("inbox-exec: error: "),
        "prefixes without the journal: {}",
        done.stderr
    );
}
