//! Alerts as mailed to a human: the message (bounded in size, its subject one line) and how
//! one is sent: e-mail over SMTP (lettre, rustls) or a local sendmail.
//!
//! What each alert says is `alerts.rs`; which wait and when they go is the outbox's business
//! (`outbox.rs`): every alert is written to the registry with the outcome it reports and sent
//! at the end of the cycle.

use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport as _};

use crate::alerts::Alert;
use crate::config::{NotifyConfig, Transport};
use crate::dispatch::child::{self, Invocation};
use crate::fsutil::{self, Links};

/// Every subject starts with this, so mail filters can route alerts.
pub const SUBJECT_PREFIX: &str = "[ALERT] inbox-exec";

/// The longest subject, in characters, prefix included: what a mail client shows on one line.
pub const SUBJECT_MAX_CHARS: usize = 200;

/// The largest body, in bytes. An alert quotes what it is about (a reason, a target), and
/// whoever writes the registry chooses that text: an 8 MB target once made an alert no server
/// would take. Cut, every alert fits any server's limit and the outbox row stays small.
pub const BODY_MAX_BYTES: usize = 16 * 1024;

/// One alert as it is mailed, already bounded: build it with [`Mail::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// The subject: the prefix, one line, at most [`SUBJECT_MAX_CHARS`].
    pub subject: String,
    /// The body: at most [`BODY_MAX_BYTES`] plus a line saying what was cut.
    pub body: String,
    /// The draft it is about, if any (for the record; never used to route it).
    pub draft_id: Option<String>,
}

impl Mail {
    /// The message for `alert`: its subject is the prefix followed by the alert's `what`.
    pub fn new(alert: &Alert) -> Mail {
        let Alert { what, body } = alert;
        Mail {
            subject: one_line(&format!("{SUBJECT_PREFIX}: {what}"), SUBJECT_MAX_CHARS),
            body: bounded(body, BODY_MAX_BYTES),
            draft_id: None,
        }
    }

    /// The same message, recorded as being about draft `id`.
    #[must_use]
    pub fn about(mut self, id: &str) -> Mail {
        self.draft_id = Some(id.to_owned());
        self
    }
}

/// `text` on one line (every control character, line breaks included, becomes a space: a
/// subject with a line break in it would end the header there) and at most `max` characters.
pub fn one_line(text: &str, max: usize) -> String {
    let flat: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if flat.chars().count() <= max {
        return flat;
    }
    let mut cut: String = flat.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `text` cut to at most `max` bytes on a character boundary, with a line saying how much
/// was left out.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n\n[… {} more bytes not shown]",
        &text[..end],
        text.len() - end
    )
}

/// Why a send failed, and whether the alerts after it can still be tried.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    /// What happened, naming the server or program.
    pub message: String,
    /// The server could not be reached, stopped answering, or the mail settings are unusable:
    /// the next alert would fail the same way. Otherwise the server refused this one alert (a
    /// 552 for its size, say), and the next may well go through.
    pub unreachable: bool,
}

impl SendError {
    fn unreachable(message: String) -> SendError {
        SendError {
            message,
            unreachable: true,
        }
    }

    fn refused(message: String) -> SendError {
        SendError {
            message,
            unreachable: false,
        }
    }
}

/// Sends alerts as configured in `[notify]`.
#[derive(Debug, Clone)]
pub struct Mailer {
    config: NotifyConfig,
    password: Option<String>,
}

impl Mailer {
    /// A mailer for `config`; `env_password` is `INBOX_EXEC_SMTP_PASSWORD`, used when no
    /// password file is configured.
    pub fn new(config: NotifyConfig, env_password: Option<String>) -> Mailer {
        let password = match &config.transport {
            Transport::Smtp {
                password_file: Some(path),
                ..
            } => read_password(path)
                .map_err(|e| log::error!("{e}; alerts will be sent without a password"))
                .ok(),
            _ => env_password,
        };
        Mailer { config, password }
    }

    /// The configured per-connection timeout.
    pub fn timeout(&self) -> Duration {
        self.config.timeout
    }

