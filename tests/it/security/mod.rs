//! The security pass: one test (or more) for each claim SECURITY.md makes, and for each limit
//! it admits, in one file per section of SECURITY.md. The real binary, real files, and the
//! stage's stand-ins, which record what they were given (see `stage.rs`).

mod argv;
mod child;
mod constant_time;
mod files;
mod forged_output;
mod forgery;
mod permissions;
mod programs;
mod registry_writer;
mod secrets;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Map, Value, json};

use crate::harness::{
    BIN, Run, World, draft_new_args, is_root, mode, outcome_of, script, skip, write_private,
};
use crate::mail::AuthSmtpServer;
use crate::stage::{GH_ARGV, Stage, TARGET};

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

/// A loopback port where nothing listens.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("address").port()
}
