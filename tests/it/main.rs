//! Integration tests: the real binary against temp directories and real SQLite files.

mod alerts;
mod checks;
mod completion;
mod conformance;
mod docs;
mod drafts;
mod faults;
mod harness;
mod install;
mod manual;
mod messages;
mod monitoring;
mod operate;
mod outbox;
mod run;
mod security;
mod stage;
