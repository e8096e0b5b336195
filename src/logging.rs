//! Log lines on stderr, level chosen by `-v`/`-q`. Alerts that cannot be mailed land here.
//!
//! When stderr is the systemd journal, each line starts with its sd-daemon(3) priority
//! (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug) instead of the `inbox-exec:` prefix,
//! which the journal adds itself, so `journalctl -p warning` shows alerts and errors.

use std::io::Write as _;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use log::{Level, LevelFilter, Log, Metadata, Record};
use rustix::event::{PollFd, PollFlags, Timespec};

struct StderrLog {
    /// stderr is the journal.
    journal: bool,
}

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let (level, priority) = match record.level() {
                Level::Error => ("error", 3),
                Level::Warn => ("warning", 4),
                Level::Info => ("info", 6),
                Level::Debug => ("debug", 7),
                Level::Trace => ("trace", 7),
            };
            // Messages carry text from drafts and handlers: control characters are escaped
            // and continuation lines indented, so no line can pass for one of ours. In the
            // journal every line is its own entry, so each carries the priority.
            let message = record.args().to_string();
            let line = if self.journal {
                let indent = format!("\n<{priority}>    ");
                let lines = crate::report::printable_lines(&message, "    ");
                format!(
                    "<{priority}>{level}: {}\n",
                    lines.replace("\n    ", &indent)
                )
            } else {
                format!(
                    "inbox-exec: {level}: {}\n",
                    crate::report::printable_lines(&message, "    ")
                )
            };
            write_line(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

/// How long a process waits, in all, for room on stderr before it drops what it cannot
/// write. Log lines are written between a dispatch and its recording, where a stop request
/// must still be able to finish the draft in hand.
const PATIENCE: Duration = Duration::from_secs(1);

/// What is left of [`PATIENCE`], in microseconds.
static PATIENCE_LEFT_US: AtomicU64 = AtomicU64::new(PATIENCE.as_secs() * 1_000_000);

/// Linux's `PIPE_BUF`: a pipe (or the journal's socket) that polls writable takes this much
/// without blocking.
const PIPE_BUF: usize = 4096;

/// Writes `line` to stderr, or as much of it as fits while the patience lasts. A line that
/// cannot be written is lost, and nothing else: `eprintln!` panics on a closed stderr (a
/// reader that went away, a journal restarted under a running timer) and blocks on a full
/// one (a pipe nobody reads, a stalled journal), and either, between a dispatch and its
/// recording, left the draft in `executing` with its side effect done.
fn write_line(line: &[u8]) {
    let mut out = std::io::stderr().lock();
    let mut rest = line;
    while !rest.is_empty() {
        if !room(&out) {
            return;
        }
        match out.write(&rest[..rest.len().min(PIPE_BUF)]) {
            Ok(0) => return,
            Ok(n) => rest = &rest[n..],
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Whether `fd` can take a write now, waiting for it at most what is left of the patience.
/// Anything poll(2) reports (room, an error, a closed reader) lets the write find out.
fn room(fd: &impl AsFd) -> bool {
    let start = Instant::now();
    let left = Duration::from_micros(PATIENCE_LEFT_US.load(Ordering::Relaxed));
    let ready = loop {
        let wait = left.saturating_sub(start.elapsed());
        let timeout = Timespec::try_from(wait).ok();
        let mut fds = [PollFd::new(fd, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(0) => break false,
            Ok(_) => break true,
            Err(rustix::io::Errno::INTR) if !wait.is_zero() => {}
            Err(_) => break true,
        }
    };
    let waited = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    let _ = PATIENCE_LEFT_US.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |us| {
        Some(us.saturating_sub(waited))
    });
    ready
}

/// Installs the stderr logger: warnings by default, `-v` info, `-vv` debug, `-q` errors only;
/// `journal` when stderr is the systemd journal.
pub fn init(verbose: u8, quiet: bool, journal: bool) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::Error,
        (false, 0) => LevelFilter::Warn,
        (false, 1) => LevelFilter::Info,
        (false, 2) => LevelFilter::Debug,
        (false, _) => LevelFilter::Trace,
    };
    let logger: &'static StderrLog = if journal {
        &StderrLog { journal: true }
    } else {
        &StderrLog { journal: false }
    };
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
