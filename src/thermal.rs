//! The thermal cutout: pause execution when the last window holds more actions than allowed.
//!
//! The window's logic is pure; time is passed in. Its files are the sidecar and the claims
//! log ([`ClaimsLog`]), each read and written in one place. The sidecar is the executor's own
//! record: every action it claimed, and every action it has seen recorded in the registry.
//! Each load merges the registry's record into it (a union, one entry per draft), never the
//! other way round, so whoever can write the registry can add actions to the window (another
//! state directory's, the reference executor's) and never remove one: the cutout exists to
//! stop a runaway drafting side, which is exactly who writes the registry.
//!
//! Times from the future (left by a clock that was ahead) are clamped to now, so no pause
//! outlasts the cooldown from now, and each future-dated registry row counts once.
//!
//! Within a cycle, each claim (with what the cycle learnt from the registry) is appended to
//! the claims log before its handler starts; the sidecar, saved once at the end of the
//! cycle, takes the log in.

use std::collections::{BTreeMap, HashSet};
use std::fs::OpenOptions;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::ThermalConfig;
use crate::fsutil::{self, Links};
use crate::registry::{RecordedAction, Registry};
use crate::statefile::{self, Contents};

/// The sidecar's file name inside the state directory.
pub const THERMAL_FILE: &str = "thermal.json";

/// The claims log's file name, beside the sidecar.
pub const CLAIMS_FILE: &str = "thermal-claims.jsonl";

/// One counted action.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Action {
    /// Unix seconds: when the draft was claimed (or its action recorded).
    pub at: i64,
    /// The draft: what the registry's record is matched on. Absent only for entries carried
    /// over from a sidecar written before the record kept it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_id: Option<String>,
    /// The attempt recording it (for a claim of ours, its `verify ok` attempt).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt_id: Option<i64>,
}

/// A set of the window's entries (or their draft ids), looked up for each of them at every
/// load and every claim: foldhash, seeded per process, instead of std's SipHash, which was a
/// tenth of a 10-draft run's instructions at a window of 250 entries (BENCHMARKS.md).
type FastSet<T> = HashSet<T, foldhash::fast::RandomState>;

/// The window and the pause, as saved in the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thermal {
    /// Actions still in the window, oldest first.
    pub actions: Vec<Action>,
    /// Paused while now is before this.
    pub paused_until: i64,
    /// The newest future-dated registry attempt already counted: each counts once, at the
    /// time it was first seen, instead of at every load until the clock reaches it.
    #[serde(default)]
    pub future_counted_through: i64,
}

/// The sidecar as written before it kept draft ids: its times still count (they cannot be
/// matched to the registry's rows, so they may count twice for one window: never less).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Legacy {
    recent_action_times: Vec<i64>,
    paused_until: i64,
    // Accepted and unused: the union needs no high-water mark.
    #[serde(rename = "high_water")]
    _high_water: i64,
}

/// What a load changed because times were in the future; all zero when the clock is sane.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Clamped {
    /// Own entries dated after now, moved to now.
    pub own: usize,
    /// The pause, when it ended more than `cooldown` from now.
    pub pause_was: Option<i64>,
    /// Future-dated registry rows counted (once) as of now.
    pub registry: usize,
}

impl Clamped {
    /// Whether anything was dated in the future.
    pub fn any(&self) -> bool {
        *self != Clamped::default()
    }
}

/// The window as [`Thermal::load`] found it.
#[derive(Debug)]
pub struct Loaded {
    /// The executor's record merged with the registry's.
    pub thermal: Thermal,
    /// Why a sidecar that existed could not be used (the window was rebuilt from the
    /// registry alone): worth an alert.
    pub unusable: Option<String>,
    /// Why a claims log that existed could not be used (its claims count only as the
    /// registry records them): worth an alert too.
    pub log_unusable: Option<String>,
    /// What had to be brought back from the future: worth an alert.
    pub clamped: Clamped,
    /// The sidecar's bytes as read, when it was usable: [`Thermal::save`] leaves a sidecar
    /// that already holds what it would write alone.
    pub on_disk: Option<Vec<u8>>,
}

