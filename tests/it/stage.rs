//! The one stage for `run` and everything around it: a ready world, a config, and three
//! recording stand-ins on PATH — `gh`, a `ledger_done` command handler (`bin/ledger`, which
//! passes `EXTRA` through its own allowlist) and `sendmail`.
//!
//! Each call of a stand-in leaves one directory in `calls/`: its argv, its exec-time
//! environment, its open descriptors and its stdin, then a `done` marker. The environment is
//! read from `/proc/$$/environ`, the block the kernel received at `execve`, not from `env`:
//! the shell adds `PWD`, `SHLVL` and `_` to what it exports, and reading the exec-time block
//! means nothing has to be filtered out before comparing it with an allowlist.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::{Run, World, script, write_private};

/// A valid `github_comment` target.
pub const TARGET: &str = r#"{"repo":"octo-org/demo","issue":42}"#;
/// What the stand-in `gh` prints last, as `gh issue comment` prints the comment's URL.
pub const GH_URL: &str = "https://github.com/octo-org/demo/issues/42#issuecomment-1";
/// The argv `gh` gets for [`TARGET`].
pub const GH_ARGV: [&str; 7] = [
    "issue",
    "comment",
    "42",
    "--repo",
    "octo-org/demo",
    "--body-file",
    "-",
];

/// The world, the stand-ins' directory, their call log and the config naming them.
pub struct Stage {
    pub w: World,
    pub bin: PathBuf,
    pub calls: PathBuf,
    pub config: PathBuf,
}

/// One recorded call of a stand-in.
#[derive(Debug)]
pub struct Call {
    /// `gh`, `ledger` or `sendmail`.
    pub program: String,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub stdin: Vec<u8>,
    /// `N target` per open descriptor.
    pub fds: Vec<String>,
}

impl Call {
    /// stdin as text.
    pub fn stdin_text(&self) -> String {
        String::from_utf8_lossy(&self.stdin).into_owned()
    }
}

/// How often each draft reached the ledger handler.
#[derive(Debug, Default)]
pub struct Dispatches {
    /// Calls per draft id.
    pub by_id: HashMap<String, usize>,
    /// Calls whose stdin was empty: the run was killed after starting the handler and before
    /// writing the draft to it, so the call cannot be told apart from another.
    pub unattributed: usize,
}

impl Dispatches {
    /// How many times `id` was dispatched.
    pub fn of(&self, id: &str) -> usize {
        self.by_id.get(id).copied().unwrap_or(0)
    }
}

impl Stage {
    pub fn new(extra_config: &str) -> Stage {
        Stage::with_handler("", extra_config)
    }

    /// `handler_tail` runs in `gh` and the ledger after they recorded the call, e.g.
    /// `sleep 0.2` or `exit 3`.
    pub fn with_handler(handler_tail: &str, extra_config: &str) -> Stage {
        Stage::build(World::ready(), handler_tail, extra_config)
    }

    /// `gh_tail` runs in `gh` only (e.g. `exit 1`).
    pub fn with_gh_tail(gh_tail: &str, extra_config: &str) -> Stage {
        Stage::assemble(World::ready(), gh_tail, "", extra_config)
    }

    /// `w` must have a key and a registry.
    pub fn build(w: World, handler_tail: &str, extra_config: &str) -> Stage {
        Stage::assemble(w, handler_tail, handler_tail, extra_config)
    }

    fn assemble(w: World, gh_tail: &str, ledger_tail: &str, extra_config: &str) -> Stage {
        let bin = w.path("bin");
        let calls = w.path("calls");
        fs::create_dir_all(&bin).expect("bin");
        fs::create_dir_all(&calls).expect("calls");
        let record = recorder(&calls);
        script(
            &bin.join("gh"),
            &format!("{record}{gh_tail}\necho {GH_URL}\n"),
        );
        script(&bin.join("ledger"), &format!("{record}{ledger_tail}\n"));
        script(&bin.join("sendmail"), &record);
        let config = w.path("config.toml");
        let stage = Stage {
            w,
            bin,
            calls,
            config,
        };
        stage.write_config(extra_config);
        stage
    }

    /// The stage's config: the ledger handler plus `extra`.
    pub fn write_config(&self, extra: &str) {
        write_private(
            &self.config,
            &format!(
                "[handlers.ledger_done]\ncommand = [\"{}\", \"--quiet\"]\ntimeout = \"20s\"\nenv = [\"EXTRA\"]\n{extra}",
                self.bin.join("ledger").display()
            ),
        );
    }

    /// Gives the ledger handler another timeout (and drops any extra config).
    pub fn handler_timeout(&self, timeout: &str) {
        write_private(
            &self.config,
            &format!(
                "[handlers.ledger_done]\ncommand = [\"{}\"]\ntimeout = \"{timeout}\"\n",
                self.bin.join("ledger").display()
            ),
        );
    }

