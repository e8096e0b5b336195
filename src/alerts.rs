//! What each alert says: the subject (after the `[ALERT] inbox-exec` prefix) and the body of
//! every message `run` sends a human, in one place. `notify` delivers them.

use std::path::Path;

use crate::config::ThermalConfig;
use crate::process::Liveness;
use crate::registry::Executing;
use crate::report::{ago, span};
use crate::thermal::{Clamped, Thermal};

/// One alert's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    /// The subject, without the prefix.
    pub what: String,
    /// The body.
    pub body: String,
}

impl Alert {
    /// An approved draft that failed verification at execute time.
    pub fn verify_failed(id: &str, kind: &str, reason: &str) -> Alert {
        Alert {
            what: format!("draft {id} failed verification"),
            body: format!(
                "Draft {id} (kind {kind}) was approved but failed verification at execute time:\n\n  {reason}\n\nIt was marked completed_with_error and will not run. No retry: if the action is still wanted, sign and approve a new draft."
            ),
        }
    }

    /// An approved draft of a non-delegable kind.
    pub fn non_delegable(id: &str, kind: &str) -> Alert {
        Alert {
            what: format!("draft {id} refused: {kind} is non-delegable"),
            body: format!(
                "Draft {id} has kind {kind}, which is on the non-delegable list. It was marked terminal_unrecoverable and will not run.\n\nThis action needs fresh, per-invocation attestation through another channel than an approval in the registry."
            ),
        }
    }

    /// A draft whose handler refused it before it ran (`dispatched` false) or ran and failed.
    pub fn dispatch_failed(id: &str, kind: &str, reason: &str, dispatched: bool) -> Alert {
        let what = if dispatched {
            "Its handler ran and failed"
        } else {
            "It was refused before its handler ran (nothing was done)"
        };
        Alert {
            what: format!("draft {id} failed: {}", head(reason, 120)),
            body: format!(
                "Draft {id} (kind {kind}) failed. {what}:\n\n  {reason}\n\nIt was marked completed_with_error. No retry: if the action is still wanted, check what happened (`inbox-exec show {id}`), then sign and approve a new draft."
            ),
        }
    }

    /// The thermal cutout tripped at `now`.
    pub fn thermal_tripped(thermal: &Thermal, cfg: &ThermalConfig, now: i64) -> Alert {
        Alert {
            what: "thermal cutout tripped".to_owned(),
            body: format!(
                "{} actions in the last {}, more than the limit of {}. Execution is paused until {} ({} from now); the drafts left in this batch stay approved and run after the pause.\n\nIf this burst was not expected, look at who approved these drafts before the pause ends.",
                thermal.in_window(now, cfg),
                humantime::format_duration(cfg.window),
                cfg.max_actions,
                crate::report::date(thermal.paused_until),
                humantime::format_duration(cfg.cooldown),
            ),
        }
    }

    /// The thermal sidecar at `path` was unusable (`why`) and the window was rebuilt.
    pub fn thermal_rebuilt(
        path: &Path,
        why: &str,
        thermal: &Thermal,
        cfg: &ThermalConfig,
        now: i64,
    ) -> Alert {
        Alert {
            what: "thermal history rebuilt".to_owned(),
            body: format!(
                "The thermal sidecar {} was unusable: {why}.\n\nThe rate-limit window was rebuilt from the registry ({} recent actions{}). No action is needed unless this repeats; if it does, check the state directory's disk and permissions.",
                path.display(),
                thermal.in_window(now, cfg),
                if thermal.is_paused(now) {
                    ", paused"
                } else {
                    ""
                },
            ),
        }
    }

    /// The thermal claims log at `path` was unusable (`why`): its entries were not read.
    pub fn thermal_log_unusable(path: &Path, why: &str) -> Alert {
        Alert {
            what: "thermal claims log unusable".to_owned(),
            body: format!(
                "The thermal claims log {} was unusable: {why}.\n\nThe claims it may have held count only as the registry records them; the file is removed once this run has saved the sidecar. No action is needed unless this repeats; if it does, check the state directory's disk and permissions.",
                path.display(),
            ),
        }
    }

    /// The thermal window held times after `now` (a clock that was ahead, or forged rows),
    /// and [`Thermal::merge`] brought them back.
    pub fn thermal_future(
        clamped: &Clamped,
        thermal: &Thermal,
        cfg: &ThermalConfig,
        now: i64,
    ) -> Alert {
        let pause = match clamped.pause_was {
            Some(was) => format!(
                "A pause until {was} ({}) was cut to end at {} (the cooldown, {}, from now). ",
                ago(was, now),
                thermal.paused_until,
                humantime::format_duration(cfg.cooldown),
            ),
            None => String::new(),
        };
        Alert {
            what: "thermal history dated in the future".to_owned(),
            body: format!(
                "The thermal window held times after now ({now}). {pause}{} action(s) of the sidecar and {} registry row(s) dated after now were counted as of now, each once.\n\nThe clock was probably ahead when they were recorded: check it (`timedatectl`). If the clock was right, someone wrote future times into the registry's attempts table.",
                clamped.own, clamped.registry
            ),
        }
    }

    /// A draft in `executing` for longer than `stuck_after`; `alive` is its claimer's state.
    pub fn stuck(e: &Executing, alive: &Liveness, now: i64) -> Alert {
        Alert {
            what: format!("draft {} stuck in executing", e.id),
            body: format!(
                "Draft {} (kind {}) was claimed {} ago and has no recorded outcome. Its claimer is {}{}.\n\nIts side effect may or may not have happened, and may still happen: a handler started by a run that was killed outright outlives it. Check that no handler of this draft still runs, check the target ({}), then settle it:\n\n  inbox-exec reconcile resolve {} --as completed [--url URL]\n  inbox-exec reconcile resolve {} --as failed --note \"what you found\"\n\nThis alert is sent once per draft.",
                e.id,
                e.kind,
                span(now.saturating_sub(e.claimed_at)),
                alive.word(),
                match alive {
                    Liveness::Unknown(why) => format!(" ({why})"),
                    _ => String::new(),
                },
                // Quoted, not copied: whoever wrote the row chose its size.
                crate::notify::bounded(&e.target, 2048),
                e.id,
                e.id,
            ),
        }
    }
}

/// The start of `text` for a subject: its first non-empty line, cut at the end to at most
/// `max` characters, with `…` when anything was left out. A failure's first line says what
/// failed; its last is often a stack frame.
fn head(text: &str, max: usize) -> String {
    let text = text.trim();
    let first = text.lines().next().unwrap_or_default().trim_end();
    let mut out: String = first.chars().take(max).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::head;

    #[test]
    fn a_subject_keeps_the_start_of_the_reason() {
        assert_eq!(head("exit 3: boom\nsecond", 120), "exit 3: boom…");
        assert_eq!(head("short", 120), "short");
        assert_eq!(head(&"x".repeat(10), 4), "xxxx…");
    }
}
