//! The thermal cutout: pause execution when the last window holds more actions than allowed.
//!
//! Pure logic plus one load/save pair; time is passed in. The JSON sidecar is a cache of the
//! window: the `attempts` table is the durable truth, so a sidecar that is missing, corrupt,
//! or older than the newest attempt (a run crashed before saving it) is rebuilt from
//! the table instead of being trusted, and never silently reset to empty.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::config::ThermalConfig;
use crate::registry::Registry;
use crate::statefile::{self, Contents};

/// The sidecar's file name inside the state directory.
pub const THERMAL_FILE: &str = "thermal.json";

/// The window and the pause, as saved in the sidecar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thermal {
    /// Times (Unix seconds) of actions still in the window.
    pub recent_action_times: Vec<i64>,
    /// Paused while now is before this.
    pub paused_until: i64,
    /// The newest attempt (its `attempt_id`, of any kind) in the registry when this state
    /// was saved: a newer one means a run recorded actions without saving the sidecar.
    pub high_water: i64,
}

/// The window as [`Thermal::load`] found it.
#[derive(Debug)]
pub struct Loaded {
    /// The window, from the sidecar or rebuilt.
    pub thermal: Thermal,
    /// Why a sidecar that existed could not be used (the window was rebuilt): worth an alert.
    pub unusable: Option<String>,
    /// The sidecar's bytes when the window came from it: [`Thermal::save`] leaves a sidecar
    /// that already holds what it would write alone.
    pub on_disk: Option<Vec<u8>>,
}

/// One counted action from the `attempts` table: `(attempt_id, attempted_at)`.
pub type ActionRecord = (i64, i64);

fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Thermal {
    /// Whether execution is paused at `now`.
    pub fn is_paused(&self, now: i64) -> bool {
        now < self.paused_until
    }

    /// Counts one action at `now`; true when this action trips the cutout (the window now
    /// holds more than `max_actions`).
    pub fn record(&mut self, now: i64, cfg: &ThermalConfig) -> bool {
        self.recent_action_times.push(now);
        self.prune(now, cfg);
        if self.recent_action_times.len() > cfg.max_actions as usize {
            let was_paused = self.is_paused(now);
            self.paused_until = now.saturating_add(seconds(cfg.cooldown));
            return !was_paused;
        }
        false
    }

    /// Drops actions older than the window.
    pub fn prune(&mut self, now: i64, cfg: &ThermalConfig) {
        let cutoff = now.saturating_sub(seconds(cfg.window));
        self.recent_action_times.retain(|t| *t >= cutoff);
    }

    /// How far back `rebuild` needs the attempts: a trip that still pauses now happened
    /// within the cooldown, and it counted actions a window before that.
    pub fn rebuild_horizon(now: i64, cfg: &ThermalConfig) -> i64 {
        now.saturating_sub(seconds(cfg.window))
            .saturating_sub(seconds(cfg.cooldown))
    }

    /// Rebuilds the state from claims since [`Thermal::rebuild_horizon`], replaying
    /// them so a pause in force is found again; `floor` keeps a pause known from elsewhere.
    pub fn rebuild(
        actions: &[ActionRecord],
        floor_paused_until: i64,
        now: i64,
        cfg: &ThermalConfig,
    ) -> Thermal {
        let mut state = Thermal {
            paused_until: floor_paused_until,
            ..Thermal::default()
        };
        let mut sorted = actions.to_vec();
        sorted.sort_by_key(|(id, at)| (*at, *id));
        for (_, at) in sorted {
            state.record(at, cfg);
        }
        state.prune(now, cfg);
        state
    }

    /// The sidecar at `path`, or a window rebuilt from the registry's attempts when the
    /// sidecar is missing, unusable or behind the table (a run crashed before saving it).
    pub fn load(
        registry: &mut dyn Registry,
        path: &Path,
        now: i64,
        cfg: &ThermalConfig,
    ) -> anyhow::Result<Loaded> {
        let newest = registry
            .newest_attempt()
            .context("reading the newest attempt")?
            .unwrap_or(0);
        let (floor, unusable) = match statefile::read(path) {
            Contents::Missing => (0, None),
            Contents::Unusable(why) => (0, Some(why)),
            Contents::Bytes(bytes) => match Thermal::from_json(&bytes) {
                Ok(mut thermal) if thermal.high_water >= newest => {
                    thermal.prune(now, cfg);
                    return Ok(Loaded {
                        thermal,
                        unusable: None,
                        on_disk: Some(bytes),
                    });
                }
                Ok(t) => {
                    log::info!("thermal sidecar is behind the attempts table; rebuilding it");
                    (t.paused_until, None)
                }
                Err(e) => (0, Some(format!("it does not parse ({e})"))),
            },
        };
        let actions = registry
            .actions_since(Thermal::rebuild_horizon(now, cfg))
            .context("reading recent claims")?;
        let mut thermal = Thermal::rebuild(&actions, floor, now, cfg);
        thermal.high_water = newest;
        if let Some(why) = &unusable {
            log::warn!(
                "thermal sidecar {} is unusable: {why}; rebuilt the window from the attempts table",
                path.display()
            );
        }
        Ok(Loaded {
            thermal,
            unusable,
            on_disk: None,
        })
    }

    /// Saves the window atomically at `path`, marked with the registry's newest attempt,
    /// unless the sidecar already holds exactly that (`on_disk`, from [`Loaded`]): an idle or
    /// paused cycle changes nothing, and rewriting the same bytes would cost it an fsync.
    /// Only the registry read is an error: a sidecar that cannot be written is logged, and the
    /// next cycle rebuilds the window from the attempts table.
    pub fn save(
        &mut self,
        registry: &mut dyn Registry,
        path: &Path,
        on_disk: Option<&[u8]>,
    ) -> anyhow::Result<()> {
        self.high_water = registry
            .newest_attempt()
            .context("reading the newest attempt")?
            .unwrap_or(0);
        let bytes = self.to_json();
        if on_disk == Some(bytes.as_slice()) {
            return Ok(());
        }
        if let Err(e) = statefile::write_atomic(path, &bytes) {
            log::warn!("cannot save the thermal sidecar {}: {e}", path.display());
        }
        Ok(())
    }

    /// The sidecar as `status` shows it: what was last saved, nothing rebuilt (empty when
    /// missing or unusable).
    pub fn peek(path: &Path) -> Thermal {
        match statefile::read(path) {
            Contents::Bytes(bytes) => Thermal::from_json(&bytes).unwrap_or_default(),
            _ => Thermal::default(),
        }
    }

    /// Parses a sidecar.
    pub fn from_json(bytes: &[u8]) -> Result<Thermal, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    /// The sidecar's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("plain data serializes");
        v.push(b'\n');
        v
    }
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

    #[test]
    fn the_eleventh_action_in_the_window_trips_once() {
        let mut t = Thermal::default();
        for i in 0..10 {
            assert!(!t.record(1000 + i, &cfg()), "action {i} must not trip");
        }
        assert!(!t.is_paused(1010));
        assert!(t.record(1010, &cfg()));
        assert!(t.is_paused(1010));
        assert_eq!(t.paused_until, 1310);
        assert!(!t.record(1011, &cfg()), "a trip alerts once");
        assert!(!t.is_paused(1311));
    }

    #[test]
    fn actions_older_than_the_window_do_not_count() {
        let mut t = Thermal::default();
        for i in 0..10 {
            t.record(i, &cfg());
        }
        assert!(!t.record(2000, &cfg()));
        assert_eq!(t.recent_action_times, vec![2000]);
    }

    #[test]
    fn rebuild_finds_a_pause_still_in_force() {
        let actions: Vec<ActionRecord> = (0..11).map(|i| (i + 1, 1000 + i)).collect();
        let t = Thermal::rebuild(&actions, 0, 1100, &cfg());
        assert!(t.is_paused(1100));
        assert_eq!(t.paused_until, 1310);
        assert_eq!(t.recent_action_times.len(), 11);
        let later = Thermal::rebuild(&actions, 0, 5000, &cfg());
        assert!(!later.is_paused(5000));
        assert!(later.recent_action_times.is_empty());
    }
}
