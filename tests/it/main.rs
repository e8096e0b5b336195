//! Integration tests: the real binary against temp directories, real SQLite files and a
//! real PostgreSQL server.

/// Tests of the SQLite file itself (its format, its storage classes, the thermal sidecar
/// next to it): kept here, and dropped by the same macro in `postgres.rs`.
macro_rules! sqlite_only {
    ($($test:tt)*) => { $($test)* };
}

mod alerts;
mod capture;
mod checks;
mod columns;
mod completion;
mod conformance;
mod copy;
mod docs;
mod drafts;
mod faults;
mod files;
mod harness;
mod idle;
mod install;
mod journal;
mod limits;
mod mail;
mod manual;
mod many_hosts;
mod messages;
mod monitoring;
mod operate;
mod outbox;
mod pg_cluster;
mod pg_tls;
mod pgdb;
mod postgres;
mod run;
mod security;
mod settle;
mod stage;
mod thermal;
mod verify;
mod wal;
