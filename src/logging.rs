//! Log lines on stderr, level chosen by `-v`/`-q`. Alerts that cannot be mailed land here.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLog;

impl Log for StderrLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                Level::Error => "error",
                Level::Warn => "warning",
                Level::Info => "info",
                Level::Debug => "debug",
                Level::Trace => "trace",
            };
            // Messages carry text from drafts and handlers: escape control characters line
            // by line and indent continuation lines, so no line can pass for one of ours.
            let message = record.args().to_string();
            eprintln!(
                "inbox-exec: {level}: {}",
                crate::report::printable_lines(&message, "    ")
            );
        }
    }

    fn flush(&self) {}
}

/// Installs the stderr logger: warnings by default, `-v` info, `-vv` debug, `-q` errors only.
pub fn init(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => LevelFilter::Error,
        (false, 0) => LevelFilter::Warn,
        (false, 1) => LevelFilter::Info,
        (false, 2) => LevelFilter::Debug,
        (false, _) => LevelFilter::Trace,
    };
    if log::set_logger(&StderrLog).is_ok() {
        log::set_max_level(level);
    }
}
