//! `verify`: a verdict per draft, without side effects, each written as it is made so that
//! memory stays flat whatever the registry holds.

use std::io;
use std::ops::ControlFlow;

use anyhow::Context as _;
use serde::Serialize;

use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::draft::sign::signed_object;
use crate::draft::{KeyRing, VerifyError, verify};
use crate::exit::Outcome;
use crate::registry::{self, DraftRow, OpenMode, Status};
use crate::sink::Sink;

/// The width of the id column: a ULID, as `draft new` and the reference make them. A
/// fixed width lines the verdicts up without a look at later rows; a longer id pushes only
/// its own reason to the right.
const ID_WIDTH: usize = 26;

/// One line of `verify`'s report.
#[derive(Debug, Serialize)]
pub struct Verdict {
    /// The draft.
    pub draft_id: String,
    /// Whether it verified.
    pub ok: bool,
    /// `ok`, or why not.
    pub reason: String,
    /// The content hash as recomputed; `None` when it cannot be computed.
    pub content_hash: Option<String>,
}

/// Verifies drafts without side effects, writing each verdict to `sink` as it is made and a
/// count at the end (the text form); exit 3 when any fails.
///
/// With ids, every id is looked up and verified before anything is written, so a typo or a
/// key that cannot be read fails the command with nothing printed. Without, the drafts are
/// read and reported one at a time; an error part-way (a key that cannot be read, the
/// registry failing) ends the output where it stands, without the count line or the JSON
/// array's closing `]`, and the error is the command's.
pub fn run(
    config: &Config,
    args: &VerifyArgs,
    now: i64,
    sink: &mut Sink<'_>,
) -> anyhow::Result<Outcome> {
    let mut reg = registry::open_named(&config.db, &config.postgres, OpenMode::ReadOnly)?;
    let ring = KeyRing::new(config.keys.clone());
    let now = args.now.unwrap_or(now);
    let check = |row: DraftRow| -> anyhow::Result<Verdict> {
        let (reason, content_hash) = match verify(&row.signed, &ring, now, config.ttl_seconds()) {
            // A draft verifies only when the hash recomputed from its fields equals the
            // stored one, so the stored text is the recomputed hash: no second hashing.
            Ok(_) => (
                "ok".to_owned(),
                row.signed.content_hash.as_text().map(str::to_owned),
            ),
            Err(VerifyError::Key(e)) => {
                return Err(anyhow::Error::new(e).context(format!("verifying draft {}", row.id)));
            }
            Err(e) => (
                e.to_string(),
                signed_object(&row.signed).ok().map(|o| o.content_hash),
            ),
        };
        Ok(Verdict {
            ok: reason == "ok",
            reason,
            content_hash,
            draft_id: row.id,
        })
    };
    let mut report = Report {
        sink,
        verified: 0,
        failed: 0,
    };
    if args.ids.is_empty() {
        let mut failure = None;
        let mut visit = |row: DraftRow| {
            // Checked first as well: after a failure the next status's pass stops at once.
            if failure.is_some() {
                return ControlFlow::Break(());
            }
            match check(row).and_then(|v| report.write(&v)) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failure = Some(e);
                    ControlFlow::Break(())
                }
            }
        };
        if args.all {
            reg.for_each(None, &mut visit).context("listing drafts")?;
        } else {
            for status in [Status::Pending, Status::Approved] {
                reg.for_each(Some(status), &mut visit)
                    .context("listing drafts")?;
            }
        }
        if let Some(e) = failure {
            return Err(e);
        }
    } else {
        // Every id is looked up, and verified, before anything is written: a typo or an
        // unreadable key fails the command first. The ids are on the command line, so
        // holding their verdicts is holding what the caller already holds.
        let rows = args
            .ids
            .iter()
            .map(|id| registry::find(&mut *reg, id).map_err(Into::into))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let verdicts = rows
            .into_iter()
            .map(check)
            .collect::<anyhow::Result<Vec<_>>>()?;
        for verdict in &verdicts {
            report.write(verdict)?;
        }
    }
    report.finish()
}

/// The verdicts written so far, counted for the last line and the exit code.
struct Report<'s, 'a> {
    sink: &'s mut Sink<'a>,
    verified: u64,
    failed: u64,
}

impl Report<'_, '_> {
    /// Writes one verdict: a JSON element, or a line `ok  ID` / `FAILED  ID  reason`.
    fn write(&mut self, verdict: &Verdict) -> anyhow::Result<()> {
        if verdict.ok {
            self.verified += 1;
        } else {
            self.failed += 1;
        }
        let written = if self.sink.json() {
            self.sink.element(verdict)
        } else if verdict.ok {
            self.sink
                .line(&format!("{:<6}  {}", "ok", verdict.draft_id))
        } else {
            self.sink.line(&format!(
                "{:<6}  {:<ID_WIDTH$}  {}",
                "FAILED", verdict.draft_id, verdict.reason
            ))
        };
        written.map_err(writing)
    }

    /// Ends the output (the count line, or the array's `]`) and says how it went.
    fn finish(self) -> anyhow::Result<Outcome> {
        if self.sink.json() {
            self.sink.end_array()
        } else {
            self.sink.line(&format!(
                "{} verified, {} failed",
                self.verified, self.failed
            ))
        }
        .map_err(writing)?;
        Ok(if self.failed == 0 {
            Outcome::Done
        } else {
            Outcome::VerifyFailed
        })
    }
}

fn writing(e: io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("writing output")
}
