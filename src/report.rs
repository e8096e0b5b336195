//! What a command hands back to the edge: text for people, one JSON document for machines,
//! and the outcome that picks the exit code.

use std::fmt::Write as _;

use serde::Serialize;

use crate::exit::Outcome;

/// The version of every `--json` document's shape (docs/json.md). Object documents carry it
/// as `"format"`; it changes only when a field is removed or changes meaning, never when one
/// is added.
pub const JSON_FORMAT: u64 = 1;

/// The `--json` document for a command that failed: the message as printed on stderr and the
/// exit code.
pub fn error_document(message: &str, exit_code: u8) -> String {
    let doc = serde_json::json!({
        "format": JSON_FORMAT,
        "error": message,
        "exit_code": exit_code,
    });
    let mut s = serde_json::to_string_pretty(&doc).expect("a Value serializes");
    s.push('\n');
    s
}

/// A finished command's output.
#[derive(Debug)]
pub struct Output {
    /// Human-readable text (printed without `--json`).
    pub text: String,
    /// The `--json` document.
    pub json: serde_json::Value,
    /// How the command ended.
    pub outcome: Outcome,
    /// An error to report after the output (with `Outcome::Failed`).
    pub error: Option<String>,
    /// Whether the command already wrote its output through a [`Sink`](crate::sink::Sink).
    pub written: bool,
}

impl Output {
    /// An output with the `Done` outcome.
    pub fn done(text: impl Into<String>, json: impl Serialize) -> Output {
        Output {
            text: text.into(),
            json: serde_json::to_value(json).expect("report types always serialize"),
            outcome: Outcome::Done,
            error: None,
            written: false,
        }
    }

    /// The output of a command that wrote it as it went, through a
    /// [`Sink`](crate::sink::Sink): nothing is left to print but the outcome.
    pub fn written(outcome: Outcome) -> Output {
        Output {
            text: String::new(),
            json: serde_json::Value::Null,
            outcome,
            error: None,
            written: true,
        }
    }

    /// An output with the `Done` outcome holding only the form that will be printed: the
    /// `--json` document when `json`, the text otherwise. For a report that grows with its
    /// input (a batch of a thousand drafts), so it is not held twice, once as a JSON tree.
    pub fn done_as(json: bool, text: impl FnOnce() -> String, doc: impl Serialize) -> Output {
        if json {
            Output::done(String::new(), doc)
        } else {
            Output::done(text(), serde_json::Value::Null)
        }
    }

    /// The same output with another outcome.
    #[must_use]
    pub fn with_outcome(mut self, outcome: Outcome) -> Output {
        self.outcome = outcome;
        self
    }

    /// The same output, failed with `error` once printed.
    #[must_use]
    pub fn failed(mut self, error: String) -> Output {
        self.outcome = Outcome::Failed;
        self.error = Some(error);
        self
    }

    /// What to print, as chosen by `--json`; `color` paints outcome words for a terminal;
    /// `journal` (stdout is the systemd journal) gives each line of text a priority.
    pub fn render(&self, json: bool, color: bool, journal: bool) -> String {
        if self.written {
            String::new()
        } else if json {
            let mut doc = self.json.clone();
            // The design fixes `verify` and `reconcile` as arrays; every object gets the
            // format, and the error of a command that failed after its output.
            if let Some(object) = doc.as_object_mut() {
                object.insert("format".into(), JSON_FORMAT.into());
                if let Some(error) = &self.error {
                    object.insert("error".into(), error.as_str().into());
                    object.insert("exit_code".into(), self.outcome.code().into());
                }
            }
            let mut s = serde_json::to_string_pretty(&doc).expect("a Value serializes");
            s.push('\n');
            s
        } else {
            styled(&self.text, color, journal)
        }
    }
}

/// Text for people dressed for where stdout goes: a priority per line for the journal,
/// outcome words painted for a terminal, or as it is.
pub fn styled(text: &str, color: bool, journal: bool) -> String {
    if journal {
        journal_lines(text)
    } else if color {
        paint(text)
    } else {
        text.to_owned()
    }
}

/// What a line's first word says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tone {
    /// Done.
    Good,
    /// A failure.
    Bad,
    /// Needs a look.
    Notice,
    /// Nothing happened (an idle or skipped run).
    Quiet,
}

