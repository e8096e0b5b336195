//! The man page and shell completions, both rendered from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell as CompleteShell;

use crate::cli::{Cli, Shell};
use crate::config::keys::KEYS;
use crate::exit::{CODES, PLUGIN_CODES};
use crate::report::Output;

/// The binary's name, as completions register it.
const BIN: &str = "inbox-exec";

/// The completion script for `shell`.
pub fn completions(shell: Shell) -> Output {
    let complete_shell = match shell {
        Shell::Bash => CompleteShell::Bash,
        Shell::Zsh => CompleteShell::Zsh,
        Shell::Fish => CompleteShell::Fish,
        Shell::Elvish => CompleteShell::Elvish,
        Shell::Powershell => CompleteShell::PowerShell,
    };
    let mut buf = Vec::new();
    clap_complete::generate(complete_shell, &mut completion_command(), BIN, &mut buf);
    let mut text = String::from_utf8(buf).expect("completion scripts are UTF-8");
    if matches!(shell, Shell::Bash) {
        text = fix_bash_case_labels(&text, BIN);
    }
    Output::done(text.clone(), serde_json::json!({ "script": text }))
}

/// The command line as completions see it: without the hidden subcommands (`man`), which
/// clap_complete would otherwise offer.
fn completion_command() -> clap::Command {
    let full = Cli::command();
    let visible: Vec<clap::Command> = full
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .cloned()
        .collect();
    clap::Command::new(BIN)
        .version(env!("CARGO_PKG_VERSION"))
        .args(full.get_arguments().cloned())
        .subcommands(visible)
}

/// Works around clap_complete's bash generator for a binary name with a hyphen
/// (clap-rs/clap#6421): the loop over the words builds states such as
/// `inbox__exec__subcmd__run`, but the `case` arms that complete them are labelled
/// `inbox__subcmd__exec__subcmd__run`, so nothing past the first word ever completes. The
/// arm labels are rewritten to the loop's spelling.
fn fix_bash_case_labels(script: &str, bin: &str) -> String {
    let right = bin.replace('-', "__");
    let wrong = bin.replace('-', "__subcmd__");
    let mut out = String::with_capacity(script.len());
    for line in script.split_inclusive('\n') {
        let label = line.trim();
        let is_arm = label.ends_with(')')
            && label
                .strip_prefix(&wrong)
                .is_some_and(|rest| rest == ")" || rest.starts_with("__subcmd__"));
        if is_arm {
            out.push_str(&line.replacen(&wrong, &right, 1));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// The whole man page, in roff: clap's sections plus CONFIGURATION, EXAMPLES, EXIT STATUS,
/// FILES, ENVIRONMENT, SEE ALSO. Markdown code spans in help texts become bold.
pub fn render() -> String {
    let mut cmd = Cli::command();
    // Building fills in what derive leaves implicit (how many values an option takes).
    cmd.build();
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf)
        .expect("writing to a Vec cannot fail");
    man.render_name_section(&mut buf).expect("Vec");
    man.render_synopsis_section(&mut buf).expect("Vec");
    man.render_description_section(&mut buf).expect("Vec");
    man.render_options_section(&mut buf).expect("Vec");
    // Not clap_mangen's SUBCOMMANDS list: it points at per-command pages we do not ship.
    // Each subcommand gets its own section below instead.
    let mut page = String::from_utf8(buf).expect("roff is UTF-8");
    for sub in cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        render_subcommand(&mut page, "inbox-exec", sub);
    }
    render_configuration(&mut page);
    page.push_str(EXAMPLES);
    page.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in CODES {
        page.push_str(&format!(".TP\n\\fB{code}\\fR\n{}", roff_text(meaning)));
    }
    page.push_str(
        ".PP\nWith \\fBstatus \\-\\-plugin\\fR, the monitoring\\-plugins codes instead:\n",
    );
    for (code, meaning) in PLUGIN_CODES {
        page.push_str(&format!(".TP\n\\fB{code}\\fR\n{}", roff_text(meaning)));
    }
    page.push_str(SIGNALS);
    page.push_str(FILES_AND_ENVIRONMENT);
    if let Some(version) = cmd.get_version() {
        page.push_str(&format!(".SH VERSION\nv{version}\n"));
    }
    bold_code(&page)
}

/// CONFIGURATION: every key of the file, from [`KEYS`], table by table.
fn render_configuration(page: &mut String) {
    page.push_str(".SH CONFIGURATION\n");
    page.push_str(&roff_text(
        "A TOML file: --config, else $INBOX_EXEC_CONFIG, else $XDG_CONFIG_HOME/inbox-exec/config.toml, else /etc/inbox-exec/config.toml. Flags beat INBOX_EXEC_* variables, which beat the file, which beats the defaults. Every key is optional; unknown keys are errors; a file that group or others can write is refused. Durations read as `30s`, `15m`, `24h`; relative paths are relative to the file. contrib/config.example.toml shows every key.",
    ));
    let mut table = None;
    for key in KEYS {
        if table != Some(key.table) {
            table = Some(key.table);
            let title = if key.table.is_empty() {
                "Top level"
            } else {
                key.table
            };
            page.push_str(&format!(".SS \"{}\"\n", escape(title)));
        }
        page.push_str(&format!(
            ".TP\n\\fB{}\\fR (default: {})\n",
            escape(key.name),
            escape(key.default)
        ));
        page.push_str(&roff_text(key.doc));
    }
}

/// Markdown code spans (`` `inbox-exec reconcile` ``) as bold: help texts are written for
/// `--help`, where backticks read fine, but a man page shows them literally. A line with an
/// odd number of backticks is left alone.
fn bold_code(roff: &str) -> String {
    let mut out = String::with_capacity(roff.len());
    for line in roff.split_inclusive('\n') {
        if line.matches('`').count() % 2 != 0 {
            out.push_str(line);
            continue;
        }
        let mut open = false;
        for c in line.chars() {
            if c == '`' {
                out.push_str(if open { "\\fR" } else { "\\fB" });
                open = !open;
            } else {
                out.push(c);
            }
        }
    }
    out
}

/// One `.SS` per subcommand, nested ones (`draft new`, `reconcile resolve`) included.
fn render_subcommand(page: &mut String, parent: &str, sub: &clap::Command) {
    let name = format!("{parent} {}", sub.get_name());
    page.push_str(&format!(".SS \"{}\"\n", escape(&name)));
    if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
        page.push_str(&roff_text(&about.to_string()));
    }
    for arg in sub.get_arguments().filter(|a| {
        !a.is_global_set() && !a.is_hide_set() && !matches!(a.get_id().as_str(), "help" | "version")
    }) {
        let takes_value = arg.get_num_args().is_some_and(|n| n.takes_values());
        let value = arg
            .get_value_names()
            .and_then(|names| names.first())
            .map_or_else(|| arg.get_id().as_str().to_uppercase(), ToString::to_string);
        let flag = match (arg.get_long(), arg.get_short()) {
            (Some(long), _) if takes_value => {
                format!("\\-\\-{} \\fI{}\\fR", escape(long), escape(&value))
            }
            (Some(long), _) => format!("\\-\\-{}", escape(long)),
            (None, Some(short)) => format!("\\-{short}"),
            (None, None) => format!("\\fI{}\\fR", escape(&value)),
        };
        page.push_str(&format!(".TP\n\\fB{flag}\\fR\n"));
        if let Some(help) = arg.get_long_help().or_else(|| arg.get_help()) {
            page.push_str(&roff_text(&help.to_string()));
        }
        let values: Vec<String> = if takes_value {
            arg.get_possible_values()
        } else {
            Vec::new()
        }
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
        if !values.is_empty() {
            page.push_str(".br\n");
            page.push_str(&roff_text(&format!("One of: {}.", values.join(", "))));
        }
    }
    for nested in sub
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
    {
        render_subcommand(page, &name, nested);
    }
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('-', "\\-")
}

