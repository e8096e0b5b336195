//! The security pass: one test (or more) for each claim SECURITY.md makes, and for each limit
//! it admits. The real binary, real files, stand-in handlers that record what they were given.
//!
//! The stand-ins are `/bin/sh` scripts. They record their environment from
//! `/proc/$$/environ`, the block the kernel received at `execve`, not from `env`: the shell
//! adds `PWD`, `SHLVL` and `_` to what it exports, and reading the exec-time block means
//! nothing has to be filtered out before comparing it with the allowlist.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::harness::{BIN, Run, World, script};

const TARGET: &str = r#"{"repo":"octo-org/demo","issue":42}"#;
const GH_URL: &str = "https://github.com/octo-org/demo/issues/42#issuecomment-1";
const GH_ARGV: [&str; 7] = [
    "issue",
    "comment",
    "42",
    "--repo",
    "octo-org/demo",
    "--body-file",
    "-",
];

// --- A world with recording stand-ins ------------------------------------------------------

/// A world with a stand-in `gh` on PATH and a `ledger_done` command handler that passes
/// `EXTRA` through its own allowlist. Each stand-in records one directory per call in
/// `calls/`: its argv, its exec-time environment, its stdin and its open descriptors.
struct Lab {
    w: World,
    bin: PathBuf,
    calls: PathBuf,
    config: PathBuf,
}

/// One recorded call of a stand-in.
#[derive(Debug)]
struct Call {
    program: String,
    argv: Vec<String>,
    env: BTreeMap<String, String>,
    stdin: Vec<u8>,
    fds: Vec<String>,
}

impl Lab {
    fn new(extra_config: &str) -> Lab {
        Lab::with_gh_tail("", extra_config)
    }

    /// `gh_tail` runs after the stand-in `gh` recorded its call (e.g. `exit 1`).
    fn with_gh_tail(gh_tail: &str, extra_config: &str) -> Lab {
        let w = World::ready();
        let bin = w.path("bin");
        let calls = w.path("calls");
        fs::create_dir_all(&bin).expect("bin dir");
        fs::create_dir_all(&calls).expect("calls dir");
        let record = recorder(&calls);
        script(
            &bin.join("gh"),
            &format!("{record}{gh_tail}\necho {GH_URL}\n"),
        );
        script(&bin.join("ledger"), &record);
        script(&bin.join("sendmail"), &record);
        let config = w.path("config.toml");
        let lab = Lab {
            w,
            bin,
            calls,
            config,
        };
        lab.write_config(extra_config);
        lab
    }

    /// The lab's config: the ledger handler plus `extra`.
    fn write_config(&self, extra: &str) {
        write_private(
            &self.config,
            &format!(
                "[handlers.ledger_done]\ncommand = [\"{}\", \"--quiet\"]\ntimeout = \"5s\"\nenv = [\"EXTRA\"]\n{extra}",
                self.bin.join("ledger").display()
            ),
        );
    }

    fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.display())
    }

    fn run(&self) -> Run {
        self.w
            .cmd(&["run", "--json", "--batch", "100"])
            .env("INBOX_EXEC_CONFIG", &self.config)
            .env("PATH", self.path_var())
    }

    fn calls(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = fs::read_dir(&self.calls)
            .expect("calls dir")
            .map(|e| read_call(&e.expect("calls entry").path()))
            .collect();
        calls.sort_by(|a, b| a.program.cmp(&b.program));
        calls
    }

    fn calls_of(&self, program: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.program == program)
            .collect()
    }
}

/// The recording part of a stand-in script.
fn recorder(calls: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         d=\"{calls}/$(basename \"$0\").$$\"\n\
         mkdir \"$d\"\n\
         printf '%s\\0' \"$@\" > \"$d/argv\"\n\
         cat /proc/$$/environ > \"$d/environ\"\n\
         for f in /proc/$$/fd/*; do echo \"${{f##*/}} $(readlink \"$f\")\"; done > \"$d/fds\"\n\
         cat > \"$d/stdin\"\n",
        calls = calls.display()
    )
}

fn read_call(dir: &Path) -> Call {
    let name = dir
        .file_name()
        .expect("call dir name")
        .to_string_lossy()
        .into_owned();
    let program = name.split('.').next().unwrap_or_default().to_owned();
    let nul_list = |file: &str| -> Vec<String> {
        let bytes = fs::read(dir.join(file)).expect("call record");
        String::from_utf8_lossy(&bytes)
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let env = nul_list("environ")
        .into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (entry, String::new()),
        })
        .collect();
    Call {
        program,
        argv: nul_list("argv"),
        env,
        stdin: fs::read(dir.join("stdin")).expect("stdin record"),
        fds: fs::read_to_string(dir.join("fds"))
            .expect("fds record")
            .lines()
            .map(str::to_owned)
            .collect(),
    }
}

fn write_private(path: &Path, body: &str) {
    fs::write(path, body).expect("write file");
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).expect("chmod 600");
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

fn outcome_of(doc: &Value, id: &str) -> Value {
    doc["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r["draft_id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no result for {id} in {doc}"))
}

fn last_error(w: &World, id: &str) -> String {
    w.query(&format!(
        "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
    ))
}

/// stdout and stderr of a command, as raw bytes.
fn raw_output(mut run: Run) -> (i32, Vec<u8>) {
    let out = run.cmd.output().expect("run inbox-exec");
    let mut all = out.stdout;
    all.extend_from_slice(&out.stderr);
    (out.status.code().unwrap_or(-1), all)
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// Recomputes a stored row's content hash the way the verifier does, from its columns as
/// they are now: what an attacker who can write the registry, but has no key, can do.
fn rehash(w: &World, id: &str) -> String {
    let conn = rusqlite::Connection::open(&w.db).expect("open registry");
    let fields = conn
        .query_row(
            "SELECT draft_id, draft_kind, target_json, payload_json, issued_at, key_version,
                    schema_version FROM drafts WHERE draft_id = ?1",
            [id],
            |r| {
                let mut m = Map::new();
                m.insert("draft_id".into(), Value::String(r.get(0)?));
                m.insert("draft_kind".into(), Value::String(r.get(1)?));
                let target: String = r.get(2)?;
                let payload: String = r.get(3)?;
                m.insert(
                    "target".into(),
                    serde_json::from_str(&target).expect("target JSON"),
                );
                m.insert(
                    "payload".into(),
                    serde_json::from_str(&payload).expect("payload JSON"),
                );
                m.insert("issued_at".into(), json!(r.get::<_, i64>(4)?));
                m.insert("key_version".into(), json!(r.get::<_, i64>(5)?));
                m.insert("schema_version".into(), Value::String(r.get(6)?));
                Ok(m)
            },
        )
        .expect("read the row");
    inbox_exec::draft::content_hash(&fields)
        .expect("canonical form")
        .1
}

// --- No shell anywhere ---------------------------------------------------------------------

/// Every shell construct that would do something if a shell ever saw the text.
fn shell_bait(marker: &Path) -> String {
    let m = marker.display();
    format!(
        "$(touch {m})\n`touch {m}`\n; touch {m}\n| touch {m}\n&& touch {m} &\n> {m}\n\
         ' \" \\ $HOME ${{IFS}} * ~ # \t\r\n--repo evil/x --body-file /etc/passwd\néé\n"
    )
}

#[test]
fn shell_metacharacters_in_a_comment_body_reach_gh_byte_for_byte_and_run_nothing() {
    let lab = Lab::new("");
    let marker = lab.w.path("pwned");
    let body = shell_bait(&marker);
    let id = lab.w.approved(
        "github_comment",
        TARGET,
        &json!({ "body": body }).to_string(),
    );
    let doc = lab.run().ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = lab.calls_of("gh");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].argv, GH_ARGV, "the body never reaches argv");
    assert!(
        calls[0].stdin == body.as_bytes(),
        "stdin differs from the body:\n{:?}\n{body:?}",
        String::from_utf8_lossy(&calls[0].stdin)
    );
    assert!(!marker.exists(), "something interpreted the body");
}

