//! Reaching the PostgreSQL server: the `postgres://` URL, the password and TLS.
//!
//! The URL is parsed here rather than by the driver: the driver knows neither
//! `sslmode=verify-ca`/`verify-full` nor `sslrootcert`, and parsing it ourselves lets every
//! message carry a URL with nothing secret in it. The password never comes from the URL (it
//! would sit in argv, in the environment or in a log line): it comes from the configured
//! password file, or from libpq's own password file (`PGPASSFILE`, else `~/.pgpass`).

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ClientConfig, WebPkiServerVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The port PostgreSQL listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 5432;

/// How long to wait for the server to answer a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// After this long without an acknowledgement from the server, the kernel drops the
/// connection: a run whose database vanished fails within this instead of hanging.
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

/// Why the server could not be reached; each message names the URL with its secrets removed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL does not parse.
    #[error("{url}: {message}")]
    BadUrl {
        /// The URL, redacted.
        url: String,
        /// What is wrong with it.
        message: String,
    },
    /// A password in the URL: it would sit in argv, the environment or a log.
    #[error(
        "{url}: the URL holds a password; remove it and put the password in the file named by [postgres] password_file, or in ~/.pgpass (or the file PGPASSFILE names)"
    )]
    PasswordInUrl {
        /// The URL, redacted.
        url: String,
    },
    /// The configured password file cannot be used.
    #[error("PostgreSQL password file {path}: {message}")]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The CA file cannot be used.
    #[error("PostgreSQL CA file {path}: {message}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// `verify-ca` or `verify-full` without a CA to verify against.
    #[error(
        "{url}: sslmode={mode} needs the certificate of the CA that signed the server's: set [postgres] ca_file (or sslrootcert= in the URL)"
    )]
    NoCa {
        /// The URL, redacted.
        url: String,
        /// The mode asked for.
        mode: SslMode,
    },
    /// The server refused or could not be reached.
    /// The message leaves the URL to the caller's context ("opening registry URL"), and
    /// the driver's error is not a `source`, so a chain printer does not say it twice.
    #[error("cannot connect to the PostgreSQL server: {}", chain(.error))]
    Connect {
        /// The URL, redacted.
        url: String,
        /// What the driver said.
        error: postgres::Error,
    },
}

/// The error and its causes on one line, each said once (the driver's "error performing TLS
/// handshake" alone does not say that the certificate was refused).
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

/// libpq's `sslmode`s (`allow` is left out: it only ever falls back to plain text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// TLS when the server offers it, unverified (libpq's default).
    Prefer,
    /// TLS or nothing; the certificate is checked against the CA when one is given.
    Require,
    /// TLS, and the certificate must chain to the CA.
    VerifyCa,
    /// TLS, the certificate must chain to the CA and name the host.
    VerifyFull,
}

impl SslMode {
    fn parse(word: &str) -> Option<SslMode> {
        Some(match word {
            "disable" => SslMode::Disable,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            _ => return None,
        })
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        })
    }
}

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PgHost {
    /// A host name or address, over TCP.
    Tcp(String),
    /// The directory holding the server's Unix socket.
    Socket(PathBuf),
}

/// A parsed `postgres://` (or `postgresql://`) URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    /// The server.
    pub host: PgHost,
    /// Its port.
    pub port: u16,
    /// The role, when named.
    pub user: Option<String>,
    /// The database, when named (libpq's default is the role's name).
    pub dbname: Option<String>,
    /// TLS.
    pub sslmode: SslMode,
    /// `sslrootcert=`: the CA file.
    pub sslrootcert: Option<PathBuf>,
    /// `connect_timeout=`, in seconds in the URL.
    pub connect_timeout: Option<Duration>,
}

/// Whether `text` names a PostgreSQL registry rather than a SQLite file.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The URL with any password (in the user part or as `password=`) replaced by `***`, for
/// messages. Works on URLs that do not parse, which are the ones most often quoted.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    match scheme {
        Some(scheme) => format!("{scheme}://{authority}{tail}"),
        None => format!("{authority}{tail}"),
    }
}

/// Decodes `%XX` escapes.
fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad %-escape at {:?}", &text[i..]))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "a %-escape decodes to invalid UTF-8".to_owned())
}

