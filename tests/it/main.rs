//! Integration tests: the real binary against temp directories and real SQLite files.

mod alerts;
mod capture;
mod checks;
mod columns;
mod completion;
mod conformance;
mod docs;
mod drafts;
mod faults;
mod files;
mod harness;
mod install;
mod journal;
mod limits;
mod mail;
mod manual;
mod messages;
mod monitoring;
mod operate;
mod outbox;
mod run;
mod security;
mod settle;
mod stage;
mod thermal;
mod wal;