#[test]
fn shell_metacharacters_in_a_command_handlers_draft_reach_it_as_json_and_run_nothing() {
    let lab = Lab::new("");
    let marker = lab.w.path("pwned");
    let bait = shell_bait(&marker);
    let target = json!({ "where": bait, "argv": ["--evil", "$(id)"] });
    let payload = json!({ "cmd": format!("; touch {}", marker.display()), "text": bait });
    let id = lab
        .w
        .approved("ledger_done", &target.to_string(), &payload.to_string());
    let doc = lab.run().ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed", "{doc}");
    let calls = lab.calls_of("ledger");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].argv,
        ["--quiet"],
        "argv is the configured one, whatever the draft says"
    );
    let stdin: Value = serde_json::from_slice(&calls[0].stdin).expect("stdin is JSON");
    assert_eq!(stdin["target"], target);
    assert_eq!(stdin["payload"], payload);
    assert!(!marker.exists(), "something interpreted the draft");
}

#[test]
fn a_handler_whose_command_is_not_an_absolute_path_is_rejected_at_config_load() {
    let lab = Lab::new("");
    let id = lab.w.approved("ledger_done", "{}", "{}");
    for command in [
        r#"["ledger"]"#,
        r#"["./bin/ledger"]"#,
        r#"["bin/ledger"]"#,
        r#"[""]"#,
    ] {
        write_private(
            &lab.config,
            &format!("[handlers.ledger_done]\ncommand = {command}\n"),
        );
        lab.run()
            .fails_with(&["[handlers.ledger_done]", "must start with an absolute path"]);
    }
    write_private(&lab.config, "[handlers.ledger_done]\ncommand = []\n");
    lab.run().fails_with(&["command is empty"]);
    assert_eq!(lab.w.status(&id), "approved");
    assert!(lab.calls().is_empty());
}

/// Every `.rs` file under `src/`, with its path relative to the crate.
fn source_files() -> Vec<(String, String)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("src entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join("src"), &mut paths);
    paths.sort();
    assert!(paths.len() > 10, "found the sources: {paths:?}");
    paths
        .into_iter()
        .map(|p| {
            let text = fs::read_to_string(&p).expect("read source");
            let rel = p
                .strip_prefix(root)
                .expect("under the crate")
                .display()
                .to_string();
            (rel, text)
        })
        .collect()
}

#[test]
fn no_source_file_starts_a_shell_and_only_the_child_runner_spawns_processes() {
    let mut spawners = Vec::new();
    for (file, text) in source_files() {
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for shell in [
                "sh -c",
                "/bin/sh",
                "bash -c",
                "\"-c\"",
                "\"sh\"",
                "\"bash\"",
                "SendmailTransport",
                "AsyncSendmailTransport",
            ] {
                assert!(
                    !code.contains(shell),
                    "{file}:{}: {shell:?} in {line:?}",
                    n + 1
                );
            }
            if code.contains("Command::new(") && !code.contains("clap::Command::new(") {
                spawners.push(format!("{file}:{}", n + 1));
            }
            assert!(
                !code.contains("process::Command") || file == "src/dispatch/child.rs",
                "{file}:{}: std::process::Command outside the child runner",
                n + 1
            );
        }
    }
    assert_eq!(spawners.len(), 1, "{spawners:?}");
    assert!(
        spawners[0].starts_with("src/dispatch/child.rs:"),
        "{spawners:?}"
    );
}

