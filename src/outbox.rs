//! The alert outbox's delivery phase: the alerts waiting in the registry are sent at the end of
//! a cycle, oldest first, within one overall deadline, and each try is recorded so a later run
//! retries what failed, with backoff.
//!
//! The deadline is real: lettre's timeout bounds each read, not a send, and a server that
//! trickles a `220-` line every few seconds would hold a send for ever. So the sends run on a
//! helper thread that reports each result over a channel; the cycle stops waiting at the
//! deadline and goes on to exit, and what was not confirmed sent stays in the outbox.

use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use crate::notify::{
    BODY_MAX_BYTES, Mail, Mailer, SUBJECT_MAX_CHARS, SendError, bounded, one_line,
};
use crate::registry::{self, Registry, RegistryError, Transaction};

/// The first retry of a failed alert comes this long after the failure (seconds); each
/// further failure doubles the wait.
pub const FIRST_RETRY_S: i64 = 60;
/// The longest wait between two tries (seconds): an undeliverable alert is tried at least
/// this often, so it goes out soon after the mail server is back.
pub const MAX_RETRY_S: i64 = 3600;
/// At most this many alerts are taken per cycle; the rest wait for the next.
pub const BATCH: usize = 100;

/// When an alert that has now failed `tries` times (1 or more) is next tried, in seconds
/// after the failure: exponential, capped at [`MAX_RETRY_S`].
pub fn retry_delay(tries: i64) -> i64 {
    let doublings = u32::try_from(tries.saturating_sub(1).clamp(0, 32)).unwrap_or(32);
    FIRST_RETRY_S
        .saturating_mul(1_i64 << doublings)
        .min(MAX_RETRY_S)
}

/// Puts `mail` in the outbox, due at once, inside `tx`: the transaction that records the
/// outcome the alert reports, so neither is kept without the other.
pub fn enqueue(tx: &mut dyn Transaction, mail: &Mail, now: i64) -> Result<(), RegistryError> {
    tx.enqueue_alert(&mail.subject, &mail.body, mail.draft_id.as_deref(), now)
        .map(|_| ())
}

/// The delivery phase of a run: sends the alerts that are due, oldest first, within
/// `deadline`, and records each try. It never fails the cycle: a registry that cannot be read
/// or written here is logged, and the alerts stay for the next run.
pub fn deliver_due(
    registry: &mut dyn Registry,
    mailer: Option<&Mailer>,
    deadline: Duration,
    clock: &dyn Fn() -> i64,
) {
    let due = match registry.alerts_due(clock(), BATCH) {
        Ok(due) => due,
        Err(e) => {
            log::error!("cannot read the alert outbox ({e}); alerts wait for the next run");
            return;
        }
    };
    if due.is_empty() {
        return;
    }
    // Bounded again on the way out: the row may have been written by anyone who can write
    // the registry.
    let waiting: Vec<Waiting> = due
        .into_iter()
        .map(|a| Waiting {
            id: a.id,
            alert: Mail {
                subject: one_line(&a.subject, SUBJECT_MAX_CHARS),
                body: bounded(&a.body, BODY_MAX_BYTES),
                draft_id: a.draft_id,
            },
            tries: a.tries,
        })
        .collect();
    let tried = deliver(mailer, &waiting, deadline);
    if tried.is_empty() {
        return;
    }
    let now = clock();
    let recorded = registry::write(registry, |w| {
        for ((id, result), alert) in tried.iter().zip(&waiting) {
            debug_assert_eq!(*id, alert.id, "results come in the order of the alerts");
            match result {
                Tried::Delivered => w.alert_delivered(*id, now)?,
                Tried::Failed(error) => {
                    let tries = alert.tries.saturating_add(1).max(1);
                    w.alert_failed(
                        *id,
                        tries,
                        &crate::dispatch::child::tail(error, 500),
                        now,
                        now.saturating_add(retry_delay(tries)),
                    )?;
                }
            }
        }
        Ok(())
    });
    if let Err(e) = recorded {
        // The sent ones will be sent again by the next run: a duplicate beats a loss.
        log::error!("cannot record which alerts were sent ({e}); the next run tries them again");
    }
}

/// An alert waiting in the outbox.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// Its row.
    pub id: i64,
    /// The alert.
    pub alert: Mail,
    /// Failed tries so far.
    pub tries: i64,
}

/// What became of one waiting alert in this phase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tried {
    /// The server (or sendmail, or the log) took it.
    Delivered,
    /// It failed; tried again after the backoff.
    Failed(String),
}

