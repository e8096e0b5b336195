//! The man page and shell completions, both rendered from the clap definition.

use clap::CommandFactory;
use clap_complete::Shell as CompleteShell;

use crate::cli::{Cli, Shell};
use crate::exit::CODES;
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

/// The whole man page, in roff: clap's sections plus EXIT STATUS, FILES, ENVIRONMENT, SEE ALSO.
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
    page.push_str(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in CODES {
        page.push_str(&format!(".TP\n\\fB{code}\\fR\n{}", roff_text(meaning)));
    }
    page.push_str(FILES_AND_ENVIRONMENT);
    if let Some(version) = cmd.get_version() {
        page.push_str(&format!(".SH VERSION\nv{version}\n"));
    }
    page
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

const FILES_AND_ENVIRONMENT: &str = r#".SH FILES
.TP
\fB~/.delimit/drafts.db\fR
The draft registry (SQLite, WAL). Single host only: SQLite on a network filesystem is not safe.
.TP
\fB~/.delimit/secrets/inbox\-executor\-hmac.key\fR
The HMAC key for key_version 1: raw bytes, mode 0600, owned by the user running inbox\-exec.
.TP
\fB~/.delimit/inbox\-exec/\fR
The state directory: \fIinbox\-exec.lock\fR (run lock), \fIthermal.json\fR (rate\-limit window), \fIlast\-run.json\fR (summary of the last run).
.TP
\fB$XDG_CONFIG_HOME/inbox\-exec/config.toml\fR, \fB/etc/inbox\-exec/config.toml\fR
The configuration file, when \-\-config is not given. Refused when group or others can write it.
.TP
\fB/var/lib/inbox\-exec/\fR, \fB/etc/inbox\-exec/hmac.key\fR
The registry, state directory and key as laid out by the systemd unit in contrib/ (set in the configuration file).
.SH ENVIRONMENT
.TP
\fBINBOX_EXEC_CONFIG\fR, \fBINBOX_EXEC_DB\fR, \fBINBOX_EXEC_KEY\fR, \fBINBOX_EXEC_STATE_DIR\fR, \fBINBOX_EXEC_TTL\fR, \fBINBOX_EXEC_BATCH\fR
Defaults for \-\-config, \-\-db, \-\-key, \-\-state\-dir, \-\-ttl and run \-\-batch; flags win.
.TP
\fBHOME\fR, \fBXDG_CONFIG_HOME\fR
Where the default paths and the configuration file are looked for.
.TP
\fBNO_COLOR\fR
When set, output is never coloured.
.SH "SEE ALSO"
\fBsystemd.timer\fR(5), \fBgh\fR(1), \fBsqlite3\fR(1)
"#;