#[test]
fn a_relative_gh_path_is_not_resolved_against_the_working_directory() {
    let lab = Lab::new("");
    // Whoever can write the directory a run starts in plants `tools/gh` there.
    let cwd = lab.w.path("cwd");
    fs::create_dir_all(cwd.join("tools")).expect("cwd");
    let planted = cwd.join("planted-ran");
    script(
        &cwd.join("tools/gh"),
        &format!("#!/bin/sh\ntouch {}\n", planted.display()),
    );
    lab.write_config("[github]\ngh = \"tools/gh\"\n");
    let id = lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let mut run = lab.run();
    run.cmd.current_dir(&cwd);
    let out = run.output();
    assert!(
        !planted.exists(),
        "a gh planted in the working directory ran (exit {}):\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert_ne!(lab.w.status(&id), "completed");
}

#[test]
fn an_empty_path_entry_never_finds_gh_in_the_working_directory() {
    let lab = Lab::new("");
    let cwd = lab.w.path("cwd");
    fs::create_dir_all(&cwd).expect("cwd");
    let planted = cwd.join("planted-ran");
    script(
        &cwd.join("gh"),
        &format!("#!/bin/sh\ntouch {}\n", planted.display()),
    );
    let id = lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    // POSIX reads an empty PATH entry as the working directory; so does `gh` resolution.
    let mut run = lab.run().env("PATH", ":/usr/bin:/bin");
    run.cmd.current_dir(&cwd);
    let out = run.output();
    assert!(
        !planted.exists(),
        "a gh planted in the working directory ran through an empty PATH entry (exit {}):\n{}\n{}",
        out.code,
        out.stdout,
        out.stderr
    );
    assert_ne!(lab.w.status(&id), "completed");
}

// --- Argv injection through the target -----------------------------------------------------

#[test]
fn option_like_or_multi_part_targets_are_refused_before_gh_runs() {
    // Those in run.rs's argv_injection_through_the_target_is_refused_before_anything_runs
    // (`--help`, HOST/owner/name, a negative issue, an issue with `; rm`, a bare string) are
    // not repeated here.
    let bad = [
        r#"{"repo":"--repo=evil/x","issue":1}"#,
        r#"{"repo":"-R","issue":1}"#,
        r#"{"repo":"-R/evil","issue":1}"#,
        r#"{"repo":"octo-org/demo --body x","issue":1}"#,
        r#"{"repo":"octo-org/demo\n--body-file=/etc/passwd","issue":1}"#,
        r#"{"repo":"octo-org/demo\n","issue":1}"#,
        r#"{"repo":" octo-org/demo","issue":1}"#,
        r#"{"repo":"octo-org/demo/","issue":1}"#,
        r#"{"repo":"github.com/octo-org/demo","issue":1}"#,
        r#"{"repo":"evil.example:443/octo-org/demo","issue":1}"#,
        r#"{"repo":"https://evil.example/octo-org/demo","issue":1}"#,
        r#"{"repo":"octo-org/-demo","issue":1}"#,
        r#"{"repo":"octo-org/..","issue":1}"#,
        r#"{"repo":"octo-org/demo\u0000","issue":1}"#,
        r#"{"repo":"ｏcto-org/demo","issue":1}"#,
        r#"{"repo":["octo-org/demo"],"issue":1}"#,
        r#"{"repo":null,"issue":1}"#,
        r#"{"issue":1}"#,
        r#"{"repo":"octo-org/demo","issue":"1 --help"}"#,
        r#"{"repo":"octo-org/demo","issue":"1"}"#,
        r#"{"repo":"octo-org/demo","issue":"--help"}"#,
        r#"{"repo":"octo-org/demo","issue":0}"#,
        r#"{"repo":"octo-org/demo","issue":-0}"#,
        r#"{"repo":"octo-org/demo","issue":1.0}"#,
        r#"{"repo":"octo-org/demo","issue":1e3}"#,
        r#"{"repo":"octo-org/demo","issue":18446744073709551616}"#,
        r#"{"repo":"octo-org/demo","issue":true}"#,
        r#"{"repo":"octo-org/demo","issue":[1]}"#,
        r#"{"repo":"octo-org/demo"}"#,
        r#"["octo-org/demo",1]"#,
    ];
    let lab = Lab::new("");
    let ids: Vec<String> = bad
        .iter()
        .map(|t| lab.w.approved("github_comment", t, r#"{"body":"x"}"#))
        .collect();
    // A well-formed draft in the same batch: proves the stand-in works.
    let control = lab
        .w
        .approved("github_comment", TARGET, r#"{"body":"control"}"#);
    let doc = lab.run().ok().json();
    for (id, target) in ids.iter().zip(bad) {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "execute_failed", "{target}: {r}");
        assert!(
            r["reason"]
                .as_str()
                .expect("reason")
                .starts_with("github_comment"),
            "{target}: {r}"
        );
        assert_eq!(lab.w.status(id), "completed_with_error", "{target}");
    }
    assert_eq!(outcome_of(&doc, &control)["outcome"], "executed");
    let calls = lab.calls_of("gh");
    assert_eq!(calls.len(), 1, "gh ran only for the well-formed draft");
    assert_eq!(calls[0].argv, GH_ARGV);
    assert_eq!(calls[0].stdin, b"control");
}

// --- The key never appears -----------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn base64(bytes: &[u8], alphabet: &[u8; 64]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [n >> 18, n >> 12, n >> 6, n];
        for (i, s) in sextets.iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(
                    alphabet[usize::try_from(s & 63).expect("6 bits")],
                ));
            }
        }
    }
    out
}

/// The forms a key could leak in: raw bytes, hex either case, base64 in both alphabets
/// (unpadded, so a padded form matches too), and every printable run of 8 bytes or more.
fn key_forms(key: &[u8]) -> Vec<(String, Vec<u8>)> {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut forms = vec![
        ("raw bytes".to_owned(), key.to_vec()),
        ("hex".to_owned(), hex(key).into_bytes()),
        ("HEX".to_owned(), hex(key).to_uppercase().into_bytes()),
        ("base64".to_owned(), base64(key, STD).into_bytes()),
        ("base64url".to_owned(), base64(key, URL).into_bytes()),
    ];
    for run in key.split(|b| !(0x20..0x7f).contains(b)) {
        if run.len() >= 8 {
            forms.push((
                format!("printable run {:?}", String::from_utf8_lossy(run)),
                run.to_vec(),
            ));
        }
    }
    forms
}

fn assert_no_key(what: &str, bytes: &[u8], key: &[u8]) {
    for (form, needle) in key_forms(key) {
        assert!(
            !contains(bytes, &needle),
            "the key ({form}) appears in {what}:\n{}",
            String::from_utf8_lossy(bytes)
        );
    }
}

#[test]
fn the_key_never_appears_in_output_logs_alerts_state_files_or_the_registry() {
    let lab = Lab::with_gh_tail("echo 'gh: HTTP 502' >&2; exit 1", "");
    let key = fs::read(&lab.w.key).expect("key");
    assert_eq!(key.len(), 32);
    let other_key = lab.w.path("other.key");
    let other = other_key.to_str().expect("utf8");
    let mut seen = Vec::new();
    let mut check = |what: &str, run: Run| {
        let (code, bytes) = raw_output(run);
        assert_no_key(what, &bytes, &key);
        seen.push((what.to_owned(), code, bytes));
    };
    check(
        "keygen --json",
        lab.w.cmd(&["keygen", "--json", "--key", other, "-vv"]),
    );
    check("keygen (exists)", lab.w.cmd(&["keygen", "-vv"]));
    check("init", lab.w.cmd(&["init", "-vv"]));
    let new = |args: &[&str]| {
        let mut all = vec!["draft", "new", "-vv"];
        all.extend_from_slice(args);
        lab.w.cmd(&all)
    };
    check(
        "draft new",
        new(&[
            "--kind",
            "github_comment",
            "--target",
            TARGET,
            "--payload",
            r#"{"body":"hi"}"#,
        ]),
    );
    check(
        "draft new --json",
        new(&[
            "--json",
            "--kind",
            "social_post",
            "--target",
            "{}",
            "--payload",
            "{}",
        ]),
    );
    let ids: Vec<String> = lab
        .w
        .query("SELECT group_concat(draft_id, ' ') FROM (SELECT draft_id FROM drafts ORDER BY created_at, draft_id)")
        .split(' ')
        .map(str::to_owned)
        .collect();
    assert_eq!(ids.len(), 2);
    // A third, tampered: its failures print reasons, hashes and signatures.
    let tampered = lab.w.draft("ledger_done", "{}", r#"{"n":1}"#);
    lab.w.sql(&format!(
        "UPDATE drafts SET signature = '{}' WHERE draft_id = '{tampered}'",
        "0".repeat(64)
    ));
    for id in &ids {
        check("approve", lab.w.cmd(&["approve", id, "-vv"]));
    }
    check(
        "approve (tampered)",
        lab.w.cmd(&["approve", &tampered, "-vv"]),
    );
    check("verify", lab.w.cmd(&["verify", "--all", "-vv"]));
    check(
        "verify --json",
        lab.w.cmd(&["verify", "--all", "--json", "-vv"]),
    );
    for id in ids.iter().chain([&tampered]) {
        check("show", lab.w.cmd(&["show", id, "-vv"]));
        check("show --json", lab.w.cmd(&["show", id, "--json", "-vv"]));
    }
    // Failing handler and no handler, no [notify]: alerts go to stderr.
    lab.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{tampered}'"
    ));
    let run = lab
        .w
        .cmd(&["run", "-vv"])
        .env("INBOX_EXEC_CONFIG", &lab.config)
        .env("PATH", lab.path_var());
    check("run -vv", run);
    check("status --json", lab.w.cmd(&["status", "--json", "-vv"]));
    check("status", lab.w.cmd(&["status", "-vv"]));
    check("reconcile", lab.w.cmd(&["reconcile", "-vv"]));
    check("expire", lab.w.cmd(&["expire", "-vv"]));
    // Refusals of the key itself name the file, never its bytes.
    fs::set_permissions(&lab.w.key, fs::Permissions::from_mode(0o644)).expect("chmod");
    check("verify (loose key)", lab.w.cmd(&["verify", "--all", "-vv"]));
    fs::set_permissions(&lab.w.key, fs::Permissions::from_mode(0o600)).expect("chmod");
    check(
        "run --key (wrong key)",
        lab.w
            .cmd(&["run", "-vv", "--key", other])
            .env("INBOX_EXEC_CONFIG", &lab.config),
    );

    let run_out = &seen
        .iter()
        .find(|(what, _, _)| what == "run -vv")
        .expect("run output")
        .2;
    let run_text = String::from_utf8_lossy(run_out);
    assert!(
        run_text.contains("[ALERT] inbox-exec") && run_text.contains("HTTP 502"),
        "the run must have raised alerts on stderr for this test to mean anything:\n{run_text}"
    );
    assert!(
        seen.iter()
            .any(|(what, code, _)| what == "verify (loose key)" && *code == 1),
        "the loose key was refused"
    );

    // Every file the world holds, except the key files themselves.
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).expect("read dir") {
            let path = entry.expect("entry").path();
            let meta = fs::symlink_metadata(&path).expect("metadata");
            if meta.is_dir() {
                walk(&path, out);
            } else if meta.is_file() {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(lab.w.dir.path(), &mut files);
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().expect("name").to_string_lossy().into_owned())
        .collect();
    for expected in ["drafts.db", "thermal.json", "last-run.json"] {
        assert!(names.iter().any(|n| n == expected), "{expected}: {names:?}");
    }
    for file in files
        .iter()
        .filter(|f| **f != lab.w.key && **f != other_key)
    {
        let bytes = fs::read(file).expect("read file");
        assert_no_key(&file.display().to_string(), &bytes, &key);
    }
    assert_no_key("the registry dump", lab.w.dump().as_bytes(), &key);
}