/// `man`: the page as command output.
pub fn page() -> Output {
    let page = render();
    Output::done(page.clone(), serde_json::json!({ "roff": page }))
}

fn roff_text(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            out.push_str(".PP\n");
            continue;
        }
        let line = escape(line);
        if line.starts_with('.') || line.starts_with('\'') {
            out.push_str("\\&");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// EXAMPLES: the commands an operator types most.
const EXAMPLES: &str = r#".SH EXAMPLES
Create a key and the registry, then sign, check and approve a draft:
.PP
.nf
.RS 4
inbox\-exec keygen
inbox\-exec init
id=$(inbox\-exec draft new \-\-kind github_comment \e
       \-\-target '{"repo": "octo\-org/demo", "issue": 42}' \e
       \-\-payload '{"body": "Thanks for the report!"}')
inbox\-exec verify "$id"
inbox\-exec approve "$id" \-\-subject "alice, review #12"
.RE
.fi
.PP
One cycle by hand, what the timer runs every 30 s; then the draft and its attempts:
.PP
.nf
.RS 4
inbox\-exec run
inbox\-exec show "$id"
.RE
.fi
.PP
Settle a draft a crash left in executing, after checking its target:
.PP
.nf
.RS 4
inbox\-exec reconcile
inbox\-exec reconcile resolve 01J8Z3V5QK2W \-\-as completed \-\-url https://github.com/octo\-org/demo/issues/42#issuecomment\-1
.RE
.fi
.PP
Monitoring: the service layout's configuration, a Nagios or Icinga check, and JSON:
.PP
.nf
.RS 4
inbox\-exec \-\-config /etc/inbox\-exec/config.toml status \-\-plugin
inbox\-exec status \-\-check || echo "needs a human: exit $?"
inbox\-exec status \-\-json
.RE
.fi
"#;

/// FILES, ENVIRONMENT and SEE ALSO.
/// What `run` does on a stop request (`crate::stop`).
const SIGNALS: &str = r#".SH SIGNALS
SIGTERM, SIGINT and SIGHUP ask \fBrun\fR to stop: the draft in hand finishes and is recorded, and no other draft is claimed. A second one means now: the run exits at once with status 1, and a handler still running is killed first, with everything it started; its draft stays in executing, to be settled with \fBreconcile\fR. A run killed outright (SIGKILL) cannot kill its handler: check that none still runs before settling its draft.
"#;

const FILES_AND_ENVIRONMENT: &str = r#".SH FILES
.TP
\fB/etc/inbox\-exec/config.toml\fR
The configuration of the systemd service (contrib/inbox\-exec.service), root:root 0644, in /etc/inbox\-exec (root:inbox\-exec 0750).
.TP
\fB/var/lib/inbox\-exec/\fR
The service's state directory, inbox\-exec:inbox\-exec 0700 (StateDirectory= and tmpfiles.d).
.TP
\fB/var/lib/inbox\-exec/drafts.db\fR
The service's registry, created by \fBinbox\-exec init\fR run as inbox\-exec.
.TP
\fB/var/lib/inbox\-exec/hmac.key\fR
The service's HMAC key, mode 0600, created by \fBinbox\-exec keygen\fR run as inbox\-exec.
.TP
\fB/var/lib/inbox\-exec/inbox\-exec.lock\fR, \fB/var/lib/inbox\-exec/thermal.json\fR, \fB/var/lib/inbox\-exec/thermal\-claims.jsonl\fR, \fB/var/lib/inbox\-exec/last\-run.json\fR
The run lock, the thermal cutout's window, the claims a run has not yet saved into it, and the last run's summary.
.TP
\fB~/.delimit/drafts.db\fR
The default registry, when no configuration names one (SQLite, WAL). Single host only: SQLite on a network filesystem is not safe. For executors on several hosts, \-\-db takes a \fBpostgres://\fR URL instead (see [postgres] in CONFIGURATION).
.TP
\fB~/.delimit/secrets/inbox\-executor\-hmac.key\fR
The default HMAC key for key_version 1: raw bytes, mode 0600, owned by the user running inbox\-exec.
.TP
\fB~/.delimit/inbox\-exec/\fR
The default state directory: \fIinbox\-exec.lock\fR (run lock), \fIthermal.json\fR (rate\-limit window) and \fI.thermal.json.spare\fR (the next save is written into it, then the two swapped), \fIthermal\-claims.jsonl\fR (a run's claims, with what it learnt from the registry, not yet in the window file; present while a run dispatches, or after one was killed or could not save), \fIlast\-run.json\fR (summary of the last run), \fIunrecorded\-outcomes.json\fR (outcomes the registry would not take, recorded by the next run; present only then), \fIidle.json\fR (the idle mark: a fingerprint of an unchanged SQLite registry that lets an idle run skip opening it, for five minutes at most). \fBrun\fR also locks the registry file itself.
.TP
\fB$XDG_CONFIG_HOME/inbox\-exec/config.toml\fR
The user's configuration file, read before /etc/inbox\-exec/config.toml when \-\-config is not given.
.SH ENVIRONMENT
.TP
\fBINBOX_EXEC_CONFIG\fR, \fBINBOX_EXEC_DB\fR, \fBINBOX_EXEC_KEY\fR, \fBINBOX_EXEC_STATE_DIR\fR, \fBINBOX_EXEC_TTL\fR, \fBINBOX_EXEC_BATCH\fR
Defaults for \-\-config, \-\-db, \-\-key, \-\-state\-dir, \-\-ttl and run \-\-batch; flags win.
.TP
\fBHOME\fR, \fBXDG_CONFIG_HOME\fR
Where the default paths and the configuration file are looked for.
.TP
\fBPGPASSFILE\fR, \fBPGUSER\fR
With a postgres:// registry: libpq's password file (default \fI~/.pgpass\fR), read when [postgres] password_file is not set, and the role when the URL names none (else \fBUSER\fR).
.TP
\fBNO_COLOR\fR
When set, output is never coloured.
.SH "SEE ALSO"
\fBsystemd.timer\fR(5), \fBgh\fR(1), \fBsqlite3\fR(1), \fBpsql\fR(1)
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bash_arm_labels_take_the_loops_spelling() {
        let script = "    case x in\n        inbox__subcmd__exec__subcmd__run)\n            cmd=\"inbox__exec__subcmd__run\"\n";
        assert_eq!(
            fix_bash_case_labels(script, "inbox-exec"),
            "    case x in\n        inbox__exec__subcmd__run)\n            cmd=\"inbox__exec__subcmd__run\"\n"
        );
    }

    #[test]
    fn code_spans_become_bold() {
        assert_eq!(
            bold_code("see `inbox\\-exec reconcile` now\nodd ` left\n"),
            "see \\fBinbox\\-exec reconcile\\fR now\nodd ` left\n"
        );
    }

    #[test]
    fn no_subcommand_name_has_a_hyphen() {
        // The label fix rewrites the binary's name only; a hyphenated subcommand would need
        // the same treatment.
        fn walk(cmd: &clap::Command) {
            for sub in cmd.get_subcommands() {
                assert!(!sub.get_name().contains('-'), "{}", sub.get_name());
                walk(sub);
            }
        }
        walk(&Cli::command());
    }
}
