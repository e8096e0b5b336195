//! What each alert says: the subject (after the `[ALERT] inbox-exec` prefix) and the body of
//! every message `run` sends a human, in one place. `notify` delivers them.

use std::path::Path;

use crate::config::ThermalConfig;
use crate::dispatch::child::tail;
use crate::process::Liveness;
use crate::registry::Executing;
use crate::report::span;
use crate::thermal::Thermal;

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
            what: format!("draft {id} failed: {}", tail(reason, 120)),
            body: format!(
                "Draft {id} (kind {kind}) failed. {what}:\n\n  {reason}\n\nIt was marked completed_with_error. No retry: if the action is still wanted, check what happened (`inbox-exec show {id}`), then sign and approve a new draft."
            ),
        }
    }

    /// The thermal cutout tripped.
    pub fn thermal_tripped(thermal: &Thermal, cfg: &ThermalConfig) -> Alert {
        Alert {
            what: "thermal cutout tripped".to_owned(),
            body: format!(
                "{} actions in the last {}, more than the limit of {}. Execution is paused until {} ({} from now); the drafts left in this batch stay approved and run after the pause.\n\nIf this burst was not expected, look at who approved these drafts before the pause ends.",
                thermal.recent_action_times.len(),
                humantime::format_duration(cfg.window),
                cfg.max_actions,
                thermal.paused_until,
                humantime::format_duration(cfg.cooldown),
            ),
        }
    }

    /// The thermal sidecar at `path` was unusable (`why`) and the window was rebuilt.
    pub fn thermal_rebuilt(path: &Path, why: &str, thermal: &Thermal, now: i64) -> Alert {
        Alert {
            what: "thermal history rebuilt".to_owned(),
            body: format!(
                "The thermal sidecar {} was unusable: {why}.\n\nThe rate-limit window was rebuilt from the attempts table ({} recent actions{}). No action is needed unless this repeats; if it does, check the state directory's disk and permissions.",
                path.display(),
                thermal.recent_action_times.len(),
                if thermal.is_paused(now) {
                    ", paused"
                } else {
                    ""
                },
            ),
        }
    }

    /// A draft in `executing` for longer than `stuck_after`; `alive` is its claimer's state.
    pub fn stuck(e: &Executing, alive: &Liveness, now: i64) -> Alert {
        Alert {
            what: format!("draft {} stuck in executing", e.id),
            body: format!(
                "Draft {} (kind {}) was claimed {} ago and has no recorded outcome. Its claimer is {}{}.\n\nIts side effect may or may not have happened: check the target ({}), then settle it:\n\n  inbox-exec reconcile resolve {} --as completed [--url URL]\n  inbox-exec reconcile resolve {} --as failed --note \"what you found\"\n\nThis alert is sent once per draft.",
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
