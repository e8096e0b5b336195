//! The behaviour suites again, each test on a fresh PostgreSQL database: the same files, the
//! same assertions; the world's backend follows the module path (`harness::Backend`).
// Loading each suite twice is the point: once per backend.
#![allow(clippy::duplicate_mod)]

/// Tests of the SQLite file itself have no PostgreSQL counterpart.
macro_rules! sqlite_only {
    ($($test:tt)*) => {};
}

#[path = "alerts.rs"]
mod alerts;
#[path = "drafts.rs"]
mod drafts;
#[path = "operate.rs"]
mod operate;
#[path = "outbox.rs"]
mod outbox;
#[path = "run.rs"]
mod run;
#[path = "settle.rs"]
mod settle;
#[path = "thermal.rs"]
mod thermal;
