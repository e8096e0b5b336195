//! Drafts stuck in `executing`: a run died (or still runs) between claiming a draft and
//! recording its outcome. `reconcile` lists them, `status` counts them, `run` alerts once.

use serde::Serialize;

use crate::process::{claim_liveness, this_process};
use crate::registry::Executing;

/// One stuck draft, as listed.
#[derive(Debug, Serialize)]
pub struct StuckDraft {
    /// The draft.
    pub draft_id: String,
    /// Its kind.
    pub kind: String,
    /// Its target, on one line.
    pub target: String,
    /// When it was claimed (Unix seconds).
    pub claimed_at: i64,
    /// Seconds since then.
    pub age_s: i64,
    /// How many attempts it has.
    pub attempts: i64,
    /// The last attempt's kind and outcome.
    pub last_attempt: Option<String>,
    /// `running`, `dead` or `unknown`: whether the claiming process is alive.
    pub claimer: &'static str,
    /// The claiming process, `pid@host`, when recorded.
    pub claimed_by: Option<String>,
}

/// Lists executing drafts, with whether their claimer still runs.
pub fn stuck(rows: Vec<Executing>, now: i64) -> Vec<StuckDraft> {
    let me = this_process();
    rows.into_iter()
        .map(|row| {
            let alive = claim_liveness(row.session_alive, row.claimer.as_ref(), &me);
            StuckDraft {
                draft_id: row.id,
                kind: row.kind,
                target: one_line(&row.target, 60),
                claimed_at: row.claimed_at,
                age_s: now.saturating_sub(row.claimed_at),
                attempts: row.attempts,
                last_attempt: row.last_attempt,
                claimer: alive.word(),
                claimed_by: row.claimer.map(|c| format!("{}@{}", c.pid, c.host)),
            }
        })
        .collect()
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &flat[..cut]),
        None => flat,
    }
}