#[test]
fn the_smtp_password_never_appears_in_output_or_logs() {
    let lab = Lab::new("");
    let secret_file = "PwFromFile-5d1c9e";
    let secret_env = "PwFromEnv-83b2aa";
    let pass = lab.w.path("smtp.pass");
    write_private(&pass, &format!("{secret_file}\n"));
    // A port where nothing listens: every send fails, and its error is logged.
    let port = closed_port();
    let notify = |password_file: bool| {
        format!(
            "[notify]\nsmtp_url = \"smtp://127.0.0.1:{port}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"alice\"\ntimeout = \"2s\"\n{}",
            if password_file {
                format!("password_file = \"{}\"\n", pass.display())
            } else {
                String::new()
            }
        )
    };
    for with_file in [true, false] {
        lab.write_config(&notify(with_file));
        lab.w.approved("social_post", "{}", "{}");
        let (_, bytes) = raw_output(
            lab.run()
                .env("INBOX_EXEC_SMTP_PASSWORD", secret_env)
                .env("INBOX_EXEC_CONFIG", &lab.config),
        );
        let text = String::from_utf8_lossy(&bytes);
        assert!(
            text.contains("cannot send alert"),
            "the send must have failed for this test to mean anything:\n{text}"
        );
        for secret in [secret_file, secret_env] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
    }
}

fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("address").port()
}

#[test]
fn a_password_inline_in_the_smtp_url_is_never_logged() {
    let lab = Lab::new("");
    let port = closed_port();
    lab.write_config(&format!(
        "[notify]\nsmtp_url = \"smtp://alice:InlinePw-77e1@127.0.0.1:{port}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\ntimeout = \"2s\"\n"
    ));
    lab.w.approved("social_post", "{}", "{}");
    let (_, bytes) = raw_output(lab.run());
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        !text.contains("InlinePw-77e1"),
        "the SMTP password in smtp_url is printed:\n{text}"
    );
}

#[test]
fn credentials_inline_in_the_smtp_url_of_a_config_others_can_read_are_refused() {
    let lab = Lab::new("");
    lab.write_config(
        "[notify]\nsmtp_url = \"smtp://alice:InlinePw-77e1@127.0.0.1:25\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
    );
    fs::set_permissions(&lab.config, fs::Permissions::from_mode(0o644)).expect("chmod 644");
    let id = lab.w.approved("social_post", "{}", "{}");
    let out = lab.run().output();
    assert_eq!(
        out.code, 1,
        "DESIGN §6: credentials never inline in a world-readable file; this config was accepted:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(out.stderr.contains("smtp_url"), "{}", out.stderr);
    assert!(!out.stderr.contains("InlinePw-77e1"), "{}", out.stderr);
    assert_eq!(lab.w.status(&id), "approved");
}

// --- Files: private, never through a symlink -----------------------------------------------

/// The binary under `umask 000`, so modes come from the code and not from a kind umask.
fn under_umask_000(w: &World, args: &[&str]) -> Command {
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("umask 000 && exec \"$0\" \"$@\"")
        .arg(BIN)
        .args(args)
        .env_clear()
        .env("HOME", &w.home)
        .env("PATH", "/usr/bin:/bin")
        .env("INBOX_EXEC_DB", &w.db)
        .env("INBOX_EXEC_KEY", &w.key)
        .env("INBOX_EXEC_STATE_DIR", &w.state)
        .current_dir(w.dir.path());
    cmd
}

fn ok(mut cmd: Command) -> String {
    let out = cmd.output().expect("run inbox-exec");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).expect("utf8")
}

