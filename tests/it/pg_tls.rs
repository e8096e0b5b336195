//! TLS and passwords to PostgreSQL through the real binary: a throwaway cluster on a free
//! loopback port that accepts only TLS connections, with a certificate from a CA the test
//! makes (the shared server's TLS and authentication setup is system configuration, so it is
//! left alone).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::harness::World;
use crate::pgdb::skip;

/// A CA's certificate, and a certificate for `localhost` only signed by it, with its key.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "inbox-exec test CA");
    let ca =
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("ca key"))
            .expect("CA");
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server cert");
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

/// The server's programs run as the `postgres` user when we are root: it refuses root.
fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn give_to_postgres(path: &Path) -> Result<(), String> {
    if !is_root() {
        return Ok(());
    }
    let ok = Command::new("chown")
        .arg("postgres:")
        .arg(path)
        .status()
        .map_err(|e| format!("chown: {e}"))?
        .success();
    ok.then_some(())
        .ok_or_else(|| format!("cannot chown {} to postgres", path.display()))
}

/// A cluster of our own, stopped (immediately) and deleted on drop.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl Cluster {
    /// `auth`: how TCP connections authenticate (`trust`, `scram-sha-256`).
    fn start(pki: &Pki, auth: &str) -> Result<Cluster, String> {
        let mut bins: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no /usr/lib/postgresql: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("initdb").exists())
            .collect();
        bins.sort();
        let bin = bins.pop().ok_or("no initdb under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        give_to_postgres(dir.path())?;
        let data = dir.path().join("data");
        let out = as_postgres(&bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data)
            .output()
            .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!("initdb: {}", String::from_utf8_lossy(&out.stderr)));
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        for (name, body) in [("server.crt", &pki.cert_pem), ("server.key", &pki.key_pem)] {
            let path = data.join(name);
            fs::write(&path, body).map_err(|e| e.to_string())?;
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .map_err(|e| e.to_string())?;
            give_to_postgres(&path)?;
        }
        // TLS or nothing over TCP: a connection that got in used TLS.
        fs::write(
            data.join("pg_hba.conf"),
            format!("local all all trust\nhostssl all all 127.0.0.1/32 {auth}\n"),
        )
        .map_err(|e| e.to_string())?;
        let mut conf = fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| e.to_string())?;
        write!(
            conf,
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nssl = on\nfsync = off\nmax_connections = 20\n",
            dir.path().display()
        )
        .map_err(|e| e.to_string())?;
        let out = as_postgres(&bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(dir.path().join("log"))
            .args(["-w", "-t", "30", "start"])
            .output()
            .map_err(|e| format!("pg_ctl: {e}"))?;
        if !out.status.success() {
            let log = fs::read_to_string(dir.path().join("log")).unwrap_or_default();
            return Err(format!("pg_ctl start: {log}"));
        }
        Ok(Cluster { dir, bin, port })
    }

    /// Stops the server at once, as a crash or a network cut looks to its clients.
    fn stop(&self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .expect("pg_ctl stop");
        assert!(out.status.success(), "pg_ctl stop: {out:?}");
    }

    /// Starts the stopped server again.
    fn restart(&self) {
        let out = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .args(["-w", "-t", "30", "start"])
            .output()
            .expect("pg_ctl start");
        assert!(out.status.success(), "pg_ctl start: {out:?}");
    }

    /// A session over the cluster's Unix socket, where every role is trusted.
    fn admin(&self) -> postgres::Client {
        let mut config = postgres::Config::new();
        config
            .host_path(self.dir.path())
            .port(self.port)
            .user("postgres")
            .dbname("postgres");
        config.connect(postgres::NoTls).expect("socket session")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .output();
    }
}

#[test]
fn sslmode_require_verify_ca_and_verify_full_with_a_ca_file() {
    let pki = pki();
    let cluster = match Cluster::start(&pki, "trust") {
        Ok(c) => c,
        Err(reason) => return skip("postgres", &reason),
    };
    let w = World::new();
    w.cmd(&["keygen"]).ok();
    let good_ca = w.path("ca.pem");
    fs::write(&good_ca, &pki.ca_pem).expect("ca");
    let wrong_ca = w.path("wrong-ca.pem");
    fs::write(&wrong_ca, self::pki().ca_pem).expect("wrong ca");
    let init = |host: &str, mode: &str, ca: Option<&Path>| {
        let config = w.path("config.toml");
        let section = match ca {
            Some(ca) => format!("[postgres]\nca_file = \"{}\"\n", ca.display()),
            None => String::new(),
        };
        fs::write(&config, section).expect("config");
        fs::set_permissions(&config, fs::Permissions::from_mode(0o600)).expect("chmod");
        let url = format!(
            "postgres://postgres@{host}:{}/postgres?sslmode={mode}",
            cluster.port
        );
        w.cmd(&["init"])
            .env("INBOX_EXEC_DB", &url)
            .env("INBOX_EXEC_CONFIG", &config)
            .output()
    };
    // The server takes TLS only: without it, refused; with it, in.
    let plain = init("localhost", "disable", None);
    assert_eq!(plain.code, 1, "{plain:?}");
    assert!(plain.stderr.contains("no encryption"), "{}", plain.stderr);
    let require = init("localhost", "require", None);
    assert_eq!(require.code, 0, "{require:?}");
    // Verified against the CA that signed the certificate, name included.
    let full = init("localhost", "verify-full", Some(&good_ca));
    assert_eq!(full.code, 0, "{full:?}");
    // A CA that did not sign it: refused in every mode that checks (require too, as libpq
    // once a root certificate is given), and the message says why.
    for mode in ["require", "verify-ca", "verify-full"] {
        let refused = init("localhost", mode, Some(&wrong_ca));
        assert_eq!(refused.code, 1, "{mode}: {refused:?}");
        assert!(
            refused.stderr.contains("invalid peer certificate"),
            "{mode}: {}",
            refused.stderr
        );
    }
    // A name the certificate does not carry: verify-full refuses, verify-ca does not check.
    let wrong_name = init("127.0.0.1", "verify-full", Some(&good_ca));
    assert_eq!(wrong_name.code, 1, "{wrong_name:?}");
    assert!(
        wrong_name.stderr.contains("not valid for name"),
        "{}",
        wrong_name.stderr
    );
    assert_eq!(init("127.0.0.1", "verify-ca", Some(&good_ca)).code, 0);
    // verify-full needs a CA: said before any connection is tried.
    let no_ca = init("localhost", "verify-full", None);
    assert_eq!(no_ca.code, 1);
    assert!(no_ca.stderr.contains("ca_file"), "{}", no_ca.stderr);
}

