//! The commands, one file each. Each `run` takes the resolved configuration, its arguments
//! and the time, and returns an [`Output`](crate::report::Output); a command whose report
//! grows with the registry (`verify`) also takes a [`Sink`](crate::sink::Sink) and writes
//! its report there as it goes, keeping none of it. Commands call down into the modules
//! below them, never into each other.

pub mod approve;
pub mod cancel;
pub mod draft_new;
pub mod expire;
pub mod init;
pub mod keygen;
pub mod reconcile;
pub mod run;
pub mod show;
pub mod status;
pub mod verify;