impl PgUrl {
    /// Parses a libpq-style URL: `postgres://[user@]host[:port][/dbname][?param=value&…]`,
    /// the host in brackets for IPv6 or %-encoded as a socket directory (`%2Frun%2Fpostgresql`).
    /// Parameters: `sslmode`, `sslrootcert`, `connect_timeout`, `host`, `port`, `user`,
    /// `dbname`. A password anywhere is refused.
    pub fn parse(url: &str) -> Result<PgUrl, ConnectError> {
        let shown = redact(url);
        let bad = |message: String| ConnectError::BadUrl {
            url: shown.clone(),
            message,
        };
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| bad("a PostgreSQL URL starts with postgres://".into()))?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if userinfo.is_some_and(|u| u.contains(':')) {
            return Err(ConnectError::PasswordInUrl { url: shown });
        }
        let mut user = userinfo
            .filter(|u| !u.is_empty())
            .map(percent_decode)
            .transpose()
            .map_err(&bad)?;
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("an IPv6 address in [ ] lacks its ]".into()))?;
            (addr.to_owned(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (percent_decode(h).map_err(&bad)?, Some(p)),
                None => (percent_decode(hostport).map_err(&bad)?, None),
            }
        };
        let parse_port = |p: &str| {
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad(format!("{p:?} is not a port number")))
        };
        let mut port = port.map(parse_port).transpose()?;
        if hostport.contains(',') {
            return Err(bad(
                "several hosts are not supported: name one server (or a proxy in front of them)"
                    .into(),
            ));
        }
        let mut host = (!host.is_empty()).then_some(host);
        let mut dbname = (!path.is_empty())
            .then(|| percent_decode(path))
            .transpose()
            .map_err(&bad)?;
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut connect_timeout = None;
        for param in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = param
                .split_once('=')
                .ok_or_else(|| bad(format!("parameter {param:?} has no value")))?;
            let value = percent_decode(value).map_err(&bad)?;
            match key {
                "sslmode" => {
                    sslmode = Some(SslMode::parse(&value).ok_or_else(|| {
                        bad(format!(
                            "sslmode={value} is not one of disable, prefer, require, verify-ca, verify-full"
                        ))
                    })?);
                }
                "sslrootcert" => sslrootcert = Some(PathBuf::from(value)),
                "connect_timeout" => {
                    let secs: u64 = value.parse().map_err(|_| {
                        bad(format!(
                            "connect_timeout={value} is not a whole number of seconds"
                        ))
                    })?;
                    // libpq treats 0 as "wait for ever"; a run must never hang.
                    connect_timeout = (secs > 0).then(|| Duration::from_secs(secs));
                }
                "host" => host = Some(value),
                "port" => port = Some(parse_port(&value)?),
                "user" => user = Some(value),
                "dbname" => dbname = Some(value),
                "password" => return Err(ConnectError::PasswordInUrl { url: shown }),
                other => {
                    return Err(bad(format!(
                        "parameter {other:?} is not supported (known: sslmode, sslrootcert, connect_timeout, host, port, user, dbname)"
                    )));
                }
            }
        }
        let host = match host {
            Some(h) if h.starts_with('/') => PgHost::Socket(PathBuf::from(h)),
            Some(h) => PgHost::Tcp(h),
            None => {
                return Err(bad(
                    "no host: write postgres://host/dbname (or host=/socket/dir)".into(),
                ));
            }
        };
        Ok(PgUrl {
            host,
            port: port.unwrap_or(DEFAULT_PORT),
            user,
            dbname,
            sslmode: sslmode.unwrap_or(SslMode::Prefer),
            sslrootcert,
            connect_timeout,
        })
    }
}

/// What the configuration adds to the URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PgSettings {
    /// The schema holding the registry's tables.
    pub schema: String,
    /// A file holding the password alone (mode 0600).
    pub password_file: Option<PathBuf>,
    /// libpq's password file: `PGPASSFILE`, else `~/.pgpass`; read when no password file is
    /// configured, and skipped silently when missing.
    pub pgpass: Option<PathBuf>,
    /// The CA certificate(s), PEM, for `require`, `verify-ca` and `verify-full`.
    pub ca_file: Option<PathBuf>,
    /// The role when the URL names none (libpq uses the login name).
    pub default_user: Option<String>,
}

/// The schema when the config names none.
pub const DEFAULT_SCHEMA: &str = "inbox_exec";

