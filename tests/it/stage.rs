//! A stage for `run`: a ready world with a stand-in `gh` and a `ledger_done` command
//! handler, both recording each call (argv, environment, stdin) as one file in `calls/`.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use serde_json::Value;

use crate::harness::{Run, World, script};

/// A valid `github_comment` target.
pub const TARGET: &str = r#"{"repo":"octo-org/demo","issue":42}"#;

/// The world, the stand-ins' directory, their call log and the config naming them.
pub struct Stage {
    pub w: World,
    pub bin: PathBuf,
    pub calls: PathBuf,
    pub config: PathBuf,
}

impl Stage {
    pub fn new(extra_config: &str) -> Stage {
        Stage::with_handler("", extra_config)
    }

    /// `handler_tail` runs after the recording, e.g. `sleep 0.2` or `exit 3`.
    pub fn with_handler(handler_tail: &str, extra_config: &str) -> Stage {
        Stage::build(World::ready(), handler_tail, extra_config)
    }

    /// `w` must have a key and a registry.
    pub fn build(w: World, handler_tail: &str, extra_config: &str) -> Stage {
        let bin = w.path("bin");
        let calls = w.path("calls");
        fs::create_dir_all(&bin).expect("bin");
        fs::create_dir_all(&calls).expect("calls");
        let record = format!(
            "#!/bin/sh\nf=$(mktemp {calls}/call.XXXXXX)\n{{ printf '%s\\n' \"$@\"; echo ---; env | sort; echo ---; cat; }} > \"$f\"\n",
            calls = calls.display()
        );
        script(
            &bin.join("gh"),
            &format!(
                "{record}{handler_tail}\necho https://github.com/octo-org/demo/issues/42#issuecomment-1\n"
            ),
        );
        script(&bin.join("ledger"), &format!("{record}{handler_tail}\n"));
        let config = w.path("config.toml");
        fs::write(
            &config,
            format!(
                "[handlers.ledger_done]\ncommand = [\"{}\", \"--quiet\"]\ntimeout = \"20s\"\n{extra_config}",
                bin.join("ledger").display()
            ),
        )
        .expect("config");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
        Stage {
            w,
            bin,
            calls,
            config,
        }
    }

    /// Gives the ledger handler another timeout (and drops any extra config).
    pub fn handler_timeout(&self, timeout: &str) {
        fs::write(
            &self.config,
            format!(
                "[handlers.ledger_done]\ncommand = [\"{}\"]\ntimeout = \"{timeout}\"\n",
                self.bin.join("ledger").display()
            ),
        )
        .expect("config");
    }

    /// `run --json` with the stage's config and stand-ins first on PATH.
    pub fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["run", "--json"];
        all.extend_from_slice(args);
        self.w
            .cmd(&all)
            .env("INBOX_EXEC_CONFIG", &self.config)
            .env("PATH", format!("{}:/usr/bin:/bin", self.bin.display()))
    }

    /// Every recorded call: argv lines, `---`, the sorted environment, `---`, stdin.
    pub fn calls(&self) -> Vec<String> {
        let mut calls: Vec<String> = fs::read_dir(&self.calls)
            .expect("calls dir")
            .map(|e| {
                let bytes = fs::read(e.expect("entry").path()).expect("call file");
                String::from_utf8_lossy(&bytes).into_owned()
            })
            .collect();
        calls.sort();
        calls
    }

    /// What each call got on stdin.
    pub fn stdins(&self) -> Vec<String> {
        self.calls()
            .iter()
            .map(|c| c.splitn(3, "---\n").nth(2).unwrap_or_default().to_owned())
            .collect()
    }

    /// How many times each draft id reached the ledger handler.
    pub fn dispatches(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for stdin in self.stdins() {
            if let Ok(doc) = serde_json::from_str::<Value>(&stdin) {
                *counts
                    .entry(doc["draft_id"].as_str().expect("draft_id").to_owned())
                    .or_insert(0) += 1;
            }
        }
        counts
    }

    /// How many times draft `id` reached a handler.
    pub fn dispatched(&self, id: &str) -> usize {
        self.dispatches().get(id).copied().unwrap_or(0)
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

    /// A file in the state directory.
    pub fn state_file(&self, name: &str) -> PathBuf {
        self.w.state.join(name)
    }
}

/// A `[thermal]` section with the given limit.
pub fn thermal_config(max: u32) -> String {
    format!("[thermal]\nmax_actions = {max}\nwindow = \"15m\"\ncooldown = \"5m\"\n")
}

/// A run report's results.
pub fn results(doc: &Value) -> Vec<Value> {
    doc["results"].as_array().expect("results").clone()
}

/// One draft's result in a run report.
pub fn outcome_of(doc: &Value, id: &str) -> Value {
    results(doc)
        .into_iter()
        .find(|r| r["draft_id"] == id)
        .unwrap_or_else(|| panic!("no result for {id} in {doc}"))
}