#[test]
fn every_file_is_created_private_even_under_a_permissive_umask() {
    let mut w = World::new();
    w.key = w.path("secrets/deeper/hmac.key");
    w.db = w.path("registry/sub/drafts.db");
    w.state = w.path("state/inner");
    let config = w.path("config.toml");
    write_private(
        &config,
        "[handlers.ledger_done]\ncommand = [\"/bin/true\"]\n",
    );
    let cfg = config.to_str().expect("utf8");
    ok(under_umask_000(&w, &["keygen"]));
    ok(under_umask_000(&w, &["init"]));
    let id = ok(under_umask_000(
        &w,
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
    ));
    ok(under_umask_000(&w, &["approve", id.trim()]));
    let report = ok(under_umask_000(&w, &["run", "--config", cfg]));
    assert!(report.contains("executed"), "{report}");
    // Another key version, made by keygen into an existing directory.
    let k2 = w.path("secrets/deeper/hmac-2.key");
    let two = w.path("two.toml");
    write_private(
        &two,
        &format!(
            "[keys]\n1 = \"{}\"\n2 = \"{}\"\n",
            w.key.display(),
            k2.display()
        ),
    );
    ok(under_umask_000(
        &w,
        &[
            "keygen",
            "--config",
            two.to_str().expect("utf8"),
            "--key-version",
            "2",
        ],
    ));

    for dir in [
        "secrets",
        "secrets/deeper",
        "registry",
        "registry/sub",
        "state",
        "state/inner",
    ] {
        assert_eq!(mode(&w.path(dir)), 0o700, "{dir}");
    }
    for file in [
        "secrets/deeper/hmac.key",
        "secrets/deeper/hmac-2.key",
        "registry/sub/drafts.db",
        "registry/sub/drafts.db-wal",
        "registry/sub/drafts.db-shm",
        "state/inner/inbox-exec.lock",
        "state/inner/thermal.json",
        "state/inner/last-run.json",
    ] {
        assert_eq!(mode(&w.path(file)), 0o600, "{file}");
    }
    let leftovers: Vec<String> = fs::read_dir(&w.state)
        .expect("state dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn keygen_onto_a_dangling_symlink_creates_nothing() {
    let w = World::new();
    let target = w.path("elsewhere/stolen.key");
    fs::create_dir_all(target.parent().expect("parent")).expect("dir");
    symlink(&target, &w.key).expect("symlink");
    w.cmd(&["keygen"]).fails_with(&["already exists"]);
    assert!(!target.exists(), "keygen wrote through a dangling symlink");
    assert!(
        fs::symlink_metadata(&w.key)
            .expect("link")
            .file_type()
            .is_symlink()
    );
}

// The thermal sidecar's and the summary's symlinks are faults.rs's
// a_symlinked_thermal_sidecar_is_neither_followed_nor_written_through and
// a_symlinked_summary_is_replaced_by_a_file_and_its_target_left_alone.

#[test]
fn a_symlink_at_the_lock_path_fails_the_run_clearly_and_touches_nothing() {
    let lab = Lab::new("");
    fs::create_dir_all(&lab.w.state).expect("state");
    let lock = lab.w.state.join("inbox-exec.lock");
    let victim = lab.w.path("victim");
    fs::write(&victim, "precious").expect("victim");
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).expect("chmod");
    symlink(&victim, &lock).expect("symlink");
    let id = lab.w.approved("ledger_done", "{}", "{}");
    let lock_name = lock.display().to_string();
    lab.run()
        .fails_with(&["taking the run lock", lock_name.as_str()]);
    assert_eq!(fs::read_to_string(&victim).expect("victim"), "precious");
    assert_eq!(mode(&victim), 0o644);
    assert_eq!(lab.w.status(&id), "approved");
    assert!(lab.calls().is_empty());
    // A dangling link: O_CREAT|O_NOFOLLOW creates nothing at its target either.
    let nowhere = lab.w.path("nowhere");
    fs::remove_file(&lock).expect("rm link");
    symlink(&nowhere, &lock).expect("symlink");
    lab.run().fails_with(&["taking the run lock"]);
    assert!(!nowhere.exists());
    assert_eq!(lab.w.status(&id), "approved");
}

#[test]
fn a_symlink_at_the_registrys_wal_or_shm_is_never_written_through() {
    // A fresh registry, and an existing one whose WAL was checkpointed away.
    for existing in [false, true] {
        for names in [&["-wal"][..], &["-shm"], &["-wal", "-shm"]] {
            let w = World::new();
            w.cmd(&["keygen"]).ok();
            if existing {
                w.cmd(&["init"]).ok();
                // The last connection to close checkpoints and removes the WAL and the index.
                w.sql("PRAGMA wal_checkpoint(TRUNCATE)");
                assert!(!w.path("drafts.db-wal").exists(), "WAL still there");
            }
            let mut victims = Vec::new();
            for suffix in names {
                let victim = w.path(&format!("victim{suffix}"));
                fs::write(&victim, "precious").expect("victim");
                symlink(&victim, w.path(&format!("drafts.db{suffix}"))).expect("symlink");
                victims.push(victim);
            }
            let _ = w.cmd(&["init"]).output();
            let _ = w
                .cmd(&[
                    "draft",
                    "new",
                    "--kind",
                    "k",
                    "--target",
                    "{}",
                    "--payload",
                    "{}",
                ])
                .output();
            let _ = w.cmd(&["run"]).output();
            for victim in &victims {
                assert_eq!(
                    fs::read_to_string(victim).expect("victim"),
                    "precious",
                    "existing={existing} {names:?}: written through {}",
                    victim.display()
                );
            }
        }
    }
}

#[test]
fn a_child_inherits_no_descriptor_of_the_registry_the_key_or_the_lock() {
    let lab = Lab::new("");
    lab.w.approved("ledger_done", "{}", "{}");
    lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    lab.run().ok();
    let calls = lab.calls();
    assert_eq!(calls.len(), 2);
    for call in &calls {
        // 0, 1, 2 and the script the shell reads, at least.
        assert!(call.fds.len() >= 3, "{call:?}");
        for fd in &call.fds {
            for secret in [
                "drafts.db",
                "hmac.key",
                "inbox-exec.lock",
                "thermal",
                "last-run",
            ] {
                assert!(
                    !fd.contains(secret),
                    "{} inherited a descriptor of {fd}: {:?}",
                    call.program,
                    call.fds
                );
            }
        }
    }
}

// --- The child environment is the allowlist only -------------------------------------------

/// Variables a child must never see, set in inbox-exec's own environment.
const HOSTILE_ENV: [(&str, &str); 13] = [
    ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
    ("INBOX_EXEC_SMTP_PASSWORD", "smtp-secret"),
    ("LD_PRELOAD", "/nonexistent/libevil.so"),
    ("LD_LIBRARY_PATH", "/nonexistent"),
    ("BASH_ENV", "/nonexistent/bashrc"),
    ("ENV", "/nonexistent/shrc"),
    ("IFS", "/"),
    ("PYTHONPATH", "/nonexistent"),
    ("GITHUB_TOKEN", "github-token-not-allowlisted"),
    ("GH_ENTERPRISE_TOKEN", "ghe-token"),
    ("SSH_AUTH_SOCK", "/nonexistent/agent"),
    ("GIT_ASKPASS", "/nonexistent/askpass"),
    ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent"),
];

fn hostile(lab: &Lab) -> Run {
    let mut run = lab
        .run()
        .env("GH_TOKEN", "gh-token")
        .env("GH_HOST", "github.com")
        .env("GH_CONFIG_DIR", "/nonexistent/gh")
        .env("EXTRA", "extra-value");
    for (k, v) in HOSTILE_ENV {
        run = run.env(k, v);
    }
    run
}

