//! Log lines on stderr, level chosen by `-v`/`-q`. Alerts that cannot be mailed land here.
//!
//! When stderr is the systemd journal, each line starts with its sd-daemon(3) priority
//! (`<3>` error, `<4>` warning, `<6>` info, `<7>` debug) instead of the `inbox-exec:` prefix,
//! which the journal adds itself, so `journalctl -p warning` shows alerts and errors.

use std::io::Write as _;

use log::{Level, LevelFilter, Log, Metadata, Record};

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
            // A line that cannot be written is lost, and nothing else: `eprintln!` would
            // panic on a closed stderr (a reader that went away, a journal restarted under a
            // running timer), and a panic between a dispatch and its recording leaves the
            // draft in `executing` with its side effect done.
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
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