/// The window as saved, as [`read_saved`] found it.
enum Saved {
    /// No sidecar.
    Missing,
    /// The window, and the sidecar's bytes when it is what they came from.
    Usable(Thermal, Option<Vec<u8>>),
    /// Neither the sidecar nor its spare holds a window: why the sidecar does not.
    Unusable(String),
}

/// The window saved at `path`. A sidecar that is unusable leaves the copy saved before it,
/// at the spare's name ([`statefile::write_with_spare`]), which is used then: a power loss
/// while a save writes into the spare, before the previous save's swap of the two names
/// reached the disk, leaves the name on the half-written file and the whole one at the
/// spare's. The window then lacks at most the last run's claims, which the registry's
/// durable record and the claims log still count.
fn read_saved(path: &Path) -> Saved {
    let why = match parse_saved(path) {
        Ok(Some((thermal, bytes))) => return Saved::Usable(thermal, Some(bytes)),
        Ok(None) => return Saved::Missing,
        Err(why) => why,
    };
    let spare = statefile::spare_of(path);
    match parse_saved(&spare) {
        Ok(Some((thermal, _))) => {
            log::warn!(
                "thermal sidecar {} is unusable: {why}; used the copy saved before it ({})",
                path.display(),
                spare.display()
            );
            Saved::Usable(thermal, None)
        }
        _ => Saved::Unusable(why),
    }
}

/// The window in the file at `path`: `Ok(None)` when there is none, `Err` saying why it is
/// unusable.
fn parse_saved(path: &Path) -> Result<Option<(Thermal, Vec<u8>)>, String> {
    match statefile::read(path) {
        Contents::Missing => Ok(None),
        Contents::Unusable(why) => Err(why),
        Contents::Bytes(bytes) => match Thermal::from_json(&bytes) {
            Ok(thermal) => Ok(Some((thermal, bytes))),
            Err(e) => Err(format!("it does not parse ({e})")),
        },
    }
}

/// The window's entries since the sidecar was last saved: one JSON line each ([`CLAIMS_FILE`],
/// beside the sidecar), appended before each claim's handler starts (the claim, and what the
/// cycle learnt from the registry), so a run killed mid-dispatch leaves them where no
/// registry writer can erase them. A line needs no new file and no rename: replacing the
/// sidecar before each dispatch instead made every claim's fsync also write the new
/// sidecar's blocks (a replacing rename on ext4 allocates them), about 1 ms a claim
/// (BENCHMARKS.md). Like that copy, a line survives this process dying,
/// not necessarily a power loss (the registry's durable claim stands in for it then); the
/// sidecar saved at the end of the cycle, fsynced, takes the lines in, and the log goes.
#[derive(Debug)]
pub struct ClaimsLog {
    path: PathBuf,
    /// Whether the file may exist: found by [`ClaimsLog::read`] or written to.
    present: bool,
    /// Whether this process has claimed anything (logged or not).
    claimed: bool,
    /// The window's entries already on disk, in the sidecar or in this log.
    saved: FastSet<Action>,
}

impl ClaimsLog {
    /// The log beside `sidecar`.
    pub fn beside(sidecar: &Path) -> ClaimsLog {
        ClaimsLog {
            path: sidecar.with_file_name(CLAIMS_FILE),
            present: false,
            claimed: false,
            saved: HashSet::default(),
        }
    }