fn env_of(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

#[test]
fn gh_gets_only_path_home_and_its_allowlist() {
    let lab = Lab::new("");
    lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    hostile(&lab).ok();
    let calls = lab.calls_of("gh");
    assert_eq!(calls.len(), 1);
    let expected = env_of(&[
        ("PATH", lab.path_var()),
        ("HOME", lab.w.home.display().to_string()),
        ("GH_TOKEN", "gh-token".into()),
        ("GH_HOST", "github.com".into()),
        ("GH_CONFIG_DIR", "/nonexistent/gh".into()),
    ]);
    assert_eq!(calls[0].env, expected);
}

#[test]
fn a_command_handler_gets_only_path_home_and_its_own_allowlist() {
    let lab = Lab::new("");
    lab.w.approved("ledger_done", "{}", "{}");
    hostile(&lab).ok();
    let calls = lab.calls_of("ledger");
    assert_eq!(calls.len(), 1);
    let expected = env_of(&[
        ("PATH", lab.path_var()),
        ("HOME", lab.w.home.display().to_string()),
        ("EXTRA", "extra-value".into()),
    ]);
    assert_eq!(
        calls[0].env, expected,
        "GH_TOKEN goes to gh only, never to another handler"
    );
}

#[test]
fn sendmail_gets_a_fixed_path_and_nothing_else() {
    let lab = Lab::new("");
    lab.write_config(&format!(
        "[notify]\nsendmail = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        lab.bin.join("sendmail").display()
    ));
    lab.w.approved("social_post", "{}", "{}");
    hostile(&lab).ok();
    let calls = lab.calls_of("sendmail");
    assert_eq!(calls.len(), 1, "one alert, through sendmail");
    assert_eq!(
        calls[0].env,
        env_of(&[("PATH", "/usr/sbin:/usr/bin:/sbin:/bin".into())])
    );
    assert_eq!(
        calls[0].argv,
        ["-i", "-f", "a@example.org", "--", "b@example.org"]
    );
}

// --- Alerts and logs cannot be forged by a draft -------------------------------------------

#[test]
fn a_draft_cannot_inject_mail_headers_or_recipients_into_an_alert() {
    let lab = Lab::new("");
    lab.write_config(&format!(
        "[notify]\nsendmail = \"{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
        lab.bin.join("sendmail").display()
    ));
    // The kind is the signer's choice; an unverifiable row's id is the registry writer's.
    lab.w
        .approved("x\r\nBcc: evil@example.net\r\nX-Injected: yes", "{}", "{}");
    lab.w.sql(&format!(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at, key_version,
             schema_version, content_hash, signature, status, created_at, updated_at)
         VALUES ('evil' || char(13, 10) || 'Bcc: evil2@example.net', 'k', '{{}}', '{{}}', {now}, 1,
             'v1', 'x', 'y', 'approved', 1, 1)",
        now = inbox_exec::unix_now()
    ));
    lab.run().ok();
    let calls = lab.calls_of("sendmail");
    assert_eq!(calls.len(), 2, "two alerts");
    for call in &calls {
        assert_eq!(
            call.argv,
            ["-i", "-f", "a@example.org", "--", "b@example.org"],
            "the envelope is the configured one"
        );
        let message = String::from_utf8_lossy(&call.stdin);
        let (headers, _) = message.split_once("\r\n\r\n").expect("headers and body");
        for line in headers.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            assert!(
                !lower.starts_with("bcc:") && !lower.starts_with("x-injected:"),
                "injected header {line:?} in:\n{headers}"
            );
        }
    }
}

#[test]
fn control_characters_from_a_draft_never_reach_the_terminal_or_the_log_raw() {
    let lab = Lab::new("");
    // An escape sequence (sets a terminal's title) and a forged log line, in a signed kind.
    let kind = "x\u{1b}]0;owned\u{7}\ninbox-exec: error: forged line";
    let id = lab.w.approved(kind, "{}", "{}");
    let human = lab
        .w
        .cmd(&["run"])
        .env("INBOX_EXEC_CONFIG", &lab.config)
        .env("PATH", lab.path_var())
        .ok();
    assert_eq!(lab.w.status(&id), "completed_with_error");
    let show = lab.w.cmd(&["show", &id]).ok();
    for (what, done) in [("run", &human), ("show", &show)] {
        for (stream, text) in [("stdout", &done.stdout), ("stderr", &done.stderr)] {
            assert!(
                !text.contains('\u{1b}'),
                "{what} {stream} carries a raw ESC from the draft:\n{text:?}"
            );
            assert!(
                !text
                    .lines()
                    .any(|l| l.starts_with("inbox-exec: error: forged line")),
                "{what} {stream} carries a forged log line:\n{text}"
            );
        }
    }
}

// --- Constant-time comparisons -------------------------------------------------------------

/// A timing test would be flaky on a shared machine and prove little; what can be checked
/// for certain is that both comparisons go through `subtle`'s `ct_eq`.
#[test]
fn hash_and_signature_comparisons_go_through_subtle_ct_eq() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/draft/sign.rs");
    let text = fs::read_to_string(path).expect("read sign.rs");
    assert!(text.contains("use subtle::ConstantTimeEq;"), "{path}");
    let start = text.find("pub fn verify(").expect("verify in sign.rs");
    let body = &text[start..];
    let end = body[1..]
        .find("\nfn ")
        .or_else(|| body[1..].find("\npub fn "))
        .map_or(body.len(), |i| i + 1);
    let body = &body[..end];
    let lines: Vec<&str> = body.lines().collect();
    for verdict in ["VerifyError::HashMismatch", "VerifyError::BadSignature"] {
        let at = lines
            .iter()
            .position(|l| l.contains(verdict))
            .unwrap_or_else(|| panic!("{verdict} in verify"));
        let guard = lines[..at]
            .iter()
            .rev()
            .find(|l| l.trim_start().starts_with("if "))
            .unwrap_or_else(|| panic!("no `if` before {verdict}"));
        assert!(
            guard.contains(".ct_eq(") && guard.contains("bool::from("),
            "{verdict} is decided by {guard:?}, not by ct_eq"
        );
    }
    // Nothing else in the sources compares hashes, signatures or MACs with == or !=.
    for (file, text) in source_files() {
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (n, line) in code.lines().enumerate() {
            let l = line.to_ascii_lowercase();
            let names_secret = ["signature", "stored_sig", "_hash", "hmac"]
                .iter()
                .any(|s| l.contains(s));
            let compares = [" == ", " != ", ".eq(", ".ne("]
                .iter()
                .any(|s| l.contains(s));
            assert!(
                !(names_secret && compares) || l.trim_start().starts_with("//"),
                "{file}:{}: {line:?} compares a secret-derived value without ct_eq",
                n + 1
            );
        }
    }
}

// --- Re-signed, re-targeted, replayed: refused ---------------------------------------------

