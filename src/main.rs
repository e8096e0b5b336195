//! The `inbox-exec` binary: parse, run, print, exit.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use inbox_exec::report::error_document;
use inbox_exec::{cli::Cli, exit};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // With --json, a usage error is a JSON document too; --help and --version are
            // not errors.
            if e.use_stderr() && std::env::args_os().any(|a| a == "--json") {
                let message = e.render().to_string();
                let message = message.trim_end();
                let message = message.strip_prefix("error: ").unwrap_or(message);
                let code = u8::try_from(e.exit_code()).unwrap_or(exit::USAGE);
                // The message goes to stderr next; stdout failing cannot be reported better.
                let _ = print_stdout(&error_document(message, code));
            }
            e.exit()
        }
    };
    let host = inbox_exec::host_env();
    let journal = inbox_exec::journal_streams();
    inbox_exec::logging::init(cli.global.verbose, cli.global.quiet, journal.stderr);
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let color =
        io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let output = match inbox_exec::run(&cli, &host) {
        Ok(output) => output,
        Err(e) => {
            let message = format!("{e:#}");
            if cli.global.json {
                // The message goes to stderr next; stdout failing cannot be reported better.
                let _ = print_stdout(&error_document(&message, exit::FAILURE));
            }
            log::error!("{message}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    if let Err(e) = print_stdout(&output.render(cli.global.json, color, journal.stdout)) {
        log::error!("writing output: {e}");
        return ExitCode::from(exit::FAILURE);
    }
    if let Some(error) = &output.error {
        log::error!("{error}");
    }
    ExitCode::from(output.outcome.code())
}

/// Writes `text` to stdout. A closed pipe (`| head`) is the reader's choice, not our failure.
fn print_stdout(text: &str) -> io::Result<()> {
    match io::stdout().write_all(text.as_bytes()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
