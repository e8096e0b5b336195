//! The `inbox-exec` binary: parse, run, print, exit.

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use inbox_exec::{cli::Cli, exit, report::printable_lines};

fn main() -> ExitCode {
    let cli = Cli::parse();
    inbox_exec::logging::init(cli.global.verbose, cli.global.quiet);
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let color =
        io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let output = match inbox_exec::run(&cli, &inbox_exec::host_env()) {
        Ok(output) => output,
        Err(e) => {
            eprintln!("inbox-exec: error: {}", printable_lines(&format!("{e:#}"), "    "));
            return ExitCode::from(exit::FAILURE);
        }
    };
    match io::stdout().write_all(output.render(cli.global.json, color).as_bytes()) {
        // A closed pipe (`| head`) is the reader's choice, not our failure.
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
        Err(e) => {
            eprintln!("inbox-exec: error: writing output: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    }
    if let Some(error) = &output.error {
        eprintln!("inbox-exec: error: {}", printable_lines(error, "    "));
    }
    ExitCode::from(output.outcome.code())
}
