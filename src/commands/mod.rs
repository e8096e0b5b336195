//! The commands, one file each. Each `run` takes the resolved configuration, its arguments
//! and the time, and returns an [`Output`](crate::report::Output); commands call down into
//! the modules below them, never into each other.

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
