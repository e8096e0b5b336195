//! Who claims drafts, and whether a claimer is still alive: a pid alone means nothing after
//! a reboot or once the pid is reused, so a claim records the boot id and the process start
//! time too, and liveness checks all three.

use std::fs;

use crate::registry::Claimer;

/// What can be said about the process that claimed a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// Still running on this host: its side effect may be under way.
    Running,
    /// Gone: whatever it was doing has stopped.
    Dead,
    /// Cannot be told from here.
    Unknown(String),
}

impl Liveness {
    /// One word for tables and JSON.
    pub fn word(&self) -> &'static str {
        match self {
            Liveness::Running => "running",
            Liveness::Dead => "dead",
            Liveness::Unknown(_) => "unknown",
        }
    }
}

/// This process, as recorded with each claim.
pub fn this_process() -> Claimer {
    Claimer {
        pid: std::process::id(),
        host: rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .into_owned(),
        boot_id: fs::read_to_string("/proc/sys/kernel/random/boot_id")
            .ok()
            .map(|s| s.trim().to_owned()),
        process_start: start_time("self"),
    }
}

/// Field 22 of `/proc/<pid>/stat` (start time in clock ticks since boot), counted after the
/// command name, which may itself hold spaces and parentheses.
fn start_time(pid: &str) -> Option<i64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.split_whitespace().nth(19)?.parse().ok()
}

/// Whether the claimer of a draft in `executing` is alive: what its database session says
/// when the registry can tell from any host (PostgreSQL: the session's lock on the draft is
/// held or gone), else the process looked up on this host.
pub fn claim_liveness(
    session_alive: Option<bool>,
    claimer: Option<&Claimer>,
    me: &Claimer,
) -> Liveness {
    match session_alive {
        Some(true) => Liveness::Running,
        Some(false) => Liveness::Dead,
        None => liveness(claimer, me),
    }
}

/// Whether `claimer` is alive, judged from `me` (this process, on this host).
pub fn liveness(claimer: Option<&Claimer>, me: &Claimer) -> Liveness {
    let Some(c) = claimer else {
        return Liveness::Unknown("no claim record (claimed by the reference executor?)".into());
    };
    if c.host != me.host {
        return Liveness::Unknown(format!("claimed on host {}", c.host));
    }
    if let (Some(theirs), Some(ours)) = (&c.boot_id, &me.boot_id)
        && theirs != ours
    {
        return Liveness::Dead;
    }
    match start_time(&c.pid.to_string()) {
        None => Liveness::Dead,
        Some(start) if c.process_start.is_some_and(|s| s != start) => Liveness::Dead,
        Some(_) => Liveness::Running,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_running_and_a_reused_pid_is_not() {
        let me = this_process();
        assert_eq!(liveness(Some(&me), &me), Liveness::Running);
        let mut reused = me.clone();
        reused.process_start = me.process_start.map(|s| s + 1);
        assert_eq!(liveness(Some(&reused), &me), Liveness::Dead);
        let mut rebooted = me.clone();
        rebooted.boot_id = Some("another-boot".into());
        assert_eq!(liveness(Some(&rebooted), &me), Liveness::Dead);
        let mut elsewhere = me.clone();
        elsewhere.host = "elsewhere.example".into();
        assert!(matches!(
            liveness(Some(&elsewhere), &me),
            Liveness::Unknown(_)
        ));
        assert!(matches!(liveness(None, &me), Liveness::Unknown(_)));
    }
}