/// The first word of `line` (after its indent, up to a space or a colon) and where it ends.
fn first_word(line: &str) -> (usize, usize) {
    let indent = line.len() - line.trim_start().len();
    let end = line[indent..]
        .find(|c: char| c.is_whitespace() || c == ':')
        .map_or(line.len(), |i| indent + i);
    (indent, end)
}

/// The tone of an outcome or status word.
fn tone(word: &str) -> Option<Tone> {
    match word {
        "executed" | "ok" | "completed" | "ran" => Some(Tone::Good),
        "execute_failed"
        | "verify_failed"
        | "FAILED"
        | "failed"
        | "completed_with_error"
        | "terminal_unrecoverable"
        | "needs" => Some(Tone::Bad),
        "refused_non_delegable"
        | "lost_race"
        | "deferred_thermal"
        | "would_execute"
        | "paused"
        | "executing"
        | "dead"
        | "running" => Some(Tone::Notice),
        "idle" | "skipped" => Some(Tone::Quiet),
        _ => None,
    }
}

/// Text for stdout when it is the systemd journal: each line with an sd-daemon(3) priority
/// prefix chosen by its first word, so `journalctl -p warning` finds failures and an idle
/// run's one line sits at debug. Continuation lines share their first line's priority.
fn journal_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut current = 6;
    for line in text.lines() {
        let (indent, end) = first_word(line);
        // A line indented deeper than a table's own rows continues the one before it.
        if indent <= 2 || tone(&line[indent..end]).is_some() {
            current = match tone(&line[indent..end]) {
                Some(Tone::Bad) => 4,
                Some(Tone::Notice) => 5,
                Some(Tone::Quiet) => 7,
                Some(Tone::Good) | None => 6,
            };
        }
        let _ = writeln!(out, "<{current}>{line}");
    }
    out
}

/// Colours the first word of each line when it is an outcome or status word: green for
/// done, red for failures, yellow for what needs a look. Escape codes take no width, so
/// tables stay aligned.
fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (indent, word_end) = first_word(line);
        let word = &line[indent..word_end];
        let code = match tone(word) {
            Some(Tone::Good) => Some("32"),
            Some(Tone::Bad) => Some("31"),
            Some(Tone::Notice) => Some("33"),
            Some(Tone::Quiet) | None => None,
        };
        match code {
            Some(code) if !word.is_empty() => {
                out.push_str(&line[..indent]);
                let _ = write!(out, "\x1b[{code}m{word}\x1b[0m");
                out.push_str(&line[word_end..]);
            }
            _ => out.push_str(line),
        }
    }
    out
}

/// `text` with every control character (newlines, escape sequences, C1 controls) written as
/// a visible `\u{..}` escape: text that came from a draft or a handler must not be able to
/// move the cursor, retitle a terminal or start a line that looks like ours.
pub fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    std::borrow::Cow::Owned(out)
}

/// `text` as lines for a terminal or a log: each line break starts a new line indented by
/// `indent`, so a multi-line message (a TOML error's diagram, a handler's stderr) reads as
/// lines under the one that introduces it, while every other control character is escaped
/// as [`printable`] does. Trailing line breaks are dropped.
pub fn printable_lines(text: &str, indent: &str) -> String {
    let lines: Vec<std::borrow::Cow<'_, str>> = text
        .trim_end_matches(['\n', '\r'])
        .split('\n')
        .map(|line| printable(line.strip_suffix('\r').unwrap_or(line)))
        .collect();
    lines.join(&format!("\n{indent}"))
}