/// Connects as the URL and settings say.
pub fn connect(url: &str, settings: &PgSettings) -> Result<postgres::Client, ConnectError> {
    let parsed = PgUrl::parse(url)?;
    let shown = redact(url);
    let user = parsed
        .user
        .clone()
        .or_else(|| settings.default_user.clone())
        .ok_or_else(|| ConnectError::BadUrl {
            url: shown.clone(),
            message: "no role: write postgres://ROLE@host/dbname".into(),
        })?;
    let dbname = parsed.dbname.clone().unwrap_or_else(|| user.clone());
    let mut config = postgres::Config::new();
    config
        .user(&user)
        .dbname(&dbname)
        .port(parsed.port)
        .application_name("inbox-exec")
        .connect_timeout(parsed.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT))
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .tcp_user_timeout(TCP_USER_TIMEOUT);
    match &parsed.host {
        PgHost::Tcp(h) => config.host(h),
        PgHost::Socket(dir) => config.host_path(dir),
    };
    if let Some(password) = password(&parsed, &user, &dbname, settings)? {
        config.password(password);
    }
    let ca = parsed.sslrootcert.as_ref().or(settings.ca_file.as_ref());
    let tls_mode = match parsed.host {
        // libpq never uses TLS on a Unix socket: the kernel is the only party in between.
        PgHost::Socket(_) => SslMode::Disable,
        PgHost::Tcp(_) => parsed.sslmode,
    };
    let connected = match tls_mode {
        SslMode::Disable => {
            config.ssl_mode(postgres::config::SslMode::Disable);
            config.connect(postgres::NoTls)
        }
        mode => {
            let tls = tls_config(mode, ca.map(PathBuf::as_path), &shown)?;
            config.ssl_mode(if mode == SslMode::Prefer {
                postgres::config::SslMode::Prefer
            } else {
                postgres::config::SslMode::Require
            });
            config.connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        }
    };
    connected.map_err(|error| ConnectError::Connect { url: shown, error })
}

/// The password, from the configured file or libpq's; `None` lets the server decide (trust,
/// peer).
fn password(
    url: &PgUrl,
    user: &str,
    dbname: &str,
    settings: &PgSettings,
) -> Result<Option<String>, ConnectError> {
    if let Some(path) = &settings.password_file {
        let refuse = |message: String| ConnectError::PasswordFile {
            path: path.clone(),
            message,
        };
        let meta = fs::metadata(path).map_err(|e| refuse(e.to_string()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(refuse(format!(
                "it is accessible by group or others: run `chmod 600 {}`",
                path.display()
            )));
        }
        let text = fs::read_to_string(path).map_err(|e| refuse(e.to_string()))?;
        let password = text.trim_end_matches(['\n', '\r']);
        if password.is_empty() {
            return Err(refuse("it is empty".into()));
        }
        return Ok(Some(password.to_owned()));
    }
    let Some(path) = &settings.pgpass else {
        return Ok(None);
    };
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            log::warn!("cannot read password file {}: {e}", path.display());
            return Ok(None);
        }
    };
    // As libpq: a password file others can read is ignored, with a warning.
    let mode = fs::metadata(path).map_or(0, |m| m.permissions().mode());
    if mode & 0o077 != 0 {
        log::warn!(
            "password file {} is accessible by group or others and is ignored: run `chmod 600 {}`",
            path.display(),
            path.display()
        );
        return Ok(None);
    }
    let host = match &url.host {
        PgHost::Tcp(h) => h.clone(),
        // libpq matches a connection over the default socket directory as `localhost`.
        PgHost::Socket(_) => "localhost".to_owned(),
    };
    Ok(pgpass_lookup(
        &text,
        &host,
        &url.port.to_string(),
        dbname,
        user,
    ))
}

/// The password of the first line of a `.pgpass` file that matches
/// (`hostname:port:database:username:password`, `*` matching anything, `\:` and `\\`
/// escaping, `#` lines ignored).
pub fn pgpass_lookup(
    text: &str,
    host: &str,
    port: &str,
    dbname: &str,
    user: &str,
) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = Vec::with_capacity(5);
        let mut field = String::new();
        let mut chars = line.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        field.push(next);
                    }
                }
                ':' if fields.len() < 4 => fields.push(std::mem::take(&mut field)),
                c => field.push(c),
            }
        }
        fields.push(field);
        let [h, p, d, u, password] = fields.as_slice() else {
            continue;
        };
        let matches = |pattern: &str, value: &str| pattern == "*" || pattern == value;
        if matches(h, host) && matches(p, port) && matches(d, dbname) && matches(u, user) {
            return Some(password.clone());
        }
    }
    None
}

