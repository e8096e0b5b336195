//! A fresh PostgreSQL database per test, dropped when the test ends, so tests run in
//! parallel on one server. The server comes from `INBOX_EXEC_TEST_POSTGRES` (default: the
//! local one, as the `postgres` role); without a server the test is skipped, visibly.

/// The server tests create their databases on.
pub fn server_url() -> String {
    std::env::var("INBOX_EXEC_TEST_POSTGRES")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// `host:port` of [`server_url`] (a TCP server), for a test that puts something between
/// it and the binary.
pub fn server_addr() -> String {
    let config = parse(&server_url());
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// `url` (a test database's), reached through 127.0.0.1:`port` instead, without TLS so that
/// what sits there can read the protocol.
pub fn through_port(url: &str, port: u16) -> String {
    let config = parse(url);
    let user = config.get_user().unwrap_or("postgres");
    let db = config.get_dbname().expect("a database name");
    format!("postgres://{user}@127.0.0.1:{port}/{db}?sslmode=disable")
}

fn parse(url: &str) -> postgres::Config {
    url.parse()
        .unwrap_or_else(|e| panic!("{url} is not a PostgreSQL URL: {e}"))
}

/// Says that the running test was skipped and why ([`crate::harness::skip`], named after the
/// test thread, which is the test's path).
pub fn skip(need: &str, reason: &str) {
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    crate::harness::skip(&test, need, reason);
}

/// A database of its own for one test.
pub struct PgDb {
    name: String,
    admin: String,
}

impl PgDb {
    /// Creates `inbox_exec_test_<random>`; `Err` says why there is no server.
    pub fn create() -> Result<PgDb, String> {
        let admin = server_url();
        let mut client = connect(&admin)?;
        let mut bytes = [0u8; 6];
        getrandom::fill(&mut bytes).expect("random bytes");
        let suffix: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let name = format!("inbox_exec_test_{suffix}");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .map_err(|e| format!("CREATE DATABASE: {e}"))?;
        Ok(PgDb { name, admin })
    }

    /// A fresh database, or `None` after a visible skip.
    pub fn or_skip() -> Option<PgDb> {
        match PgDb::create() {
            Ok(db) => Some(db),
            Err(reason) => {
                skip("postgres", &reason);
                None
            }
        }
    }

    /// The URL of this database on the test server.
    pub fn url(&self) -> String {
        let base = self.admin.split('?').next().unwrap_or(&self.admin);
        let (server, _) = base.rsplit_once('/').unwrap_or((base, ""));
        format!("{server}/{}", self.name)
    }

    /// A connection to this database, with the registry's schema first on the path.
    pub fn client(&self) -> postgres::Client {
        let mut c = connect(&self.url()).expect("connect to the test database");
        c.batch_execute("SET search_path TO inbox_exec")
            .expect("search_path");
        c
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        // FORCE: a killed executor's connection may linger for a moment.
        if let Ok(mut client) = connect(&self.admin) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

fn connect(url: &str) -> Result<postgres::Client, String> {
    let mut config: postgres::Config = url.parse().map_err(|e| format!("{url}: {e}"))?;
    config.connect_timeout(std::time::Duration::from_secs(3));
    config
        .connect(postgres::NoTls)
        .map_err(|e| format!("no server at {url}: {e}"))
}