#[test]
fn a_draft_signed_with_another_key_is_refused_at_approve_and_at_run() {
    let lab = Lab::new("");
    let other = lab.w.path("other.key");
    let other = other.to_str().expect("utf8");
    lab.w.cmd(&["keygen", "--key", other]).ok();
    let id = lab
        .w
        .cmd(&[
            "draft",
            "new",
            "--key",
            other,
            "--kind",
            "github_comment",
            "--target",
            TARGET,
            "--payload",
            r#"{"body":"signed elsewhere"}"#,
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    lab.w
        .cmd(&["approve", &id])
        .fails_with(&["signature mismatch (HMAC failed)", "stays pending"]);
    assert_eq!(lab.w.status(&id), "pending");
    // A registry writer approves it anyway.
    lab.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    let doc = lab.run().ok().json();
    let r = outcome_of(&doc, &id);
    assert_eq!(r["outcome"], "verify_failed");
    assert_eq!(r["reason"], "signature mismatch (HMAC failed)");
    assert_eq!(lab.w.status(&id), "completed_with_error");
    assert!(lab.calls().is_empty());
}

#[test]
fn a_draft_retargeted_after_approval_is_refused_and_nothing_runs() {
    let lab = Lab::new("");
    let plain = lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let rehashed = lab.w.approved("github_comment", TARGET, r#"{"body":"hi"}"#);
    let moved = r#"{"issue": 1, "repo": "evil-org/elsewhere"}"#;
    for id in [&plain, &rehashed] {
        lab.w.sql(&format!(
            "UPDATE drafts SET target_json = '{moved}' WHERE draft_id = '{id}'"
        ));
    }
    // Without the key an attacker can still recompute the hash; the HMAC then fails.
    let hash = rehash(&lab.w, &rehashed);
    lab.w.sql(&format!(
        "UPDATE drafts SET content_hash = '{hash}' WHERE draft_id = '{rehashed}'"
    ));
    let doc = lab.run().ok().json();
    for (id, reason) in [
        (&plain, "content_hash mismatch (record was tampered)"),
        (&rehashed, "signature mismatch (HMAC failed)"),
    ] {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "verify_failed", "{r}");
        assert_eq!(r["reason"], reason);
        assert_eq!(lab.w.status(id), "completed_with_error");
        assert_eq!(
            last_error(&lab.w, id),
            format!("verify failed at execute time: {reason}")
        );
    }
    assert!(lab.calls().is_empty(), "nothing was dispatched");
}

#[test]
fn a_draft_replayed_under_another_id_is_refused() {
    let lab = Lab::new("");
    let original = lab.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    let doc = lab.run().ok().json();
    assert_eq!(outcome_of(&doc, &original)["outcome"], "executed");
    let copy = |new_id: &str| {
        lab.w.sql(&format!(
            "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
                 key_version, schema_version, content_hash, signature, status, created_at, updated_at)
             SELECT '{new_id}', draft_kind, target_json, payload_json, issued_at, key_version,
                 schema_version, content_hash, signature, 'approved', created_at, updated_at
             FROM drafts WHERE draft_id = '{original}'"
        ));
    };
    let same = "01REPLAYSAMEHASH0000000000";
    let rehashed = "01REPLAYREHASHED0000000000";
    copy(same);
    copy(rehashed);
    let hash = rehash(&lab.w, rehashed);
    lab.w.sql(&format!(
        "UPDATE drafts SET content_hash = '{hash}' WHERE draft_id = '{rehashed}'"
    ));
    let doc = lab.run().ok().json();
    for (id, reason) in [
        (same, "content_hash mismatch (record was tampered)"),
        (rehashed, "signature mismatch (HMAC failed)"),
    ] {
        let r = outcome_of(&doc, id);
        assert_eq!(r["outcome"], "verify_failed", "{r}");
        assert_eq!(r["reason"], reason);
    }
    assert_eq!(lab.calls().len(), 1, "only the original ran");
}

#[test]
fn a_draft_carrying_another_drafts_hash_and_signature_is_refused() {
    let lab = Lab::new("");
    let donor = lab.w.draft("ledger_done", "{}", r#"{"n":"approved text"}"#);
    let forged = lab.w.draft("ledger_done", "{}", r#"{"n":"attacker text"}"#);
    lab.w.sql(&format!(
        "UPDATE drafts SET
             content_hash = (SELECT content_hash FROM drafts WHERE draft_id = '{donor}'),
             signature = (SELECT signature FROM drafts WHERE draft_id = '{donor}')
         WHERE draft_id = '{forged}'"
    ));
    lab.w
        .cmd(&["approve", &forged])
        .fails_with(&["content_hash mismatch", "stays pending"]);
    lab.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{forged}'"
    ));
    let doc = lab.run().ok().json();
    assert_eq!(
        outcome_of(&doc, &forged)["reason"],
        "content_hash mismatch (record was tampered)"
    );
    assert!(lab.calls().is_empty());
}

#[test]
fn a_draft_with_a_changed_kind_or_issued_at_is_refused() {
    let lab = Lab::new("");
    // issued_at moved forward (within the clock skew allowance) would stretch the TTL; the kind moved would change the handler.
    let later = lab.w.approved("ledger_done", "{}", "{}");
    let rekinded = lab.w.approved("social_post", "{}", "{}");
    lab.w.sql(&format!(
        "UPDATE drafts SET issued_at = issued_at + 50 WHERE draft_id = '{later}';
         UPDATE drafts SET draft_kind = 'ledger_done' WHERE draft_id = '{rekinded}';"
    ));
    let doc = lab.run().ok().json();
    for id in [&later, &rekinded] {
        assert_eq!(
            outcome_of(&doc, id)["reason"],
            "content_hash mismatch (record was tampered)"
        );
    }
    assert!(lab.calls().is_empty());
}

#[test]
fn a_draft_under_an_unconfigured_key_version_is_refused_even_with_the_same_key_bytes() {
    let lab = Lab::new("");
    // Version 2 configured with the same key file: the signature itself is good.
    let both = lab.w.path("both.toml");
    write_private(
        &both,
        &format!(
            "[keys]\n1 = \"{k}\"\n2 = \"{k}\"\n",
            k = lab.w.key.display()
        ),
    );
    let id = lab
        .w
        .cmd(&[
            "draft",
            "new",
            "--config",
            both.to_str().expect("utf8"),
            "--kind",
            "ledger_done",
            "--target",
            "{}",
            "--payload",
            "{}",
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(
        lab.w.query(&format!(
            "SELECT key_version FROM drafts WHERE draft_id = '{id}'"
        )),
        "2"
    );
    // The executor knows only version 1.
    lab.w
        .cmd(&["approve", &id])
        .env("INBOX_EXEC_CONFIG", &lab.config)
        .fails_with(&["unknown key_version: 2"]);
    lab.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    // A second copy relabelled as version 1: key_version is signed, so the hash breaks.
    let relabelled = "01RELABELLEDKEYVERSION0000";
    lab.w.sql(&format!(
        "INSERT INTO drafts (draft_id, draft_kind, target_json, payload_json, issued_at,
             key_version, schema_version, content_hash, signature, status, created_at, updated_at)
         SELECT '{relabelled}', draft_kind, target_json, payload_json, issued_at, 1,
             schema_version, content_hash, signature, 'approved', created_at, updated_at
         FROM drafts WHERE draft_id = '{id}'"
    ));
    let doc = lab.run().ok().json();
    assert_eq!(outcome_of(&doc, &id)["reason"], "unknown key_version: 2");
    assert_eq!(
        outcome_of(&doc, relabelled)["reason"],
        "content_hash mismatch (record was tampered)"
    );
    assert!(lab.calls().is_empty());
}

// --- What the registry writer can do: the limits SECURITY.md admits ------------------------

#[test]
fn limit_a_registry_writer_can_approve_a_signed_pending_draft_without_the_approve_command() {
    let lab = Lab::new("");
    let id = lab.w.draft("ledger_done", "{}", "{}");
    // Approval is a status column, not a signature: one UPDATE is an approval.
    lab.w.sql(&format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}'"
    ));
    let doc = lab.run().ok().json();
    assert_eq!(outcome_of(&doc, &id)["outcome"], "executed");
    assert_eq!(lab.calls().len(), 1);
}

