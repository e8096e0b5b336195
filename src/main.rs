//! The `inbox-exec` binary: parse, run, print, exit.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use inbox_exec::report::error_document;
use inbox_exec::sink::{Pipe, Sink};
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
    // A closed pipe (`| head`) is the reader's choice, not our failure: `Pipe` drops what
    // comes after it, and a streaming command still ends with the exit code its findings give.
    let mut stdout = BufWriter::new(Pipe::new(io::stdout()));
    let mut sink = Sink::new(&mut stdout, cli.global.json, color, journal.stdout);
    let result = inbox_exec::run(&cli, &host, &mut sink);
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            // What a streaming command wrote before the error goes out first. It lacks its
            // last line (or the JSON array's `]`), so with the error document after it
            // stdout cannot pass for one whole document.
            let message = format!("{e:#}");
            if cli.global.json {
                let _ = stdout.write_all(error_document(&message, exit::FAILURE).as_bytes());
            }
            // The message goes to stderr next; stdout failing cannot be reported better.
            let _ = stdout.flush();
            log::error!("{message}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let rendered = output.render(cli.global.json, color, journal.stdout);
    if let Err(e) = stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush())
    {
        log::error!("writing output: {e}");
        return ExitCode::from(exit::FAILURE);
    }
    if let Some(error) = &output.error {
        log::error!("{error}");
    }
    ExitCode::from(output.outcome.code())
}

/// Writes `text` to stdout; a closed pipe is no failure (see [`Pipe`]).
fn print_stdout(text: &str) -> io::Result<()> {
    Pipe::new(io::stdout()).write_all(text.as_bytes())
}
