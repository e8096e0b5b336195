//! The man page as a reader meets it (EXAMPLES, CONFIGURATION, FILES, no Markdown left), and
//! the service's time limit agreeing with what a cycle may take.

use std::path::Path;
use std::process::Command;

use crate::harness::BIN;

fn man_page() -> String {
    let out = Command::new(BIN)
        .arg("man")
        .env_clear()
        .output()
        .expect("man");
    assert!(out.status.success());
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// The text of section `name` (up to the next `.SH`).
fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let start = page
        .find(&format!(".SH {name}\n"))
        .or_else(|| page.find(&format!(".SH \"{name}\"\n")))
        .unwrap_or_else(|| panic!("no {name} section"));
    let rest = &page[start + 4..];
    let end = rest.find("\n.SH ").map_or(rest.len(), |i| i + 1);
    &rest[..end]
}

/// Every key of the configuration file, as `[section] key` or `key`.
const KEYS: &[&str] = &[
    "db",
    "state_dir",
    "ttl",
    "[keys]",
    "[run] batch",
    "[run] stuck_after",
    "[run] metrics_file",
    "[thermal] max_actions",
    "[thermal] window",
    "[thermal] cooldown",
    "[refuse] extra_kinds",
    "[github] gh",
    "[github] timeout",
    "[github] env",
    "[handlers.KIND] command",
    "[handlers.KIND] timeout",
    "[handlers.KIND] env",
    "[notify] smtp_url",
    "[notify] sendmail",
    "[notify] from",
    "[notify] to",
    "[notify] username",
    "[notify] password_file",
    "[notify] timeout",
    "[notify] deadline",
    "[notify] undelivered_after",
];

#[test]
fn the_man_page_has_examples_and_every_config_key() {
    let page = man_page();
    let examples = section(&page, "EXAMPLES");
    for example in [
        "inbox\\-exec draft new",
        "inbox\\-exec approve",
        "status \\-\\-plugin",
    ] {
        assert!(
            examples.contains(example),
            "EXAMPLES lacks {example}:\n{examples}"
        );
    }
    let config = section(&page, "CONFIGURATION");
    let plain = config
        .replace("\\-", "-")
        .replace("\\fB", "")
        .replace("\\fR", "")
        .replace("\\fI", "");
    for key in KEYS {
        let (table, name) = match key.split_once("] ") {
            Some((t, n)) => (Some(format!("{t}]")), n),
            None => (None, *key),
        };
        if let Some(table) = table {
            assert!(plain.contains(&table), "CONFIGURATION lacks {table}");
        }
        assert!(plain.contains(name), "CONFIGURATION lacks {key}:\n{plain}");
    }
}

#[test]
fn the_man_page_renders_markdown_code_as_bold_not_backticks() {
    let page = man_page();
    assert!(
        !page.contains('`'),
        "literal backticks: {}",
        page.lines().find(|l| l.contains('`')).unwrap_or_default()
    );
    // `inbox-exec reconcile` in a help text becomes bold.
    assert!(
        page.contains("\\fBinbox\\-exec reconcile\\fR"),
        "no bold code"
    );
}

#[test]
fn the_man_page_files_section_lists_the_service_layout() {
    let page = man_page();
    let files = section(&page, "FILES").replace("\\-", "-");
    for path in [
        "/etc/inbox-exec/config.toml",
        "/var/lib/inbox-exec/hmac.key",
        "/var/lib/inbox-exec/drafts.db",
        "/var/lib/inbox-exec/last-run.json",
    ] {
        assert!(files.contains(path), "FILES lacks {path}:\n{files}");
    }
}

#[test]
fn the_service_time_limit_covers_a_full_batch_and_the_alert_deadline() {
    let unit = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("contrib/inbox-exec.service"),
    )
    .expect("unit");
    let limit: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStartSec="))
        .and_then(|v| v.trim().trim_end_matches('s').parse().ok())
        .expect("TimeoutStartSec in seconds");
    // The defaults: 10 drafts x 30 s handler timeout, then the 20 s alert delivery deadline.
    let batch_and_deadline = 10 * 30 + 20;
    assert!(limit > batch_and_deadline, "{limit} s leaves no margin");
    let comment: String = unit
        .lines()
        .skip_while(|l| !l.contains("Time limit for one cycle"))
        .take_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        comment.contains("[notify] deadline") && !comment.contains("10 s timeout each"),
        "the comment does not explain the limit from the delivery deadline:\n{comment}"
    );
    assert!(
        comment.contains(&format!("{limit} s")) || comment.contains(&format!("= {limit}")),
        "the comment's sum is not the value ({limit}):\n{comment}"
    );
}