#[test]
fn the_password_comes_from_the_password_file_or_pgpass_and_never_from_the_url() {
    const SECRET: &str = "s3cret-Pa55";
    let pki = pki();
    let cluster = match Cluster::start(&pki, "scram-sha-256") {
        Ok(c) => c,
        Err(reason) => return skip("postgres", &reason),
    };
    cluster
        .admin()
        .batch_execute(&format!("ALTER ROLE postgres PASSWORD '{SECRET}'"))
        .expect("set the password");
    let w = World::new();
    w.cmd(&["keygen"]).ok();
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require",
        cluster.port
    );
    let private = |name: &str, body: &str, mode: u32| {
        let path = w.path(name);
        fs::write(&path, body).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    };
    let config = |section: &str| private("config.toml", section, 0o600);
    let init = |url: &str, config: &Path| {
        w.cmd(&["init"])
            .env("INBOX_EXEC_DB", url)
            .env("INBOX_EXEC_CONFIG", config)
            .output()
    };
    let no_secret = |out: &crate::harness::Done| {
        assert!(
            !out.stdout.contains(SECRET) && !out.stderr.contains(SECRET),
            "the password was shown: {out:?}"
        );
    };

    // No password anywhere: the server says no.
    let empty = config("");
    let out = init(&url, &empty);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("password"), "{}", out.stderr);

    // A password file others can read is refused before anything is sent.
    let loose = private("pg-password", &format!("{SECRET}\n"), 0o644);
    let with_file = config(&format!(
        "[postgres]\npassword_file = \"{}\"\n",
        loose.display()
    ));
    let out = init(&url, &with_file);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("chmod 600"), "{}", out.stderr);
    no_secret(&out);
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o600)).expect("chmod");
    let out = init(&url, &with_file);
    assert_eq!(out.code, 0, "{out:?}");

    // libpq's password file: PGPASSFILE, else ~/.pgpass, first matching line wins.
    let pgpass = format!(
        "# host:port:database:role:password\nother:*:*:*:wrong\nlocalhost:{}:postgres:postgres:{SECRET}\n",
        cluster.port
    );
    let named = private("named.pgpass", &pgpass, 0o600);
    let out = w
        .cmd(&["init"])
        .env("INBOX_EXEC_DB", &url)
        .env("INBOX_EXEC_CONFIG", &empty)
        .env("PGPASSFILE", &named)
        .output();
    assert_eq!(out.code, 0, "{out:?}");
    let home_pgpass = w.home.join(".pgpass");
    fs::write(&home_pgpass, &pgpass).expect("~/.pgpass");
    fs::set_permissions(&home_pgpass, fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(init(&url, &empty).code, 0);

    // A password in the URL is refused, and the message does not repeat it.
    let with_password = format!(
        "postgres://postgres:{SECRET}@localhost:{}/postgres",
        cluster.port
    );
    let out = init(&with_password, &empty);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("holds a password"), "{}", out.stderr);
    no_secret(&out);

    // A wrong password: refused by the server, and not shown either.
    let wrong = private("wrong-password", "not-it\n", 0o600);
    let out = init(
        &url,
        &config(&format!(
            "[postgres]\npassword_file = \"{}\"\n",
            wrong.display()
        )),
    );
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("password"), "{}", out.stderr);
    assert!(!out.stderr.contains("not-it"), "{}", out.stderr);
}

#[test]
fn an_outcome_the_vanished_database_could_not_take_is_journalled_and_recorded_when_it_is_back() {
    let pki = pki();
    let cluster = match Cluster::start(&pki, "trust") {
        Ok(c) => c,
        Err(reason) => return skip("postgres", &reason),
    };
    let mut w = World::new();
    w.db_url = Some(format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=require&connect_timeout=2",
        cluster.port
    ));
    w.cmd(&["keygen"]).ok();
    w.cmd(&["init"]).ok();
    let s = crate::stage::Stage::build(w, "sleep 1", "");
    let id = s.ledger(1).remove(0);
    let mut run = s.run(&[]);
    run.cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = run.cmd.spawn().expect("spawn run");
    s.wait_started(1);
    // The draft is claimed and its handler runs: the database goes away.
    cluster.stop();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the run fails and says why:\n{stderr}"
    );
    assert!(
        stderr.contains(&id),
        "the message names the draft: {stderr}"
    );
    assert_eq!(s.dispatched(&id), 1);

    // Back: the next run records what the handler did, and runs nothing again.
    cluster.restart();
    s.run(&[]).ok();
    let status: String = cluster
        .admin()
        .query_one(
            "SELECT status FROM inbox_exec.drafts WHERE draft_id = $1",
            &[&id],
        )
        .expect("status")
        .get(0);
    assert_eq!(status, "completed");
    assert_eq!(s.dispatched(&id), 1, "dispatched once");
}
