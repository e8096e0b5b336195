//! `keygen`: create a new random HMAC key, mode 0600, never overwriting one.

use anyhow::Context as _;
use serde_json::json;

use crate::cli::KeygenArgs;
use crate::config::Config;
use crate::draft::{KeyRing, keys};
use crate::report::Output;

/// Creates the key configured for a version (the newest by default).
pub fn run(config: &Config, args: &KeygenArgs) -> anyhow::Result<Output> {
    let ring = KeyRing::new(config.keys.clone());
    let (version, path) = match args.key_version {
        Some(v) => (
            v,
            ring.path(v).with_context(|| {
                format!("no key file is configured for key_version {v}: add it under [keys]")
            })?,
        ),
        None => ring.newest().context("no key is configured")?,
    };
    keys::keygen(path)?;
    let shown = path.display().to_string();
    Ok(Output::done(
        format!("created HMAC key {shown} (key_version {version}, mode 0600)\n"),
        json!({ "key": shown, "key_version": version }),
    ))
}
