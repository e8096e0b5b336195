//! `draft new`: sign a draft and insert it as pending.

use anyhow::{Context as _, bail};
use serde_json::json;

use crate::cli::DraftNewArgs;
use crate::config::Config;
use crate::draft::json::parse_json;
use crate::draft::{KeyRing, Verified, sign};
use crate::registry;
use crate::report::Output;

/// Signs a draft with the newest key and inserts it as pending; the output is its id.
pub fn run(config: &Config, args: &DraftNewArgs, now: i64) -> anyhow::Result<Output> {
    let target = parse_json(&args.target).context("--target is not valid JSON")?;
    let payload = parse_json(&args.payload).context("--payload is not valid JSON")?;
    if args.kind.trim().is_empty() {
        bail!("--kind is empty: name the action kind, e.g. github_comment");
    }
    let ring = KeyRing::new(config.keys.clone());
    let (version, _) = ring.newest().context("no key is configured")?;
    let key = ring.key(version)?;
    let id = ulid::Ulid::generate().to_string();
    let issued_at = args.issued_at.unwrap_or(now);
    let signed = sign(&id, &args.kind, &target, &payload, issued_at, version, key)
        .context("the draft cannot be signed")?;
    let draft = Verified {
        draft_id: id.clone(),
        kind: args.kind.clone(),
        target: target.clone(),
        payload: payload.clone(),
        issued_at: issued_at.into(),
    };
    super::check_runnable(config, &draft, args.allow_unrunnable, "inserted")?;
    let mut reg = registry::open_named(
        &config.db,
        &config.postgres,
        registry::first_use_mode(config),
    )?;
    registry::write(&mut *reg, |w| {
        w.insert_draft(
            &signed,
            &args.kind,
            issued_at,
            version,
            args.led_ref.as_deref(),
            now,
        )
    })
    .with_context(|| format!("inserting draft {id}"))?;
    log::info!("inserted draft {id} ({}) as pending", args.kind);
    Ok(Output::done(format!("{id}\n"), json!({ "draft_id": id })))
}
