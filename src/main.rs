//! The `inbox-exec` binary: parse, run, print, exit.

use std::io::{self, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use inbox_exec::sink::{Pipe, Sink};
use inbox_exec::{cli::Cli, exit, report::printable};

fn main() -> ExitCode {
    let cli = Cli::parse();
    inbox_exec::logging::init(cli.global.verbose, cli.global.quiet);
    // Colour only on a terminal, and never when NO_COLOR is set (https://no-color.org).
    let color =
        io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // A closed pipe (`| head`) is the reader's choice, not our failure: `Pipe` drops what
    // comes after it, and the command still ends with the exit code its findings give.
    let mut stdout = BufWriter::new(Pipe::new(io::stdout()));
    let mut sink = Sink::new(&mut stdout, cli.global.json, color);
    let result = inbox_exec::run(&cli, &inbox_exec::host_env(), &mut sink);
    let output = match result {
        Ok(output) => output,
        Err(e) => {
            // What a streaming command wrote before the error goes out first; it ends
            // without its last line (or the JSON array's `]`), so it cannot pass for whole.
            let _ = stdout.flush();
            eprintln!("inbox-exec: error: {}", printable(&format!("{e:#}")));
            return ExitCode::from(exit::FAILURE);
        }
    };
    let rendered = output.render(cli.global.json, color);
    if let Err(e) = stdout
        .write_all(rendered.as_bytes())
        .and_then(|()| stdout.flush())
    {
        eprintln!("inbox-exec: error: writing output: {e}");
        return ExitCode::from(exit::FAILURE);
    }
    if let Some(error) = &output.error {
        eprintln!("inbox-exec: error: {}", printable(error));
    }
    ExitCode::from(output.outcome.code())
}
