//! A real SMTP server on loopback, inside the test process, that keeps every message it
//! receives: mailin-embedded for plain delivery, and a session of mailin (the SMTP state
//! machine mailin-embedded is built on) driven here for a server that offers AUTH without
//! TLS, so a test can see whether, and with what, a client authenticated.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{IpAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mailin::{Action, AuthMechanism, SessionBuilder};
use mailin_embedded::{Handler, Response, Server, SslConfig, response};

/// How long to wait for a message the binary has already sent before giving up.
const MAIL_DEADLINE: Duration = Duration::from_secs(10);

/// One message as the server received it: the envelope and the raw DATA.
#[derive(Debug, Clone)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    pub data: String,
}

impl Mail {
    /// The header block with folded lines joined back (lettre folds long subjects by
    /// inserting CRLF before a space).
    pub fn headers(&self) -> String {
        let (head, _) = self.split();
        head.replace("\r\n ", " ").replace("\r\n\t", "\t")
    }

    pub fn split(&self) -> (&str, &str) {
        self.data
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no blank line after the headers:\n{}", self.data))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers().split("\r\n").find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub fn subject(&self) -> String {
        self.header("Subject")
            .unwrap_or_else(|| panic!("no Subject header:\n{}", self.data))
    }

    /// The body, decoded from its transfer encoding, with LF line ends.
    pub fn body(&self) -> String {
        let (_, body) = self.split();
        let encoding = self
            .header("Content-Transfer-Encoding")
            .unwrap_or_else(|| "7bit".to_owned())
            .to_ascii_lowercase();
        let text = match encoding.as_str() {
            "7bit" | "8bit" => body.to_owned(),
            "quoted-printable" => quoted_printable(body),
            other => panic!(
                "unexpected Content-Transfer-Encoding {other}:\n{}",
                self.data
            ),
        };
        text.replace("\r\n", "\n")
    }

    /// Everything a human reads: the subject and the body.
    pub fn text(&self) -> String {
        format!("{}\n{}", self.subject(), self.body())
    }
}

/// Decodes quoted-printable: soft line breaks and `=XX` escapes.
fn quoted_printable(text: &str) -> String {
    let joined = text.replace("=\r\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'=')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        if let Some(byte) = escaped {
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("quoted-printable body is UTF-8")
}

/// The SMTP session handler: mailin-embedded clones it for each connection, so the message
/// in progress lives in the clone and only finished messages go to the shared inbox.
#[derive(Clone)]
struct Collector {
    inbox: Arc<Mutex<Vec<Mail>>>,
    envelope: Option<(String, Vec<String>)>,
    data: Vec<u8>,
}

impl Handler for Collector {
    fn data_start(&mut self, _domain: &str, from: &str, _is8bit: bool, to: &[String]) -> Response {
        self.envelope = Some((from.to_owned(), to.to_vec()));
        self.data.clear();
        response::OK
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.data.extend_from_slice(buf);
        Ok(())
    }

    fn data_end(&mut self) -> Response {
        // Stored before the 250 reply goes out, so a message is in the inbox by the time the
        // client's send returns.
        if let Some((from, to)) = self.envelope.take() {
            let data = String::from_utf8_lossy(&std::mem::take(&mut self.data)).into_owned();
            self.inbox
                .lock()
                .expect("inbox lock")
                .push(Mail { from, to, data });
        }
        response::OK
    }
}

/// A real SMTP server on a free loopback port, serving on a background thread for the rest
/// of the test process.
pub struct SmtpServer {
    port: u16,
    inbox: Arc<Mutex<Vec<Mail>>>,
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("listener address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let mut server = Server::new(Collector {
            inbox: Arc::clone(&inbox),
            envelope: None,
            data: Vec::new(),
        });
        server
            .with_name("mail.test")
            .with_ssl(SslConfig::None)
            .expect("a server without TLS")
            .with_tcp_listener(listener);
        thread::spawn(move || {
            // serve() returns only when the listener fails; the test then times out waiting.
            if let Err(e) = server.serve() {
                eprintln!("test SMTP server stopped: {e}");
            }
        });
        SmtpServer { port, inbox }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Mail> {
        self.inbox.lock().expect("inbox lock").clone()
    }

    /// Waits until `n` messages have arrived and returns them all.
    pub fn wait_for(&self, n: usize) -> Vec<Mail> {
        let deadline = Instant::now() + MAIL_DEADLINE;
        loop {
            let mails = self.received();
            if mails.len() >= n {
                return mails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} message(s) within {MAIL_DEADLINE:?}, got {}: {mails:#?}",
                mails.len()
            );
            thread::yield_now();
        }
    }
}

