//! What a command hands back to the edge: text for people, one JSON document for machines,
//! and the outcome that picks the exit code.

use std::fmt::Write as _;

use serde::Serialize;

use crate::exit::Outcome;

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
}

impl Output {
    /// An output with the `Done` outcome.
    pub fn done(text: impl Into<String>, json: impl Serialize) -> Output {
        Output {
            text: text.into(),
            json: serde_json::to_value(json).expect("report types always serialize"),
            outcome: Outcome::Done,
            error: None,
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

    /// What to print, as chosen by `--json`; `color` paints outcome words for a terminal.
    pub fn render(&self, json: bool, color: bool) -> String {
        if json {
            let mut s = serde_json::to_string_pretty(&self.json).expect("a Value serializes");
            s.push('\n');
            s
        } else if color {
            paint(&self.text)
        } else {
            self.text.clone()
        }
    }
}

/// Colours the first word of each line when it is an outcome or status word: green for
/// done, red for failures, yellow for what needs a look. Escape codes take no width, so
/// tables stay aligned.
fn paint(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let indent = line.len() - line.trim_start().len();
        let word_end = line[indent..]
            .find(|c: char| c.is_whitespace() || c == ':')
            .map_or(line.len(), |i| indent + i);
        let word = &line[indent..word_end];
        let code = match word {
            "executed" | "ok" | "completed" | "ran" => Some("32"),
            "execute_failed"
            | "verify_failed"
            | "FAILED"
            | "failed"
            | "completed_with_error"
            | "terminal_unrecoverable"
            | "needs" => Some("31"),
            "refused_non_delegable"
            | "lost_race"
            | "deferred_thermal"
            | "would_execute"
            | "paused"
            | "skipped"
            | "executing"
            | "dead"
            | "running" => Some("33"),
            _ => None,
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

/// Lays out rows as left-aligned columns separated by two spaces; the last column is not
/// padded. Widths count characters, which is right for the ids, words and numbers we print.
/// Cells are passed through [`printable`]: they often hold what a draft or handler wrote.
pub fn table(rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| printable(cell).into_owned())
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0; columns];
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
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
    fn spans_read_like_people_say_them() {
        assert_eq!(span(45), "45s");
        assert_eq!(span(180), "3m");
        assert_eq!(span(3600), "1h");
        assert_eq!(span(7500), "2h5m");
        assert_eq!(span(86_400 * 4 + 3600 * 3), "4d3h");
        assert_eq!(span(86_400 * 2), "2d");
        assert_eq!(ago(100, 280), "3m ago");
        assert_eq!(ago(400, 100), "in 5m");
    }

    #[test]
    fn paint_colours_leading_outcome_words_only() {
        assert_eq!(
            paint("  executed  01X  k\nidle: nothing\nFAILED  01Y  why failed\n"),
            "  \x1b[32mexecuted\x1b[0m  01X  k\nidle: nothing\n\x1b[31mFAILED\x1b[0m  01Y  why failed\n"
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
    fn tables_align_all_but_the_last_column() {
        let rows = vec![
            vec!["a".to_owned(), "bb".to_owned(), "x".to_owned()],
            vec!["ccc".to_owned(), "d".to_owned(), "y".to_owned()],
        ];
        assert_eq!(table(&rows), "a    bb  x\nccc  d   y\n");
    }
}