    /// Sends one alert, giving the server or sendmail at most `timeout` for each step (lettre
    /// bounds each read and write by it, not the whole send: the caller bounds that).
    pub fn send(&self, alert: &Mail, timeout: Duration) -> Result<(), SendError> {
        let config = &self.config;
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| SendError::unreachable(format!("[notify] from {:?}: {e}", config.from)))?;
        let to = config
            .to
            .iter()
            .map(|to| {
                to.parse::<Mailbox>()
                    .map_err(|e| SendError::unreachable(format!("[notify] to {to:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        // The envelope (sendmail's -f and recipients) takes bare addresses, never the
        // display names the headers may carry.
        let envelope_from = from.email.to_string();
        let envelope_to: Vec<String> = to.iter().map(|m| m.email.to_string()).collect();
        let mut builder = Message::builder()
            .from(from)
            .subject(&alert.subject)
            .header(ContentType::TEXT_PLAIN);
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        let message = builder
            .body(alert.body.clone())
            .map_err(|e| SendError::refused(format!("building the message: {e}")))?;
        match &config.transport {
            Transport::Smtp { url, username, .. } => {
                let shown = redact(url);
                let mut transport = SmtpTransport::from_url(url)
                    .map_err(|e| {
                        SendError::unreachable(format!("[notify] smtp_url {shown:?}: {e}"))
                    })?
                    .timeout(Some(timeout));
                if let (Some(user), Some(pass)) = (username, &self.password) {
                    transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
                }
                transport.build().send(&message).map(|_| ()).map_err(|e| {
                    let message = format!("SMTP {shown}: {e}");
                    // A reply code means the server is there and judged this message; anything
                    // else (refused, reset, timed out, TLS) is about reaching it.
                    if e.is_permanent() || e.is_transient() {
                        SendError::refused(message)
                    } else {
                        SendError::unreachable(message)
                    }
                })
            }
            Transport::Sendmail(program) => {
                // Through our own child runner rather than lettre's: it bounds the time a
                // hung sendmail can take, as every other child of ours is bounded.
                let mut args: Vec<OsString> =
                    vec!["-i".into(), "-f".into(), envelope_from.into(), "--".into()];
                args.extend(envelope_to.into_iter().map(OsString::from));
                let inv = Invocation {
                    program: program.clone(),
                    args,
                    env: vec![("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into())],
                    stdin: message.formatted(),
                    timeout,
                };
                let finished =
                    child::run(&inv).map_err(|e| SendError::unreachable(e.to_string()))?;
                if finished.success() {
                    return Ok(());
                }
                let message = format!(
                    "{}: {} {}",
                    program.display(),
                    finished.describe(timeout),
                    child::tail(&finished.stderr, 200)
                );
                Err(if finished.status.is_none() {
                    SendError::unreachable(message)
                } else {
                    SendError::refused(message)
                })
            }
        }
    }
}

/// The URL with any `user:password@` replaced, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://***@{host}{}", &rest[end..]),
        None => url.to_owned(),
    }
}

/// A password file larger than this holds something else.
const MAX_PASSWORD_FILE: u64 = 64 * 1024;

fn read_password(path: &Path) -> Result<String, String> {
    // Through fsutil: a FIFO here would block the run for ever after the cycle is done.
    let (bytes, meta) = fsutil::read_regular(
        path,
        Links::Follow,
        MAX_PASSWORD_FILE,
        "an SMTP password file",
    )
    .map_err(|e| format!("SMTP password file: {e}"))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "SMTP password file {} is accessible by group or others: run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let me = rustix::process::geteuid().as_raw();
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "SMTP password file {} is owned by uid {}: it must belong to the user running inbox-exec or to root",
            path.display(),
            meta.uid()
        ));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("SMTP password file {} is not UTF-8 text", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_redacted_from_smtp_urls() {
        assert_eq!(
            redact("smtp://u:p@h:25?tls=required"),
            "smtp://***@h:25?tls=required"
        );
        assert_eq!(redact("smtps://h:465"), "smtps://h:465");
    }

    #[test]
    fn a_subject_is_one_bounded_line() {
        let alert = Mail::new(&Alert {
            what: "draft x failed: line one\r\nBcc: evil@example.org\ttab".into(),
            body: String::new(),
        });
        assert!(
            !alert.subject.contains(['\r', '\n', '\t']),
            "{:?}",
            alert.subject
        );
        assert!(alert.subject.starts_with(SUBJECT_PREFIX));
        let long = Mail::new(&Alert {
            what: "é".repeat(1000),
            body: String::new(),
        });
        assert_eq!(long.subject.chars().count(), SUBJECT_MAX_CHARS);
        assert!(long.subject.ends_with('…'));
    }

    #[test]
    fn a_body_is_cut_on_a_character_boundary_and_says_so() {
        let text = "é".repeat(BODY_MAX_BYTES);
        let body = bounded(&text, BODY_MAX_BYTES);
        assert!(body.len() < BODY_MAX_BYTES + 64);
        assert!(body.ends_with(&format!(
            "[… {} more bytes not shown]",
            text.len() - BODY_MAX_BYTES
        )));
        assert_eq!(bounded("short", BODY_MAX_BYTES), "short");
    }
}