#[test]
fn limit_a_registry_writer_can_replay_a_completed_draft_but_only_within_its_ttl() {
    let lab = Lab::new("");
    let issued = (inbox_exec::unix_now() - 120).to_string();
    let id = lab
        .w
        .cmd(&[
            "draft",
            "new",
            "--kind",
            "ledger_done",
            "--target",
            "{}",
            "--payload",
            "{}",
            "--issued-at",
            &issued,
        ])
        .ok()
        .stdout
        .trim()
        .to_owned();
    lab.w.cmd(&["approve", &id]).ok();
    assert_eq!(
        outcome_of(&lab.run().ok().json(), &id)["outcome"],
        "executed"
    );
    let reset = format!(
        "UPDATE drafts SET status = 'approved' WHERE draft_id = '{id}';
         DELETE FROM attempts WHERE draft_id = '{id}';
         DELETE FROM claims WHERE draft_id = '{id}';"
    );
    // Within the TTL the signature still holds, and the history was the writer's to erase.
    lab.w.sql(&reset);
    assert_eq!(
        outcome_of(&lab.run().ok().json(), &id)["outcome"],
        "executed"
    );
    assert_eq!(lab.calls().len(), 2, "the side effect happened twice");
    // Past the TTL (here 60 s, the draft being 120 s old) the replay is refused.
    lab.w.sql(&reset);
    let doc = lab.run().env("INBOX_EXEC_TTL", "60s").ok().json();
    assert_eq!(
        outcome_of(&doc, &id)["reason"],
        "draft expired (TTL elapsed)"
    );
    assert_eq!(lab.calls().len(), 2);
}

#[test]
fn a_registry_writer_cannot_lift_the_thermal_pause_by_erasing_or_forging_attempts() {
    let lab = Lab::new("[thermal]\nmax_actions = 1\nwindow = \"15m\"\ncooldown = \"5m\"\n");
    lab.w.approved("ledger_done", "{}", r#"{"n":1}"#);
    lab.w.approved("ledger_done", "{}", r#"{"n":2}"#);
    let doc = lab.run().ok().json();
    assert!(doc["paused_until"].is_i64(), "the cutout tripped: {doc}");
    // The sidecar lives in the state directory, out of the registry writer's reach.
    lab.w.sql("DELETE FROM attempts; DELETE FROM claims;");
    let next = lab.w.approved("ledger_done", "{}", r#"{"n":3}"#);
    assert_eq!(lab.run().ok().json()["status"], "paused");
    // A forged attempt newer than the sidecar makes it look stale: the window is rebuilt
    // from the table, and the pause it recorded is kept.
    lab.w.sql(&format!(
        "INSERT INTO attempts (attempt_id, draft_id, kind, outcome, attempted_at)
         VALUES (999999, '{next}', 'verify', 'ok', 0)"
    ));
    assert_eq!(lab.run().ok().json()["status"], "paused");
    assert_eq!(lab.w.status(&next), "approved");
    assert_eq!(lab.calls().len(), 2);
}

#[test]
fn a_key_owned_by_another_user_is_refused() {
    if !is_root() {
        println!("SKIPPED: only root can give a file to another user");
        return;
    }
    let lab = Lab::new("");
    let id = lab.w.approved("ledger_done", "{}", "{}");
    std::os::unix::fs::chown(&lab.w.key, Some(65534), Some(65534)).expect("chown");
    lab.run()
        .fails_with(&["owned by uid 65534", "not by the user running inbox-exec"]);
    assert_eq!(lab.w.status(&id), "approved");
    assert!(lab.calls().is_empty());
}

// --- Configuration and the SMTP password file ----------------------------------------------

#[test]
fn a_group_writable_config_is_refused_before_anything_runs() {
    let lab = Lab::new("");
    let id = lab.w.approved("ledger_done", "{}", "{}");
    for m in [0o620, 0o602, 0o660] {
        fs::set_permissions(&lab.config, fs::Permissions::from_mode(m)).expect("chmod");
        lab.run()
            .fails_with(&["writable by group or others", "chmod go-w"]);
    }
    assert_eq!(lab.w.status(&id), "approved");
    assert!(lab.calls().is_empty());
    // Readable by others is fine: nothing in it is a secret.
    fs::set_permissions(&lab.config, fs::Permissions::from_mode(0o644)).expect("chmod");
    assert_eq!(
        outcome_of(&lab.run().ok().json(), &id)["outcome"],
        "executed"
    );
}

#[test]
fn a_config_owned_by_another_user_is_refused() {
    if !is_root() {
        println!("SKIPPED: only root can give a file to another user");
        return;
    }
    let lab = Lab::new("");
    let id = lab.w.approved("ledger_done", "{}", "{}");
    // Mode 0644, but its owner (nobody) can chmod it and rewrite it: choose our handlers.
    fs::set_permissions(&lab.config, fs::Permissions::from_mode(0o644)).expect("chmod");
    std::os::unix::fs::chown(&lab.config, Some(65534), Some(65534)).expect("chown");
    let out = lab.run().output();
    assert_eq!(
        out.code, 1,
        "a config another user owns was accepted:\n{}\n{}",
        out.stdout, out.stderr
    );
    assert!(
        out.stderr.contains(&lab.config.display().to_string()),
        "{}",
        out.stderr
    );
    assert_eq!(lab.w.status(&id), "approved");
    assert!(lab.calls().is_empty());
}

#[test]
fn an_smtp_password_file_others_can_read_is_not_used() {
    let lab = Lab::new("");
    let pass = lab.w.path("smtp.pass");
    fs::write(&pass, "LoosePw-3f0a\n").expect("password");
    fs::set_permissions(&pass, fs::Permissions::from_mode(0o644)).expect("chmod");
    lab.write_config(&format!(
        "[notify]\nsmtp_url = \"smtp://127.0.0.1:{}\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\nusername = \"alice\"\npassword_file = \"{}\"\ntimeout = \"2s\"\n",
        closed_port(),
        pass.display()
    ));
    let id = lab.w.approved("social_post", "{}", "{}");
    let out = lab.run().env("INBOX_EXEC_SMTP_PASSWORD", "EnvPw-9c1d").ok();
    assert_eq!(outcome_of(&out.json(), &id)["outcome"], "execute_failed");
    let pass_name = pass.display().to_string();
    for fragment in [
        "SMTP password file",
        pass_name.as_str(),
        "accessible by group or others",
        "chmod 600",
        "without a password",
    ] {
        assert!(
            out.stderr.contains(fragment),
            "stderr should mention {fragment:?}:\n{}",
            out.stderr
        );
    }
    for secret in ["LoosePw-3f0a", "EnvPw-9c1d"] {
        assert!(!out.stderr.contains(secret), "{}", out.stderr);
    }
}
