//! Exit codes. The man page's EXIT STATUS section is built from [`CODES`].

/// The command did what it was asked (a run that was idle, paused or skipped included).
pub const SUCCESS: u8 = 0;
/// An operational error: a file, the registry, a key or the configuration. The message says
/// which and what to do.
pub const FAILURE: u8 = 1;
/// A usage error: unknown option, bad value.
pub const USAGE: u8 = 2;
/// `verify`: at least one draft did not verify.
pub const VERIFY_FAILED: u8 = 3;

/// `status --check`: the last run failed, is missing, or is older than `stuck_after`.
pub const LAST_RUN_FAILED: u8 = 4;
/// `status --check`: drafts are stuck in `executing`.
pub const STUCK: u8 = 5;
/// `status --check`: the thermal cutout is paused.
pub const PAUSED: u8 = 6;
/// `status --check`: an alert has waited in the outbox, undelivered, for longer than
/// `[notify] undelivered_after`.
pub const ALERTS_UNDELIVERED: u8 = 7;

/// Every code with its meaning, for the man page and `--help`.
pub const CODES: &[(u8, &str)] = &[
    (
        SUCCESS,
        "Success. A run that was idle, paused or skipped (lock held) succeeded too.",
    ),
    (
        FAILURE,
        "Operational error: the message names the file, draft or setting and what to do.",
    ),
    (USAGE, "Usage error: an unknown option or a bad value."),
    (VERIFY_FAILED, "verify: at least one draft did not verify."),
    (
        LAST_RUN_FAILED,
        "status --check: the last run failed, is missing, or is older than stuck_after.",
    ),
    (STUCK, "status --check: drafts are stuck in executing."),
    (PAUSED, "status --check: the thermal cutout is paused."),
    (
        ALERTS_UNDELIVERED,
        "status --check: an alert has not been delivered for longer than [notify] undelivered_after.",
    ),
];

/// `status --plugin`: the monitoring-plugins convention (Nagios, Icinga, Naemon, Sensu),
/// where 1 and 2 are states of the thing watched, not errors of the program.
pub const PLUGIN_CODES: &[(u8, &str)] = &[
    (0, "OK: nothing needs a human."),
    (
        1,
        "WARNING: the thermal cutout is paused, or an alert has waited undelivered for longer than [notify] undelivered_after.",
    ),
    (
        2,
        "CRITICAL: the last run failed, is missing or is older than stuck_after, or drafts are stuck in executing.",
    ),
    (
        3,
        "UNKNOWN: the status could not be read (configuration, registry).",
    ),
];

/// How a command ended, when it did not fail outright.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// The output is worth printing, but the command failed (`run` whose summary could not
    /// be written).
    Failed,
    /// `verify` found a draft that does not verify.
    VerifyFailed,
    /// `status --check` found the last run failed, missing or stale.
    LastRunFailed,
    /// `status --check` found stuck drafts.
    Stuck,
    /// `status --check` found the cutout paused.
    Paused,
    /// `status --check` found an alert undeliverable for too long.
    AlertsUndelivered,
    /// `status --plugin`: WARNING.
    PluginWarning,
    /// `status --plugin`: CRITICAL.
    PluginCritical,
    /// `status --plugin`: UNKNOWN.
    PluginUnknown,
}

impl Outcome {
    /// The process exit code for this outcome.
    pub fn code(self) -> u8 {
        match self {
            Outcome::Done => SUCCESS,
            Outcome::Failed => FAILURE,
            Outcome::VerifyFailed => VERIFY_FAILED,
            Outcome::LastRunFailed => LAST_RUN_FAILED,
            Outcome::Stuck => STUCK,
            Outcome::Paused => PAUSED,
            Outcome::AlertsUndelivered => ALERTS_UNDELIVERED,
            Outcome::PluginWarning => 1,
            Outcome::PluginCritical => 2,
            Outcome::PluginUnknown => 3,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_documented() {
        let mut seen: Vec<u8> = CODES.iter().map(|(c, _)| *c).collect();
        seen.dedup();
        assert_eq!(seen.len(), CODES.len());
        for outcome in [
            Outcome::Done,
            Outcome::Failed,
            Outcome::VerifyFailed,
            Outcome::LastRunFailed,
            Outcome::Stuck,
            Outcome::Paused,
            Outcome::AlertsUndelivered,
        ] {
            assert!(CODES.iter().any(|(c, _)| *c == outcome.code()));
        }
        for outcome in [
            Outcome::Done,
            Outcome::PluginWarning,
            Outcome::PluginCritical,
            Outcome::PluginUnknown,
        ] {
            assert!(PLUGIN_CODES.iter().any(|(c, _)| *c == outcome.code()));
        }
    }
}