    /// PATH with the stand-ins first.
    pub fn path_var(&self) -> String {
        format!("{}:/usr/bin:/bin", self.bin.display())
    }

    /// Any command with the stage's config and the stand-ins first on PATH.
    pub fn cmd(&self, args: &[&str]) -> Run {
        self.w
            .cmd(args)
            .env("INBOX_EXEC_CONFIG", &self.config)
            .env("PATH", self.path_var())
    }

    /// `run --json` with the stage's config and stand-ins first on PATH.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        self.cmd(&all)
    }

    /// How many calls have started (some may still be recording).
    pub fn started(&self) -> usize {
        fs::read_dir(&self.calls).expect("calls dir").count()
    }

    /// Waits until `n` calls have started; fails the test after 30 s (a loaded machine can
    /// be slow to start a run, never that slow).
    pub fn wait_started(&self, n: usize) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.started() < n {
            assert!(
                std::time::Instant::now() < deadline,
                "the handler never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }

    /// Every recorded call, by program, then argv and stdin. Panics on a record that is not
    /// complete: every caller waits for its stand-ins first, so one means a stand-in was
    /// killed while recording, which a test must hear about.
    pub fn calls(&self) -> Vec<Call> {
        let mut calls: Vec<Call> = fs::read_dir(&self.calls)
            .expect("calls dir")
            .map(|e| read_call(&e.expect("calls entry").path()))
            .collect();
        calls.sort_by(|a, b| (&a.program, &a.argv, &a.stdin).cmp(&(&b.program, &b.argv, &b.stdin)));
        calls
    }

    /// The calls of one stand-in.
    pub fn calls_of(&self, program: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.program == program)
            .collect()
    }

    /// How many times each draft id reached the ledger handler. A call whose stdin is not the
    /// draft JSON fails the test: a record the count cannot read would hide a dispatch.
    pub fn dispatches(&self) -> Dispatches {
        let mut out = Dispatches::default();
        for call in self.calls_of("ledger") {
            if call.stdin.is_empty() {
                out.unattributed += 1;
                continue;
            }
            let doc: Value = serde_json::from_slice(&call.stdin).unwrap_or_else(|e| {
                panic!(
                    "a ledger call's stdin is not a draft ({e}): {:?}",
                    call.stdin_text()
                )
            });
            let id = doc["draft_id"]
                .as_str()
                .unwrap_or_else(|| panic!("a ledger call's stdin has no draft_id: {doc}"));
            *out.by_id.entry(id.to_owned()).or_insert(0) += 1;
        }
        out
    }

    /// How many times draft `id` reached the ledger handler.
    pub fn dispatched(&self, id: &str) -> usize {
        self.dispatches().of(id)
    }

    /// `n` approved `ledger_done` drafts.
    pub fn ledger(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.w.approved(
                    "ledger_done",
                    r#"{"led":"LED-1"}"#,
                    &format!(r#"{{"n":{i}}}"#),
                )
            })
            .collect()
    }

    /// `kind:outcome` of a draft's attempts, in order.
    pub fn attempts(&self, id: &str) -> String {
        self.w
            .column(&format!(
                "SELECT kind || ':' || outcome FROM attempts WHERE draft_id = '{id}' ORDER BY attempt_id"
            ))
            .join(",")
    }

    /// A draft's `last_error`.
    pub fn last_error(&self, id: &str) -> String {
        self.w.query(&format!(
            "SELECT last_error FROM drafts WHERE draft_id = '{id}'"
        ))
    }

    /// A file in the state directory.
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.w.state.join(name)
    }
}

/// The recording part of a stand-in script.
fn recorder(calls: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         d=$(mktemp -d \"{calls}/$(basename \"$0\").XXXXXX\")\n\
         printf '%s\\0' \"$@\" > \"$d/argv\"\n\
         cat /proc/$$/environ > \"$d/environ\"\n\
         for f in /proc/$$/fd/*; do echo \"${{f##*/}} $(readlink \"$f\")\"; done > \"$d/fds\"\n\
         cat > \"$d/stdin\"\n\
         : > \"$d/done\"\n",
        calls = calls.display()
    )
}

fn read_call(dir: &Path) -> Call {
    let name = dir
        .file_name()
        .expect("call dir name")
        .to_string_lossy()
        .into_owned();
    assert!(
        dir.join("done").exists(),
        "incomplete call record {name}: its stand-in is still recording or was killed mid-record"
    );
    let program = name
        .rsplit_once('.')
        .map_or(name.as_str(), |(p, _)| p)
        .to_owned();
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

/// A `[thermal]` section with the given limit.
pub fn thermal_config(max: u32) -> String {
    format!("[thermal]\nmax_actions = {max}\nwindow = \"15m\"\ncooldown = \"5m\"\n")
}
