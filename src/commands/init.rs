//! `init`: create the registry, or migrate an existing one.

use anyhow::Context as _;
use serde_json::json;

use crate::config::Config;
use crate::registry::{self, OpenMode};
use crate::report::Output;

/// Creates or migrates the registry.
pub fn run(config: &Config) -> anyhow::Result<Output> {
    let registry = registry::open(&config.db, OpenMode::Create)
        .with_context(|| format!("creating registry {}", config.db.display()))?;
    let path = registry.location();
    Ok(Output::done(
        format!("registry ready: {path}\n"),
        json!({ "db": path }),
    ))
}