/// One AUTH the server was given: the user name and the password.
pub type Login = (String, String);

/// An SMTP server that offers AUTH PLAIN and LOGIN over plain TCP (as a loopback relay may),
/// records every AUTH it is sent, accepts only the password it is told to, and then takes
/// mail like [`SmtpServer`].
pub struct AuthSmtpServer {
    port: u16,
    inbox: Arc<Mutex<Vec<Mail>>>,
    logins: Arc<Mutex<Vec<Login>>>,
    accept: Arc<Mutex<Option<String>>>,
}

/// The session handler of [`AuthSmtpServer`].
#[derive(Clone)]
struct Gatekeeper {
    mail: Collector,
    logins: Arc<Mutex<Vec<Login>>>,
    accept: Arc<Mutex<Option<String>>>,
}

impl Gatekeeper {
    fn login(&self, user: &str, password: &str) -> Response {
        self.logins
            .lock()
            .expect("logins lock")
            .push((user.to_owned(), password.to_owned()));
        let accepted = self.accept.lock().expect("accept lock").as_deref() == Some(password);
        if accepted {
            response::AUTH_OK
        } else {
            response::INVALID_CREDENTIALS
        }
    }
}

impl Handler for Gatekeeper {
    fn data_start(&mut self, domain: &str, from: &str, is8bit: bool, to: &[String]) -> Response {
        self.mail.data_start(domain, from, is8bit, to)
    }

    fn data(&mut self, buf: &[u8]) -> io::Result<()> {
        self.mail.data(buf)
    }

    fn data_end(&mut self) -> Response {
        self.mail.data_end()
    }

    fn auth_plain(&mut self, _authorization_id: &str, user: &str, password: &str) -> Response {
        self.login(user, password)
    }

    fn auth_login(&mut self, user: &str, password: &str) -> Response {
        self.login(user, password)
    }
}

impl AuthSmtpServer {
    /// Listens on a free loopback port for the rest of the test process; accepts the
    /// password `accept` (none: every AUTH fails).
    pub fn start(accept: Option<&str>) -> AuthSmtpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("listener address").port();
        let inbox = Arc::new(Mutex::new(Vec::new()));
        let logins = Arc::new(Mutex::new(Vec::new()));
        let accept = Arc::new(Mutex::new(accept.map(str::to_owned)));
        let gatekeeper = Gatekeeper {
            mail: Collector {
                inbox: Arc::clone(&inbox),
                envelope: None,
                data: Vec::new(),
            },
            logins: Arc::clone(&logins),
            accept: Arc::clone(&accept),
        };
        let mut builder = SessionBuilder::new("mail.test");
        builder
            .enable_auth(AuthMechanism::Plain)
            .enable_auth(AuthMechanism::Login)
            .insecure_enable_plaintext_auth();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (builder, handler) = (builder.clone(), gatekeeper.clone());
                thread::spawn(move || {
                    if let Err(e) = serve_session(&builder, handler, stream) {
                        eprintln!("test SMTP session ended: {e}");
                    }
                });
            }
        });
        AuthSmtpServer {
            port,
            inbox,
            logins,
            accept,
        }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// From now on, accept this password (none: refuse every AUTH).
    pub fn accept(&self, password: Option<&str>) {
        *self.accept.lock().expect("accept lock") = password.map(str::to_owned);
    }

    /// Every AUTH received so far, in order.
    pub fn logins(&self) -> Vec<Login> {
        self.logins.lock().expect("logins lock").clone()
    }

    pub fn received(&self) -> Vec<Mail> {
        self.inbox.lock().expect("inbox lock").clone()
    }
}

/// One SMTP session: the greeting, then a reply to each line until QUIT or EOF.
fn serve_session(
    builder: &SessionBuilder,
    handler: Gatekeeper,
    stream: TcpStream,
) -> io::Result<()> {
    let remote = stream
        .peer_addr()
        .map_or(IpAddr::from([127, 0, 0, 1]), |a| a.ip());
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut session = builder.build(remote, handler);
    session.greeting().write_to(&mut writer)?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        let reply = session.process(&line);
        match reply.action {
            Action::NoReply => {}
            Action::Close => {
                reply.write_to(&mut writer)?;
                return writer.flush();
            }
            Action::Reply | Action::UpgradeTls => reply.write_to(&mut writer)?,
        }
        writer.flush()?;
    }
}
