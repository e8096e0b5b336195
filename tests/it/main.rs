//! Integration tests: the real binary against temp directories and real SQLite files.

mod alerts;
mod conformance;
mod docs;
mod drafts;
mod faults;
mod harness;
mod install;
mod operate;
mod outbox;
mod run;
mod security;
mod stage;
mod wal;
