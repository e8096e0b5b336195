//! Log lines on stderr, level chosen by `-v`/`-q`. Alerts that cannot be mailed land here.
//!
//! When stderr is the systemd journal, each line starts with its sd-daemon(3) priority
//! (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug) instead of the `inbox-exec:` prefix,
//! which the journal adds itself, so `journalctl -p warning` shows alerts and errors.
//!
//! A log never holds a run: a line stderr will not take (closed, or full past a second's
//! patience in all) is dropped and counted ([`dropped`]), never waited on for ever.

use std::io::Write;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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

/// Linux's `PIPE_BUF`: a pipe (or the journal's socket) that polls writable takes this much
/// without blocking.
const PIPE_BUF: usize = 4096;

/// What writing log lines has come to so far: the patience left, the lines lost, and
/// whether the last one stopped part-way.
struct Stream {
    /// What is left of the patience, in microseconds.
    patience_left_us: AtomicU64,
    /// Lines not written whole.
    dropped: AtomicU64,
    /// The last line stopped part-way: the next one first ends it, so that it starts a line
    /// of its own (and, in the journal, keeps its priority).
    torn: AtomicBool,
}

/// The process's stderr.
static STDERR: Stream = Stream::new(PATIENCE);

/// How many log lines this process could not write whole (stderr closed, or full for longer
/// than the patience): a caller for whom a line is a delivery (an alert with no mailer)
/// compares it before and after.
pub fn dropped() -> u64 {
    STDERR.dropped.load(Ordering::Relaxed)
}

/// Writes `line` to stderr, or as much of it as fits while the patience lasts. A line that
/// cannot be written is lost, and nothing else: `eprintln!` panics on a closed stderr (a
/// reader that went away, a journal restarted under a running timer) and blocks on a full
/// one (a pipe nobody reads, a stalled journal), and either, between a dispatch and its
/// recording, left the draft in `executing` with its side effect done.
///
/// A terminal may block a write that poll(2) let through (it takes the whole write or
/// waits): the bound holds for pipes and sockets, the journal's included.
fn write_line(line: &[u8]) {
    STDERR.write_line(&mut std::io::stderr().lock(), line);
}

/// How much of a line [`Stream::write_within_patience`] wrote.
enum Written {
    Whole,
    Part,
    Nothing,
}

impl Stream {
    const fn new(patience: Duration) -> Stream {
        Stream {
            patience_left_us: AtomicU64::new(patience.as_micros() as u64),
            dropped: AtomicU64::new(0),
            torn: AtomicBool::new(false),
        }
    }

    fn write_line<W: Write + AsFd>(&self, out: &mut W, line: &[u8]) {
        if self.torn.load(Ordering::Relaxed) {
            if let Written::Whole = self.write_within_patience(out, b"\n") {
                self.torn.store(false, Ordering::Relaxed);
            } else {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
        match self.write_within_patience(out, line) {
            Written::Whole => {}
            Written::Part => {
                self.torn.store(true, Ordering::Relaxed);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            Written::Nothing => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn write_within_patience<W: Write + AsFd>(&self, out: &mut W, bytes: &[u8]) -> Written {
        let mut rest = bytes;
        while !rest.is_empty() {
            let progress = if rest.len() == bytes.len() {
                Written::Nothing
            } else {
                Written::Part
            };
            if !self.room(&*out) {
                return progress;
            }
            match out.write(&rest[..rest.len().min(PIPE_BUF)]) {
                Ok(0) => return progress,
                Ok(n) => rest = &rest[n..],
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return progress,
            }
        }
        Written::Whole
    }

    /// Whether `fd` can take a write now, waiting for it at most what is left of the
    /// patience. Anything poll(2) reports (room, an error, a closed reader) lets the write
    /// find out.
    fn room(&self, fd: &impl AsFd) -> bool {
        let start = Instant::now();
        let left = Duration::from_micros(self.patience_left_us.load(Ordering::Relaxed));
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
        let _ = self
            .patience_left_us
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |us| {
                Some(us.saturating_sub(waited))
            });
        ready
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A pipe with exactly one page of room: full of 4096-byte writes, then one page read.
    fn pipe_with_one_page_free() -> (std::io::PipeReader, std::io::PipeWriter) {
        let (mut reader, mut writer) = std::io::pipe().expect("pipe");
        rustix::io::ioctl_fionbio(&writer, true).expect("non-blocking");
        while writer.write(&[b'x'; PIPE_BUF]).is_ok() {}
        rustix::io::ioctl_fionbio(&writer, false).expect("blocking again");
        reader
            .read_exact(&mut [0; PIPE_BUF])
            .expect("free one page");
        (reader, writer)
    }

    #[test]
    fn a_line_cut_short_is_ended_before_the_next_one() {
        let stream = Stream::new(Duration::from_millis(50));
        let (mut reader, mut writer) = pipe_with_one_page_free();
        let long = [b'a'; 3 * PIPE_BUF];

        stream.write_line(&mut writer, &long);
        assert_eq!(stream.dropped.load(Ordering::Relaxed), 1);
        assert!(stream.torn.load(Ordering::Relaxed));
        // The reader catches up; patience left or not, a pipe with room takes the next line.
        rustix::io::ioctl_fionbio(&reader, true).expect("non-blocking reader");
        let mut seen = Vec::new();
        let _ = reader.read_to_end(&mut seen);
        stream.write_line(&mut writer, b"next\n");
        drop(writer);
        seen.clear();
        let _ = reader.read_to_end(&mut seen);

        assert_eq!(seen, b"\nnext\n", "the cut line is ended first");
        assert!(!stream.torn.load(Ordering::Relaxed));
        assert_eq!(stream.dropped.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_full_pipe_costs_the_patience_once_then_lines_are_dropped_at_once() {
        let stream = Stream::new(Duration::from_millis(100));
        let (_reader, mut writer) = pipe_with_one_page_free();
        // The free page takes one line whole.
        stream.write_line(&mut writer, &[b'b'; PIPE_BUF]);
        assert_eq!(stream.dropped.load(Ordering::Relaxed), 0);

        let start = Instant::now();
        stream.write_line(&mut writer, b"lost\n");
        stream.write_line(&mut writer, b"lost too\n");

        assert_eq!(stream.dropped.load(Ordering::Relaxed), 2);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(stream.patience_left_us.load(Ordering::Relaxed), 0);
    }
}
