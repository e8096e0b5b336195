//! TLS against a real server: a throwaway PostgreSQL cluster with a certificate from a CA
//! the test makes, on a free loopback port (the shared cluster's TLS setup is system config
//! and is left alone).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::connect::{ConnectError, PgSettings, connect};

/// A CA and a server certificate for `localhost` (only) signed by it.
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
        rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().expect("key"))
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

fn bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|b| b.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop()
}

/// A cluster of our own, stopped and deleted on drop.
struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

fn as_postgres(program: &Path) -> Command {
    if rustix::process::geteuid().is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Cluster {
    fn start(pki: &Pki) -> Result<Cluster, String> {
        let bin = bindir().ok_or("no PostgreSQL server binaries under /usr/lib/postgresql")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data = dir.path().join("data");
        if rustix::process::geteuid().is_root() {
            let status = Command::new("chown")
                .args(["postgres:", &dir.path().display().to_string()])
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("cannot hand the cluster directory to the postgres user".into());
            }
        }
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
            if rustix::process::geteuid().is_root() {
                Command::new("chown")
                    .arg("postgres:")
                    .arg(&path)
                    .status()
                    .map_err(|e| e.to_string())?;
            }
        }
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
fn require_verify_ca_and_verify_full_against_a_server_with_our_certificate() {
    let pki = pki();
    let cluster = match Cluster::start(&pki) {
        Ok(c) => c,
        Err(reason) => {
            let strict = std::env::var("INBOX_EXEC_NO_SKIP").is_ok_and(|v| v == "1");
            assert!(!strict, "needs a throwaway postgres cluster ({reason})");
            let _ = std::io::stderr().write_all(
                format!("SKIPPED tls: needs a throwaway postgres cluster ({reason})\n").as_bytes(),
            );
            return;
        }
    };
    let files = tempfile::tempdir().expect("dir");
    let good_ca = files.path().join("ca.pem");
    fs::write(&good_ca, &pki.ca_pem).expect("ca");
    let wrong_ca = files.path().join("wrong.pem");
    fs::write(&wrong_ca, self::pki().ca_pem).expect("wrong ca");
    let port = cluster.port;
    let try_with = |host: &str, mode: &str, ca: Option<&Path>| {
        let settings = PgSettings {
            schema: "inbox_exec".into(),
            ca_file: ca.map(Path::to_owned),
            ..PgSettings::default()
        };
        let url = format!("postgres://postgres@{host}:{port}/postgres?sslmode={mode}");
        connect(&url, &settings).map(|mut c| {
            c.query_one(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
                &[],
            )
            .expect("pg_stat_ssl")
            .get::<_, bool>(0)
        })
    };
    // Encrypted, unverified.
    assert!(try_with("localhost", "require", None).expect("require"));
    // Verified: the right CA and the name in the certificate.
    assert!(try_with("localhost", "verify-full", Some(&good_ca)).expect("verify-full"));
    // A CA that did not sign it: refused in every verifying mode, require included (as libpq
    // does once a root certificate is given).
    for mode in ["require", "verify-ca", "verify-full"] {
        let e = try_with("localhost", mode, Some(&wrong_ca)).expect_err(mode);
        assert!(matches!(e, ConnectError::Connect { .. }), "{mode}: {e}");
        assert!(
            e.to_string().to_lowercase().contains("certificate"),
            "{mode} says why: {e}"
        );
    }
    // A host name the certificate does not carry: verify-full refuses, verify-ca accepts.
    let other_name = "127.0.0.1";
    let e = try_with(other_name, "verify-full", Some(&good_ca)).expect_err("wrong name");
    assert!(e.to_string().contains("certificate"), "{e}");
    assert!(try_with(other_name, "verify-ca", Some(&good_ca)).is_ok_and(|ssl| ssl));
    // verify-full without a CA is a configuration error, before any connection.
    let e = try_with("localhost", "verify-full", None).expect_err("no CA");
    assert!(matches!(e, ConnectError::NoCa { .. }), "{e}");
}