    /// Whether this process claimed a draft: its window then has to be saved even when the
    /// cycle fails, as a successful cycle saves it.
    pub fn claimed(&self) -> bool {
        self.claimed
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The entries in the log. A line that does not parse (one torn by a power loss) is
    /// skipped with a warning; a log that cannot be ours (a symlink, a FIFO, oversized) is an
    /// `Err` saying why, and is removed once the cycle has saved the sidecar (a directory
    /// cannot be, and is warned about at every run).
    pub fn read(&mut self) -> Result<Vec<Action>, String> {
        let bytes = match statefile::read(&self.path) {
            Contents::Missing => return Ok(Vec::new()),
            Contents::Unusable(why) => {
                self.present = true;
                return Err(why);
            }
            Contents::Bytes(bytes) => bytes,
        };
        self.present = true;
        let mut torn = 0;
        let actions = bytes
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .filter_map(|line| {
                serde_json::from_slice::<Action>(line)
                    .inspect_err(|_| torn += 1)
                    .ok()
            })
            .collect();
        if torn > 0 {
            log::warn!(
                "thermal claims log {}: {torn} line(s) that do not parse were skipped",
                self.path.display()
            );
        }
        Ok(actions)
    }

    /// Before a claim's handler starts: appends every entry of `window` not on disk yet (the
    /// claim, and what this cycle learnt from the registry), one line each, so the window on
    /// disk is the window in hand. Each line starts a line of its own, so one torn by a power
    /// loss never swallows the next. A log that cannot be written is logged, not an error:
    /// the registry's durable claim still counts it.
    pub fn append_unsaved(&mut self, window: &Thermal) {
        self.claimed = true;
        let fresh: Vec<&Action> = window
            .actions
            .iter()
            .filter(|a| !self.saved.contains(*a))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let mut lines = Vec::new();
        for action in &fresh {
            lines.push(b'\n');
            lines.extend(serde_json::to_vec(action).expect("plain data serializes"));
        }
        lines.push(b'\n');
        match self.write_lines(&lines) {
            Ok(()) => self.saved.extend(fresh.into_iter().cloned()),
            Err(e) => log::warn!(
                "cannot append to the thermal claims log {}: {e}",
                self.path.display()
            ),
        }
    }

    /// Notes entries that are on disk already (the sidecar's and the log's, as loaded).
    fn note_saved<'a>(&mut self, actions: impl IntoIterator<Item = &'a Action>) {
        self.saved.extend(actions.into_iter().cloned());
    }

    fn write_lines(&mut self, lines: &[u8]) -> io::Result<()> {
        let (mut file, meta) = fsutil::open_with(
            &self.path,
            Links::Refuse,
            OpenOptions::new().append(true).create(true).mode(0o600),
        )
        .map_err(|e| io::Error::other(e.to_string()))?;
        self.present = true;
        file.write_all(lines).inspect_err(|_| {
            // Lines that did not fit (a full disk) is taken back, and a log this call
            // created goes again: nothing half-written is left behind.
            let _ = file.set_len(meta.len());
            if meta.len() == 0 && std::fs::remove_file(&self.path).is_ok() {
                self.present = false;
            }
        })
    }

    /// Removes the log, once the sidecar holds every claim in it.
    pub fn clear(&mut self) {
        if !self.present {
            return;
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => self.present = false,
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.present = false,
            Err(e) => log::warn!(
                "cannot remove the thermal claims log {}: {e}",
                self.path.display()
            ),
        }
    }
}

fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Thermal {
    /// Whether execution is paused at `now`.
    pub fn is_paused(&self, now: i64) -> bool {
        now < self.paused_until
    }

    /// Counts one action at `now`; true when this action trips the cutout (the window now
    /// holds more than `max_actions`). The action that trips has already been claimed, so it
    /// runs: a window holds at most `max_actions + 1` before the first pause.
    pub fn record(&mut self, action: Action, now: i64, cfg: &ThermalConfig) -> bool {
        self.actions.push(action);
        self.prune(now, cfg);
        if self.in_window(now, cfg) > cfg.max_actions as usize {
            let was_paused = self.is_paused(now);
            self.paused_until = self
                .paused_until
                .max(now.saturating_add(seconds(cfg.cooldown)));
            return !was_paused;
        }
        false
    }

    /// How many actions fall in the window ending at `now`.
    pub fn in_window(&self, now: i64, cfg: &ThermalConfig) -> usize {
        let cutoff = now.saturating_sub(seconds(cfg.window));
        self.actions.iter().filter(|a| a.at >= cutoff).count()
    }

    /// Drops actions older than the window (the pause they caused is kept in
    /// `paused_until`).
    pub fn prune(&mut self, now: i64, cfg: &ThermalConfig) {
        let cutoff = now.saturating_sub(seconds(cfg.window));
        self.actions.retain(|a| a.at >= cutoff);
    }

    /// How far back the registry's record is read: a trip that still pauses now happened
    /// within the cooldown, and it counted actions a window before that.
    pub fn horizon(now: i64, cfg: &ThermalConfig) -> i64 {
        now.saturating_sub(seconds(cfg.window))
            .saturating_sub(seconds(cfg.cooldown))
    }

    /// The pause as `now` sees it: never more than `cooldown` away.
    pub fn clamped_pause(&self, now: i64, cfg: &ThermalConfig) -> i64 {
        self.paused_until
            .min(now.saturating_add(seconds(cfg.cooldown)))
    }

    /// Merges the registry's record (rows since [`Thermal::horizon`]) into this one: entries
    /// for drafts not yet known are added, nothing is removed. Then times from the future are
    /// clamped to now, a pause the merged window implies is found again by replaying it, and
    /// entries older than the window are dropped.
    pub fn merge(&mut self, recorded: &[RecordedAction], now: i64, cfg: &ThermalConfig) -> Clamped {
        let mut clamped = Clamped::default();
        for a in &mut self.actions {
            if a.at > now {
                a.at = now;
                clamped.own += 1;
            }
        }
        let longest = now.saturating_add(seconds(cfg.cooldown));
        if self.paused_until > longest {
            clamped.pause_was = Some(self.paused_until);
            self.paused_until = longest;
        }

        // One entry per draft (a claim of ours also has its `execute` attempt): the earliest.
        let mut by_draft: BTreeMap<&str, &RecordedAction> = BTreeMap::new();
        for r in recorded {
            by_draft
                .entry(r.draft_id.as_str())
                .and_modify(|e| {
                    if (r.at, r.attempt_id) < (e.at, e.attempt_id) {
                        *e = r;
                    }
                })
                .or_insert(r);
        }
        let known: FastSet<&str> = self
            .actions
            .iter()
            .filter_map(|a| a.draft_id.as_deref())
            .collect();
        let mut future_through = self.future_counted_through;
        let mut fresh = Vec::new();
        for (draft, r) in by_draft {
            if known.contains(draft) {
                continue;
            }
            let at = if r.at > now {
                if r.attempt_id <= self.future_counted_through {
                    continue;
                }
                future_through = future_through.max(r.attempt_id);
                clamped.registry += 1;
                now
            } else {
                r.at
            };
            fresh.push(Action {
                at,
                draft_id: Some(draft.to_owned()),
                attempt_id: Some(r.attempt_id),
            });
        }
        self.actions.extend(fresh);
        self.future_counted_through = future_through;

        self.actions.sort_by_key(|a| (a.at, a.attempt_id));
        self.paused_until = self.paused_until.max(replay(&self.actions, cfg));
        self.prune(now, cfg);
        clamped
    }

    /// Adds the claims log's entries, each unless the window holds it already: the same
    /// attempt of the same draft (a log that outlived the save which took it in, its time
    /// perhaps brought back from the future since), or, without an attempt, the very same
    /// entry. Never by draft alone: an older entry for the same draft (a draft moved back to
    /// approved by a registry writer, and claimed again under a new attempt) must not hide a
    /// newer claim.
    fn add_own(&mut self, claims: Vec<Action>) {
        let key = |a: &Action| match a.attempt_id {
            Some(attempt) => (a.draft_id.clone(), Some(attempt), None),
            None => (a.draft_id.clone(), None, Some(a.at)),
        };
        let known: HashSet<_> = self.actions.iter().map(key).collect();
        self.actions
            .extend(claims.into_iter().filter(|a| !known.contains(&key(a))));
        self.actions.sort_by_key(|a| (a.at, a.attempt_id));
    }

    /// The sidecar at `path` and the entries in `log`, merged with the registry's record of
    /// actions since [`Thermal::horizon`]; without the sidecar's when it is missing or
    /// unusable, without the log's when it is.
    pub fn load(
        registry: &mut dyn Registry,
        path: &Path,
        log: &mut ClaimsLog,
        now: i64,
        cfg: &ThermalConfig,
    ) -> anyhow::Result<Loaded> {
        let (mut thermal, unusable, on_disk) = match read_saved(path) {
            Saved::Missing => (Thermal::default(), None, None),
            Saved::Usable(t, bytes) => (t, None, bytes),
            Saved::Unusable(why) => (Thermal::default(), Some(why), None),
        };
        let (claims, log_unusable) = own_claims(log);
        thermal.add_own(claims);
        log.note_saved(&thermal.actions);
        let recorded = registry
            .actions_since(Thermal::horizon(now, cfg))
            .context("reading recent actions")?;
        let clamped = thermal.merge(&recorded, now, cfg);
        if let Some(why) = &unusable {
            log::warn!(
                "thermal sidecar {} is unusable: {why}; rebuilt the window from the registry",
                path.display()
            );
        }
        Ok(Loaded {
            thermal,
            unusable,
            log_unusable,
            clamped,
            on_disk,
        })
    }

    /// Saves the window at `path`, atomically and durably, unless the sidecar already holds
    /// exactly these bytes (`on_disk`, as [`Thermal::load`] read them): an idle or paused
    /// cycle changes nothing, and rewriting the same bytes would cost every such cycle an
    /// fsync. A cycle that claimed anything always writes: the claim is in the window. A
    /// sidecar that cannot be written is logged, not an error: the claims log, or the
    /// registry's record, stands in for it. True when the sidecar holds the window.
    pub fn save(&self, path: &Path, on_disk: Option<&[u8]>) -> bool {
        let bytes = self.to_json();
        if on_disk == Some(bytes.as_slice()) {
            return true;
        }
        match statefile::write_with_spare(path, &bytes) {
            Ok(()) => true,
            Err(e) => {
                log::warn!("cannot save the thermal sidecar {}: {e}", path.display());
                false
            }
        }
    }

    /// The window as `status` shows it: what was last saved and the claims logged since,
    /// with the pause they imply; nothing of the registry's merged (empty when missing or
    /// unusable, with a warning for the latter: the next run rebuilds it).
    pub fn peek(path: &Path, cfg: &ThermalConfig) -> Thermal {
        // The log first: a run saves the sidecar before it removes the log, so a claim is in
        // one or the other whenever each is read.
        let (claims, _) = own_claims(&mut ClaimsLog::beside(path));
        let mut thermal = match read_saved(path) {
            Saved::Usable(thermal, _) => thermal,
            Saved::Unusable(why) => {
                log::warn!("thermal sidecar {} is unusable: {why}", path.display());
                Thermal::default()
            }
            Saved::Missing => Thermal::default(),
        };
        if !claims.is_empty() {
            thermal.add_own(claims);
            thermal.paused_until = thermal.paused_until.max(replay(&thermal.actions, cfg));
        }
        thermal
    }

    /// Parses a sidecar, in this format or the one before it.
    pub fn from_json(bytes: &[u8]) -> Result<Thermal, String> {
        match serde_json::from_slice::<Thermal>(bytes) {
            Ok(t) => Ok(t),
            Err(e) => match serde_json::from_slice::<Legacy>(bytes) {
                Ok(old) => Ok(Thermal {
                    actions: old
                        .recent_action_times
                        .into_iter()
                        .map(|at| Action {
                            at,
                            draft_id: None,
                            attempt_id: None,
                        })
                        .collect(),
                    paused_until: old.paused_until,
                    future_counted_through: 0,
                }),
                Err(_) => Err(e.to_string()),
            },
        }
    }

    /// The sidecar's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("plain data serializes");
        v.push(b'\n');
        v
    }
}

