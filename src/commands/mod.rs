//! The commands, one file each. Each `run` takes the resolved configuration, its arguments
//! and the time, and returns an [`Output`](crate::report::Output); a command whose report
//! grows with the registry (`verify`) also takes a [`Sink`](crate::sink::Sink) and writes
//! its report there as it goes, keeping none of it. Commands call down into the modules
//! below them, never into each other.

pub mod approve;
pub mod cancel;
pub mod copy;
pub mod draft_new;
pub mod expire;
pub mod init;
pub mod keygen;
pub mod reconcile;
pub mod run;
pub mod show;
pub mod status;
pub mod verify;

use crate::config::Config;
use crate::dispatch::{ChildEnv, Handlers, Unrunnable};
use crate::draft::Verified;

/// The check `draft new` and `approve` share: would `run` refuse `draft` on its kind or
/// shape? A kind with no handler here only warns (the executor may be configured apart);
/// with `allow`, every refusal becomes a warning. `verb` names what would be refused.
fn check_runnable(
    config: &Config,
    draft: &Verified,
    allow: bool,
    verb: &str,
) -> anyhow::Result<()> {
    // Only the shape is checked: no program is looked up, so no environment is needed.
    let handlers = Handlers::new(config, ChildEnv::default());
    match handlers.check(config, draft) {
        Ok(()) => Ok(()),
        Err(why @ Unrunnable::NoHandler(_)) => {
            log::warn!(
                "{why}: `run` will refuse draft {} unless its executor has one",
                draft.draft_id
            );
            Ok(())
        }
        Err(why) if allow => {
            log::warn!(
                "{why}: `run` will refuse draft {}; {verb} anyway (--allow-unrunnable)",
                draft.draft_id
            );
            Ok(())
        }
        Err(why) => anyhow::bail!(
            "{why}: `run` would refuse it, so it was not {verb}; pass --allow-unrunnable if you really mean it"
        ),
    }
}
