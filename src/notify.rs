//! Alerts to a human: e-mail over SMTP (lettre, rustls) or a local sendmail, or the log when
//! no mail is configured.
//!
//! Alerts are queued during a cycle and sent after every draft is recorded, so a slow or dead
//! mail server delays nothing that matters; after the first failed send the rest go to the
//! log instead of waiting out the timeout again. Sending never fails the cycle.

use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use lettre::message::{Mailbox, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Message, SmtpTransport, Transport as _};

use crate::alerts::Alert;
use crate::config::{NotifyConfig, Transport};
use crate::dispatch::child::{self, Invocation};

/// Every subject starts with this, so mail filters can route alerts.
pub const SUBJECT_PREFIX: &str = "[ALERT] inbox-exec";

/// One alert as it is mailed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mail {
    /// The subject, prefix included.
    subject: String,
    /// The body.
    body: String,
}

/// Collects alerts during a cycle and delivers them at the end.
#[derive(Debug)]
pub struct Notifier {
    config: Option<NotifyConfig>,
    password: Option<String>,
    queue: Vec<Mail>,
}

impl Notifier {
    /// A notifier for `config`; `env_password` is `INBOX_EXEC_SMTP_PASSWORD`, used when no
    /// password file is configured.
    pub fn new(config: Option<NotifyConfig>, env_password: Option<String>) -> Notifier {
        let password = match &config {
            Some(NotifyConfig {
                transport:
                    Transport::Smtp {
                        password_file: Some(path),
                        ..
                    },
                ..
            }) => read_password(path)
                .map_err(|e| log::error!("{e}; alerts will be sent without a password"))
                .ok(),
            _ => env_password,
        };
        Notifier {
            config,
            password,
            queue: Vec::new(),
        }
    }

    /// Queues an alert; its `what` follows the subject prefix.
    pub fn alert(&mut self, alert: Alert) {
        let Alert { what, body } = alert;
        let subject = format!("{SUBJECT_PREFIX}: {what}");
        if self.config.is_none() {
            log::warn!("{subject}\n{body}");
        } else {
            log::info!("alert queued: {subject}");
        }
        self.queue.push(Mail { subject, body });
    }

    /// Sends the queued alerts; returns how many were delivered.
    pub fn flush(&mut self) -> usize {
        let Some(config) = self.config.clone() else {
            self.queue.clear();
            return 0;
        };
        let mut sent = 0;
        let mut broken: Option<String> = None;
        for alert in std::mem::take(&mut self.queue) {
            if let Some(why) = &broken {
                log::warn!("not sent ({why}): {}\n{}", alert.subject, alert.body);
                continue;
            }
            match self.send(&config, &alert) {
                Ok(()) => sent += 1,
                Err(e) => {
                    log::error!("cannot send alert {:?}: {e}", alert.subject);
                    log::warn!("{}\n{}", alert.subject, alert.body);
                    broken = Some(e);
                }
            }
        }
        sent
    }

    fn send(&self, config: &NotifyConfig, alert: &Mail) -> Result<(), String> {
        let from: Mailbox = config
            .from
            .parse()
            .map_err(|e| format!("[notify] from {:?}: {e}", config.from))?;
        let to = config
            .to
            .iter()
            .map(|to| {
                to.parse::<Mailbox>()
                    .map_err(|e| format!("[notify] to {to:?}: {e}"))
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
            .map_err(|e| format!("building the message: {e}"))?;
        match &config.transport {
            Transport::Smtp { url, username, .. } => {
                let shown = redact(url);
                let mut transport = SmtpTransport::from_url(url)
                    .map_err(|e| format!("[notify] smtp_url {shown:?}: {e}"))?
                    .timeout(Some(config.timeout));
                if let (Some(user), Some(pass)) = (username, &self.password) {
                    transport = transport.credentials(Credentials::new(user.clone(), pass.clone()));
                }
                transport
                    .build()
                    .send(&message)
                    .map(|_| ())
                    .map_err(|e| format!("SMTP {shown}: {e}"))
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
                    timeout: config.timeout,
                };
                let finished =
                    child::run(&inv).map_err(|e| format!("{}: {e}", program.display()))?;
                if finished.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{}: {} {}",
                        program.display(),
                        finished.describe(config.timeout),
                        child::tail(&finished.stderr, 200)
                    ))
                }
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

fn read_password(path: &Path) -> Result<String, String> {
    let meta =
        fs::metadata(path).map_err(|e| format!("SMTP password file {}: {e}", path.display()))?;
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(format!(
            "SMTP password file {} is accessible by group or others: run `chmod 600 {}`",
            path.display(),
            path.display()
        ));
    }
    let text = fs::read_to_string(path)
        .map_err(|e| format!("SMTP password file {}: {e}", path.display()))?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

#[cfg(test)]
mod tests {
    #[test]
    fn credentials_are_redacted_from_smtp_urls() {
        assert_eq!(
            super::redact("smtp://u:p@h:25?tls=required"),
            "smtp://***@h:25?tls=required"
        );
        assert_eq!(super::redact("smtps://h:465"), "smtps://h:465");
    }
}