/// Delivers `waiting`, oldest first, stopping at `deadline` after the call. Returns what
/// became of each alert that was tried; alerts left out were not tried (the deadline passed,
/// or the server could not be reached) and stay due.
///
/// With no mailer, delivering an alert means logging it as a warning; one the log could not
/// take whole (stderr closed, or full past the logger's patience), or would not take at all
/// (`-q`), failed, and is tried again.
pub fn deliver(
    mailer: Option<&Mailer>,
    waiting: &[Waiting],
    deadline: Duration,
) -> Vec<(i64, Tried)> {
    let Some(mailer) = mailer else {
        return waiting
            .iter()
            .map(|w| {
                if log::max_level() < log::LevelFilter::Warn {
                    // `-q`: warnings are not logged, so neither would this alert be.
                    return (
                        w.id,
                        Tried::Failed(
                            "warnings are not logged (-q) and [notify] is not set".to_owned(),
                        ),
                    );
                }
                let dropped = crate::logging::dropped();
                log::warn!("{}\n{}", w.alert.subject, w.alert.body);
                let tried = if crate::logging::dropped() == dropped {
                    Tried::Delivered
                } else {
                    Tried::Failed(
                        "the log did not take it whole (stderr closed, or full)".to_owned(),
                    )
                };
                (w.id, tried)
            })
            .collect();
    };
    if waiting.is_empty() {
        return Vec::new();
    }
    let end = Instant::now() + deadline;
    let (tx, rx) = mpsc::channel::<Result<(), SendError>>();
    let alerts: Vec<Mail> = waiting.iter().map(|w| w.alert.clone()).collect();
    let helper = mailer.clone();
    // Detached on purpose: a send stuck past the deadline is abandoned, and the thread ends
    // with the process.
    let spawned = thread::Builder::new()
        .name("alert-mail".into())
        .spawn(move || {
            for alert in &alerts {
                let left = end.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                let result = helper.send(alert, helper.timeout().min(left));
                let unreachable = matches!(&result, Err(e) if e.unreachable);
                if tx.send(result).is_err() || unreachable {
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the alert mail thread ({e}); alerts stay in the outbox");
        return Vec::new();
    }

    let mut tried = Vec::new();
    let mut stopped: Option<String> = None;
    // The helper reports in order, so the next result is always for the first alert not yet
    // tried.
    while let Some(w) = waiting.get(tried.len()) {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(Ok(())) => {
                log::info!("alert sent: {}", w.alert.subject);
                tried.push((w.id, Tried::Delivered));
            }
            Ok(Err(e)) => {
                log::error!("cannot send alert {:?}: {e}", w.alert.subject);
                log::warn!("{}\n{}", w.alert.subject, w.alert.body);
                tried.push((w.id, Tried::Failed(e.message.clone())));
                if e.unreachable {
                    stopped = Some(e.message);
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                // The alert in flight is not confirmed: it counts as a failed try, so a server
                // that holds every send is not tried again by the very next run.
                let why = format!(
                    "not confirmed sent within the delivery deadline ([notify] deadline = {})",
                    humantime::format_duration(deadline)
                );
                log::error!("cannot send alert {:?}: {why}", w.alert.subject);
                log::warn!("{}\n{}", w.alert.subject, w.alert.body);
                tried.push((w.id, Tried::Failed(why.clone())));
                stopped = Some(why);
                break;
            }
            // The helper ended early: the deadline passed between two sends.
            Err(RecvTimeoutError::Disconnected) => {
                stopped = Some("the delivery deadline passed".into());
                break;
            }
        }
    }
    if let Some(why) = stopped {
        for w in &waiting[tried.len()..] {
            log::warn!(
                "not sent ({why}), left in the outbox: {}\n{}",
                w.alert.subject,
                w.alert.body
            );
        }
    }
    tried
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_delay_doubles_up_to_its_cap_and_never_overflows() {
        assert_eq!(retry_delay(1), FIRST_RETRY_S);
        assert_eq!(retry_delay(2), 2 * FIRST_RETRY_S);
        assert_eq!(retry_delay(3), 4 * FIRST_RETRY_S);
        assert_eq!(retry_delay(7), MAX_RETRY_S);
        assert_eq!(retry_delay(i64::MAX), MAX_RETRY_S);
        assert_eq!(retry_delay(0), FIRST_RETRY_S);
        assert_eq!(retry_delay(-5), FIRST_RETRY_S);
    }

    #[test]
    fn without_a_mailer_every_alert_is_delivered_to_the_log() {
        // As `run` without `-q` sets it (no logger is installed here: the line goes nowhere,
        // and nothing counts it as dropped).
        log::set_max_level(log::LevelFilter::Warn);
        let alert = crate::alerts::Alert {
            what: "x".into(),
            body: "y".into(),
        };
        let waiting = vec![Waiting {
            id: 7,
            alert: Mail::new(&alert),
            tries: 0,
        }];
        assert_eq!(
            deliver(None, &waiting, Duration::from_secs(1)),
            [(7, Tried::Delivered)]
        );
    }
}
