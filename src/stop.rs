//! Stop requests (systemd's SIGTERM, Ctrl-C, SIGHUP). The first finishes the draft in hand
//! and claims no more: killing the process there would leave the draft in `executing` for a
//! human. A second means "now": the process exits at once, and when a handler is running it
//! is killed first, with its process group. The handler runs in a group of its own (so that
//! its timeout kills everything it started), so nothing else would end it: it would act
//! after the run was gone, while `reconcile` called its claimer dead.
//!
//! Outside a dispatch, the second signal exits from the signal handler itself. During one,
//! that exit is disarmed and the signal reaches the dispatch loop instead (a byte on a
//! socket it polls), which kills the handler's group and then exits.

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use signal_hook::SigId;

/// The stop signals.
const SIGNALS: [i32; 3] = [
    signal_hook::consts::SIGTERM,
    signal_hook::consts::SIGINT,
    signal_hook::consts::SIGHUP,
];

/// The exit status of a run stopped "now", as the signal handler's exit gives it.
pub const NOW_EXIT: i32 = 1;

struct Stop {
    /// Set by every stop signal.
    requested: Arc<AtomicBool>,
    /// The condition of the signal handler's exit: set by every stop signal while armed.
    exit_armed: Arc<AtomicBool>,
    /// The actions that set `exit_armed`, unregistered while a handler runs.
    arming: Mutex<Vec<SigId>>,
    /// One byte per stop signal.
    bytes: UnixStream,
    /// Stop signals seen on `bytes` so far.
    seen: AtomicUsize,
}

static STOP: OnceLock<Stop> = OnceLock::new();

/// Installs the handlers; returns the flag the cycle checks between drafts.
pub fn install() -> io::Result<Arc<AtomicBool>> {
    let requested = Arc::new(AtomicBool::new(false));
    let exit_armed = Arc::new(AtomicBool::new(false));
    let (bytes, wake) = UnixStream::pair()?;
    bytes.set_nonblocking(true)?;
    let mut arming = Vec::new();
    for signal in SIGNALS {
        // In this order, for each signal: exit if an earlier one armed the exit, then note
        // the request, arm the exit, and wake a dispatch loop.
        signal_hook::flag::register_conditional_shutdown(
            signal,
            NOW_EXIT,
            Arc::clone(&exit_armed),
        )?;
        signal_hook::flag::register(signal, Arc::clone(&requested))?;
        arming.push(signal_hook::flag::register(
            signal,
            Arc::clone(&exit_armed),
        )?);
        signal_hook::low_level::pipe::register(signal, wake.try_clone()?)?;
    }
    let stop = Stop {
        requested: Arc::clone(&requested),
        exit_armed,
        arming: Mutex::new(arming),
        bytes,
        seen: AtomicUsize::new(0),
    };
    if STOP.set(stop).is_err() {
        return Err(io::Error::other("the stop signals are handled already"));
    }
    Ok(requested)
}

/// While a handler runs: the signal handler's exit is disarmed, and [`During::now`] tells
/// the dispatch loop when a second stop signal came. Dropped, the exit is armed again.
pub struct During {
    stop: Option<&'static Stop>,
}

/// Disarms the signal handler's exit for the length of a dispatch (nothing to do when the
/// stop signals are not handled: a command other than `run`).
pub fn during_dispatch() -> During {
    let Some(stop) = STOP.get() else {
        return During { stop: None };
    };
    let mut arming = stop.arming.lock().unwrap_or_else(PoisonError::into_inner);
    for id in arming.drain(..) {
        signal_hook::low_level::unregister(id);
    }
    drop(arming);
    stop.exit_armed.store(false, Ordering::SeqCst);
    let during = During { stop: Some(stop) };
    during.drain();
    during
}

impl During {
    /// The socket a dispatch loop polls (readable when a stop signal came).
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.stop.map(|s| s.bytes.as_fd())
    }

    /// Whether a second stop signal has come: the loop kills the handler's group, then
    /// calls [`exit_now`].
    pub fn now(&self) -> bool {
        self.drain();
        self.stop
            .is_some_and(|s| s.seen.load(Ordering::SeqCst) >= 2)
    }

    fn drain(&self) {
        let Some(stop) = self.stop else { return };
        let mut buf = [0u8; 64];
        while let Ok(n @ 1..) = (&stop.bytes).read(&mut buf) {
            stop.seen.fetch_add(n, Ordering::SeqCst);
        }
    }
}

impl Drop for During {
    /// Arms the exit again, in an order that loses no signal: the arming actions first, so
    /// any signal from then on arms it; then a stop requested during the dispatch arms it as
    /// the signal handler would have; then a second signal that came after the loop stopped
    /// watching (the handler gone, its pipes draining) exits now, as it would have there.
    fn drop(&mut self) {
        let Some(stop) = self.stop else { return };
        let mut arming = stop.arming.lock().unwrap_or_else(PoisonError::into_inner);
        for signal in SIGNALS {
            match signal_hook::flag::register(signal, Arc::clone(&stop.exit_armed)) {
                Ok(id) => arming.push(id),
                Err(e) => log::warn!("cannot re-arm the exit on signal {signal}: {e}"),
            }
        }
        drop(arming);
        if stop.requested.load(Ordering::SeqCst) {
            stop.exit_armed.store(true, Ordering::SeqCst);
        }
        if self.now() {
            exit_now();
        }
    }
}

/// Exits as the signal handler's exit would have, once the handler in hand is killed.
pub fn exit_now() -> ! {
    std::process::exit(NOW_EXIT)
}
