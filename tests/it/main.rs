//! Integration tests: the real binary against temp directories and real SQLite files.

mod conformance;
mod drafts;
mod harness;