/// Lays out rows as left-aligned columns separated by two spaces; the last column is not
/// padded. Widths count characters, which is right for the ids, words and numbers we print.
/// Cells hold what a draft or handler wrote: they pass through [`printable`], except that a
/// multi-line last cell (a handler's stderr) continues on lines indented to its column.
pub fn table(rows: &[Vec<String>]) -> String {
    let escaped: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let columns = escaped.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in &escaped {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (row, raw) in escaped.iter().zip(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                let indent = " ".repeat(line.chars().count());
                line.push_str(&printable_lines(&raw[i], &indent));
            } else {
                let _ = write!(line, "{cell:<width$}  ", width = widths[i]);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A span of seconds the way people say it: `45s`, `3m`, `2h5m`, `4d3h`.
pub fn span(seconds: i64) -> String {
    let s = seconds.max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86_400 => two_units(s / 3600, 'h', s % 3600 / 60, 'm'),
        _ => two_units(s / 86_400, 'd', s % 86_400 / 3600, 'h'),
    }
}

fn two_units(big: i64, big_unit: char, small: i64, small_unit: char) -> String {
    if small == 0 {
        format!("{big}{big_unit}")
    } else {
        format!("{big}{big_unit}{small}{small_unit}")
    }
}

/// A Unix time as people and logs read it: RFC 3339 in UTC, to the second
/// (`2026-11-30T12:00:00Z`). Times before 1970 are shown as 1970; times after the year 9999,
/// which RFC 3339 cannot write (a pause as long as `[thermal] cooldown = "9000years"` sets),
/// as Unix seconds.
pub fn date(unix: i64) -> String {
    /// 9999-12-31T23:59:59Z.
    const LAST: i64 = 253_402_300_799;
    if unix > LAST {
        return format!("{unix} (Unix time, after the year 9999)");
    }
    let since_epoch = std::time::Duration::from_secs(u64::try_from(unix).unwrap_or(0));
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + since_epoch).to_string()
}

/// `3m ago`, or `in 3m` for a moment ahead of now.
pub fn ago(then: i64, now: i64) -> String {
    if then > now {
        format!("in {}", span(then.saturating_sub(now)))
    } else {
        format!("{} ago", span(now.saturating_sub(then)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_date_beyond_the_year_9999_is_written_as_unix_seconds() {
        assert_eq!(date(0), "1970-01-01T00:00:00Z");
        assert_eq!(date(-5), "1970-01-01T00:00:00Z");
        assert_eq!(date(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(
            date(253_402_300_800),
            "253402300800 (Unix time, after the year 9999)"
        );
        assert!(date(i64::MAX).starts_with("9223372036854775807 "));
    }

    #[test]
    fn spans_read_like_people_say_them() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(180), "3m");
        assert_eq!(span(3600), "1h");
        assert_eq!(span(7500), "2h5m");
        assert_eq!(span(86_400 * 4 + 3600 * 3), "4d3h");
        assert_eq!(span(86_400 * 2), "2d");
        assert_eq!(ago(100, 280), "3m ago");
        assert_eq!(ago(400, 100), "in 5m");
        assert_eq!(date(1_795_965_616), "2026-11-29T15:20:16Z");
    }

    #[test]
    fn paint_colours_leading_outcome_words_only() {
        assert_eq!(
            paint("  executed  01X  k\nidle: nothing\nFAILED  01Y  why failed\n"),
            "  \x1b[32mexecuted\x1b[0m  01X  k\nidle: nothing\n\x1b[31mFAILED\x1b[0m  01Y  why failed\n"
        );
    }

    #[test]
    fn journal_lines_carry_priorities_by_their_first_word() {
        assert_eq!(
            journal_lines("idle: no approved drafts\n"),
            "<7>idle: no approved drafts\n"
        );
        assert_eq!(
            journal_lines(
                "ran: 2 draft(s)\n  executed  01X  k\n  execute_failed  01Y  k  why\n                                  more\n"
            ),
            "<6>ran: 2 draft(s)\n<6>  executed  01X  k\n<4>  execute_failed  01Y  k  why\n<4>                                  more\n"
        );
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            printable("a\u{1b}]0;x\u{7}\nb"),
            "a\\u{1b}]0;x\\u{7}\\u{a}b"
        );
        assert!(matches!(printable("plain"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn multi_line_text_continues_on_indented_lines_with_controls_escaped() {
        assert_eq!(
            printable_lines("first\r\nsecond \u{1b}[2J\n\n", "  "),
            "first\n  second \\u{1b}[2J"
        );
        let rows = vec![vec!["k".to_owned(), "one\ntwo".to_owned()]];
        assert_eq!(table(&rows), "k  one\n   two\n");
    }

    #[test]
    fn tables_align_all_but_the_last_column() {
        let rows = vec![
            vec!["a".to_owned(), "bb".to_owned(), "x".to_owned()],
            vec!["ccc".to_owned(), "d".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "a    bb  x\nccc  d   y\n");
    }
}