/// The entries in `log`; none, with a warning and the reason, when it is unusable.
fn own_claims(log: &mut ClaimsLog) -> (Vec<Action>, Option<String>) {
    match log.read() {
        Ok(claims) => (claims, None),
        Err(why) => {
            log::warn!(
                "thermal claims log {} is unusable: {why}; its entries count only as the registry records them",
                log.path().display()
            );
            (Vec::new(), Some(why))
        }
    }
}

/// The end of the last pause that `actions` (sorted by time) would have caused, counted one
/// by one as [`Thermal::record`] counts them; 0 when none.
fn replay(actions: &[Action], cfg: &ThermalConfig) -> i64 {
    let window = seconds(cfg.window);
    let mut until = 0;
    let mut first = 0;
    for (i, a) in actions.iter().enumerate() {
        let cutoff = a.at.saturating_sub(window);
        while actions[first].at < cutoff {
            first += 1;
        }
        if i + 1 - first > cfg.max_actions as usize {
            until = a.at.saturating_add(seconds(cfg.cooldown));
        }
    }
    until
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg() -> ThermalConfig {
        ThermalConfig {
            max_actions: 10,
            window: Duration::from_secs(900),
            cooldown: Duration::from_secs(300),
        }
    }

    fn action(at: i64, draft: &str) -> Action {
        Action {
            at,
            draft_id: Some(draft.to_owned()),
            attempt_id: None,
        }
    }

    fn rows(times: impl IntoIterator<Item = i64>) -> Vec<RecordedAction> {
        times
            .into_iter()
            .enumerate()
            .map(|(i, at)| RecordedAction {
                attempt_id: i64::try_from(i).expect("small") + 1,
                draft_id: format!("d{i}"),
                at,
            })
            .collect()
    }

    #[test]
    fn the_eleventh_action_in_the_window_trips_once() {
        let mut t = Thermal::default();
        for i in 0..10 {
            let now = 1000 + i;
            assert!(
                !t.record(action(now, &format!("d{i}")), now, &cfg()),
                "action {i} must not trip"
            );
        }
        assert!(!t.is_paused(1010));
        assert!(t.record(action(1010, "d10"), 1010, &cfg()));
        assert!(t.is_paused(1010));
        assert_eq!(t.paused_until, 1310);
        assert!(
            !t.record(action(1011, "d11"), 1011, &cfg()),
            "a trip alerts once"
        );
        assert!(!t.is_paused(1311));
    }

    #[test]
    fn actions_older_than_the_window_do_not_count() {
        let mut t = Thermal::default();
        for i in 0..10 {
            t.record(action(i, &format!("d{i}")), i, &cfg());
        }
        assert!(!t.record(action(2000, "late"), 2000, &cfg()));
        assert_eq!(t.actions, vec![action(2000, "late")]);
    }

    #[test]
    fn a_merge_finds_a_pause_still_in_force_and_forgets_an_old_one() {
        let mut t = Thermal::default();
        assert_eq!(t.merge(&rows(1000..1011), 1100, &cfg()), Clamped::default());
        assert!(t.is_paused(1100));
        assert_eq!(t.paused_until, 1310);
        assert_eq!(t.actions.len(), 11);
        let mut later = Thermal::default();
        later.merge(&rows(1000..1011), 5000, &cfg());
        assert!(!later.is_paused(5000));
        assert!(later.actions.is_empty());
    }

    #[test]
    fn the_registry_adds_to_the_record_and_never_removes_from_it() {
        let mut t = Thermal::default();
        for i in 0..6 {
            t.record(action(1000 + i, &format!("own{i}")), 1000 + i, &cfg());
        }
        // The registry has forgotten all of ours and knows five others: eleven in all.
        let others: Vec<RecordedAction> = (0..5)
            .map(|i| RecordedAction {
                attempt_id: 100 + i,
                draft_id: format!("other{i}"),
                at: 1010 + i,
            })
            .collect();
        t.merge(&others, 1020, &cfg());
        assert_eq!(t.in_window(1020, &cfg()), 11);
        assert!(t.is_paused(1020), "eleven in the window trip");
        // Ours back-dated in the registry: matched by draft, our time stands.
        let backdated = vec![RecordedAction {
            attempt_id: 1,
            draft_id: "own0".into(),
            at: 0,
        }];
        t.merge(&backdated, 1021, &cfg());
        assert_eq!(t.in_window(1021, &cfg()), 11);
    }

    #[test]
    fn a_replay_finds_the_pause_that_recording_one_by_one_trips() {
        // An old action, then ten exactly one window before the eleventh: those ten are
        // still in its window, the old one is not.
        let times: Vec<i64> = [0]
            .into_iter()
            .chain(std::iter::repeat_n(1000, 10))
            .chain([1900])
            .collect();
        let mut one_by_one = Thermal::default();
        for (i, &at) in times.iter().enumerate() {
            one_by_one.record(action(at, &format!("d{i}")), at, &cfg());
        }
        assert_eq!(one_by_one.paused_until, 2200);
        let mut replayed = Thermal::default();
        replayed.merge(&rows(times.clone()), 1900, &cfg());
        assert_eq!(replayed.paused_until, 2200);
        // Without the eleventh, nothing trips: the old action is out of every window.
        let mut short = Thermal::default();
        short.merge(&rows(times[..11].iter().copied()), 1000, &cfg());
        assert_eq!(short.paused_until, 0);
    }

    #[test]
    fn a_registry_row_dated_now_is_not_from_the_future() {
        let mut t = Thermal::default();
        assert_eq!(t.merge(&rows([1000]), 1000, &cfg()), Clamped::default());
        assert_eq!(t.future_counted_through, 0);
        assert_eq!(t.in_window(1000, &cfg()), 1);
    }

    #[test]
    fn one_entry_per_draft() {
        let mut t = Thermal::default();
        t.record(action(1000, "a"), 1000, &cfg());
        let recorded = vec![
            RecordedAction {
                attempt_id: 7,
                draft_id: "a".into(),
                at: 1000,
            },
            RecordedAction {
                attempt_id: 8,
                draft_id: "b".into(),
                at: 1001,
            },
            RecordedAction {
                attempt_id: 9,
                draft_id: "b".into(),
                at: 1003,
            },
        ];
        t.merge(&recorded, 1005, &cfg());
        assert_eq!(
            t.actions,
            vec![
                action(1000, "a"),
                Action {
                    at: 1001,
                    draft_id: Some("b".into()),
                    attempt_id: Some(8)
                }
            ]
        );
    }

    #[test]
    fn the_future_never_pauses_longer_than_the_cooldown_and_counts_once() {
        let decade = 10 * 365 * 86_400;
        let mut t = Thermal::default();
        for i in 0..11 {
            let at = 1000 + decade + i;
            t.record(action(at, &format!("d{i}")), at, &cfg());
        }
        assert!(t.paused_until > decade);
        let clamped = t.merge(&[], 2000, &cfg());
        assert_eq!(clamped.own, 11);
        assert_eq!(clamped.pause_was, Some(1010 + decade + 300));
        assert_eq!(t.paused_until, 2300);
        assert!(!t.merge(&[], 2001, &cfg()).any(), "clamped once");

        // Lost sidecar: the registry's future rows count once, as of now.
        let future = rows((0..11).map(|i| 1000 + decade + i));
        let mut fresh = Thermal::default();
        let clamped = fresh.merge(&future, 2000, &cfg());
        assert_eq!(clamped.registry, 11);
        assert_eq!(fresh.paused_until, 2300);
        // A window later they are gone for good, not counted again.
        let clamped = fresh.merge(&future, 2000 + 901, &cfg());
        assert!(!clamped.any());
        assert!(fresh.actions.is_empty());
        assert!(!fresh.is_paused(2901));
    }

    /// SECURITY.md's bound: any window holds at most `max_actions + 1 + window / cooldown`
    /// actions, `max_actions + 1` before the first pause, however the drafts keep coming.
    #[test]
    fn no_window_ever_holds_more_than_the_documented_bound() {
        let cases: [(u32, i64, i64); 4] =
            [(10, 900, 300), (3, 900, 300), (1, 60, 7), (5, 100, 200)];
        for (max, window, cooldown) in cases {
            let cfg = ThermalConfig {
                max_actions: max,
                window: Duration::from_secs(window.cast_unsigned()),
                cooldown: Duration::from_secs(cooldown.cast_unsigned()),
            };
            let bound = max as usize + 1 + usize::try_from(window / cooldown).expect("small");
            let mut t = Thermal::default();
            let mut times = Vec::new();
            // An endless queue, and a run every second that claims until the cutout trips.
            for now in 0..10 * window {
                while !t.is_paused(now) {
                    t.record(action(now, &format!("d{}", times.len())), now, &cfg);
                    times.push(now);
                }
            }
            assert!(times[..=max as usize].iter().all(|&t| t == 0));
            assert!(
                times[max as usize + 1] >= cooldown,
                "paused after max_actions + 1"
            );
            let worst = times
                .iter()
                .map(|&s| times.iter().filter(|&&t| t >= s && t <= s + window).count())
                .max()
                .expect("actions");
            assert!(
                worst <= bound,
                "{worst} > {bound} for {max}/{window}/{cooldown}"
            );
            assert_eq!(worst, bound, "the bound is reached: it is exact");
        }
    }

    #[test]
    fn a_sidecar_from_before_draft_ids_still_counts() {
        let old =
            br#"{"recent_action_times": [1000, 1001], "paused_until": 1300, "high_water": 4}"#;
        let t = Thermal::from_json(old).expect("legacy sidecar");
        assert_eq!(t.actions.len(), 2);
        assert_eq!(t.paused_until, 1300);
        assert!(Thermal::from_json(b"{\"actions\": 3}").is_err());
        let again = Thermal::from_json(&t.to_json()).expect("round trip");
        assert_eq!(again, t);
    }

    #[test]
    fn the_claims_log_gives_back_what_was_recorded_and_skips_a_torn_line() {
        let dir = tempfile::tempdir().expect("dir");
        let sidecar = dir.path().join(THERMAL_FILE);
        let mut log = ClaimsLog::beside(&sidecar);
        assert_eq!(log.read(), Ok(vec![]), "no log yet");
        let mut window = Thermal {
            actions: vec![action(10, "a")],
            ..Thermal::default()
        };
        log.note_saved(&window.actions);
        window.actions.push(action(20, "b"));
        log.append_unsaved(&window);
        // A power loss can leave a line half written; the next line still stands alone.
        let mut file = OpenOptions::new()
            .append(true)
            .open(log.path())
            .expect("open");
        file.write_all(b"{\"at\": 3").expect("tear");
        window.actions.push(action(30, "c"));
        log.append_unsaved(&window);
        let mut again = ClaimsLog::beside(&sidecar);
        assert_eq!(
            again.read(),
            Ok(vec![action(20, "b"), action(30, "c")]),
            "only what was not on disk, each once, the torn line skipped"
        );
        again.clear();
        assert!(!log.path().exists(), "cleared once the sidecar holds it");
    }

    #[test]
    fn a_logged_claim_is_hidden_by_no_older_entry_for_its_draft() {
        let cfg = ThermalConfig {
            max_actions: 1,
            ..cfg()
        };
        let mut t = Thermal {
            actions: vec![action(100, "a")],
            ..Thermal::default()
        };
        // The same entry again (a log that outlived its save) counts once; a later claim of
        // the same draft (moved back to approved and claimed again) counts on its own.
        t.add_own(vec![action(100, "a"), action(1000, "a"), action(1010, "b")]);
        assert_eq!(
            t.actions,
            vec![action(100, "a"), action(1000, "a"), action(1010, "b")]
        );
        assert_eq!(
            replay(&t.actions, &cfg),
            1010 + 300,
            "the two later claims trip it"
        );

        // With attempts: the same attempt is one entry even if its time was brought back
        // from the future since; a new attempt of the same draft is another claim.
        let attempt = |at, id| Action {
            attempt_id: Some(id),
            ..action(at, "x")
        };
        let mut t = Thermal {
            actions: vec![attempt(100, 7)],
            ..Thermal::default()
        };
        t.add_own(vec![attempt(150, 7), attempt(1000, 9)]);
        assert_eq!(t.actions, vec![attempt(100, 7), attempt(1000, 9)]);
    }
}
