//! `init`: create the registry, or migrate an existing one.

use serde_json::json;

use crate::config::Config;
use crate::registry;
use crate::report::Output;

/// Creates or migrates the registry.
pub fn run(config: &Config) -> anyhow::Result<Output> {
    let registry = registry::init(&config.db, &config.postgres)?;
    let path = registry.location();
    Ok(Output::done(
        format!("registry ready: {path}\n"),
        json!({ "db": path }),
    ))
}