/// The rustls configuration for a mode. `require` and `prefer` without a CA accept any
/// certificate (TLS against eavesdropping only, as libpq); with a CA, `require` checks the
/// chain as libpq does when a root certificate is present.
fn tls_config(mode: SslMode, ca: Option<&Path>, url: &str) -> Result<ClientConfig, ConnectError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions");
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, ca) {
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => {
            return Err(ConnectError::NoCa {
                url: url.to_owned(),
                mode,
            });
        }
        (SslMode::Prefer | SslMode::Require, None) => Arc::new(AnyCertificate {
            algorithms: provider.signature_verification_algorithms,
        }),
        (mode, Some(ca)) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(ca)?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|e| ConnectError::CaFile {
                path: ca.to_owned(),
                message: e.to_string(),
            })?;
            if mode == SslMode::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly { webpki })
            }
        }
        (SslMode::Disable, None) => unreachable!("no TLS configuration for sslmode=disable"),
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

fn roots(ca: &Path) -> Result<RootCertStore, ConnectError> {
    let refuse = |message: String| ConnectError::CaFile {
        path: ca.to_owned(),
        message,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(ca)
        .map_err(|e| refuse(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| refuse(e.to_string()))?;
    if certs.is_empty() {
        return Err(refuse("it holds no PEM certificate".into()));
    }
    let mut store = RootCertStore::empty();
    for cert in certs {
        store.add(cert).map_err(|e| refuse(e.to_string()))?;
    }
    Ok(store)
}

/// `verify-ca`: the chain must lead to the CA; the name in the certificate is not checked.
#[derive(Debug)]
struct ChainOnly {
    webpki: Arc<WebPkiServerVerifier>,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// `require`/`prefer` without a CA: any certificate, as libpq. The handshake signatures are
/// still checked, so the session key belongs to whoever holds the certificate's key.
#[derive(Debug)]
struct AnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_as_libpq_writes_them() {
        let u = PgUrl::parse("postgres://app@db.example:6543/queue?sslmode=verify-full")
            .expect("parses");
        assert_eq!(u.host, PgHost::Tcp("db.example".into()));
        assert_eq!(u.port, 6543);
        assert_eq!(u.user.as_deref(), Some("app"));
        assert_eq!(u.dbname.as_deref(), Some("queue"));
        assert_eq!(u.sslmode, SslMode::VerifyFull);

        let u = PgUrl::parse("postgresql://[::1]/q").expect("ipv6");
        assert_eq!(u.host, PgHost::Tcp("::1".into()));
        assert_eq!(u.port, DEFAULT_PORT);
        assert_eq!(u.sslmode, SslMode::Prefer);

        let u = PgUrl::parse("postgres://%2Frun%2Fpostgresql/q?user=me").expect("socket");
        assert_eq!(u.host, PgHost::Socket("/run/postgresql".into()));
        assert_eq!(u.user.as_deref(), Some("me"));

        let u = PgUrl::parse("postgres:///q?host=/tmp&port=5433&connect_timeout=3")
            .expect("host param");
        assert_eq!(u.host, PgHost::Socket("/tmp".into()));
        assert_eq!(u.port, 5433);
        assert_eq!(u.connect_timeout, Some(Duration::from_secs(3)));
    }

    #[test]
    fn a_password_in_the_url_is_refused_and_never_shown() {
        for url in [
            "postgres://app:s3cret@db/q",
            "postgres://app@db/q?password=s3cret",
        ] {
            let e = PgUrl::parse(url).expect_err("refused");
            assert!(matches!(e, ConnectError::PasswordInUrl { .. }), "{e}");
            assert!(!e.to_string().contains("s3cret"), "{e}");
        }
        assert_eq!(
            redact("postgres://app:s3cret@db/q?sslmode=require&password=x"),
            "postgres://app:***@db/q?sslmode=require&password=***"
        );
        assert_eq!(redact("postgres://db/q"), "postgres://db/q");
    }

    #[test]
    fn bad_urls_say_what_is_wrong() {
        for (url, fragment) in [
            ("postgres://db:99999/q", "port"),
            ("postgres://db/q?sslmode=sometimes", "sslmode"),
            ("postgres://db/q?sslcert=x", "not supported"),
            ("postgres://a,b/q", "several hosts"),
            ("postgres:///q", "no host"),
            ("mysql://db/q", "postgres://"),
        ] {
            let e = PgUrl::parse(url).expect_err(url).to_string();
            assert!(e.contains(fragment), "{url}: {e}");
        }
    }

    #[test]
    fn pgpass_matches_as_libpq() {
        let file = "# comment\n\
                    other:5432:*:*:wrong\n\
                    db\\:x:*:q:app:first\n\
                    *:5432:*:app:pa\\:ss\\\\word\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_lookup(file, "db", "5432", "q", "app").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(
            pgpass_lookup(file, "db:x", "1", "q", "app").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(file, "db", "6000", "q", "bob").as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup("a:b:c\n", "a", "b", "c", "d"), None);
    }
}
